"""Events in on the real broker; verdicts, violations, escalations and DLQ records out."""
from __future__ import annotations

import base64

import orjson

from pipeline.core.offline import run
from pipeline.devtools.sample import conversation

BAD_RECORDS = [
    b"{this is not json",
    orjson.dumps({"event_id": "bad-1", "type": "message.posted", "ts": "2026-03-02T10:00:00+08:00",
                  "group_id": "g-fin", "actor": {"id": "u-1", "name": "x"}}),            # no message
    orjson.dumps({"event_id": "bad-2", "type": "message.exploded", "ts": "2026-03-02T10:00:00+08:00",
                  "group_id": "g-fin", "actor": {"id": "u-1", "name": "x"}}),            # unknown type
]


def _by_id(events):
    return {e["id"]: e for e in events}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_writes_what_the_offline_check_prints(deployment, engine):
    sample = conversation()
    expected = {"verdicts": [], "violations": [], "escalations": [], "responsiveness": [], "reports": []}
    for role, event in run(engine, [orjson.dumps(e) for e in sample]):
        expected[role].append(event)
    assert expected["violations"] and expected["escalations"]

    metrics_port = _free_port()
    deployment.extra_env["MODERATION_METRICS_PORT"] = str(metrics_port)
    deployment.start_worker()
    deployment.produce(sample[:10] + BAD_RECORDS + sample[10:])
    total = sum(len(v) for v in expected.values()) + len(BAD_RECORDS)
    got = deployment.collect(expect=total, roles=("verdicts", "violations", "escalations", "responsiveness",
                                                  "reports", "dlq"))

    for role in ("verdicts", "violations", "escalations", "responsiveness", "reports"):
        assert _by_id(got[role]) == _by_id(expected[role]), role
        assert len(got[role]) == len(expected[role]), f"duplicates in {role}"

    dlq = got["dlq"]
    assert len(dlq) == len(BAD_RECORDS)
    reasons = sorted(d["reason"] for d in dlq)
    assert any(r.startswith("not valid UTF-8 JSON") for r in reasons)
    assert "missing field 'message'" in reasons
    assert "unknown event type 'message.exploded'" in reasons
    for record in dlq:
        assert record["source"]["topic"] == deployment.settings.topics.input
        assert isinstance(record["source"]["partition"], int) and isinstance(record["source"]["offset"], int)
        assert base64.b64decode(record["original_b64"]) in BAD_RECORDS

    # The worker's Prometheus endpoint counted the same traffic.
    import urllib.request

    scrape = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    rejected = sum(float(line.rsplit(" ", 1)[1]) for line in scrape.splitlines()
                   if line.startswith("moderation_dlq_total{"))
    assert rejected == len(BAD_RECORDS)
    assert 'moderation_violations_total{rule="D2"' in scrape

    # Confidentiality: the personal data and secrets in the sample never leave unmasked.
    everything = b"".join(orjson.dumps(e) for role in got for e in got[role] if role != "dlq")
    for secret in ("13812345678", "110101199003074573", "6222021234567890128", "Apollo@2026!"):
        assert secret.encode() not in everything, secret
