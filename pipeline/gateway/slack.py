"""`POST /slack/events`: the Slack Events API.

Slack signs each request: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}" keyed by
the app's signing secret>` with `X-Slack-Request-Timestamp` (epoch seconds). The signature is
checked by the official SDK's verifier (slack_sdk.signature.SignatureVerifier), which also refuses
a timestamp more than 5 minutes from the clock; the headers are checked for shape first, because
the verifier parses them without guarding against hostile values. Then: the `url_verification`
challenge is answered, `event_callback` envelopes go through the Slack connector, a rate-limit
notice is acknowledged, any other envelope type is refused.

Slack retries a delivery that got no 2xx within 3 seconds (at once, after 1 minute, after 5),
marking it `X-Slack-Retry-Num` / `X-Slack-Retry-Reason`; a retry carries the same event, so it
gets the same event id (`slack-<channel>-<ts>`) and is produced at most once.
"""
from __future__ import annotations

import re

from slack_sdk.signature import Clock, SignatureVerifier

from pipeline.connectors import Options
from pipeline.gateway.platform import Accept, Answer, Ignore, Refused, Request, convert, epoch_header, json_object, \
    required_header, within

NAME = "slack"
PATH = "/slack/events"
WINDOW_SECONDS = 300          # Slack's (and the SDK's) replay window
SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-Slack-Signature", "X-Slack-Request-Timestamp"
RETRY_HEADER = "X-Slack-Retry-Num"
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_MAX_CHALLENGE = 1000
# On a refusal Slack would retry the same bytes three times; this header tells it not to.
REFUSAL_HEADERS = {"X-Slack-No-Retry": "1"}


class _At(Clock):
    """The SDK's clock set to the request's arrival time, so the window is checked against it."""

    def __init__(self, now: float):
        self._now = now

    def now(self) -> float:
        return self._now


class Slack:
    name, path, refusal_headers = NAME, PATH, REFUSAL_HEADERS
    setting_names = ("MODERATION_SLACK_SIGNING_SECRET",)

    def __init__(self, signing_secret: str | None, options: Options):
        self.secret, self.options = signing_secret, options

    @property
    def configured(self) -> bool:
        return bool(self.secret)

    def is_retry(self, request: Request) -> bool:
        return request.headers.get(RETRY_HEADER) is not None

    def handle(self, request: Request) -> Accept | Answer | Ignore:
        headers = request.headers
        when = epoch_header(headers, TIMESTAMP_HEADER)
        signature = required_header(headers, SIGNATURE_HEADER, _SIGNATURE, "v0= and 64 hexadecimal digits")
        within(when, request.now, WINDOW_SECONDS, TIMESTAMP_HEADER)
        try:
            request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "not_utf8", "the body is not UTF-8 text") from None
        verifier = SignatureVerifier(self.secret, clock=_At(request.now))
        if not verifier.is_valid(body=request.body, timestamp=headers[TIMESTAMP_HEADER], signature=signature):
            raise Refused(401, "bad_signature", f"{SIGNATURE_HEADER} does not match the body and the signing secret")
        record = json_object(request.body)
        envelope = record.get("type")
        if envelope == "url_verification":
            challenge = record.get("challenge")
            if not isinstance(challenge, str) or not 0 < len(challenge) <= _MAX_CHALLENGE:
                raise Refused(422, "invalid_event", "url_verification without a challenge string")
            return Answer({"challenge": challenge})
        if envelope == "app_rate_limited":
            return Ignore("rate-limit notice from Slack (events in that minute were not sent)")
        if envelope != "event_callback":
            raise Refused(422, "unknown_type", "envelope type is not event_callback, url_verification or "
                                               "app_rate_limited")
        return convert(NAME, record, self.options)
