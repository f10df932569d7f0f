"""R1–R3: review bands, reviewers' decisions, retractions, and the ladder after a dismissal. Every
path has what must happen and what must not."""
from __future__ import annotations

import orjson

from pipeline.core.offline import run
from tests.factory import at, configured, event, message
from tests.unit.rule_helpers import engine_for

AD = "限时特价，加我微信"          # an ad, acted on at once
HELD_AD = "新品上市欢迎咨询"      # an ad the classifier is less sure of: the review band
BET = "加微信下注稳赚"            # illegal, in the review band
RUMOUR = "听说要裁员了"


def decided(violation_id: str, decision: str, label: str | None = None, note: str | None = None,
            ts: str | None = None, reviewer: str = "u-reviewer", group: str = "g-1") -> dict:
    review = {"violation_id": violation_id, "decision": decision}
    if label:
        review["label"] = label
    if note:
        review["note"] = note
    return event("review.decided", group, reviewer, ts or at(hours=1), actor_name="合规部-审核员", review=review)


def run_all(engine, *events) -> list[tuple[str, dict]]:
    return list(run(engine, [orjson.dumps(e) for e in events]))


def of(out, role, kind=None) -> list[dict]:
    return [e for r, e in out if r == role and (kind is None or e["kind"] == kind)]


def engine(policy):
    return engine_for(policy, {AD: "ad", HELD_AD: "ad", BET: "illegal", RUMOUR: "rumour"}, held={HELD_AD, BET})


def first_violation(policy, *events):
    out = run_all(engine(policy), configured(), *events)
    return of(out, "violations")[0]


# --------------------------------------------------------------------------- R1: bands


def test_a_review_band_violation_waits_and_an_act_band_one_escalates(policy):
    out = run_all(engine(policy), configured(), message(HELD_AD), message(AD, actor="u-2"))
    held, acted = of(out, "violations")
    assert held["review"] == "required" and acted["review"] == "none"
    assert [v["band"] for v in of(out, "verdicts")] == ["review", "act"]
    # must happen: the act band's reminder; must not: anything for the held one
    assert [e["violations"] for e in of(out, "escalations")] == [[acted["id"]]]


def test_a_held_illegal_message_does_not_reach_the_supervisor_until_confirmed(policy):
    post = message(BET)
    out = run_all(engine(policy), configured(), post)
    assert of(out, "violations")[0]["rule"] == "D1" and of(out, "escalations") == []
    held = of(out, "violations")[0]
    out = run_all(engine(policy), configured(), post, decided(held["id"], "confirmed"))
    (supervisor,) = of(out, "escalations")
    assert (supervisor["level"], supervisor["rule"], supervisor["severity"]) == ("supervisor", "D1", "severe")


# --------------------------------------------------------------------------- R2: confirmed


def test_confirming_a_held_violation_escalates_as_the_ladder_would_have_at_its_time(policy):
    post = message(HELD_AD, ts=at())
    held = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(held["id"], "confirmed", ts=at(hours=3)))
    (reminder,) = of(out, "escalations")
    assert (reminder["level"], reminder["ladder"], reminder["rule"]) == ("reminder", "E1", "P2")
    assert reminder["recipients"] == {"member": "u-1", "admins": ["u-admin"]}
    assert reminder["violation_ts"] == held["ts"] and reminder["ts"] == at(hours=3)
    assert reminder["decided_by"]["id"] == "u-reviewer"
    (record,) = of(out, "reviews")
    assert (record["decision"], record["outcome"], record["old_label"], record["new_label"]) == \
        ("confirmed", "escalated", "ad", "ad")


def test_a_confirmed_violation_takes_its_place_on_the_ladder_at_its_own_time(policy):
    early = message(HELD_AD, ts=at())
    held = first_violation(policy, early)
    events = [configured(), early, message(AD, ts=at(days=3)), decided(held["id"], "confirmed", ts=at(days=4)),
              message(AD, ts=at(days=5))]
    levels = [(e["level"], e["violations"][0] == held["id"]) for e in of(run_all(engine(policy), *events), "escalations")]
    # day 3: a reminder (the held one did not count yet); the confirmation: the held one's own
    # reminder, as of day 0; day 5: the ladder now has day 0 and day 3 behind it, so it climbs
    assert levels[0] == ("reminder", False) and levels[1] == ("reminder", True)
    assert [level for level, _ in levels[2:]] == ["removal_recommended", "supervisor"]


