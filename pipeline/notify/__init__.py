"""The notifier: escalations and group reports → people, on WeCom, DingTalk, Feishu, Slack and
e-mail, once per escalation per recipient channel, every outcome recorded on
`moderation.deliveries` (docs/NOTIFY.md).

Deciding code is plain (records, plan, render, the channels' payloads and answer readers); the
shells are dispatch (timing, rate limits, retries), ledger (what was sent, durably), service (the
Kafka consumer) and replay (a file, without Kafka).
"""
