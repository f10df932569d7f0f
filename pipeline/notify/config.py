"""config/notify.yaml: channels, routing, the contact directory, templates, retries, quiet hours and
digests. Validated at start-up with the project's YAML-with-lines machinery (pipeline.config), so
every error names the key and the line.

Secrets (webhook URLs carry a key, signing secrets, SMTP passwords) are best not written in the
file: every such field has an `…_env` twin naming the environment variable that holds it.
"""
from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from pipeline.config import CONFIG_DIR, RULE_IDS, ConfigError, NestedValueError, Strict, parse_model

CHANNEL_TYPES = ("wecom", "dingtalk", "feishu", "slack", "email")
ROBOT_TYPES = ("wecom", "dingtalk", "feishu", "slack")
ROLES = ("member", "admins", "owners", "supervisors")
LEVELS = ("reminder", "removal_recommended", "supervisor")
# What a message is for: one template each.
PURPOSES = (*LEVELS, "report", "withdrawal", "digest")

# Short Chinese names of the rules of POLICY.md, for the messages (`rule_names:` overrides them).
RULE_NAMES = {
    "M1": "入群须经负责人审核", "M2": "群名片须为部门+姓名", "M3": "长期不活跃成员", "M4": "离职调动人员未移出",
    "M5": "拒不改正", "P1": "工作信息", "P2": "商业广告推销", "P3": "谣言虚假信息", "P4": "低俗暴力恐怖内容",
    "P5": "个人隐私与公司机密", "P6": "闲聊灌水", "P7": "群公告未查看", "P8": "消息冗长", "P9": "文件规范",
    "P10": "非工作时间发布", "P11": "紧急信息跟进", "C1": "未及时回复", "C2": "重要事项未确认", "C3": "人身攻击",
    "C4": "负责人未通报进展", "C5": "问题未跟进解决", "F1": "文件上传规范", "F2": "下载文件仅限工作使用",
    "F3": "过期文件与备份", "D1": "违法赌博诈骗", "D2": "擅自外传群内容", "D3": "定期检查报告", "D4": "整改未完成",
    "E1": "首次提醒", "E2": "建议移出", "E3": "报上级处理",
}
LEVEL_NAMES = {"reminder": "提醒", "removal_recommended": "建议移出群聊", "supervisor": "报上级处理"}
SEVERITY_NAMES = {"info": "提示", "warning": "警告", "severe": "严重"}

# The fields each template may use. Every value is text the notifier made safe for the channel
# (escaped, personal data masked); a line whose fields are all empty is left out.
_ESCALATION_FIELDS = ("title", "rule", "rule_name", "level_name", "severity_name", "member", "group",
                      "excerpt", "why", "action", "id", "time", "link", "mentions")
TEMPLATE_FIELDS = {
    **{level: _ESCALATION_FIELDS for level in LEVELS},
    "report": ("title", "group", "period", "total", "by_rule", "open_problems", "id", "time", "link", "mentions"),
    "withdrawal": ("title", "rule", "rule_name", "member", "group", "reason", "id", "escalation_id", "time",
                   "mentions"),
    "digest": ("title", "count", "group", "items", "link", "mentions"),
}