def test_confirming_an_act_band_violation_changes_nothing(policy):
    post = message(AD)
    acted = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(acted["id"], "confirmed"))
    assert len(of(out, "escalations", "escalation")) == 1 and of(out, "escalations", "retraction") == []
    assert of(out, "reviews")[0]["outcome"] == "confirmed"


# --------------------------------------------------------------------------- R2: dismissed


def test_dismissing_a_held_violation_sends_nothing(policy):
    post = message(HELD_AD)
    held = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(held["id"], "dismissed", note="正常的新品通知"))
    assert of(out, "escalations") == []
    assert of(out, "reviews")[0]["outcome"] == "dismissed" and of(out, "reviews")[0]["new_label"] == "work"


def test_dismissing_an_escalated_violation_retracts_it_and_the_ladder_forgets_it(policy):
    first = message(AD, ts=at())
    acted = first_violation(policy, first)
    later = message(AD, ts=at(days=3))
    without = run_all(engine(policy), configured(), first, later)
    assert [e["level"] for e in of(without, "escalations")] == ["reminder", "removal_recommended"]
    out = run_all(engine(policy), configured(), first, decided(acted["id"], "dismissed", ts=at(days=1)), later)
    (retraction,) = of(out, "escalations", "retraction")
    reminder = of(out, "escalations", "escalation")[0]
    assert retraction["retracts"] == [reminder["id"]] and retraction["violation_id"] == acted["id"]
    assert retraction["reason"] == "dismissed by a reviewer"
    # must: the member's next violation is a first one again; must not: a removal recommendation
    assert [e["level"] for e in of(out, "escalations", "escalation")] == ["reminder", "reminder"]
    assert of(out, "reviews")[0]["outcome"] == "retracted"


def test_relabelling_an_escalated_violation_to_work_retracts_it(policy):
    post = message(AD)
    acted = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(acted["id"], "relabelled", label="work"))
    assert len(of(out, "escalations", "retraction")) == 1
    assert of(out, "escalations", "retraction")[0]["reason"] == "relabelled by a reviewer (now work)"


# --------------------------------------------------------------------------- R2: relabelled


def test_relabelling_a_held_violation_to_another_violating_label_escalates_under_its_rule(policy):
    post = message(HELD_AD)
    held = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(held["id"], "relabelled", label="rumour"))
    (reminder,) = of(out, "escalations")
    assert (reminder["rule"], reminder["level"]) == ("P3", "reminder") and reminder["violations"] == [held["id"]]
    assert of(out, "escalations", "retraction") == []


def test_relabelling_an_escalated_violation_withdraws_and_escalates_anew(policy):
    post = message(AD)
    acted = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(acted["id"], "relabelled", label="rumour"))
    original, retraction, anew = [e for r, e in out if r == "escalations"]
    assert retraction["retracts"] == [original["id"]]
    assert anew["rule"] == "P3" and anew["id"] != original["id"]


def test_a_dismissal_then_a_confirmation_escalates_under_new_ids(policy):
    post = message(AD)
    acted = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(acted["id"], "dismissed"),
                  decided(acted["id"], "confirmed", ts=at(hours=2)))
    first, retraction, again = [e for r, e in out if r == "escalations"]
    assert retraction["retracts"] == [first["id"]] and again["id"] != first["id"] and again["level"] == "reminder"


# --------------------------------------------------------------------------- idempotent, unknown, late


def test_a_repeated_decision_changes_nothing(policy):
    post = message(AD)
    acted = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(acted["id"], "dismissed"),
                  decided(acted["id"], "dismissed", ts=at(hours=2)))
    assert len(of(out, "escalations", "retraction")) == 1
    assert [r["outcome"] for r in of(out, "reviews")] == ["retracted", "unchanged"]
    # the very same decision event again (a redelivery) gives nothing at all
    again = decided(acted["id"], "dismissed")
    out = run_all(engine(policy), configured(), post, again, again)
    assert len(of(out, "reviews")) == 1


def test_a_decision_for_an_unknown_violation_goes_to_the_dlq_with_the_reason(policy):
    post = message(AD)
    out = run_all(engine(policy), configured(), post, decided("vio-nope", "confirmed"), message(AD, actor="u-2"))
    (rejected,) = of(out, "dlq")
    assert "vio-nope" in rejected["reason"] and "does not hold" in rejected["reason"]
    assert len(of(out, "verdicts")) == 2  # the rest of the batch went through
    # a violation of another kind than content (a flood, a forward) is not decidable either
    forward = event("message.forwarded", actor="u-1", message={"id": "m-x"}, destination={"id": "ext", "external": True},
                    approved_by=None)
    d2 = of(run_all(engine(policy), configured(), forward), "violations")[0]
    assert of(run_all(engine(policy), configured(), forward, decided(d2["id"], "dismissed")), "dlq")


