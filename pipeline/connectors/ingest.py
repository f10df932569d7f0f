"""`moderation ingest --from FORMAT FILE|-`: convert platform records and produce them to the input topic.

Records are converted and sent as they are read, so a relay that writes webhook bodies as JSON
lines can pipe into `ingest -` and each one reaches Kafka at once. Problems are reported on
stderr as they are met, and counted in a summary at the end; a bad record never stops the import.
"""
from __future__ import annotations

import orjson

from pipeline.connectors import FORMATS, Options, converter, read_records
from pipeline.connectors.publish import EXIT_USAGE, open_source, publish, streams

_MAX_NAMES_BYTES = 64 * 1024 * 1024


def load_names(path: str | None) -> dict[str, str]:
    """A roster mapping member ids to display names: a JSON object `{"id": "部门-姓名"}`."""
    if not path:
        return {}
    with open(path, "rb") as f:
        raw = f.read(_MAX_NAMES_BYTES + 1)
    if len(raw) > _MAX_NAMES_BYTES:
        raise ValueError(f"{path}: over {_MAX_NAMES_BYTES // 2**20} MiB; a names file maps member ids to names")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{path}: expected a JSON object of member id → display name, "
                         'e.g. {"zhangsan": "财务部-张三"}')
    return data


def run(fmt: str, source: str, *, tz: str, names_path: str | None, dry_run: bool, wait: float | None = 60.0,
        stdin=None, stdout=None, stderr=None) -> int:
    stdin, stdout, stderr = streams(stdin, stdout, stderr)
    if fmt not in FORMATS:
        print(f"ingest: unknown format {fmt!r}; known: {', '.join(sorted(FORMATS))}", file=stderr)
        return EXIT_USAGE
    options = Options(tz=tz)
    try:
        options.zone  # noqa: B018 - an unknown zone fails here, before any record is read
    except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError, or ValueError for a path-like key
        print(f"ingest: unknown time zone {tz!r} ({exc.__class__.__name__}); use an IANA name such as "
              "Asia/Shanghai or UTC", file=stderr)
        return EXIT_USAGE
    try:
        options.names = load_names(names_path)
    except OSError as exc:
        print(f"ingest: cannot read {names_path}: {exc.strerror or exc}", file=stderr)
        return EXIT_USAGE
    except ValueError as exc:
        print(f"ingest: {exc}", file=stderr)
        return EXIT_USAGE
    stream = open_source("ingest", source, stdin, stderr)
    if stream is None:
        return EXIT_USAGE
    try:
        return publish("ingest", read_records(stream), converter(fmt, options), source=source, dry_run=dry_run,
                       wait=wait, stdout=stdout, stderr=stderr)
    finally:
        if stream is not stdin:
            stream.close()


__all__ = ["load_names", "run"]