def _check_template(text: str, allowed: tuple[str, ...]) -> str:
    """A template may use `{field}` from `allowed` only: no attribute or index access, no format
    specs (a company edits these; a typo must stop start-up, not a message at 3 a.m.)."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in allowed:
            raise ValueError(f"unknown field {{{name}}}; this template may use "
                             + ", ".join(f"{{{f}}}" for f in allowed))
        if spec or conversion:
            raise ValueError(f"field {{{name}}} takes no format spec or conversion")
    return text


class Template(Strict):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=4000)


DEFAULT_TEMPLATES = {
    "reminder": Template(
        title="【群规提醒】{group}：{rule_name}",
        body="### 群规提醒：{rule}「{rule_name}」\n"
             "- 群聊：{group}\n- 成员：{member}\n- 级别：{level_name}（{severity_name}）\n- 时间：{time}\n"
             "> {excerpt}\n\n"
             "**请处理：** {action}\n\n{mentions}\n编号 {id} {link}"),
    "removal_recommended": Template(
        title="【建议移出】{group}：{member} 再次违反「{rule_name}」",
        body="### 建议移出群聊：{rule}「{rule_name}」\n"
             "- 群聊：{group}\n- 成员：{member}\n- 级别：{level_name}（{severity_name}）\n- 时间：{time}\n"
             "- 原因：{why}\n> {excerpt}\n\n"
             "**请处理：** {action}\n\n{mentions}\n编号 {id} {link}"),
    "supervisor": Template(
        title="【报上级处理】{group}：{rule_name}",
        body="### 报上级处理：{rule}「{rule_name}」\n"
             "- 群聊：{group}\n- 成员：{member}\n- 级别：{level_name}（{severity_name}）\n- 时间：{time}\n"
             "- 原因：{why}\n> {excerpt}\n\n"
             "**请处理：** {action}\n\n{mentions}\n编号 {id} {link}"),
    "report": Template(
        title="【定期检查】{group} {period}",
        body="### 群聊定期检查报告：{group}\n- 周期：{period}\n- 违规合计：{total}（{by_rule}）\n"
             "- 未解决问题：{open_problems}\n\n{mentions}\n编号 {id} {link}"),
    "withdrawal": Template(
        title="【撤回】{group}：此前关于「{rule_name}」的通知作废",
        body="### 通知撤回\n此前发出的 {rule}「{rule_name}」通知（编号 {escalation_id}，成员 {member}，群聊 {group}）"
             "经人工复核已撤回，无需处理。\n- 复核结论：{reason}\n\n{mentions}\n撤回编号 {id}"),
    "digest": Template(
        title="【群规提醒汇总】{count} 条待处理",
        body="### 群规提醒汇总（{count} 条）\n{items}\n\n{mentions}\n{link}"),
}

# What the recipient should do, per level and role (the first role of the delivery that has text).
DEFAULT_ACTIONS = {
    "reminder": {
        "member": "请遵守《工作群管理办法》，及时纠正，并删除或撤回不当内容。",
        "admins": "请提醒该成员纠正；如拒不改正，可按规定移出群聊。",
        "owners": "请知悉并督促纠正。",
        "supervisors": "请知悉。",
    },
    "removal_recommended": {
        "member": "你已多次违反群规，管理员可能将你移出群聊。",
        "admins": "该成员提醒后再次违规（拒不改正），建议移出群聊，并告知负责人。",
        "owners": "该成员提醒后再次违规，建议移出群聊，请确认。",
        "supervisors": "请知悉。",
    },
    "supervisor": {
        "member": "该问题已报上级领导处理。",
        "admins": "请立即核实并保留证据，配合上级处理。",
        "owners": "请立即核实并配合上级处理。",
        "supervisors": "严重或屡次违规，请上级领导（监督小组）处理。",
    },
}


class Contact(Strict):
    """How to reach one member: their ids on each platform (for @-mentions in a group robot's
    message) and an e-mail address (a personal message). Ids and addresses are used to address
    people only: no delivery record, log line or metric carries them."""
    email: str | None = Field(None, max_length=254)
    wecom: str | None = Field(None, max_length=64)
    dingtalk: str | None = Field(None, max_length=64)
    feishu: str | None = Field(None, max_length=64)
    slack: str | None = Field(None, max_length=64)

    @field_validator("email")
    @classmethod
    def _email(cls, v):
        if v is not None and not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+", v):
            raise ValueError("not an e-mail address")
        return v

    @field_validator("wecom", "dingtalk", "feishu", "slack")
    @classmethod
    def _platform_id(cls, v):
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_.@:-]{1,64}", v):
            raise ValueError("a platform user id is letters, digits and _ . @ : - only")
        return v


def _secret(value: str | None, env_name: str | None, key: str, required: bool) -> str | None:
    if value is not None and env_name is not None:
        raise ValueError(f"give {key} or {key}_env, not both")
    if env_name is not None:
        value = os.environ.get(env_name)
        if not value:
            raise ValueError(f"{key}_env names {env_name}, which is not set in the environment")
    if required and not value:
        raise ValueError(f"needs {key} (or {key}_env naming the environment variable that holds it)")
    return value


class Channel(Strict):
    type: Literal["wecom", "dingtalk", "feishu", "slack", "email"]
    # Robots: the webhook URL (it carries the robot's key: prefer url_env).
    url: str | None = None
    url_env: str | None = None
    # DingTalk and Feishu: the signing secret of a robot with signature verification (加签 / 签名校验).
    secret: str | None = None
    secret_env: str | None = None
    # E-mail: the SMTP server (STARTTLS on the submission port, then login).
    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    sender: str | None = None
    ca_file: str | None = None          # a private CA for the SMTP server's certificate
    # The platform's limit, honoured per channel (a robot): at most this many requests in any
    # minute, and in any second. Defaults per type: WeCom and DingTalk 20/min, Feishu 100/min and
    # 5/s, Slack 1/s, e-mail 60/min.
    per_minute: int | None = Field(None, ge=1, le=100_000)
    per_second: int | None = Field(None, ge=1, le=1000)
    # How long a robot stays silent after the platform said "too many" without saying for how long
    # (DingTalk: limited for 10 minutes).
    rate_limited_pause_seconds: float | None = Field(None, gt=0, le=3600)
    timeout_seconds: float = Field(10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _complete(self):
        robot = self.type in ROBOT_TYPES
        url = _secret(self.url, self.url_env, "url", required=robot)
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("url must be an http(s) URL")
        _secret(self.secret, self.secret_env, "secret", required=False)
        if self.type == "email":
            if not self.host or not self.sender:
                raise ValueError("an email channel needs host and sender")
            _secret(self.password, self.password_env, "password", required=bool(self.username))
        elif self.host or self.username or self.sender:
            raise ValueError(f"host, username and sender are for email channels, not {self.type}")
        if (self.secret or self.secret_env) and self.type not in ("dingtalk", "feishu"):
            raise ValueError(f"{self.type} robots are not signed; secret is for dingtalk and feishu")
        return self

    # Resolved values (the `…_env` twins read once at start-up, by the validator above).
    def webhook_url(self) -> str | None:
        return self.url or (os.environ.get(self.url_env) if self.url_env else None)

    def signing_secret(self) -> str | None:
        return self.secret or (os.environ.get(self.secret_env) if self.secret_env else None)

    def smtp_password(self) -> str | None:
        return self.password or (os.environ.get(self.password_env) if self.password_env else None)

    def limits(self) -> tuple[int | None, int | None]:
        """(per minute, per second) with the platform's default where the config says nothing."""
        default = {"wecom": (20, None), "dingtalk": (20, None), "feishu": (100, 5), "slack": (None, 1),
                   "email": (60, None)}[self.type]
        return (self.per_minute or default[0], self.per_second or default[1])

    def pause_after_limited(self) -> float:
        if self.rate_limited_pause_seconds is not None:
            return self.rate_limited_pause_seconds
        return {"dingtalk": 600.0, "wecom": 60.0, "feishu": 60.0, "slack": 30.0, "email": 60.0}[self.type]


