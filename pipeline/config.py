"""Loading and validating configuration: the policy file and the runtime settings.

Every error names the key (dotted path) and, for files, the line, and stops start-up.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError,
                      field_validator, model_validator)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("MODERATION_CONFIG_DIR", PROJECT_ROOT / "config"))
LABELS = ("work", "chitchat", "ad", "rumour", "abuse", "confidential", "illegal")
SEVERITIES = ("info", "warning", "severe")
# Every rule id of POLICY.md; `rules:` in the policy may only name these.
RULE_IDS = (
    *(f"M{i}" for i in range(1, 6)), *(f"P{i}" for i in range(1, 12)), *(f"C{i}" for i in range(1, 6)),
    *(f"F{i}" for i in range(1, 4)), *(f"D{i}" for i in range(1, 5)), *(f"E{i}" for i in range(1, 4)),
)
# Rules the policy calls "always severe": configuring them lower would be silently ignored, so it is refused.
ALWAYS_SEVERE = ("D1", "D2")


class ConfigError(Exception):
    """A configuration problem; the message names the key and where it is."""


class NestedValueError(ValueError):
    """A validator's error about a key below the one it validates (e.g. `rules.D1.severity` from the
    validator of `rules`), so the message can name that key and its line."""

    def __init__(self, subpath: tuple, message: str):
        super().__init__(message)
        self.subpath = subpath


def _valid_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:  # not a ValueError: pydantic would let it escape without the key
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --------------------------------------------------------------------------- policy


class RuleSettings(Strict):
    enabled: bool = True
    severity: Literal["info", "warning", "severe"] = "warning"


_DEFAULT_RULE = RuleSettings()


class Directory(Strict):
    departments: tuple[str, ...]
    separators: tuple[str, ...] = ("-", " ", "_", "·", "—", "/")
    name_pattern: str = r"^[\u4e00-\u9fa5·]{2,5}$|^[A-Za-z][A-Za-z .'-]{1,40}$"
    guess_min_similarity: float = Field(0.6, gt=0.0, le=1.0)

    @field_validator("departments")
    @classmethod
    def _non_empty(cls, v):
        if not v:
            raise ValueError("needs at least one department")
        return v

    @field_validator("name_pattern")
    @classmethod
    def _regex(cls, v):
        return _valid_regex(v)


class Groups(Strict):
    supervisors: tuple[str, ...] = ()
    extra_approvers: dict[str, tuple[str, ...]] = Field(default_factory=dict)


VIOLATING_LABELS = tuple(label for label in LABELS if label != "work")


class ReviewBands(Strict):
    """R1: a content verdict from its label's threshold (`content.thresholds`) up to `act` is in the
    review band: a person decides before anyone is reminded; from `act` up it acts at once.
    Detector decisions (a resident id with a valid checksum, gambling terms with a contact) act; an
    act threshold of 1.0 means the label acts on detector decisions only."""
    enabled: bool = True
    act: dict[str, float] = Field(default_factory=lambda: {label: 0.9 for label in VIOLATING_LABELS})
    # How long a violation stays decidable (a decision after that goes to the DLQ as unknown).
    keep_days: int = Field(30, ge=1, le=366)

    @field_validator("act")
    @classmethod
    def _act(cls, v):
        unknown = set(v) - set(VIOLATING_LABELS)
        if unknown:
            raise ValueError(f"unknown class {sorted(unknown)[0]!r}; classes with a review band are "
                             f"{', '.join(VIOLATING_LABELS)}")
        for label, t in v.items():
            if not 0.0 < t <= 1.0:
                raise NestedValueError((label,), f"act threshold for {label} must be in (0, 1], got {t}")
        return v


class ContentSettings(Strict):
    max_text_chars: int = Field(20000, gt=0)
    thresholds: dict[str, float]
    review: ReviewBands = ReviewBands()
    ad_allowlist_senders: tuple[str, ...] = ()
    ad_allowlist_groups: tuple[str, ...] = ()
    large_leak_items: int = Field(3, ge=1)
    model_path: str = "models/classifier.joblib"
    warning_notices: bool = True

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v):
        unknown = set(v) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown class {sorted(unknown)[0]!r}; classes are {', '.join(LABELS)}")
        for label, t in v.items():
            if not 0.0 < t <= 1.0:
                raise ValueError(f"threshold for {label} must be in (0, 1], got {t}")
        return v

    @model_validator(mode="after")
    def _bands(self):
        for label, act in self.review.act.items():
            floor = self.thresholds.get(label)
            if floor is not None and act < floor:
                raise NestedValueError(("review", "act", label), f"act threshold {act} for {label} is below its "
                                       f"threshold {floor} (content.thresholds.{label}): the review band would "
                                       f"be empty and inverted")
        return self


class WorkHours(Strict):
    start: time = time(9, 0)
    end: time = time(18, 0)
    use_holiday_calendar: bool = True
    timezone: str = "Asia/Shanghai"

    @field_validator("start", "end", mode="before")
    @classmethod
    def _parse_time(cls, v):
        if isinstance(v, str):
            return time.fromisoformat(v)
        if isinstance(v, int):  # YAML reads 09:00 as sexagesimal int
            return time(v // 60, v % 60)
        return v

    @model_validator(mode="after")
    def _order(self):
        if self.end <= self.start:
            raise ValueError("work_hours.end must be after work_hours.start")
        return self


class Flooding(Strict):
    window_seconds: int = Field(60, gt=0)
    max_messages: int = Field(8, ge=2)
    max_near_duplicates: int = Field(3, ge=2)
    similarity: float = Field(0.85, gt=0.0, le=1.0)


class Publishing(Strict):
    max_message_chars: int = Field(500, gt=0)
    urgent_markers: tuple[str, ...] = ("紧急", "急", "加急", "urgent")
    flooding: Flooding = Flooding()
    off_hours_once_per_stretch: bool = True


class Members(Strict):
    inactive_days: int = Field(30, gt=0)
    departed_grace_hours: int = Field(24, ge=0)


class Files(Strict):
    allowed_extensions: tuple[str, ...]
    name_pattern: str
    blocked_sha256: tuple[str, ...] = ()
    require_folder: bool = True
    retention_days: int = Field(365, gt=0)
    important_markers: tuple[str, ...] = ("重要", "合同", "归档")
    backup_folder_markers: tuple[str, ...] = ("备份", "归档", "backup")
    backup_grace_days: int = Field(7, ge=0)
    max_indexed_files: int = Field(2000, ge=10, le=100_000)

    @field_validator("allowed_extensions")
    @classmethod
    def _extensions(cls, v):
        if not v:
            raise ValueError("needs at least one extension")
        for ext in v:
            if not re.fullmatch(r"[a-z0-9]{1,10}", ext):
                raise ValueError(f"not a lowercase extension without a dot: {ext!r}")
        return v

    @field_validator("name_pattern")
    @classmethod
    def _regex(cls, v):
        return _valid_regex(v)

    @field_validator("blocked_sha256")
    @classmethod
    def _hashes(cls, v):
        for h in v:
            if not re.fullmatch(r"[0-9a-f]{64}", h):
                raise ValueError(f"not a lowercase sha256 hex digest: {h!r}")
        return v


class Escalation(Strict):
    window_days: int = Field(30, gt=0)
    removals_before_supervisor: int = Field(2, ge=1, le=100)
    repeat_grace_minutes: int = Field(5, ge=0, le=7 * 24 * 60)


class ResponsivenessPatterns(Strict):
    """Regular expressions (searched in the message text) that the follow-up trackers read."""
    question: tuple[str, ...] = ()           # C1: a direct question
    task: tuple[str, ...] = ()               # C1: a task assignment
    reply_request: tuple[str, ...] = ()      # C1: 请回复 / 收到请回
    not_addressing: tuple[str, ...] = ()     # C1: a mention that asks for nothing (谢谢, 辛苦了)
    ack: tuple[str, ...] = ()                # C1: an acknowledgement or a deferral (收到, 在开会, 回复你)
    expected_time: tuple[str, ...] = ()      # C1: an expected time (下午三点前, 明早)
    problem: tuple[str, ...] = ()            # C5: a problem report
    resolution: tuple[str, ...] = ()         # C5: the problem is resolved
    followup: tuple[str, ...] = ()           # P10/P11: the poster's detailed follow-up
    rectification: tuple[str, ...] = ()      # D4: a rectification notice
    rectification_done: tuple[str, ...] = ()  # D4: rectification reported done

    @model_validator(mode="after")
    def _regexes(self):
        for name in type(self).model_fields:
            for i, pattern in enumerate(getattr(self, name)):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise NestedValueError((name, i), f"not a valid regular expression: {exc}") from None
        return self


class Responsiveness(Strict):
    reply_sla_seconds: int = Field(7200, gt=0)
    owner_escalation_after_seconds: int = Field(14400, gt=0)
    ack_max_chars: int = Field(12, ge=1)
    problem_response_seconds: int = Field(14400, gt=0)
    problem_resolution_seconds: int = Field(86400, gt=0)
    announcement_ack_seconds: int = Field(28800, gt=0)
    urgent_followup_seconds: int = Field(7200, gt=0)
    followup_min_chars: int = Field(30, ge=1)
    rectification_default_workdays: int = Field(5, ge=1)
    report_period: Literal["day", "week"] = "week"
    max_open_items: int = Field(20000, ge=10)
    patterns: ResponsivenessPatterns = ResponsivenessPatterns()


class Policy(Strict):
    version: Literal[1]
    rules: dict[str, RuleSettings]
    directory: Directory
    groups: Groups = Groups()
    content: ContentSettings
    work_hours: WorkHours = WorkHours()
    publishing: Publishing = Publishing()
    members: Members = Members()
    files: Files
    escalation: Escalation = Escalation()
    responsiveness: Responsiveness = Responsiveness()

    @field_validator("rules")
    @classmethod
    def _rule_ids(cls, v):
        for rule_id, settings in v.items():
            if rule_id not in RULE_IDS:
                raise NestedValueError((rule_id,), f"unknown rule id {rule_id!r}; POLICY.md defines {', '.join(RULE_IDS)}")
            if rule_id in ALWAYS_SEVERE and settings.severity != "severe":
                raise NestedValueError((rule_id, "severity"), f"{rule_id} is always severe (POLICY.md); "
                                       f"severity {settings.severity!r} is not allowed")
        return v

    def rule(self, rule_id: str) -> RuleSettings:
        return self.rules.get(rule_id, _DEFAULT_RULE)

    def enabled(self, rule_id: str) -> bool:
        return self.rule(rule_id).enabled

    def severity(self, rule_id: str) -> str:
        return self.rule(rule_id).severity


# --------------------------------------------------------------------------- YAML with lines


def _load_yaml_with_lines(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML, returning the data and a map from key path to 1-based line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    lines: dict[tuple, int] = {}

    def walk(node, path):
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, value_node in node.value:
                if key_node.value in seen:
                    # YAML keeps the last of two equal keys without a word: the first would be ignored
                    key = ".".join(str(p) for p in path + (key_node.value,))
                    raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: key '{key}' is given twice "
                                      f"(also on line {seen[key_node.value]}); keep one")
                seen[key_node.value] = key_node.start_mark.line + 1
                walk(value_node, path + (key_node.value,))
                lines[path + (key_node.value,)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return yaml.safe_load(text), lines


def _describe(exc: ValidationError, lines: dict[tuple, int], source: str) -> str:
    messages = []
    for err in exc.errors():
        loc = tuple(err["loc"]) + getattr((err.get("ctx") or {}).get("error"), "subpath", ())
        key = ".".join(str(p) for p in loc) or "(top level)"
        probe = loc
        while probe and probe not in lines:
            probe = probe[:-1]
        line = lines.get(probe)
        where = f"{source}:{line}" if line else source
        kind = err["type"]
        if kind == "extra_forbidden":
            text = f"unknown key '{key}'"
        elif kind == "missing":
            text = f"missing required key '{key}'"
        else:
            text = f"key '{key}': {err['msg'].removeprefix('Value error, ')}"
        messages.append(f"{where}: {text}")
    return "; ".join(messages)


def parse_model(model: type[BaseModel], text: str, source: str):
    data, lines = _load_yaml_with_lines(text, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the file must hold a mapping of keys")
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, lines, source)) from None


def load_policy(path: str | os.PathLike | None = None) -> Policy:
    path = Path(path) if path else CONFIG_DIR / "policy.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the policy file: {exc.strerror}") from None
    return parse_model(Policy, text, str(path))


# --------------------------------------------------------------------------- runtime settings

TOPIC_NAMES = {
    "input": "chat.events",
    "verdicts": "moderation.verdicts",
    "violations": "moderation.violations",
    "escalations": "moderation.escalations",
    "responsiveness": "moderation.responsiveness",
    "reports": "moderation.reports",
    "dlq": "moderation.dlq",
    "reviews": "moderation.reviews",
    # Written by the dashboard: logins, logouts and decisions (docs/OPERATIONS.md, "Users, roles, login").
    "audit": "moderation.audit",
    "deliveries": "moderation.deliveries",
    # Internal: what the notifier has sent (a compacted topic it creates and reads itself).
    "notify_ledger": "moderation.notify.ledger",
    # Internal: input records re-keyed to their group's partition (written and read by the workers
    # only; give no one else write access).
    "repartition": "moderation.repartition",
}
INTERNAL_TOPICS = ("input", "repartition", "notify_ledger")


class Topics(Strict):
    input: str = TOPIC_NAMES["input"]
    verdicts: str = TOPIC_NAMES["verdicts"]
    violations: str = TOPIC_NAMES["violations"]
    escalations: str = TOPIC_NAMES["escalations"]
    responsiveness: str = TOPIC_NAMES["responsiveness"]
    reports: str = TOPIC_NAMES["reports"]
    dlq: str = TOPIC_NAMES["dlq"]
    reviews: str = TOPIC_NAMES["reviews"]
    audit: str = TOPIC_NAMES["audit"]
    deliveries: str = TOPIC_NAMES["deliveries"]
    notify_ledger: str = TOPIC_NAMES["notify_ledger"]
    repartition: str = TOPIC_NAMES["repartition"]

    def outputs(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if k not in INTERNAL_TOPICS}


_HOST_RE = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)(:\d{1,5})?$")


def _split_hosts(v):
    return tuple(part for part in re.split(r"[\s,]+", v) if part) if isinstance(v, str) else v


def _check_hosts(v):
    if not v:
        raise ValueError("needs at least one host name")
    for host in v:
        if not isinstance(host, str) or not _HOST_RE.match(host.lower()):
            raise ValueError(f"not a host name or address with an optional :port: {host!r}")
    return tuple(host.lower() for host in v)


# `Host` headers a server answers (DNS rebinding defence), space or comma separated; a name
# without a port means that name on the server's own port.
AllowedHosts = Annotated[tuple[str, ...], BeforeValidator(_split_hosts), AfterValidator(_check_hosts)]


class Dashboard(Strict):
    """The dashboard's guards and bounds (docs/OPERATIONS.md, "Dashboard")."""

    # Host headers the dashboard answers (DNS rebinding defence); a name without a port means
    # that name on the dashboard's own port.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    max_streams: int = Field(64, ge=1, le=10_000)                     # live-update clients at once
    stream_buffer_bytes: int = Field(4 << 20, ge=256 << 10, le=64 << 20)  # largest update a live client is sent
    stream_stall_seconds: float = Field(10.0, gt=0, le=3600)          # a client that takes nothing this long is dropped
    idle_seconds: float = Field(15.0, gt=0, le=3600)                  # for a whole request to arrive, or between requests
    stale_seconds: float = Field(30.0, ge=5, le=3600)                 # /healthz: Kafka down after this long without an answer
    groups: int = Field(2_000, ge=10, le=1_000_000)
    feed: int = Field(1_000, ge=10, le=1_000_000)
    severe: int = Field(20_000, ge=10, le=10_000_000)
    followups: int = Field(20_000, ge=10, le=10_000_000)
    reviews: int = Field(20_000, ge=10, le=1_000_000)                 # violations waiting for a reviewer
    # Login and roles (R4): users and their roles are in this file, managed by `moderation users`.
    users_file: str = "var/dashboard/users.json"
    session_hours: float = Field(8.0, gt=0, le=24 * 30)               # a login lasts at most this long
    session_idle_minutes: float = Field(30.0, gt=0, le=24 * 60)       # ... and ends after this long without a request
    secure_cookies: bool = False                                      # set when served behind https
    login_failures_per_user: int = Field(5, ge=1, le=1000)            # failed logins per name within login_window_minutes
    login_failures_per_client: int = Field(20, ge=1, le=100_000)      # failed logins per client address within it
    login_window_minutes: float = Field(15.0, gt=0, le=24 * 60)
    # Peers whose X-Forwarded-For is believed (a reverse proxy): the client address is then its last entry.
    trusted_proxies: tuple[str, ...] = ()
    max_sessions: int = Field(10_000, ge=1, le=1_000_000)
    # Single sign-on (OpenID Connect), off unless the issuer, client id and redirect URL are set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = None          # this dashboard's /login/sso/callback as the browser reaches it
    oidc_user_claim: str = "preferred_username"   # the claim that names a user of the users file
    oidc_scopes: str = "openid profile email"

    @model_validator(mode="after")
    def _oidc(self):
        given = [k for k in ("oidc_issuer", "oidc_client_id", "oidc_redirect_url") if getattr(self, k)]
        if given and len(given) < 3:
            missing = sorted({"oidc_issuer", "oidc_client_id", "oidc_redirect_url"} - set(given))
            raise ValueError(f"single sign-on needs {', '.join(m.upper() for m in missing)} too "
                             f"(MODERATION_DASHBOARD_...), or none of the OIDC settings")
        for key in ("oidc_issuer", "oidc_redirect_url"):
            url = getattr(self, key)
            if url and not (url.startswith("https://") or re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)", url)):
                raise ValueError(f"{key} must be an https:// URL (plain http only on loopback): {url[:200]!r}")
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, v):
        return tuple(part for part in re.split(r"[\s,]+", v) if part) if isinstance(v, str) else v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v):
        import ipaddress

        for address in v:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"not an IP address: {address!r}") from None
        return v

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split(cls, v):
        return _split_hosts(v)

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v):
        return _check_hosts(v)


