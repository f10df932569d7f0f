"""The event contracts of EVENTS.md: typed input events, output event builders, the orjson codec.

Input records are decoded and validated here; anything that does not fit becomes a `Rejected`
with a reason a person can act on. Output events are plain dicts with stable ids, serialised with
sorted keys so the same input gives the same bytes.
"""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

SCHEMA_VERSION = 1
# The escalation levels of the `moderation.escalations` contract.
REMINDER, REMOVAL, SUPERVISOR = "reminder", "removal_recommended", "supervisor"
MAX_RECORD_BYTES = 1_000_000


class _Model(BaseModel):
    # extra="ignore": producers may add optional fields compatibly; strict: no silent coercions.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


Id = Annotated[str, Field(min_length=1, max_length=128)]


class Actor(_Model):
    id: Id
    name: str = Field(max_length=256)


class MemberRef(_Model):
    id: Id
    name: str | None = Field(None, max_length=256)


class GroupInfo(_Model):
    name: str = Field(max_length=256)
    kind: Literal["department", "project", "cross_department"]
    admins: list[Id] = Field(default_factory=list, max_length=10_000)
    owners: list[Id] = Field(default_factory=list, max_length=10_000)


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


def _parse_ts(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string with an offset")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cannot parse {value[:40]!r} as ISO-8601") from None
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


InputEvent = Union[
    GroupConfigured, MemberJoined, MemberRenamed, MemberLeft, MemberDeparted, MessagePosted,
    MessageForwarded, AnnouncementPosted, AnnouncementRead, FileShared, ClockTick,
]
EVENT_TYPES = tuple(m.model_fields["type"].annotation.__args__[0] for m in InputEvent.__args__)
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
            parts.append(f"unknown event type {err['input'].get('type')!r}" if isinstance(err.get("input"), dict)
                         else "unknown event type")
        elif err["type"] == "union_tag_not_found":
            parts.append("missing field 'type'")
        elif err["type"] == "missing":
            parts.append(f"missing field '{loc}'")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"field '{loc}': {msg}")
    return "; ".join(parts)


def decode(raw: bytes | str, max_text_chars: int) -> InputEvent:
    """Bytes of one record → a validated input event, or `Rejected` with the reason."""
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
        raise Rejected(f"unknown event type {data['type'][:64]!r}")
    try:
        event = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise Rejected(_reason(exc)) from None
    if isinstance(event, MessagePosted) and len(event.message.text) > max_text_chars:
        raise Rejected(f"field 'message.text': {len(event.message.text)} characters exceeds the "
                       f"configured limit of {max_text_chars} (content.max_text_chars)")
    if isinstance(event, AnnouncementPosted) and len(event.announcement.text) > max_text_chars:
        raise Rejected(f"field 'announcement.text': {len(event.announcement.text)} characters exceeds the "
                       f"configured limit of {max_text_chars} (content.max_text_chars)")
    return event


# --------------------------------------------------------------------------- outputs


def stable_id(kind: str, *parts: str) -> str:
    """An output id derived only from its inputs, so a replay or redelivery gives the same id."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10).hexdigest()
    return f"{kind}-{digest}"


def rejected_event(reason: str, raw: bytes, topic: str, partition: int | None, offset: int | None,
                   ts: str | None = None) -> dict:
    position = f"{topic}/{partition}/{offset}"
    group_id = None
    try:
        obj = orjson.loads(raw)
        if isinstance(obj, dict) and isinstance(obj.get("group_id"), str):
            group_id = obj["group_id"][:128]
    except Exception:  # noqa: BLE001 - the record is already known to be bad
        pass
    return {
        "kind": "rejected",
        "id": stable_id("rej", position, hashlib.sha256(raw).hexdigest()),
        "group_id": group_id,
        "ts": ts,
        "reason": reason,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "original_b64": base64.b64encode(raw).decode("ascii"),
        "schema": SCHEMA_VERSION,
    }


def encode(event: dict) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def topic_key(event: dict) -> bytes | None:
    group = event.get("group_id")
    return group.encode("utf-8") if group else None
