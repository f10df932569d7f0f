"""The policy rules and the escalation ladder through the real worker on the real broker (issue 4).

Every test produces events built with `tests.factory` to an isolated deployment, reads back every
output topic, and asserts that the worker wrote exactly what the offline core (`moderation check`)
computes for the same events, and that the specific rule ids and ladder levels expected are there.
The expectations are built from rules that the classifier does not decide (files, membership,
forwarding, message length) and from the policy's own settings, so a retrained classifier or a
changed threshold cannot make them flaky.
"""
from __future__ import annotations

import base64
import hashlib
import time
from datetime import timedelta

import orjson
from pipeline.config import load_policy
from pipeline.core.offline import run
from pipeline.core.rules.files import EICAR
from tests.factory import MONDAY, at, configured, event, joined, message, tick
from tests.integration.test_reliability import check_complete, expected_outputs

EXTRA_ROLES = ("responsiveness", "reports")
PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def shared_file(name: str, head: bytes | None, group: str, actor: str, ts: str, folder: str | None = "项目/资料") -> dict:
    body = {"id": f"f-{hashlib.md5((group + name + ts).encode()).hexdigest()[:8]}", "name": name, "size": 2048,
            "folder": folder, "sha256": hashlib.sha256(name.encode() + ts.encode() + (head or b"")).hexdigest()}
    if head is not None:
        body["head_b64"] = base64.b64encode(head).decode()
    return event("file.shared", group, actor, ts, actor_name="研发中心-成员" + actor[-1], file=body)


def forwarded(group: str, actor: str, external: bool, approved_by: str | None, ts: str) -> dict:
    return event("message.forwarded", group, actor, ts, message={"id": f"fw-{group}-{actor}"},
                 destination={"id": "wx-outsider" if external else "g-internal", "external": external},
                 approved_by=approved_by)


def all_expected(engine, events) -> dict[str, dict[str, dict]]:
    """`expected_outputs` (verdicts, violations, escalations) plus the responsiveness and report roles."""
    expected = expected_outputs(engine, events)
    for role in EXTRA_ROLES:
        expected[role] = {}
    for role, out in run(engine, [orjson.dumps(e) for e in events]):
        if role in EXTRA_ROLES:
            expected[role][out["id"]] = out
    return expected


def run_on_kafka(deployment, engine, events, timeout: float = 120.0):
    """Start a worker, produce `events`, read every output back; assert it equals the offline core
    (no output missing, none unexpected, each byte-identical, no duplicates). Returns (got, expected)."""
    expected = all_expected(engine, events)
    deployment.start_worker()
    started = time.monotonic()
    deployment.produce(events)
    got = deployment.collect_ids({role: set(ids) for role, ids in expected.items()}, timeout=timeout, settle=3.0)
    duplicates = check_complete(got, expected)
    assert sum(duplicates.values()) == 0, f"duplicates without any restart: {duplicates}"
    for role in EXTRA_ROLES:
        ids = [e["id"] for e in got[role]]
        assert sorted(ids) == sorted(expected[role]), f"{role} differ from the offline core"
        for out in got[role]:
            assert out == expected[role][out["id"]], f"{role} {out['id']} differs from the offline core"
    print(f"\n{len(events)} events in, outputs {({r: len(v) for r, v in got.items()})} "
          f"in {time.monotonic() - started:.1f}s")
    return got, expected


def test_one_member_climbs_the_whole_ladder_on_the_real_broker(deployment, engine):
    """M5/E1–E3: one member keeps sharing badly named files (P9, a warning that the classifier has
    no say in), each repeat well past the grace period: reminder, then removal recommended, and at
    the `removals_before_supervisor`-th removal recommendation the supervisor."""
    policy = load_policy()
    esc = policy.escalation
    assert esc.repeat_grace_minutes < 60 and esc.window_days >= 1, "the spacing below assumes these"
    spacing = timedelta(minutes=esc.repeat_grace_minutes + 30)
    repeats = esc.removals_before_supervisor + 1          # one reminder, then that many removals
    group, member = "g-ladder", "u-7"
    events = [configured(group, admins=("u-admin",), owners=("u-lead",), ts=at(minutes=-30)),
              joined(member, "研发中心-周七", approved_by="u-lead", group=group, ts=at(minutes=-20))]
    events += [shared_file(f"资料{i}.pdf", PDF_HEAD, group, member, at(MONDAY, minutes=i * spacing.total_seconds() / 60))
               for i in range(repeats)]
    # A near-miss in the same group: another member's well-named file gives no violation at all.
    events.append(shared_file("季度预算_20260302_王五.pdf", PDF_HEAD, group, "u-8", at(hours=3)))

    got, expected = run_on_kafka(deployment, engine, events)

    violations = [v for v in got["violations"] if v["group_id"] == group]
    assert [(v["rule"], v["member"]["id"], v["severity"]) for v in violations] == [("P9", member, "warning")] * repeats
    assert all(v["evidence"]["checks"] == ["name"] for v in violations)
    ladder = [(e["level"], e["ladder"], e["rule"], e["member"]["id"]) for e in got["escalations"]]
    want = [("reminder", "E1", "P9", member)]
    want += [("removal_recommended", "E2", "P9", member)] * (repeats - 2)
    want += [("removal_recommended", "E2", "P9", member), ("supervisor", "E3", "P9", member)]
    assert ladder == want, "the ladder, in order, on the group's partition"
    reminder, *_, removal, supervisor = got["escalations"]
    assert reminder["recipients"] == {"member": member, "admins": ["u-admin"]}
    assert removal["recipients"] == {"admins": ["u-admin"], "owners": ["u-lead"]}
    assert removal["reminded_at"] == reminder["ts"]
    assert supervisor["recipients"]["supervisors"] == list(policy.groups.supervisors)
    assert len({e["id"] for e in got["escalations"]}) == len(got["escalations"])