def test_a_decision_works_after_the_group_moved_on_and_not_after_keep_days(policy):
    post = message(HELD_AD, ts=at())
    held = first_violation(policy, post)
    chatter = [message(f"第{i}条工作消息", actor="u-3", ts=at(hours=i)) for i in range(1, 200)]
    out = run_all(engine(policy), configured(), post, *chatter, decided(held["id"], "confirmed", ts=at(days=10)))
    assert len(of(out, "escalations", "escalation")) == 1
    late = decided(held["id"], "confirmed", ts=at(days=31))
    out = run_all(engine(policy), configured(), post, message("好的", ts=at(days=31)), late)
    assert of(out, "escalations") == [] and "keep_days" in of(out, "dlq")[0]["reason"]


def test_a_decision_names_its_label_only_when_relabelled():
    from pipeline.core.events import Rejected, decode

    for review in ({"violation_id": "v", "decision": "relabelled"},
                   {"violation_id": "v", "decision": "confirmed", "label": "ad"},
                   {"violation_id": "v", "decision": "maybe"}):
        raw = orjson.dumps(event("review.decided", "g-1", "u-r", at(), review=review))
        try:
            decode(raw)
        except Rejected as exc:
            assert "review" in exc.reason
        else:
            raise AssertionError(f"{review} must be rejected")


def test_the_review_record_is_the_audit_trail_with_personal_data_masked(policy):
    post = message(HELD_AD)
    held = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post,
                  decided(held["id"], "dismissed", note="客户 13812345678 的正常咨询"))
    (record,) = of(out, "reviews")
    assert record["reviewer"] == {"id": "u-reviewer", "name": "合规部-审核员"}
    assert "13812345678" not in record["note"] and "138****5678" in record["note"]
    assert record["message_id"] == post["message"]["id"] and record["message_event_id"] == post["event_id"]


# --------------------------------------------------------------------------- R2 in the period's report


def weekly_counts(out) -> list[dict]:
    return [r["violations"]["by_rule"] for r in of(out, "reports")]


def test_a_dismissed_violation_is_not_counted_in_its_periods_report(policy):
    from tests.factory import tick

    held_post, acted_post = message(HELD_AD, ts=at()), message(AD, actor="u-2", ts=at(minutes=5))
    held = first_violation(policy, held_post)
    base = [configured(), held_post, acted_post]
    assert weekly_counts(run_all(engine(policy), *base, tick(ts=at(days=7)))) == [{"P2": 2}]
    out = run_all(engine(policy), *base, decided(held["id"], "dismissed", ts=at(days=1)), tick(ts=at(days=7)))
    assert weekly_counts(out) == [{"P2": 1}]


def test_a_relabelled_violation_counts_under_its_new_rule_and_a_confirmation_after_a_dismissal_again(policy):
    from tests.factory import tick

    post = message(HELD_AD, ts=at())
    held = first_violation(policy, post)
    out = run_all(engine(policy), configured(), post, decided(held["id"], "relabelled", label="rumour", ts=at(days=1)),
                  tick(ts=at(days=7)))
    assert weekly_counts(out) == [{"P3": 1}]
    out = run_all(engine(policy), configured(), post, decided(held["id"], "dismissed", ts=at(days=1)),
                  decided(held["id"], "confirmed", ts=at(days=2)), tick(ts=at(days=7)))
    assert weekly_counts(out) == [{"P2": 1}]


def test_a_decision_on_a_reported_violation_leaves_the_next_report_alone(policy):
    """A report is final at its period's end: a dismissal the week after takes nothing from that
    week's count."""
    from tests.factory import tick

    old = message(HELD_AD, ts=at())
    held = first_violation(policy, old)
    out = run_all(engine(policy), configured(), old, tick(ts=at(days=7)),
                  decided(held["id"], "dismissed", ts=at(days=8)), message(AD, actor="u-2", ts=at(days=8, minutes=5)),
                  tick(ts=at(days=14)))
    assert weekly_counts(out) == [{"P2": 1}, {"P2": 1}]