class Route(Strict):
    """Recipients of these roles, of escalations matching every filter given (an empty filter
    matches all), go to these channels."""
    roles: tuple[Literal["member", "admins", "owners", "supervisors"], ...]
    channels: tuple[str, ...]
    groups: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    levels: tuple[Literal["reminder", "removal_recommended", "supervisor", "report"], ...] = ()

    @field_validator("roles", "channels")
    @classmethod
    def _non_empty(cls, v):
        if not v:
            raise ValueError("needs at least one entry")
        return v

    @field_validator("rules")
    @classmethod
    def _rules(cls, v):
        for i, rule in enumerate(v):
            if rule not in RULE_IDS:
                raise NestedValueError((i,), f"unknown rule id {rule!r}")
        return v


class Delivery(Strict):
    give_up_seconds: float = Field(3600.0, gt=0, le=7 * 86400)   # then a `failed` delivery
    backoff_base_seconds: float = Field(1.0, gt=0, le=600)
    backoff_max_seconds: float = Field(60.0, gt=0, le=3600)
    max_queue: int = Field(10_000, ge=10, le=1_000_000)           # outstanding deliveries per channel
    ledger_days: int = Field(90, ge=1, le=3650)                   # how long a delivery is remembered


class QuietHours(Strict):
    """Live only: outside the work hours of the policy's calendar (work_hours, P10), deliveries of
    these levels that are not severe are held until work resumes. Severe ones go at once."""
    enabled: bool = True
    hold: tuple[Literal["reminder", "removal_recommended", "supervisor", "report"], ...] = (
        "reminder", "removal_recommended", "supervisor", "report")