def test_a_rule_of_each_area_fires_through_the_real_broker(deployment, engine):
    """Members (M1, and M4 on the event-time timer), publishing (P8), files (P9 malware) and
    discipline (D2), each next to a near-miss, in separate groups (so on several partitions)."""
    policy = load_policy()
    long_text = "项目进展说明：本周完成接口联调与测试用例评审。" * (policy.publishing.max_message_chars // 20 + 2)
    assert len(long_text) > policy.publishing.max_message_chars
    grace = timedelta(hours=policy.members.departed_grace_hours + 1)
    events = [
        # members: an unapproved join (M1) and an owner-approved one; a departed member still there (M4)
        configured("g-members", owners=("u-lead",), ts=at(minutes=-5)),
        joined("u-2", "研发中心-李四", approved_by=None, group="g-members", ts=at(minutes=1)),
        joined("u-3", "研发中心-王五", approved_by="u-lead", group="g-members", ts=at(minutes=2)),
        event("member.departed", "g-members", "hr-roster", at(minutes=3), member={"id": "u-3"}, reason="离职"),
        tick("g-members", ts=(MONDAY + grace).isoformat()),
        # publishing: an over-long work message (P8) and a short one
        configured("g-publishing", owners=("u-lead",), ts=at(minutes=-5)),
        message(long_text, group="g-publishing", actor="u-4", ts=at(minutes=1)),
        message("接口文档已同步到共享盘", group="g-publishing", actor="u-5", ts=at(minutes=2)),
        # files: the EICAR test string (P9 malware, severe) and a well-filed document
        configured("g-files", owners=("u-lead",), ts=at(minutes=-5)),
        shared_file("说明_20260302_张三.txt", EICAR, "g-files", "u-6", at(minutes=1)),
        shared_file("季度预算_20260302_张三.pdf", PDF_HEAD, "g-files", "u-6", at(minutes=40)),
        # discipline: an unapproved external forward (D2, severe) and an internal one
        configured("g-discipline", owners=("u-lead",), ts=at(minutes=-5)),
        forwarded("g-discipline", "u-9", external=True, approved_by=None, ts=at(minutes=1)),
        forwarded("g-discipline", "u-8", external=False, approved_by=None, ts=at(minutes=2)),
    ]

    got, expected = run_on_kafka(deployment, engine, events)

    def fired(group):
        return {(v["rule"], v["member"]["id"]) for v in got["violations"] if v["group_id"] == group}

    def escalated(group):
        return {(e["rule"], e["level"]) for e in got["escalations"] if e["group_id"] == group}

    assert {("M1", "u-2"), ("M4", "u-3")} <= fired("g-members")
    assert ("M1", "u-3") not in fired("g-members")
    assert ("M1", "reminder") in escalated("g-members") and ("M4", "removal_recommended") in escalated("g-members")
    assert ("P8", "u-4") in fired("g-publishing") and ("P8", "u-5") not in fired("g-publishing")
    p8 = next(v for v in got["violations"] if v["rule"] == "P8")
    assert p8["severity"] == "info" and p8["evidence"]["limit"] == policy.publishing.max_message_chars
    assert not any(e["rule"] == "P8" for e in got["escalations"]), "info advisories never climb the ladder"
    assert fired("g-files") == {("P9", "u-6")}
    (p9,) = [v for v in got["violations"] if v["rule"] == "P9"]
    assert p9["evidence"]["checks"] == ["malware"] and p9["severity"] == "severe"
    assert escalated("g-files") == {("P9", "supervisor")}
    assert fired("g-discipline") == {("D2", "u-9")}
    assert escalated("g-discipline") == {("D2", "supervisor")}
    # Verdicts only for messages: one per message.posted, none for files or forwards.
    assert len(got["verdicts"]) == sum(e["type"] == "message.posted" for e in events)


def test_policy_outputs_do_not_depend_on_how_the_events_are_produced(deployment, engine):
    """The same ladder events produced one at a time (one record per produce call, so the worker
    sees many small batches and saves state in between) give the same outputs as offline."""
    group, member = "g-trickle", "u-7"
    spacing = load_policy().escalation.repeat_grace_minutes + 30
    events = [configured(group, owners=("u-lead",), ts=at(minutes=-30))]
    events += [shared_file(f"草稿{i}.docx", b"PK\x03\x04\x14\x00\x06\x00", group, member, at(minutes=i * spacing),
                           folder=None) for i in range(4)]
    expected = all_expected(engine, events)
    deployment.start_worker()
    for e in events:
        deployment.produce([e])
    got = deployment.collect_ids({role: set(ids) for role, ids in expected.items()}, timeout=120, settle=3.0)
    assert sum(check_complete(got, expected).values()) == 0
    assert [e["level"] for e in got["escalations"]][:2] == ["reminder", "removal_recommended"]
    assert "supervisor" in [e["level"] for e in got["escalations"]]
    assert all(v["evidence"]["checks"] == ["name", "folder"] for v in got["violations"])
