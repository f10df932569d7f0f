"""All-hands groups of 10,000 members are normal: nothing the core keeps or writes for them may
outgrow a record the broker accepts (1 MiB by default).

Before, a group's whole state was one record (1,300 members with a reply item each were over the
limit, and saving it failed forever), and an announcement's reminder or the weekly report listed
every member."""
from __future__ import annotations

import orjson
import pytest

from pipeline.core import state_pages
from pipeline.core.events import decode, encode
from tests.factory import at, configured, event, joined, message, tick

MEMBERS = 10_000
BROKER_LIMIT = 1_048_576


SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何林罗高"


def name(i: int) -> str:
    """A distinct valid 部门+姓名 display name per member."""
    return "研发中心-" + "".join(SURNAMES[(i // 20 ** k) % 20] for k in range(4))


def all_hands() -> list[dict]:
    events = [configured(group="g-all", admins=("u-admin",), owners=("u-admin",), ts=at(minutes=-60))]
    events += [joined(f"u-{i:05d}", name(i), group="g-all", ts=at(minutes=-30)) for i in range(MEMBERS)]
    events.append(message("@所有人 下午三点全员大会，收到请回复", group="g-all", actor="u-admin", ts=at()))
    events.append(event("announcement.posted", "g-all", "u-admin", at(minutes=5),
                        announcement={"id": "a-1", "title": "关于年度体检的通知", "text": "请各位按时参加体检"}))
    events += [message("收到", group="g-all", actor=f"u-{i:05d}", ts=at(minutes=10)) for i in range(0, MEMBERS, 3)]
    events.append(tick(group="g-all", ts=at(days=8)))  # reminders, the P7 reminder and the weekly report
    return events


@pytest.fixture(scope="module")
def ran(policy):
    from pipeline.core.engine import Engine
    from tests.conftest import FixedClassifier

    engine = Engine(policy, FixedClassifier())
    states: dict = {}
    stored: state_pages.Stored | None = None
    out = []
    events = [decode(orjson.dumps(e)) for e in all_hands()]
    sizes = []
    for i in range(0, len(events), 2000):  # batches, the state saved after each as the worker saves it
        out += engine.process(events[i:i + 2000], states, [("p", n) for n in range(i, i + 2000)])
        stored = state_pages.encode("g-all", states["g-all"], stored)
        sizes.append(max(map(len, stored.records.values())))
        states = {"g-all": state_pages.decode("g-all", stored.records.get)[0]}
    return out, stored, sizes


def test_the_group_state_is_stored_in_records_the_broker_accepts(ran):
    _, stored, sizes = ran
    assert stored.size > BROKER_LIMIT  # as one record it would be refused
    assert max(sizes) <= state_pages.HEAD_BYTES < BROKER_LIMIT


def test_every_output_fits_in_a_record(ran):
    out, _, _ = ran
    assert max(len(encode(e)) for _, e in out) < 256 * 1024


def test_ten_thousand_reply_reminders_and_one_bounded_announcement_reminder(ran):
    out, _, _ = ran
    c1 = [e for role, e in out if role == "escalations" and e["rule"] == "C1" and e["level"] == "reminder"]
    # everyone but the admin was asked; a third answered 收到
    assert len(c1) == MEMBERS - len(range(0, MEMBERS, 3))
    p7 = [e for role, e in out if role == "escalations" and e["rule"] == "P7"]
    assert len(p7) == 1 and len(p7[0]["members"]) == 200 and p7[0]["members_total"] == MEMBERS
    assert p7[0]["why"].startswith(f"{MEMBERS} of {MEMBERS} members")


def test_the_weekly_report_lists_are_bounded_with_totals(ran):
    out, _, _ = ran
    report = next(e for role, e in out if role == "reports")
    assert len(report["responsiveness"]["by_member"]) == 200
    assert report["responsiveness"]["by_member_total"] == MEMBERS
    missing = report["announcements"][0]
    assert len(missing["missing"]) == 200 and missing["missing_total"] == MEMBERS


def test_reply_times_of_a_busy_window_are_kept_bounded():
    from pipeline.core.followups.common import EXACT_DURATIONS, add_duration, percentile_summary

    counts = {"seconds": []}
    for s in range(1, 100_001):
        add_duration(counts, s)
    assert len(orjson.dumps(counts)) < 20_000
    median, p90 = percentile_summary(counts["seconds"])
    assert abs(median - 50_000) / 50_000 < 0.01 and abs(p90 - 90_000) / 90_000 < 0.01
    exact = {"seconds": []}
    for s in (5, 1, 3, 9):
        add_duration(exact, s)
    assert percentile_summary(exact["seconds"]) == (4.0, 9.0) and len(exact["seconds"]) <= EXACT_DURATIONS
