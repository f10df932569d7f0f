"""`moderation demo --via gateway`: the sample conversation's messages posted to the gateway as signed
Slack events (the rest of the conversation, which Slack has no events for, produced directly), and
the check that each message gets the same label and rules as when produced directly.

Slack names members `U…`: every member id of the sample is mapped to one (the same everywhere), and
an "@label" in a text whose member is in `mentions` is written the way Slack writes a mention,
`<@U…|label>`, which the connector turns back into "@label".
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections import Counter
from datetime import datetime

import orjson

from pipeline.connectors import Options, convert_record

SOURCE_TZ = "Asia/Shanghai"
_LABEL = re.compile(r"@(\S+)")


def slack_id(member_id: str) -> str:
    return "U" + hashlib.blake2b(member_id.encode("utf-8"), digest_size=5).hexdigest().upper()


def member_ids(events: list[dict]) -> set[str]:
    ids: set[str] = set()
    for event in events:
        for key in ("actor", "member"):
            if isinstance(event.get(key), dict) and isinstance(event[key].get("id"), str):
                ids.add(event[key]["id"])
        ids.update((event.get("message") or {}).get("mentions") or ())
    return ids


def _renamed(value, ids: dict[str, str]):
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_renamed(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, ids) for k, v in value.items()}
    return value


def _slack_text(message: dict, ids: dict[str, str]) -> str:
    mentions = iter(message.get("mentions") or ())

    def mention(match: re.Match) -> str:
        member = next(mentions, None)
        return f"<@{ids[member]}|{match.group(1)}>" if member is not None else match.group(0)

    return _LABEL.sub(mention, message["text"])


def deliveries(events: list[dict]) -> list[tuple[dict, bytes | None]]:
    """Each event of the conversation with its Slack delivery: (the event as it reaches the input topic,
    the `event_callback` body that carries it), or (the event, None) when it is produced directly."""
    ids = {member: slack_id(member) for member in member_ids(events)}
    out, taken = [], set()
    for n, event in enumerate(events):
        if event["type"] != "message.posted":
            out.append((_renamed(event, ids), None))
            continue
        when = datetime.fromisoformat(event["ts"]).timestamp()
        # Slack's ts is the message's id in its channel: a second message in the same second gets a sequence.
        ts = f"{int(when)}.{0:06d}"
        sequence = 0
        while (event["group_id"], ts) in taken:
            sequence += 1
            ts = f"{int(when)}.{sequence:06d}"
        taken.add((event["group_id"], ts))
        body = orjson.dumps({
            "type": "event_callback", "event_id": f"EvDemo{n:06d}", "event_time": int(when),
            "event": {"type": "message", "channel": event["group_id"], "user": ids[event["actor"]["id"]],
                      "text": _slack_text(event["message"], ids), "ts": ts,
                      "channel_type": "channel", "user_profile": {"display_name": event["actor"]["name"]}}})
        (converted,) = convert_record("slack", orjson.loads(body), Options(tz=SOURCE_TZ))
        out.append((converted, body))
    return out


def signed(body: bytes, secret: str) -> dict:
    """Signed as Slack signs: v0= hex HMAC-SHA256 of "v0:{timestamp}:{body}"."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode("utf-8"), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest}


async def feed(settings, pairs: list[tuple[dict, bytes | None]], producer, pace: float) -> None:
    """Start the gateway in this process (on a free loopback port, a fresh signing secret) and send the
    conversation in order: messages posted to it (each answered 2xx only once Kafka has it), the rest
    produced directly. Each waits for the previous one's acknowledgement, so the order holds."""
    import aiohttp

    from pipeline.gateway.server import start

    secret = secrets.token_hex(16)
    settings = settings.model_copy(update={"gateway": settings.gateway.model_copy(
        update={"slack_signing_secret": _secret(secret)})})
    runner, site = await start(settings, Options(tz=SOURCE_TZ), port=0)
    url = f"http://127.0.0.1:{site.port}/slack/events"
    try:
        async with aiohttp.ClientSession() as client:
            await _ready(client, f"http://127.0.0.1:{site.port}/healthz")
            for event, body in pairs:
                if body is None:
                    await (await producer.send(settings.topics.input, key=event["group_id"].encode(),
                                               value=orjson.dumps(event)))
                else:
                    async with client.post(url, data=body, headers=signed(body, secret)) as response:
                        if response.status != 200:
                            raise RuntimeError(f"the gateway answered {response.status}: {await response.text()}")
                await asyncio.sleep(pace)
    finally:
        await runner.cleanup()


def _secret(value: str):
    from pydantic import SecretStr

    return SecretStr(value)


async def _ready(client, health: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with client.get(health) as response:
            if response.status == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the gateway's producer did not connect within {seconds:.0f}s")


def differences(direct: dict[str, dict], via: dict[str, dict], events: list[dict],
                pairs: list[tuple[dict, bytes | None]]) -> list[str]:
    """Where the outputs of the conversation sent through the gateway differ from those of the same
    conversation produced directly: a message's label, the rules that fired (by rule, group, time
    and member), or the number of outputs of a kind (escalations, responsiveness aggregates, …)."""
    ids = {member: slack_id(member) for member in member_ids(events)}
    renamed = {e["event_id"]: c["event_id"] for e, (c, _) in zip(events, pairs)}
    labels = {e["event_id"]: e["label"] for e in direct.values() if e.get("kind") == "verdict"}
    via_labels = {e["event_id"]: e["label"] for e in via.values() if e.get("kind") == "verdict"}
    found = [f"message {original}: {label} directly, {via_labels.get(renamed[original])} through the gateway"
             for original, label in labels.items() if via_labels.get(renamed[original]) != label]

    def rules(outputs: dict[str, dict], rename: dict[str, str]) -> list[tuple]:
        return sorted((e["rule"], e["group_id"], e["ts"], rename.get((e.get("member") or {}).get("id"),
                                                                     (e.get("member") or {}).get("id")) or "")
                      for e in outputs.values() if e.get("kind") == "violation")

    direct_rules, via_rules = rules(direct, ids), rules(via, {})
    if direct_rules != via_rules:
        found.append(f"rules: {len(direct_rules)} violations directly, {len(via_rules)} through the gateway")
    kinds, via_kinds = Counter(e.get("kind") for e in direct.values()), Counter(e.get("kind") for e in via.values())
    found += [f"{kind}: {kinds[kind]} directly, {via_kinds[kind]} through the gateway"
              for kind in sorted(set(kinds) | set(via_kinds), key=str) if kinds[kind] != via_kinds[kind]]
    return found
