"""The event contracts of EVENTS.md: typed input events, output event builders, the orjson codec.

Input records are decoded and validated here; anything that does not fit becomes a `Rejected`
with a reason a person can act on. Output events are plain dicts with stable ids, serialised with
sorted keys so the same input gives the same bytes.
"""
# mypyc: interpreted (mypyc cannot compile the pydantic models; their validation runs in pydantic-core anyway)
from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Union, get_args

import orjson
from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator,
)

SCHEMA_VERSION = 1
# The escalation levels of the `moderation.escalations` contract.
REMINDER, REMOVAL, SUPERVISOR = "reminder", "removal_recommended", "supervisor"
MAX_RECORD_BYTES = 1_000_000
# The broker refuses records over about 1 MiB (message.max.bytes). No output may come near it: a
# rejected record keeps at most this much of the original (base64 adds a third).
DLQ_ORIGINAL_BYTES = 64 * 1024
DLQ_MODES = ("full", "redacted", "digest")
MAX_REASON_CHARS = 1000
# Admins and owners of one group: far more than any real group names, small enough that every
# escalation carrying them stays small.
MAX_ROLE_MEMBERS = 1000


class _Model(BaseModel):
    # extra="ignore": producers may add optional fields compatibly; strict: no silent coercions.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


# No control characters: an id is a name, and the state store separates keys with NUL.
Id = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_control_characters)]


class Actor(_Model):
    id: Id
    name: str = Field(max_length=256)


class MemberRef(_Model):
    id: Id
    name: str | None = Field(None, max_length=256)


class GroupInfo(_Model):
    name: str = Field(max_length=256)
    kind: Literal["department", "project", "cross_department"]
    admins: list[Id] = Field(default_factory=list, max_length=MAX_ROLE_MEMBERS)
    owners: list[Id] = Field(default_factory=list, max_length=MAX_ROLE_MEMBERS)


class Message(_Model):
    id: Id
    text: str
    mentions: list[Id] = Field(default_factory=list, max_length=10_000)
    reply_to: Id | None = None
    urgent: bool = False


class MessageRef(_Model):
    id: Id


class Destination(_Model):
    id: Id
    external: bool


class Announcement(_Model):
    id: Id
    title: str = Field(max_length=1000)
    text: str
    ack_deadline: datetime | None = None

    @field_validator("ack_deadline", mode="before")
    @classmethod
    def _deadline(cls, v):
        return None if v is None else _parse_ts(v)


class AnnouncementRef(_Model):
    id: Id


class FileInfo(_Model):
    id: Id
    name: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)
    folder: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    head_b64: str | None = Field(None, max_length=65_536)
    important: bool = False
    backed_up: bool = False


def quoted(value: Any, limit: int) -> str:
    """A value from a bad record, quoted in a reason: redacted before it is cut and escaped (an
    escaped zero-width space between digits hides a phone number from the redaction)."""
    from pipeline.text.redact import redact

    text = value if isinstance(value, str) else repr(value)
    return repr(redact(text[:1000])[:limit])


def _parse_ts(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string with an offset")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cannot parse {quoted(value, 40)} as ISO-8601") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("has no UTC offset (e.g. +08:00)")
    if not 2000 <= ts.year <= 2100:
        raise ValueError(f"year {ts.year} is outside 2000–2100")
    return ts


class _Event(_Model):
    event_id: Id
    ts: datetime
    group_id: Id
    actor: Actor
    # The group's display name where the platform sends it with each event (DingTalk's
    # conversationTitle, a Slack channel rename): it names the group, and changes nothing else.
    group_name: str | None = Field(None, min_length=1, max_length=256)

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, v):
        return _parse_ts(v)


class GroupConfigured(_Event):
    type: Literal["group.configured"]
    group: GroupInfo


class MemberJoined(_Event):
    type: Literal["member.joined"]
    member: MemberRef
    approved_by: Id | None = None


class MemberRenamed(_Event):
    type: Literal["member.renamed"]
    member: MemberRef


