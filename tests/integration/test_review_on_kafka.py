"""Review on the real broker (issue 26): a review-band message escalates nothing until a reviewer
confirms it; a dismissal of an escalated violation is retracted; the decisions export as
labelled data."""
from __future__ import annotations

import asyncio

import orjson
import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.kafka.review_export import export
from tests.factory import at, configured, event, message
from tests.integration.harness import Deployment

AD = "新品上市，欢迎咨询选购"  # an ad the model is 0.94 sure of: held with act thresholds of 1.0
LEAK = "客户身份证 110101199003074573，手机 13812345678，银行卡 6222021234567890128"  # detectors: acts at once


@pytest.fixture
def reviewed(broker, tmp_path):
    """A deployment whose policy holds every model decision for review (act thresholds of 1.0):
    only detector decisions act at once."""
    policy = tmp_path / "policy.yaml"
    text = (PROJECT_ROOT / "config" / "policy.yaml").read_text()
    start = text.index("  review:")
    end = text.index("\n", text.index("act:", start))
    policy.write_text(text[:start] + "  review:\n    act: {chitchat: 1.0, ad: 1.0, rumour: 1.0, abuse: 1.0, "
                      "confidential: 1.0, illegal: 1.0}" + text[end:])
    d = Deployment(bootstrap=broker.bootstrap, workdir=tmp_path, extra_env={"MODERATION_POLICY": str(policy)})
    d.create_topics()
    yield d
    d.stop_all()
    d.delete_topics()


def decision(violation_id: str, verdict: str, ts: str) -> dict:
    return event("review.decided", "g-1", "u-reviewer", ts, actor_name="合规部-审核员",
                 review={"violation_id": violation_id, "decision": verdict})


def test_a_reviewer_decides_and_the_worker_escalates_or_retracts(reviewed, tmp_path):
    ad, leak = message(AD, actor="u-2"), message(LEAK, actor="u-3")
    reviewed.start_worker()
    reviewed.produce([configured(), ad, leak])
    got = reviewed.collect(expect=4, roles=("violations", "escalations"), timeout=60)
    by_member = {v["member"]["id"]: v for v in got["violations"]}
    held, acted = by_member["u-2"], by_member["u-3"]
    assert held["review"] == "required" and acted["review"] == "none"
    # must not: anything sent for the held ad; must: the leak's escalation at once
    assert {e["violations"][0] for e in got["escalations"]} == {acted["id"]}
    leak_escalations = [e["id"] for e in got["escalations"]]
    reviewed.produce([decision(held["id"], "confirmed", at(hours=1)), decision(acted["id"], "dismissed", at(hours=1)),
                      decision("vio-unknown", "confirmed", at(hours=1))])
    got = reviewed.collect(expect=len(leak_escalations) + 5, roles=("escalations", "reviews", "dlq"), timeout=60)
    confirmed = [e for e in got["escalations"] if e["kind"] == "escalation" and e["violations"] == [held["id"]]]
    assert [(e["level"], e["rule"]) for e in confirmed] == [("reminder", "P2")]
    (retraction,) = [e for e in got["escalations"] if e["kind"] == "retraction"]
    assert retraction["violation_id"] == acted["id"] and retraction["retracts"] == leak_escalations
    assert sorted(r["outcome"] for r in got["reviews"]) == ["escalated", "retracted"]
    (rejected,) = got["dlq"]
    assert "vio-unknown" in rejected["reason"]
    # R3: the decisions as training data, with the messages' own text
    out = tmp_path / "decided.jsonl"
    counts = asyncio.run(export(reviewed.settings, out, wait=10))
    rows = sorted((orjson.loads(line) for line in out.read_bytes().splitlines()), key=lambda r: r["label"])
    assert rows == [{"text": AD, "label": "ad"}, {"text": LEAK, "label": "work"}]
    assert counts["missing"] == 0
