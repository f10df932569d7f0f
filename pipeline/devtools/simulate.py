"""`moderation simulate`: a week of group traffic with known reply habits, and its ground truth;
or, with `--groups`, the same habits in many groups at once (a company's day: 20,000 groups and
200,000 members), each group with members of its own.

The generator plans every addressed item itself: who asks whom, when, and how (and whether) the
addressee answers, as a delay in work seconds from the question. The ground truth per member and
window (addressed, replied, acknowledged, overdue, unanswered, median and p90 reply seconds) comes
from those plans and the SLA settings alone, never from the tracker, so comparing the two checks
the tracker (and the business-time clock it uses) against what actually happened.

Habits: fast, steady and slow repliers; an acknowledger who answers with a reason and an expected
time (在开会，下午三点前回复你); a noter who says 收到 first and answers later; an ignorer; and a
member who answers with plain messages instead of replies. Around them: reply requests to the
whole group (收到请回复), announcements with read receipts, problem reports with an owner's response
and resolution, an urgent post with its follow-up, and hourly clock ticks.

Many groups (`simulate_groups`): every group is a simulation of its own (its own seed, members
`<group>-u-01`, …), for `days` workdays from the start; in fewer than four days each day has the
reply request, the announcement, the problem and the urgent post that the week spreads over several.
Clock ticks come at a few moments a day (hourly ticks for 20,000 groups would be most of the
traffic): enough to pass every deadline and close every window, which is all the truth counts.
The ground-truth rows then name their group.
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import orjson

from pipeline.config import Policy, load_policy
from pipeline.core.state_pages import kept
from pipeline.core.worktime import add_business_seconds, is_workday

CST = timezone(timedelta(hours=8))
GROUP = "g-sim"
ADMIN, LEAD = "u-admin", "u-lead"
DEFAULT_START = date(2026, 2, 9)   # the week before the Spring Festival: Saturday 02-14 is worked (调休)

# member id → (display name, habit)
MEMBERS = {
    ADMIN: ("行政部-周敏", "fast"), LEAD: ("研发中心-陈刚", "steady"),
    "u-01": ("研发中心-李四", "fast"), "u-02": ("研发中心-王五", "steady"), "u-03": ("测试部-赵六", "slow"),
    "u-04": ("产品部-孙七", "acknowledger"), "u-05": ("设计部-吴八", "noter"), "u-06": ("市场部-郑九", "ignorer"),
    "u-07": ("运维部-冯十", "plain"), "u-08": ("财务部-钱一", "steady"),
}
QUESTIONS = ("本周的周报什么时候能交？", "客户的报价单发了吗？", "测试环境的部署进度如何？", "下午的评审材料准备好了吗？",
             "这个需求的排期定了吗？", "采购申请提交了吗？", "上次的会议纪要在哪里？")
ANSWERS = ("报表已经上传到共享盘", "数据核对过了，没有出入", "方案我看过了，没有意见", "合同条款已经确认",
           "测试用例已补充完毕", "会议纪要已整理上传", "预算表更新到最新版本", "接口文档已同步")
ACKS_WITH_TIME = ("在开会，下午三点前回复你", "在外面，明早给你", "正在忙别的事，今天下班前回复你")


@dataclass
class Item:
    """One addressed item as the generator planned it."""
    message_id: str
    asker: str
    addressee: str
    kind: str                  # question | reply_request
    opened: datetime
    steps: list = field(default_factory=list)   # (delay work seconds, text, via_reply, closes, acknowledged)

    def closing(self):
        return next((s for s in self.steps if s[3]), None)


class Simulation:
    def __init__(self, seed: int, start: date, policy: Policy, group: str = GROUP, prefix: str = "",
                 members: int = len(MEMBERS), days: int = 7):
        self.rng = random.Random(seed)
        self.policy = policy
        self.start = datetime.combine(start, time(0), CST)
        self.events: list[tuple[datetime, int, dict]] = []
        self.items: list[Item] = []
        self.seq = 0
        # One group: its id, and a prefix for its member, event and message ids (none for the week's
        # single group, whose ids stay as they always were).
        self.group, self.prefix, self.days = group, prefix, days
        self.members = {prefix + member: value for member, value in list(MEMBERS.items())[:members]}
        self.admin, self.lead = prefix + ADMIN, prefix + LEAD
        sla = policy.responsiveness.reply_sla_seconds
        self.sla, self.final = sla, sla + policy.responsiveness.owner_escalation_after_seconds

    # ----------------------------------------------------------------- plumbing
    def add(self, ts: datetime, type_: str, actor: str, **fields) -> None:
        self.seq += 1
        self.events.append((ts, self.seq, {
            "event_id": f"sim-{self.prefix}{self.seq:05d}", "type": type_, "ts": ts.isoformat(), "group_id": self.group,
            "actor": {"id": actor, "name": self.members.get(actor, (actor,))[0]}, **fields}))

    def post(self, ts: datetime, actor: str, text: str, message_id: str | None = None, **fields) -> str:
        message_id = message_id or f"sm-{self.prefix}{self.seq + 1:05d}"
        self.add(ts, "message.posted", actor, message={"id": message_id, "text": text, **fields})
        return message_id

    def after(self, opened: datetime, seconds: int) -> datetime:
        return add_business_seconds(opened, seconds, self.policy.work_hours)

    def open_at(self, member: str, t: datetime) -> list[Item]:
        """The member's items the tracker holds open at `t` (the generator's own bookkeeping)."""
        out = []
        for item in self.items:
            # An item opened at the same instant counts as open: the tracker sees it first (it was
            # written first), so a plain message then would answer it.
            if item.addressee != member or item.opened > t:
                continue
            close = item.closing()
            ends = self.after(item.opened, close[0]) if close and close[0] < self.final else \
                self.after(item.opened, self.final)
            if ends >= t:
                out.append(item)
        return out

    def quiet(self, member: str, t: datetime) -> bool:
        # A plain message (no reply, no mention, not a question) answers the member's open items.
        return not self.open_at(member, t)

    # ----------------------------------------------------------------- habits
    def plan(self, habit: str, kind: str) -> list:
        r = self.rng.randint
        if kind == "reply_request":
            if habit == "ignorer" and self.rng.random() < 0.6:
                return []
            delay = {"fast": (30, 600), "steady": (300, 3000), "slow": (1800, 9000)}.get(habit, (60, 1200))
            return [(r(*delay), "收到", True, True, False)]
        if habit == "fast":
            return [(r(60, 1200), self.rng.choice(ANSWERS), True, True, False)]
        if habit in ("steady", "plain"):
            return [(r(600, 5400), self.rng.choice(ANSWERS), habit != "plain", True, False)]
        if habit == "slow":
            return [(r(3600, 14000), self.rng.choice(ANSWERS), True, True, False)]
        if habit == "acknowledger":
            return [(r(120, 900), self.rng.choice(ACKS_WITH_TIME), True, True, True)]
        if habit == "noter":
            first = r(60, 300)
            return [(first, "收到", True, False, False), (first + r(1800, 9000), self.rng.choice(ANSWERS), True, True, False)]
        if habit == "ignorer":
            return [(r(1200, 7200), self.rng.choice(ANSWERS), True, True, False)] if self.rng.random() < 0.4 else []
        raise ValueError(habit)

    # ----------------------------------------------------------------- the week
    def workdays(self) -> list[date]:
        if self.days < 7:
            return workdays_from(self.start.date(), self.days, self.policy)
        days = [(self.start + timedelta(days=i)).date() for i in range(7)]
        return [d for d in days if is_workday(d, self.policy.work_hours.use_holiday_calendar)]

    def at_work(self, day: date) -> datetime:
        return datetime.combine(day, time(9, 0), CST) + timedelta(seconds=self.rng.randint(0, 8 * 3600 + 50 * 60))

    def generate(self) -> None:
        setup = self.start + timedelta(hours=8)
        self.add(setup, "group.configured", self.admin,
                 group={"name": "研发中心项目群", "kind": "project", "admins": [self.admin], "owners": [self.lead]})
        for member, (name, _) in sorted(self.members.items()):
            self.add(setup + timedelta(minutes=1), "member.joined", self.admin, member={"id": member, "name": name},
                     approved_by=self.lead)
        askers = sorted(self.members)
        days = self.workdays()
        for day in days:
            times = sorted([self.at_work(day) for _ in range(10)] +
                           [datetime.combine(day, time(20, 0), CST) + timedelta(seconds=self.rng.randint(0, 3000))])
            for ts in times:
                asker = self.rng.choice(askers)
                addressee = self.rng.choice([m for m in askers if m != asker])
                self.ask(ts, asker, addressee)
        if len(days) >= 4:   # the week: its requests, announcements and incidents spread over the days
            request_days, announcement_days = days[1::2], days[:2]
            problems, urgent_day = [(days[1], True), (days[3], False)], days[2]
        else:                # a short stretch: each day has one of each
            request_days, announcement_days = days, days
            problems, urgent_day = [(day, True) for day in days], days[0]
        for day in request_days:
            self.reply_request(day)
        for day in announcement_days:
            self.announcement(self.at_work(day))
        for day, resolved in problems:
            self.problem(self.at_work(day), resolved=resolved)
        self.urgent(datetime.combine(urgent_day, time(21, 30), CST))
        self.write_answers()
        for t in self.tick_times(days):
            self.add(t, "clock.tick", "system")

    def tick_times(self, days: list[date]) -> list[datetime]:
        if self.days >= 7:  # hourly for four weeks
            end = self.start + timedelta(days=28)
            hours = int((end - self.start - timedelta(hours=9)) / timedelta(hours=1))
            return [self.start + timedelta(hours=9 + i) for i in range(hours + 1)]
        # A few a day, on the next two workdays too (the last deadline, the owner's, is six work hours
        # on), and one early on the Monday after, which closes the last week's windows.
        ticking = days + workdays_from(days[-1] + timedelta(days=1), 2, self.policy)
        monday = ticking[-1] + timedelta(days=7 - ticking[-1].weekday())
        return [datetime.combine(day, time(hour), CST) for day in ticking for hour in (12, 15, 18, 21)] + \
            [datetime.combine(monday, time(1), CST)]

    def ask(self, ts: datetime, asker: str, addressee: str) -> None:
        text = f"@{self.members[addressee][0]} {self.rng.choice(QUESTIONS)}"
        message_id = self.post(ts, asker, text, mentions=[addressee])
        self.items.append(Item(message_id, asker, addressee, "question", ts,
                               self.plan(self.members[addressee][1], "question")))

    def reply_request(self, day: date) -> None:
        # The request is a plain message with 收到 in it: it would answer the admin's own open items.
        ts = self.at_work(day)
        for _ in range(20):
            if self.quiet(self.admin, ts):
                break
            ts = self.at_work(day)
        else:
            return
        message_id = self.post(ts, self.admin, "明天上午十点全员例会，收到请回复")
        for member in sorted(m for m in self.members if m != self.admin):
            self.items.append(Item(message_id, self.admin, member, "reply_request", ts,
                                   self.plan(self.members[member][1], "reply_request")))

    def write_answers(self) -> None:
        for item in self.items:
            for delay, text, via_reply, closes, _ in item.steps:
                ts = self.after(item.opened, delay)
                if not via_reply and not (len(self.open_at(item.addressee, ts)) == 1 and delay < self.sla):
                    via_reply = True   # a plain answer would also answer the member's other open items
                self.post(ts, item.addressee, text, **({"reply_to": item.message_id} if via_reply else {}))

    def announcement(self, ts: datetime) -> None:
        ann_id = f"ann-{self.prefix}{self.seq + 1:05d}"
        self.add(ts, "announcement.posted", self.admin,
                 announcement={"id": ann_id, "title": "关于规范群文件命名的通知", "text": "请各位按 主题_日期_作者 命名。"})
        for member in sorted(m for m in self.members if m != self.admin):
            if self.members[member][1] == "ignorer" or self.rng.random() < 0.15:
                continue
            read = self.after(ts, self.rng.randint(60, 20000))
            self.add(read, "announcement.read", member, announcement={"id": ann_id})
            if self.rng.random() < 0.3:
                self.post(read + timedelta(seconds=30), member, "收到", reply_to=ann_id)

    def problem(self, ts: datetime, resolved: bool) -> None:
        reporters = [self.prefix + m for m in ("u-08", "u-01", "u-02") if self.prefix + m in self.members]
        reporter = next((m for m in reporters if self.quiet(m, ts)), None)
        if reporter is None:
            return
        problem_id = self.post(ts, reporter, "报销系统打不开，提示登录失败")
        self.post(self.after(ts, 1500), self.lead, "我来看一下", reply_to=problem_id)
        if resolved:
            self.post(self.after(ts, 6000), self.lead, "已修复，请再试一次", reply_to=problem_id)

    def urgent(self, ts: datetime) -> None:
        if not self.quiet(self.lead, ts):
            return
        urgent_id = self.post(ts, self.lead, "紧急：生产环境数据库告警，正在排查")
        self.post(self.after(ts, 1800), self.lead, "数据库告警处理进展：已切换备库，详细原因明天复盘", reply_to=urgent_id)

    def lines(self) -> list[bytes]:
        return [orjson.dumps(e) for _, _, e in sorted(self.events, key=lambda x: (x[0], x[1]))]

    # ----------------------------------------------------------------- ground truth
    def timed_lines(self) -> list[tuple[datetime, bytes]]:
        # Each line in a bytes object of its own size: orjson's take at least 4 KiB each, and a
        # company's day is 1.4 million lines.
        return [(ts, kept(orjson.dumps(e))) for ts, _, e in sorted(self.events, key=lambda x: (x[0], x[1]))]

    def truth(self) -> list[dict]:
        windows: dict[tuple, dict] = {}
        for item in self.items:
            day = item.opened.astimezone(CST).date()
            week = day - timedelta(days=day.weekday())
            close = item.closing()
            replied = close is not None and close[0] < self.final
            overdue = close is None or close[0] >= self.sla
            for kind, start in (("day", day), ("week", week)):
                for member in (item.addressee, None):
                    w = windows.setdefault((kind, start.isoformat(), member), {
                        "addressed": 0, "replied": 0, "acknowledged": 0, "overdue": 0, "unanswered": 0, "seconds": []})
                    w["addressed"] += 1
                    w["overdue"] += overdue
                    if replied:
                        w["replied"] += 1
                        w["acknowledged"] += close[4]
                        w["seconds"].append(close[0])
                    else:
                        w["unanswered"] += 1
        out = []
        for (kind, start, member), w in sorted(windows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "~")):
            seconds = sorted(w.pop("seconds"))
            out.append({"window": kind, "start": start, "member": member, **w,
                        "reply_rate": round(w["replied"] / w["addressed"], 4),
                        "median_reply_seconds": _median(seconds), "p90_reply_seconds": _p90(seconds)})
        return out


def workdays_from(day: date, n: int, policy: Policy) -> list[date]:
    """The first `n` workdays from `day` on (the holiday calendar's, when the policy uses it)."""
    days = []
    while len(days) < n:
        if is_workday(day, policy.work_hours.use_holiday_calendar):
            days.append(day)
        day += timedelta(days=1)
    return days


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    n = len(values)
    return float(values[n // 2]) if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def _p90(values: list[int]) -> float | None:
    if not values:
        return None
    import math
    return float(values[math.ceil(0.9 * len(values)) - 1])


def simulate(seed: int = 7, start: date = DEFAULT_START, policy: Policy | None = None) -> tuple[list[bytes], list[dict]]:
    """(JSONL lines of input events, ground-truth aggregates) for one simulated week."""
    sim = Simulation(seed, start, policy or load_policy())
    sim.generate()
    return sim.lines(), sim.truth()


def simulate_groups(groups: int, members: int, days: int = 1, seed: int = 7, start: date = DEFAULT_START,
                    policy: Policy | None = None) -> tuple[list[bytes], list[dict]]:
    """(JSONL lines in event-time order, ground truth) for `groups` groups of `members // groups`
    members each over `days` workdays; each truth row names its group."""
    policy = policy or load_policy()
    per_group = members // groups
    if not 2 <= per_group <= len(MEMBERS):
        raise ValueError(f"members per group must be from 2 to {len(MEMBERS)} (the simulated habits); "
                         f"{members:,} members in {groups:,} groups gives {per_group}")
    width = len(str(groups - 1))
    timed: list[tuple[datetime, int, bytes]] = []
    truth: list[dict] = []
    for g in range(groups):
        group = f"g-sim-{g:0{width}d}"
        sim = Simulation(seed * 1_000_003 + g, start, policy, group=group, prefix=f"{group}-", members=per_group,
                         days=days)
        sim.generate()
        timed += [(ts, g, line) for ts, line in sim.timed_lines()]
        truth += [{"group": group, **row} for row in sim.truth()]
    timed.sort(key=lambda x: (x[0], x[1]))
    return [line for _, _, line in timed], truth


def simulate_command(args) -> int:
    policy = load_policy(args.policy) if args.policy else load_policy()
    if args.groups > 1:
        lines, truth = simulate_groups(args.groups, args.members or args.groups * len(MEMBERS), args.days,
                                       args.seed, date.fromisoformat(args.start), policy)
    else:
        lines, truth = simulate(args.seed, date.fromisoformat(args.start), policy)
    out = sys.stdout.buffer if args.out == "-" else open(args.out, "wb")
    with out:
        for line in lines:
            out.write(line + b"\n")
    if args.truth:
        with open(args.truth, "wb") as f:
            for row in truth:
                f.write(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n")
    return 0


def add_arguments(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("simulate", help="a week of simulated group traffic (JSONL input events) and its "
                                               "ground-truth responsiveness aggregates")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", default=DEFAULT_START.isoformat(), help="the Monday the week starts (YYYY-MM-DD)")
    p.add_argument("--out", default="-", help="file for the input events (default: standard output)")
    p.add_argument("--truth", default=None, help="file for the ground truth, one JSON object per member and window")
    p.add_argument("--policy", default=None, help="policy file (default config/policy.yaml)")
    p.add_argument("--groups", type=int, default=1,
                   help="simulate this many groups at once, each with members of its own (default 1: the week's group)")
    p.add_argument("--members", type=int, default=0,
                   help=f"with --groups: members in all (2 to {len(MEMBERS)} a group; default {len(MEMBERS)} a group)")
    p.add_argument("--days", type=int, default=1, choices=range(1, 7),
                   help="with --groups: workdays of traffic (default 1)")
    p.set_defaults(func=simulate_command)