class MemberLeft(_Event):
    type: Literal["member.left"]
    member: MemberRef
    removed_by: Id | None = None


class MemberDeparted(_Event):
    type: Literal["member.departed"]
    member: MemberRef
    reason: str | None = None


class MessagePosted(_Event):
    type: Literal["message.posted"]
    message: Message


class MessageForwarded(_Event):
    type: Literal["message.forwarded"]
    message: MessageRef
    destination: Destination
    approved_by: Id | None = None


class AnnouncementPosted(_Event):
    type: Literal["announcement.posted"]
    announcement: Announcement


class AnnouncementRead(_Event):
    type: Literal["announcement.read"]
    announcement: AnnouncementRef


class FileShared(_Event):
    type: Literal["file.shared"]
    file: FileInfo


class ClockTick(_Event):
    type: Literal["clock.tick"]


class ReviewDecision(_Model):
    violation_id: Id
    decision: Literal["confirmed", "dismissed", "relabelled"]
    label: Literal["work", "chitchat", "ad", "rumour", "abuse", "confidential", "illegal"] | None = None
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _label(self):
        if self.decision == "relabelled" and self.label is None:
            raise ValueError("a relabelled decision needs the new 'label'")
        if self.decision != "relabelled" and self.label is not None:
            raise ValueError(f"'label' goes only with decision 'relabelled', not {self.decision!r}")
        return self


class ReviewDecided(_Event):
    """R2: a reviewer's decision on a content violation (the actor is the reviewer)."""
    type: Literal["review.decided"]
    review: ReviewDecision


InputEvent = Union[
    GroupConfigured, MemberJoined, MemberRenamed, MemberLeft, MemberDeparted, MessagePosted,
    MessageForwarded, AnnouncementPosted, AnnouncementRead, FileShared, ClockTick, ReviewDecided,
]
EVENT_TYPES = tuple(get_args(m.model_fields["type"].annotation)[0] for m in get_args(InputEvent))
_ADAPTER = TypeAdapter(Annotated[InputEvent, Field(discriminator="type")])


