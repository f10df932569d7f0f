"""`moderation` command line: worker | check | demo | kafka | topics | tail | sample | train | eval | bench |
dashboard | ingest | produce | roster | notify | gateway."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from pipeline.config import ConfigError
from pipeline.kafka.admin import BrokerUnavailable


def _runtime(args=None):
    from pipeline.config import load_runtime

    return load_runtime()


def cmd_worker(args) -> int:
    from pipeline.kafka.admin import cluster_replication, ensure_topics, wait_for_broker
    from pipeline.worker.app import create_app
    from pipeline.worker.log import Worker

    runtime = _runtime()
    if runtime.settings.store == "rocksdb":
        from pipeline.worker.state_store import claim_data_dir

        claim = claim_data_dir(runtime.settings.data_dir)   # noqa: F841 - held open while the worker runs
    # A worker started before its broker (a host booting, a compose stack) waits for it.
    asyncio.run(wait_for_broker(runtime.settings, None, "worker"))
    asyncio.run(ensure_topics(runtime.settings))
    replication = asyncio.run(cluster_replication(runtime.settings))
    try:
        import uvloop
    except ImportError:  # uvloop is optional: the worker runs on the default loop without it
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = create_app(runtime, replication=replication)
    logging.getLogger().handlers.clear()  # the Faust worker installs its own handler; one line per record
    worker = Worker(app, loglevel=args.loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


def cmd_check(args) -> int:
    from pipeline.classify import load_classifier
    from pipeline.config import load_policy, load_runtime
    from pipeline.core.engine import Engine
    from pipeline.core.events import encode
    from pipeline.core.offline import run

    runtime = load_runtime()  # the policy of MODERATION_POLICY, as the worker reads it, unless --policy
    policy = load_policy(args.policy) if args.policy else runtime.policy
    engine = Engine(policy, load_classifier(policy))
    out = sys.stdout.buffer
    source = "stdin" if args.events == "-" else str(args.events)
    rejected: list[dict] = []
    with (sys.stdin.buffer if args.events == "-" else open(args.events, "rb")) as lines:
        for role, event in run(engine, lines, source=source, dlq_original=runtime.settings.dlq_original):
            if role == "dlq":
                rejected.append(event)
            if args.only and role not in args.only:
                continue
            out.write(encode({"topic": role, **event}) if args.with_topic else encode(event))
            out.write(b"\n")
    out.flush()
    if rejected:
        first = rejected[0]
        print(f"moderation check: {len(rejected)} input line(s) rejected (written as dlq records); "
              f"first at line {first['source']['offset']}: {first['reason']}", file=sys.stderr)
        if args.strict:
            return EXIT_REJECTED
    return 0


EXIT_REJECTED = 3  # as ingest, produce and roster: some records were bad


def cmd_kafka(args) -> int:
    from pipeline.kafka.local import BrokerError, command

    try:
        print(command(args.action, nodes=args.nodes))
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_topics(args) -> int:
    from pipeline.kafka.admin import ensure_topics, wait_for_broker

    settings = _runtime().settings
    asyncio.run(wait_for_broker(settings, args.wait, "topics"))
    created = asyncio.run(ensure_topics(settings))
    print(f"created: {', '.join(created)}" if created else "all topics exist")
    return 0


def cmd_sample(args) -> int:
    from pipeline.core.events import encode
    from pipeline.devtools.sample import conversation

    for event in conversation():
        sys.stdout.buffer.write(encode(event) + b"\n")
    return 0


def cmd_demo(args) -> int:
    from pipeline.devtools.demo import run_demo

    return run_demo(timeout=args.timeout, pace=args.pace, via=args.via, bootstrap=args.bootstrap,
                    allow_remote=args.allow_remote)


def cmd_tail(args) -> int:
    from pipeline.kafka.tail import tail

    if args.demo:
        from pipeline.devtools.demo import topic_env

        os.environ.update(topic_env())
    return asyncio.run(tail(args.topic, as_json=args.json, from_beginning=args.from_beginning,
                            limit=args.limit, idle_exit=args.idle_exit, wait=args.wait))


def add_wait_argument(parser: argparse.ArgumentParser) -> None:
    """`--wait SECONDS`, for a one-shot command that needs the broker."""
    parser.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                        help="how long to wait for the broker before giving up (default 60)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moderation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("worker", help="run the Faust worker (reads chat.events, writes the output topics)")
    p.add_argument("--loglevel", default=None, type=str.lower, choices=["debug", "info", "warning", "error"],
                   help="default: the pipeline's own lines, the worker starting, ready and stopping, and every "
                        "warning and error; info adds Faust's and aiokafka's progress lines, debug everything")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("check", help="run the core over a JSONL file of input events and print the outputs")
    p.add_argument("events", help="JSONL file of input events, or - for standard input")
    p.add_argument("--policy", default=None, help="policy file (default: MODERATION_POLICY, else config/policy.yaml)")
    p.add_argument("--only", nargs="*", choices=["verdicts", "violations", "escalations", "responsiveness",
                                                 "reports", "dlq"], help="print only these outputs")
    p.add_argument("--with-topic", action="store_true", help="add the output role as field 'topic'")
    p.add_argument("--strict", action="store_true",
                   help=f"exit with status {3} when any input line is rejected (default: 0, with a count on stderr)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("demo", help="broker, worker and a sample conversation, with a live summary",
                       description="Runs the sample conversation through a worker on the local broker (started "
                                   "if it is down) in topics of its own (demo-…): it deletes and recreates only "
                                   "those, never another topic.")
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--pace", type=float, default=0.05, help="seconds between sample events")
    p.add_argument("--via", choices=["gateway"], default=None,
                   help="gateway: post the messages to the webhook gateway as signed Slack events")
    p.add_argument("--bootstrap", default=None, metavar="HOST:PORT",
                   help="another broker (default: MODERATION_BOOTSTRAP, else the local broker)")
    p.add_argument("--allow-remote", action="store_true",
                   help="run on a broker that is not on this machine (its own topics only, as always)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("kafka", help="the local Apache Kafka broker (KRaft, loopback), or a cluster of them")
    p.add_argument("action", choices=["up", "down", "status", "wipe"])
    p.add_argument("--nodes", type=int, default=1, choices=range(1, 10), metavar="N",
                   help="with up: N nodes as one cluster (3: ports 9092, 9094, 9096; topics replicated 3 ways)")
    p.set_defaults(func=cmd_kafka)

    p = sub.add_parser("topics", help="create the input and output topics (partitions from config)")
    add_wait_argument(p)
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("sample", help="print the demo's sample conversation as JSONL input events")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("tail", help="follow an output topic in readable form")
    p.add_argument("topic", help="topic name or role (violations, escalations, verdicts, dlq, ...)")
    p.add_argument("--json", action="store_true", help="one JSON object per line, for piping")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--limit", type=int, default=0, help="stop after this many records (0 = follow)")
    p.add_argument("--idle-exit", type=float, default=0, help="stop after this many idle seconds (0 = never)")
    p.add_argument("--demo", action="store_true", help="the topics of `moderation demo`")
    add_wait_argument(p)
    p.set_defaults(func=cmd_tail)

    bench = sub.add_parser("bench", help="benchmarks: e2e (pipeline vs raw Kafka), classify, groups, ticks, notify, gateway, scale, workers, dashboard")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    from pipeline.devtools.bench.e2e import add_arguments as add_bench_e2e
    from pipeline.classify.commands import add_arguments as add_classifier_commands

    add_bench_e2e(bench_sub)
    from pipeline.kafka.review_export import add_arguments as add_review_commands

    add_review_commands(sub)
    from pipeline.devtools.bench.groups import add_arguments as add_bench_groups

    add_bench_groups(bench_sub)
    from pipeline.devtools.bench.notify import add_arguments as add_bench_notify

    add_bench_notify(bench_sub)
    from pipeline.devtools.bench.ticks import add_arguments as add_bench_ticks

    add_bench_ticks(bench_sub)
    from pipeline.devtools.bench.dashboard import add_arguments as add_bench_dashboard

    add_bench_dashboard(bench_sub)
    from pipeline.devtools.bench.scale import add_arguments as add_bench_scale

    add_bench_scale(bench_sub)
    add_classifier_commands(sub, bench_subparsers=bench_sub)
    from pipeline.devtools.simulate import add_arguments as add_simulate

    add_simulate(sub)
    from pipeline.dashboard import add_arguments as add_dashboard_commands

    add_dashboard_commands(sub)
    from pipeline.connectors.commands import add_arguments as add_connector_commands

    add_connector_commands(sub)
    from pipeline.notify.commands import add_arguments as add_notify_commands

    add_notify_commands(sub)
    from pipeline.gateway import add_arguments as add_gateway
    from pipeline.gateway.bench import add_arguments as add_bench_gateway

    add_gateway(sub)
    add_bench_gateway(bench_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except BrokerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