class Digest(Strict):
    """Reminders to the same recipient within `window_seconds` of one sent to them become one
    digest message at the end of the window (the first goes at once). 0 turns digests off."""
    window_seconds: float = Field(180.0, ge=0, le=3600)
    levels: tuple[Literal["reminder", "removal_recommended", "supervisor"], ...] = ("reminder",)
    max_items: int = Field(20, ge=2, le=100)       # listed in one digest; the rest are counted


class NotifyConfig(Strict):
    version: Literal[1]
    dashboard_url: str | None = None
    channels: dict[str, Channel] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    directory: dict[str, Contact] = Field(default_factory=dict)
    delivery: Delivery = Delivery()
    quiet_hours: QuietHours = QuietHours()
    digest: Digest = Digest()
    templates: dict[str, Template] = Field(default_factory=dict)
    actions: dict[str, dict[str, str]] = Field(default_factory=dict)
    rule_names: dict[str, str] = Field(default_factory=dict)
    metrics_port: int = Field(0, ge=0, le=65535)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, v):
        for name in v:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", name):
                raise NestedValueError((name,), "a channel name is 1–40 lowercase letters, digits, _ or -")
        return v

    @field_validator("dashboard_url")
    @classmethod
    def _link(cls, v):
        if v is not None and (urlsplit(v).scheme not in ("http", "https") or not urlsplit(v).netloc):
            raise ValueError("must be an http(s) URL")
        return v

    @field_validator("templates")
    @classmethod
    def _templates(cls, v):
        for purpose, template in v.items():
            if purpose not in PURPOSES:
                raise NestedValueError((purpose,), f"unknown template {purpose!r}; templates are {', '.join(PURPOSES)}")
            for part in ("title", "body"):
                try:
                    _check_template(getattr(template, part), TEMPLATE_FIELDS[purpose])
                except ValueError as exc:
                    raise NestedValueError((purpose, part), str(exc)) from None
        return v

    @field_validator("actions")
    @classmethod
    def _actions(cls, v):
        for level, by_role in v.items():
            if level not in LEVELS:
                raise NestedValueError((level,), f"unknown level {level!r}; levels are {', '.join(LEVELS)}")
            for role, text in by_role.items():
                if role not in ROLES:
                    raise NestedValueError((level, role), f"unknown role {role!r}; roles are {', '.join(ROLES)}")
                if len(text) > 500:
                    raise NestedValueError((level, role), "at most 500 characters")
        return v

    @field_validator("rule_names")
    @classmethod
    def _rule_names(cls, v):
        for rule, name in v.items():
            if rule not in RULE_IDS:
                raise NestedValueError((rule,), f"unknown rule id {rule!r}")
            if not 0 < len(name) <= 40:
                raise NestedValueError((rule,), "a rule name is 1–40 characters")
        return v

    @model_validator(mode="after")
    def _routes_name_channels(self):
        for i, route in enumerate(self.routes):
            for j, name in enumerate(route.channels):
                if name not in self.channels:
                    known = ", ".join(sorted(self.channels)) or "none configured"
                    raise NestedValueError(("routes", i, "channels", j),
                                           f"unknown channel {name!r} (channels: {known})")
        return self

    # ------------------------------------------------------------------ resolved
    def template(self, purpose: str) -> Template:
        return self.templates.get(purpose) or DEFAULT_TEMPLATES[purpose]

    def action(self, level: str, roles) -> str:
        for role in roles:
            text = self.actions.get(level, {}).get(role) or DEFAULT_ACTIONS.get(level, {}).get(role)
            if text:
                return text
        return ""

    def rule_name(self, rule: str) -> str:
        return self.rule_names.get(rule) or RULE_NAMES.get(rule, rule)


def default_path() -> Path:
    return Path(os.environ.get("MODERATION_NOTIFY_CONFIG") or CONFIG_DIR / "notify.yaml")


def load_notify_config(path: str | os.PathLike | None = None) -> NotifyConfig:
    path = Path(path) if path else default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the notifier's configuration: {exc.strerror}") from None
    return parse_model(NotifyConfig, text, str(path))


def parse_notify_config(text: str, source: str = "notify.yaml") -> NotifyConfig:
    return parse_model(NotifyConfig, text, source)
