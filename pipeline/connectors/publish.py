"""What `ingest`, `produce` and `roster` share: read records one by one, turn each into input
events (or a reported problem), send the events to the input topic keyed by group and wait for
the broker's acknowledgements (acks=all), or print them with --dry-run; a summary and an exit
status at the end.

The exit status is the same for the three commands (EXIT_*, said in --help and docs/CONNECTORS.md):
bad input is never reported as a broker failure.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from pipeline.connectors import Outcome, Problem, convert_into, count
from pipeline.core.events import encode, topic_key

EXIT_OK = 0            # every record was converted (or skipped on purpose) and every event sent
EXIT_BROKER = 1        # the broker did not answer, or did not take the events (as other commands)
EXIT_USAGE = 2         # a file, an option or the configuration is wrong (nothing sent), or reading failed
EXIT_BAD_RECORDS = 3   # some records were bad: each reported and skipped; all the others were sent
EXIT_STATUS_HELP = (f"Exit status: {EXIT_OK} every record converted and sent; {EXIT_BAD_RECORDS} some records "
                    f"were bad (each reported on stderr and skipped, the others sent); {EXIT_BROKER} the broker "
                    f"did not answer or take the events; {EXIT_USAGE} a file or option is wrong (nothing sent) or "
                    "the input could not be read to the end.")
_FLUSH_EVERY = 1000
_READ_AHEAD = 1000
_END = object()
_CLIENT_LOG = logging.getLogger("aiokafka")


class NotAcknowledged(Exception):
    """The broker stopped taking or acknowledging events for longer than the command may wait."""


class KafkaSink:
    """Sends each event to the input topic keyed by group (acks=all); `close()` returns once the
    broker has acknowledged them all. `acknowledged` counts the events the broker has taken.

    Every wait on the broker is bounded by `wait` seconds (None: no limit): the Kafka client
    retries a lost broker for ever, so a broker that goes away mid-import would hang the command."""

    def __init__(self, settings, wait: float | None, command: str):
        self.settings, self.wait, self.command = settings, wait, command
        self.producer = None
        self.pending: list[asyncio.Future] = []
        self.acknowledged = 0
        self.target = settings.topics.input

    async def start(self) -> None:
        from pipeline.kafka.admin import producer, wait_for_broker

        await wait_for_broker(self.settings, self.wait, self.command)
        # The client logs every failed reconnect (ten lines a second while a broker is away); the
        # command says once what happened, with the counts, when it gives up.
        self._client_log_level = _CLIENT_LOG.level
        _CLIENT_LOG.setLevel(logging.CRITICAL)
        self.producer = producer(self.settings, acks="all")
        await self.producer.start()

    async def send(self, event: dict) -> None:
        sending = self.producer.send(self.target, key=topic_key(event), value=encode(event))
        self.pending.append(await self._bounded(sending))

    async def _bounded(self, awaitable):
        try:
            return await asyncio.wait_for(awaitable, self.wait)
        except asyncio.TimeoutError:
            raise NotAcknowledged(f"the broker took or acknowledged nothing for {self.wait:g}s") from None

    async def record_done(self) -> None:
        """After each record: collect what the broker has acknowledged; wait when many are in flight.
        Sent records are not held back for the next ones (the producer lingers 5 ms at most)."""
        if len(self.pending) >= _FLUSH_EVERY:
            await self._settle(self.pending)
        elif self.pending and self.pending[0].done():
            done = [f for f in self.pending if f.done()]
            self.pending = [f for f in self.pending if not f.done()]
            await self._settle(done)

    async def _settle(self, futures: list[asyncio.Future]) -> None:
        if futures is self.pending:
            self.pending = []
        for future in futures:
            await self._bounded(future)
            self.acknowledged += 1

    async def close(self) -> None:
        if self.producer is None:
            return
        try:
            await self._settle(self.pending)
        finally:
            try:
                await asyncio.wait_for(self.producer.stop(), self.wait)
            except asyncio.TimeoutError:
                pass   # unsent events are given up; the failure is reported by the caller
            finally:
                _CLIENT_LOG.setLevel(self._client_log_level)


class StdoutSink:
    """--dry-run: the events as JSON lines; never a connection to the broker."""

    def __init__(self, stdout):
        self.stdout, self.target = stdout, "stdout"
        self.acknowledged = 0

    async def start(self) -> None:
        pass

    async def send(self, event: dict) -> None:
        self.stdout.write(encode(event) + b"\n")
        self.acknowledged += 1

    async def record_done(self) -> None:
        self.stdout.flush()

    async def close(self) -> None:
        self.stdout.flush()


def report(source: str, problem: Problem, stderr) -> None:
    """One problem on stderr: `source: line 12: error: reason` (`where` alone names the file when the
    source is several files)."""
    prefix = f"{source}: " if source else ""
    print(f"{prefix}{problem.where}: {'skipped' if problem.skipped else 'error'}: {problem.reason}",
          file=stderr, flush=True)


async def pump(records: Iterator[tuple[str, object]], convert: Callable[[object], list[dict]], sink,
               source: str, stderr, outcome: Outcome) -> Outcome:
    """Convert and send record by record, as the records arrive."""
    async for batch in read_ahead(records):
        for where, record in batch:
            before = outcome.error_count + outcome.skipped_count
            events = convert_into(outcome, convert, where, record)
            if outcome.error_count + outcome.skipped_count > before:
                report(source, outcome.last_problem, stderr)
            for event in events:
                await sink.send(event)
            await sink.record_done()
    return outcome


async def read_ahead(records: Iterator) -> AsyncIterator[list]:
    """The items of a blocking iterator, read in a thread, in batches of what has arrived: a record
    from a pipe is handed on as soon as it is read (a relay's webhook body goes out at once), while
    a file is read without a thread hop per record. At most _READ_AHEAD items wait in between."""
    loop = asyncio.get_running_loop()
    waiting: queue.Queue = queue.Queue(maxsize=_READ_AHEAD)
    lock = threading.Lock()
    wake: asyncio.Future | None = None

    def signal() -> None:
        if wake is not None and not wake.done():
            wake.set_result(None)

    def reader() -> None:
        try:
            for item in records:
                _put(item)
            _put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop, raised there
            _put(_Failed(exc))

    def _put(item) -> None:
        waiting.put(item)
        with lock:
            if wake is not None:
                loop.call_soon_threadsafe(signal)

    thread = threading.Thread(target=reader, name="records", daemon=True)
    thread.start()
    while True:
        with lock:
            if waiting.empty():
                wake = loop.create_future()
        if wake is not None:
            await wake
            wake = None
        batch = []
        while len(batch) < _READ_AHEAD:
            try:
                item = waiting.get_nowait()
            except queue.Empty:
                break
            if item is _END:
                if batch:
                    yield batch
                return
            if isinstance(item, _Failed):
                if batch:
                    yield batch
                raise ReadFailed(item.exc) from item.exc
            batch.append(item)
        if batch:
            yield batch


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


class ReadFailed(Exception):
    """Reading the input failed part-way (a disk or pipe error): not the broker's fault."""

    def __init__(self, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")


def publish(command: str, records: Iterator[tuple[str, object]], convert: Callable[[object], list[dict]], *,
            source: str, dry_run: bool, wait: float | None, stdout, stderr, settings=None,
            noun: str = "record") -> int:
    """Run one import to the end and return its exit status (see the module docstring)."""
    from pipeline.kafka.admin import BrokerUnavailable

    if not dry_run and settings is None:
        from pipeline.config import load_settings

        settings = load_settings()
    sink = StdoutSink(stdout) if dry_run else KafkaSink(settings, wait, command)
    outcome = Outcome()

    async def main() -> None:
        try:
            await sink.start()
            await pump(records, convert, sink, source, stderr, outcome)
        finally:
            await sink.close()

    try:
        asyncio.run(main())
    except BrokerUnavailable as exc:
        print(f"{command}: error: {exc}", file=stderr)
        return EXIT_BROKER
    except ReadFailed as exc:
        print(f"{outcome.summary(noun)}\n{command}: error: could not read {source or 'the input'} to the end ({exc}); "
              f"{count(sink.acknowledged, 'event')} sent before that", file=stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a broker failure is reported, not a traceback
        if dry_run:
            raise
        print(f"{outcome.summary(noun)}\n{command}: error: could not produce to {sink.target} at {settings.bootstrap}: "
              f"{exc.__class__.__name__}: {exc}\n{command}: {sink.acknowledged} of {outcome.events_count} events "
              f"were acknowledged before that. Event ids are stable: run the same command again once the broker "
              f"is back.", file=stderr)
        return EXIT_BROKER
    written = (f"{count(outcome.events_count, 'event')} written to stdout" if dry_run else
               f"{count(sink.acknowledged, 'event')} written to {sink.target} (acknowledged by the broker)")
    print(f"{outcome.summary(noun)}\n{written}", file=stderr)
    return EXIT_BAD_RECORDS if outcome.error_count else EXIT_OK


def open_source(command: str, source: str, stdin, stderr):
    """The binary stream to read, or None after saying why it cannot be opened."""
    if source == "-":
        return stdin
    try:
        return open(source, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        print(f"{command}: cannot read {source}: {exc.strerror or exc}", file=stderr)
        return None


def streams(stdin, stdout, stderr):
    return stdin or sys.stdin.buffer, stdout or sys.stdout.buffer, stderr or sys.stderr