def _blank_is_unset(v):
    return None if isinstance(v, str) and not v.strip() else v


# A platform's secret: never printed (SecretStr), and an empty value is the same as none (the route is off).
Secret = Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)]


class Gateway(Strict):
    """The webhook gateway's secrets, guards and bounds (docs/CONNECTORS.md, "Live webhooks")."""

    port: int = Field(8780, ge=0, le=65535)
    allowed_hosts: AllowedHosts = ("127.0.0.1", "localhost", "[::1]")
    slack_signing_secret: Secret = None
    feishu_encrypt_key: Secret = None
    feishu_verification_token: Secret = None
    dingtalk_app_secret: Secret = None
    # Answer 503 (the platform retries) when Kafka has not acknowledged by then: below Slack's 3 s.
    ack_deadline_seconds: float = Field(2.0, gt=0, le=30)
    max_body_bytes: int = Field(1 << 20, ge=4096, le=16 << 20)       # larger: 413
    max_connections: int = Field(256, ge=1, le=65_536)              # open at once; beyond: 503 and closed
    max_pending: int = Field(1000, ge=1, le=1_000_000)              # events sent, not yet acknowledged; beyond: 503
    max_pending_bytes: int = Field(64 << 20, ge=1 << 20, le=4 << 30)  # their bytes (the broker away: they stay); beyond: 503
    recent_ids: int = Field(100_000, ge=100, le=10_000_000)         # event ids remembered to answer retries
    body_seconds: float = Field(10.0, gt=0, le=300)                 # for a request's body to arrive; else 408
    idle_seconds: float = Field(15.0, gt=0, le=3600)                # for a whole request line and headers, or between requests
    # Request timestamps older or newer than this are refused (Slack's is fixed at 5 minutes).
    dingtalk_window_seconds: float = Field(3600.0, ge=60, le=86400)
    feishu_window_seconds: float = Field(3600.0, ge=60, le=86400)


