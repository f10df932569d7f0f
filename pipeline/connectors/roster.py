"""`moderation roster FILE...`: the groups' roles and the HR roster of departures → input events.

A roster file is YAML (a `groups` list and a `departed` list) or CSV (one file per list, told apart
by its header); docs/CONNECTORS.md has both with examples. Each group becomes a `group.configured`
(name, kind, admins, owners: it replaces the group's roles), each departure one `member.departed`
per group it names (`all`: every group the same import configures).

Event ids are derived from what they say (a group's id and roles; a departure's member, group and
date), so importing the same file twice gives the same ids and the worker skips the repeats; a
changed row gives a new id and takes effect. Parsing is pure: `read_roster` turns bytes into rows,
`roster_events` rows into events or `Broken` with the file, line and field.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import yaml

from pipeline.connectors import Broken, Skipped, clean_reason, contract_check
from pipeline.connectors.base import MAX_NAME, show
from pipeline.core.events import Rejected, stable_id

SOURCE = "roster"
ACTOR = {"id": "roster", "name": "roster import"}
KINDS = ("department", "project", "cross_department")
ALL_GROUPS = ("all", "*")
MAX_FILE_BYTES = 64 * 1024 * 1024
_MAX_ID = 128
_MAX_LIST = 10_000             # the input contract's limit for admins and owners
_MAX_REASON = 1000
_MAX_DEPTH = 8                 # a roster nests 3 deep; anything deeper is not a roster
GROUP_COLUMNS = ("group_id", "name", "kind", "admins", "owners")
DEPARTED_COLUMNS = ("member_id", "groups", "reason", "date")
_REQUIRED = {"group": ("group_id", "name", "kind"), "departed": ("member_id", "groups", "date")}
_LIST_SEPARATORS = re.compile(r"[;,]")


class RosterFileError(Exception):
    """A file that cannot be read as a roster at all (nothing of it is imported)."""


@dataclass
class Value:
    """One field as written: a string, a list of strings, or None (absent/null), and its line."""
    value: str | list[str] | None
    line: int


@dataclass
class Row:
    kind: str               # "group" or "departed"
    where: str              # "roster.yaml: line 4"
    line: int
    fields: dict[str, Value] = field(default_factory=dict)
    problem: str | None = None   # a row that is broken as a whole (an unknown column, not a mapping)


# --------------------------------------------------------------------------- reading


def read_roster(name: str, data: bytes) -> list[Row]:
    """The rows of one roster file (YAML by its name's ending, else CSV); `RosterFileError` when the
    file as a whole cannot be read."""
    if len(data) > MAX_FILE_BYTES:
        raise RosterFileError(f"{name}: {len(data)} bytes, over the {MAX_FILE_BYTES // 2**20} MiB limit of a "
                              "roster file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileError(f"{name}: not UTF-8 text (byte {exc.start}); save it as UTF-8 (in Excel: "
                              "CSV UTF-8)") from None
    if Path(name).suffix.lower() in (".yaml", ".yml"):
        return _read_yaml(name, text)
    return _read_csv(name, text)


def _read_csv(name: str, text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[Row] = []
    columns: list[str] | None = None
    kind = ""
    try:
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            if not any(c.strip() for c in cells):
                continue
            if columns is None:
                columns, kind = _header(name, start, cells)
                continue
            row = Row(kind, f"{name}: line {start}", start)
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
                row.problem = f"{len(cells)} cells, but the header has {len(columns)} columns (quote a value " \
                              "that holds a comma)"
            for column, cell in zip(columns, cells):
                cell = cell.strip()
                if column in ("admins", "owners") or column == "groups" and cell.lower() not in ALL_GROUPS:
                    row.fields[column] = Value([p.strip() for p in _LIST_SEPARATORS.split(cell) if p.strip()], start)
                else:
                    row.fields[column] = Value(cell or None, start)
            rows.append(row)
    except csv.Error as exc:
        raise RosterFileError(f"{name}: line {reader.line_num}: {exc}") from None
    if columns is None:
        raise RosterFileError(f"{name}: empty; a groups file starts with the header {','.join(GROUP_COLUMNS)}, a "
                              f"departures file with {','.join(DEPARTED_COLUMNS)}")
    return rows


def _header(name: str, line: int, cells: list[str]) -> tuple[list[str], str]:
    columns = [c.strip().lower() for c in cells]
    kind = "group" if "group_id" in columns else "departed" if "member_id" in columns else ""
    if not kind:
        raise RosterFileError(f"{name}: line {line}: the first row should be a header: {','.join(GROUP_COLUMNS)} "
                              f"for groups, or {','.join(DEPARTED_COLUMNS)} for departures")
    known = GROUP_COLUMNS if kind == "group" else DEPARTED_COLUMNS
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise RosterFileError(f"{name}: line {line}: unknown column {show(unknown[0])}; the columns of a "
                              f"{'groups' if kind == 'group' else 'departures'} file are {', '.join(known)}")
    missing = [c for c in _REQUIRED[kind] if c not in columns]
    if missing:
        raise RosterFileError(f"{name}: line {line}: missing column {show(missing[0])}")
    if len(set(columns)) < len(columns):
        raise RosterFileError(f"{name}: line {line}: a column appears twice")
    return columns, kind


def _read_yaml(name: str, text: str) -> list[Row]:
    # The base loader resolves no implicit types: every scalar stays the text written (nulls are
    # recognised below), and it skips the per-scalar type regexes that dominate a large file.
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    try:
        _check_shape(name, yaml.parse(text, Loader=loader))
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RosterFileError(f"{name}: {where}not valid YAML ({problem})") from None
    if root is None:
        raise RosterFileError(f"{name}: empty; a roster has a 'groups' list and/or a 'departed' list")
    if not isinstance(root, yaml.MappingNode):
        raise RosterFileError(f"{name}: line {root.start_mark.line + 1}: a roster is a mapping with a 'groups' "
                              "list and/or a 'departed' list")
    rows: list[Row] = []
    for key_node, list_node in root.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        line = key_node.start_mark.line + 1
        if key not in ("groups", "departed"):
            raise RosterFileError(f"{name}: line {line}: unknown section {show(key)}; a roster has 'groups' "
                                  "and 'departed'")
        if _is_null(list_node):
            continue
        if not isinstance(list_node, yaml.SequenceNode):
            raise RosterFileError(f"{name}: line {line}: '{key}' should be a list (items starting with '-')")
        kind = "group" if key == "groups" else "departed"
        known = GROUP_COLUMNS if kind == "group" else DEPARTED_COLUMNS
        for item in list_node.value:
            start = item.start_mark.line + 1
            row = Row(kind, f"{name}: line {start}", start)
            rows.append(row)
            if not isinstance(item, yaml.MappingNode):
                row.problem = f"an item of '{key}' should be a mapping of {', '.join(known)}"
                continue
            for field_key, value_node in item.value:
                column = field_key.value if isinstance(field_key, yaml.ScalarNode) else None
                if column not in known:
                    row.problem = f"unknown field {show(column)} (line {field_key.start_mark.line + 1}); the " \
                                  f"fields are {', '.join(known)}"
                    break
                row.fields[column] = _yaml_value(value_node)
    return rows


def _check_shape(name: str, events) -> None:
    """Before anything is built: no aliases (a few lines of `&a`/`*a` can expand to billions of
    items) and no deep nesting (the YAML composer recurses)."""
    depth = 0
    for event in events:
        if isinstance(event, yaml.AliasEvent):
            raise RosterFileError(f"{name}: line {event.start_mark.line + 1}: YAML aliases (*name) are not "
                                  "allowed in a roster; write the values out")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > _MAX_DEPTH:
                raise RosterFileError(f"{name}: line {event.start_mark.line + 1}: nested more than {_MAX_DEPTH} "
                                      "deep; a roster is a list of flat items")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


_NULLS = ("", "~", "null", "Null", "NULL")


def _is_null(node) -> bool:
    """An unquoted `~` / `null` / nothing (a quoted "null" is the text null)."""
    return isinstance(node, yaml.ScalarNode) and not node.style and node.value in _NULLS   # plain: None or ""


def _yaml_value(node) -> Value:
    """Scalars as written (`date: 2026-03-01` stays that text, `member_id: 0123` keeps its zero)."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        return Value(None if _is_null(node) else node.value, line)
    if isinstance(node, yaml.SequenceNode):
        items = []
        for child in node.value:
            if not isinstance(child, yaml.ScalarNode) or _is_null(child):
                return Value(_NOT_A_LIST, child.start_mark.line + 1)
            items.append(child.value)
        return Value(items, line)
    return Value(_NOT_A_LIST, line)


_NOT_A_LIST = ["\x00not a list of ids"]   # a sentinel: a mapping or nested list where ids belong


# --------------------------------------------------------------------------- rows → events


def roster_events(rows: list[Row], at: datetime, tz: ZoneInfo, now: datetime) -> list[tuple[str, object]]:
    """(where, events) for each row in order, groups before departures; a row that is not valid
    gives (where, `Broken`) naming its line and field, a row that adds nothing new (`Skipped`)."""
    out: list[tuple[str, object]] = []
    configured: dict[str, str] = {}     # group id → where it is configured
    for row in (r for r in rows if r.kind == "group"):
        try:
            event = _group_event(row, at, configured)
        except Broken as exc:
            out.append((row.where, exc))
            continue
        configured[event["group_id"]] = row.where
        out.append((row.where, [event]))
    emitted: dict[str, str] = {}
    for row in (r for r in rows if r.kind == "departed"):
        try:
            events = _departed_events(row, tz, now, sorted(configured))
        except Broken as exc:
            out.append((row.where, exc))
            continue
        new = [e for e in events if e["event_id"] not in emitted]
        if not new:
            out.append((row.where, Skipped(f"the same departure as {emitted[events[0]['event_id']]}")))
            continue
        emitted.update((e["event_id"], row.where) for e in new)
        out.append((row.where, new))
    return out


def _field_error(row: Row, name: str, problem: str) -> Broken:
    value = row.fields.get(name)
    line = value.line if value is not None else row.line
    return Broken(f"field '{name}'{f' (line {line})' if line != row.line else ''}: {problem}")


def _text(row: Row, name: str, limit: int, required: bool = True) -> str | None:
    value = row.fields.get(name)
    text = value.value if value is not None else None
    if text is None or isinstance(text, str) and not text.strip():
        if required:
            raise _field_error(row, name, "missing; every row needs it")
        return None
    if not isinstance(text, str):
        raise _field_error(row, name, "should be one value, not a list")
    text = text.strip()
    if len(text) > limit:
        raise _field_error(row, name, f"{len(text)} characters, over the limit of {limit}")
    return text


def _ids(row: Row, name: str) -> list[str]:
    value = row.fields.get(name)
    items = value.value if value is not None else None
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    if items is _NOT_A_LIST:
        raise _field_error(row, name, "should be a list of member ids")
    ids = list(dict.fromkeys(i.strip() for i in items if i.strip()))
    for member_id in ids:
        if len(member_id) > _MAX_ID:
            raise _field_error(row, name, f"id {show(member_id)} is {len(member_id)} characters, over the limit "
                                          f"of {_MAX_ID}")
    if len(ids) > _MAX_LIST:
        raise _field_error(row, name, f"{len(ids)} ids, over the limit of {_MAX_LIST}")
    return ids


def _group_event(row: Row, at: datetime, configured: dict[str, str]) -> dict:
    if row.problem:
        raise Broken(row.problem)
    group_id = _text(row, "group_id", _MAX_ID)
    if group_id in configured:
        raise _field_error(row, "group_id", f"group {show(group_id)} is already configured at "
                                            f"{configured[group_id]}")
    name = _text(row, "name", MAX_NAME)
    kind = _text(row, "kind", 40)
    if kind not in KINDS:
        raise _field_error(row, "kind", f"should be one of {', '.join(KINDS)}, got {show(kind)}")
    group = {"name": name, "kind": kind, "admins": _ids(row, "admins"), "owners": _ids(row, "owners")}
    event_id = stable_id("roster-group", group_id, orjson.dumps(group, option=orjson.OPT_SORT_KEYS).decode())
    return {"event_id": event_id, "type": "group.configured", "ts": at.isoformat(), "group_id": group_id,
            "actor": dict(ACTOR), "group": group, "source": SOURCE}


def _departed_events(row: Row, tz: ZoneInfo, now: datetime, configured: list[str]) -> list[dict]:
    if row.problem:
        raise Broken(row.problem)
    member_id = _text(row, "member_id", _MAX_ID)
    groups_value = row.fields.get("groups")
    written = groups_value.value if groups_value is not None else None
    if isinstance(written, str) and written.strip().lower() in ALL_GROUPS:
        if not configured:
            raise _field_error(row, "groups", f"{show(written.strip())} means every group this import configures, "
                                              "and it configures none: list the groups, or give the groups file "
                                              "in the same command")
        groups = configured
    else:
        groups = _ids(row, "groups")
        if not groups:
            raise _field_error(row, "groups", "missing; name the groups (separated by ';' in CSV) or write 'all'")
    reason = _text(row, "reason", _MAX_REASON, required=False)
    ts = _departure_time(row, tz, now)
    events = []
    for group_id in groups:
        event = {"event_id": stable_id("roster-departed", member_id, group_id, ts), "type": "member.departed",
                 "ts": ts, "group_id": group_id, "actor": dict(ACTOR), "member": {"id": member_id},
                 "source": SOURCE}
        if reason:
            event["reason"] = reason
        events.append(event)
    return events


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _departure_time(row: Row, tz: ZoneInfo, now: datetime) -> str:
    written = _text(row, "date", 64)
    try:
        if _DAY.fullmatch(written):
            when = datetime.combine(datetime.fromisoformat(written).date(), time(0), tzinfo=tz)
        else:
            when = datetime.fromisoformat(written)
    except ValueError:
        raise _field_error(row, "date", f"{show(written)} is not a date: write 2026-03-01, or a time with its "
                                        "offset such as 2026-03-01T18:00:00+08:00") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise _field_error(row, "date", f"{show(written)} has no offset: add one (e.g. +08:00) or write the date only")
    if not 2000 <= when.year < 2100:
        raise _field_error(row, "date", f"{show(written)} is not between 2000 and 2100")
    if when > now:
        raise _field_error(row, "date", f"{show(written)} is in the future; import a departure on or after its day "
                                        "(the worker's clock follows event time)")
    return when.isoformat()


def checked(item) -> list[dict]:
    """A roster item as it is produced: its events after the same contract check as ingest's."""
    if isinstance(item, (Broken, Skipped)):
        raise item
    for event in item:
        try:
            contract_check(event)
        except Rejected as exc:
            raise Broken(f"event breaks the input contract: {exc.reason}") from None
    return item


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    """`--at`: ISO-8601; a time without an offset is in `tz`."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def read_files(paths: list[str]) -> list[Row]:
    """Every row of every file, or `RosterFileError` naming the first file that cannot be read."""
    rows: list[Row] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise RosterFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
        rows += read_roster(path, data)
    return rows


def run(paths: list[str], *, tz: str, at: str | None, dry_run: bool, wait: float | None = 60.0,
        stdout=None, stderr=None, now: datetime | None = None) -> int:
    from pipeline.connectors.publish import EXIT_USAGE, publish, streams

    _, stdout, stderr = streams(None, stdout, stderr)
    try:
        zone = ZoneInfo(tz)
    except Exception as exc:  # noqa: BLE001 - ZoneInfoNotFoundError, or ValueError for a path-like key
        print(f"roster: unknown time zone {tz!r} ({exc.__class__.__name__}); use an IANA name such as "
              "Asia/Shanghai or UTC", file=stderr)
        return EXIT_USAGE
    now = now or datetime.now(zone)
    try:
        when = parse_time(at, zone) if at else now
    except ValueError:
        print(f"roster: --at {at!r} is not an ISO-8601 time, e.g. 2026-03-02T09:00:00+08:00", file=stderr)
        return EXIT_USAGE
    try:
        rows = read_files(paths)
    except RosterFileError as exc:
        print(f"roster: {clean_reason(str(exc))}; nothing was imported", file=stderr)
        return EXIT_USAGE
    items: Iterator[tuple[str, object]] = iter(roster_events(rows, when, zone, now))
    return publish("roster", items, checked, source="", dry_run=dry_run, wait=wait, stdout=stdout, stderr=stderr,
                   noun="row")
