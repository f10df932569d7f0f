"""`moderation demo --via gateway`: the sample conversation's messages as signed Slack events give,
through the Slack connector and the real core, the same label for every message and the same rules
as the conversation produced directly (the demo checks the same on the worker's Kafka outputs)."""
from __future__ import annotations

import orjson

from pipeline.gateway.demo import deliveries, differences, slack_id
from pipeline.core.offline import run
from pipeline.devtools.sample import conversation


def _outputs(engine, events) -> dict[str, dict]:
    return {e["id"]: e for _, e in run(engine, [orjson.dumps(x) for x in events])}


def test_the_conversation_through_slack_events_gets_the_same_labels_and_rules(engine):
    events = conversation()
    pairs = deliveries(events)
    posted = [(event, body) for event, body in pairs if body is not None]
    assert len(posted) == sum(e["type"] == "message.posted" for e in events) > 10
    direct = _outputs(engine, events)
    via = _outputs(engine, [event for event, _ in pairs])
    assert sum(e.get("kind") == "violation" for e in direct.values()) > 5
    assert differences(direct, via, events, pairs) == []
    mentioned = next(event for event, _ in posted if event["message"].get("mentions"))
    assert mentioned["message"]["text"] == "@李四 二月份的应收账款对账表今天下班前发我一下，谢谢"
    assert mentioned["message"]["mentions"] == [slack_id("u-ls")]


def test_the_comparison_sees_a_lost_mention(engine):
    events = conversation()
    pairs = deliveries(events)
    broken = [(({**event, "message": {k: v for k, v in event["message"].items() if k != "mentions"}}
                if event.get("message", {}).get("mentions") else event), body) for event, body in pairs]
    found = differences(_outputs(engine, events), _outputs(engine, [event for event, _ in broken]), events, broken)
    assert found == ["responsiveness: 12 directly, 4 through the gateway"]