def host_allowed(host: str, entries: tuple[str, ...], port: int | None) -> bool:
    """Whether a request's Host header is one an `allowed_hosts` setting admits: an entry with its
    port, or the entry's name with no port or this server's own (DNS-rebinding defence of the
    dashboard and the gateway)."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        given_port = rest[1:] if rest.startswith(":") else None
        if rest and given_port is None:
            return False
    else:
        name, sep, given_port = host.partition(":")
        given_port = given_port if sep else None
    for entry in entries:
        if entry == host:
            return True
        if entry == name and (given_port is None or given_port == str(port)):
            return True
    return False


class Settings(Strict):
    """Where the worker runs: broker, topics, partitions, app id. Overridable by environment."""

    app_id: str = "moderation"
    bootstrap: str = "127.0.0.1:9092"
    partitions: int = Field(4, ge=1, le=1024)
    # Copies of each topic the pipeline creates; unset (or `auto`): 3 on a cluster of three or more
    # brokers, else 1 (pipeline/kafka/admin.py asks the cluster). min.insync.replicas follows it.
    replication_factor: int | None = Field(None, ge=1)
    topics: Topics = Topics()
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    batch_size: int = Field(2000, ge=1)
    batch_seconds: float = Field(0.01, gt=0)
    # The live clock: every this many seconds the worker ticks the groups with something due, so
    # deadlines fire in quiet groups (pipeline/worker/live_clock.py). 0 = off: event time only, as
    # the demo, the benchmarks and the integration tests run.
    live_tick_seconds: float = Field(60.0, ge=0, le=3600)
    # An event dated more than this ahead of the worker's clock is rejected to the DLQ: one record
    # must not move its group's clock into the future (deadlines, reports). Past events are only
    # judged against their group's own clock, so a replay of old history still works.
    max_future_skew_seconds: float = Field(86400.0, gt=0)
    # Decoded group states kept in memory (least recently used go first; the table keeps them all).
    state_cache_groups: int = Field(5000, ge=1)
    # What a DLQ record keeps of the rejected record's bytes: full, redacted (personal data masked)
    # or digest (only its SHA-256 and size). At most 64 KiB of it in any case.
    dlq_original: Literal["full", "redacted", "digest"] = "redacted"
    # How soon the group notices a worker that died without leaving (kill -9, lost host): its
    # partitions move to the others after this long.
    session_timeout_seconds: float = Field(10.0, ge=6.0, le=300.0)
    # Where the worker keeps the group states between restarts: `memory` (rebuilt from the changelog
    # on every start) or `rocksdb` (on disk under data_dir; only what changed since is read back).
    store: Literal["memory", "rocksdb"] = "memory"
    data_dir: str = "var/worker"
    web_port: int = Field(6066, ge=0, le=65535)
    metrics_port: int = Field(0, ge=0, le=65535)  # Prometheus endpoint on loopback; 0 = off
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    policy_path: str = "config/policy.yaml"
    dashboard: Dashboard = Dashboard()
    gateway: Gateway = Gateway()

    @field_validator("live_tick_seconds")
    @classmethod
    def _tick(cls, v):
        if 0 < v < 1:
            raise ValueError("must be 0 (off) or at least 1 second")
        return v

    @field_validator("replication_factor", mode="before")
    @classmethod
    def _auto(cls, v):
        return None if isinstance(v, str) and v.strip().lower() in ("", "auto") else v


ENV_PREFIX = "MODERATION_"
_ENV_KEYS = {
    "APP_ID": ("app_id",),
    "BOOTSTRAP": ("bootstrap",),
    "PARTITIONS": ("partitions",),
    "REPLICATION_FACTOR": ("replication_factor",),
    "PROCESSING_GUARANTEE": ("processing_guarantee",),
    "BATCH_SIZE": ("batch_size",),
    "BATCH_SECONDS": ("batch_seconds",),
    "LIVE_TICK_SECONDS": ("live_tick_seconds",),
    "MAX_FUTURE_SKEW_SECONDS": ("max_future_skew_seconds",),
    "STATE_CACHE_GROUPS": ("state_cache_groups",),
    "DLQ_ORIGINAL": ("dlq_original",),
    "SESSION_TIMEOUT_SECONDS": ("session_timeout_seconds",),
    "STORE": ("store",),
    "DATA_DIR": ("data_dir",),
    "WEB_PORT": ("web_port",),
    "METRICS_PORT": ("metrics_port",),
    "SECURITY_PROTOCOL": ("security_protocol",),
    "SASL_MECHANISM": ("sasl_mechanism",),
    "SASL_USERNAME": ("sasl_username",),
    "SASL_PASSWORD": ("sasl_password",),
    "SSL_CAFILE": ("ssl_cafile",),
    "POLICY": ("policy_path",),
    **{f"TOPIC_{name.upper()}": ("topics", name) for name in TOPIC_NAMES},
    **{f"DASHBOARD_{name.upper()}": ("dashboard", name) for name in Dashboard.model_fields},
    # The platforms' secrets, under the names their consoles give them.
    "SLACK_SIGNING_SECRET": ("gateway", "slack_signing_secret"),
    "FEISHU_ENCRYPT_KEY": ("gateway", "feishu_encrypt_key"),
    "FEISHU_VERIFICATION_TOKEN": ("gateway", "feishu_verification_token"),
    "DINGTALK_APP_SECRET": ("gateway", "dingtalk_app_secret"),
    **{f"GATEWAY_{name.upper()}": ("gateway", name) for name in Gateway.model_fields
       if not name.endswith(("_secret", "_key", "_token"))},
}


def load_settings(path: str | os.PathLike | None = None, env: dict[str, str] | None = None,
                  **overrides) -> Settings:
    """Settings from config/pipeline.yaml, then MODERATION_* environment variables, then overrides."""
    env = os.environ if env is None else env
    path = Path(path) if path else CONFIG_DIR / "pipeline.yaml"
    data: dict[str, Any] = {}
    lines: dict[tuple, int] = {}
    if path.exists():
        data, lines = _load_yaml_with_lines(path.read_text(encoding="utf-8"), str(path))
        data = data or {}
    for suffix, key_path in _ENV_KEYS.items():
        value = env.get(ENV_PREFIX + suffix)
        if value is None:
            continue
        target = data
        for part in key_path[:-1]:
            target = target.setdefault(part, {})
        target[key_path[-1]] = value
    data.update(overrides)
    try:
        return Settings.model_validate(data, strict=False)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, lines, str(path)) + " (or the matching MODERATION_* variable)") from None


def env_table() -> list[tuple[str, str]]:
    """(variable, setting) pairs, for the documentation and `moderation config`."""
    return [(ENV_PREFIX + k, ".".join(v)) for k, v in _ENV_KEYS.items()]


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    policy: Policy


def load_runtime(**overrides) -> Runtime:
    settings = load_settings(**overrides)
    policy_path = Path(settings.policy_path)
    if not policy_path.is_absolute():
        policy_path = (PROJECT_ROOT / policy_path) if not policy_path.exists() else policy_path
    return Runtime(settings, load_policy(policy_path))