class Rejected(Exception):
    """An input record that cannot be processed, with the reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"][1:] if p is not None) if err["type"] != "union_tag_invalid" else "type"
        if err["type"] == "union_tag_invalid":
            parts.append(f"unknown event type {quoted(err['input'].get('type'), 64)}" if isinstance(err.get("input"), dict)
                         else "unknown event type")
        elif err["type"] == "union_tag_not_found":
            parts.append("missing field 'type'")
        elif err["type"] == "missing":
            parts.append(f"missing field '{loc}'")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"field '{loc}': {msg}")
    return "; ".join(parts)


def decode(raw: bytes | str, not_after: datetime | None = None) -> InputEvent:
    """Bytes of one record → a validated input event, or `Rejected` with the reason. An event dated
    after `not_after` (the live worker's clock plus the allowed skew) is rejected: one record must
    not move its group's clock into the future."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if raw is None or len(raw) == 0:
        raise Rejected("empty record")
    if len(raw) > MAX_RECORD_BYTES:
        raise Rejected(f"record of {len(raw)} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Rejected(f"expected a JSON object, got {type(data).__name__}")
    if "type" in data and isinstance(data["type"], str) and data["type"] not in EVENT_TYPES:
        raise Rejected(f"unknown event type {quoted(data['type'], 64)}")
    try:
        event = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise Rejected(_reason(exc)) from None
    if not_after is not None and event.ts > not_after:
        ahead = event.ts - not_after
        raise Rejected(f"field 'ts': {event.ts.isoformat()} is {_duration(ahead)} beyond the latest time accepted "
                       f"now ({not_after.isoformat(timespec='seconds')}: the worker's clock plus "
                       f"max_future_skew_seconds); check the producer's clock")
    return event


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} seconds"


# --------------------------------------------------------------------------- outputs


def stable_id(kind: str, *parts: str) -> str:
    """An output id derived only from its inputs, so a replay or redelivery gives the same id."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10).hexdigest()
    return f"{kind}-{digest}"


def rejected_event(reason: str, raw: bytes, topic: str, partition: int | None, offset: int | None,
                   ts: str | None = None, original: str = "redacted") -> dict:
    """The DLQ record for an input record that could not be processed. `original` says what it
    keeps of the record's bytes: `full`, `redacted` (personal data masked, the default) or `digest`
    (only `original_sha256` and `original_size`). Whatever came in, at most DLQ_ORIGINAL_BYTES of
    it are kept (`original_truncated`), so the DLQ record is always one the broker accepts."""
    from pipeline.text.redact import redact

    position = f"{topic}/{partition}/{offset}"
    digest = hashlib.sha256(raw).hexdigest()
    reason = redact(reason)  # a reason may quote the record (cannot parse '138…' as ISO-8601)
    event = {
        "kind": "rejected",
        "id": stable_id("rej", position, digest),
        "group_id": _group_of(raw),
        "ts": ts,
        "reason": reason if len(reason) <= MAX_REASON_CHARS else reason[:MAX_REASON_CHARS - 1] + "…",
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "original_sha256": digest,
        "original_size": len(raw),
        "original": original,
        "schema": SCHEMA_VERSION,
    }
    if original != "digest":
        kept = raw if original == "full" else _redacted(raw)
        event["original_truncated"] = len(raw) > DLQ_ORIGINAL_BYTES or len(kept) > DLQ_ORIGINAL_BYTES
        event["original_b64"] = base64.b64encode(kept[:DLQ_ORIGINAL_BYTES]).decode("ascii")
    return event


def _group_of(raw: bytes) -> str | None:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    group = obj.get("group_id") if isinstance(obj, dict) else None
    if isinstance(group, str) and 0 < len(group) <= 128 and group.isprintable():
        return group
    return None


def _redacted(raw: bytes) -> bytes:
    """The record with personal data masked in every string: field by field when it is a JSON
    document of bounded size, else as text (only the part that will be kept)."""
    from pipeline.text.redact import redact

    if len(raw) <= DLQ_ORIGINAL_BYTES:
        try:
            document = orjson.loads(raw)
            redacted = _redact_strings(document, redact)
            # Nothing masked: the original bytes as they came, for whoever debugs the producer.
            return raw if redacted == document else orjson.dumps(redacted)
        except (orjson.JSONDecodeError, orjson.JSONEncodeError, RecursionError):
            pass
    return redact(raw[:DLQ_ORIGINAL_BYTES].decode("utf-8", "replace")).encode("utf-8")


def _redact_strings(value: Any, redact) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): _redact_strings(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v, redact) for v in value]
    return value


def encode(event: dict) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


# No output may come near the broker's record limit (about 1 MiB); by design none does.
MAX_OUTPUT_BYTES = 512 * 1024


def shrink_output(event: dict, limit: int = MAX_OUTPUT_BYTES) -> dict:
    """`event` with its largest lists, dicts and strings halved until it encodes in `limit` bytes,
    marked `output_truncated` (the last guard behind the bounds each output has by design)."""
    event = orjson.loads(encode(event))

    def largest(value: Any, parent: Any, key: Any, best: list) -> None:
        if isinstance(value, (str, list, dict)):
            size = len(value) if isinstance(value, str) else len(orjson.dumps(value))
            if size > best[0] and parent is not None:
                best[:] = [size, parent, key]
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for k, v in items:
            if isinstance(v, (str, list, dict)):
                largest(v, value, k, best)

    while len(encode(event)) > limit:
        best: list = [0, None, None]
        largest(event, None, None, best)
        _, parent, key = best
        if parent is None:
            break
        value = parent[key]
        if isinstance(value, str):
            parent[key] = value[: len(value) // 2] + "…"
        elif isinstance(value, list):
            parent[key] = value[: len(value) // 2]
        else:
            parent[key] = dict(list(value.items())[: len(value) // 2])
    event["output_truncated"] = True
    return event


def topic_key(event: dict) -> bytes | None:
    group = event.get("group_id")
    return group.encode("utf-8") if group else None
