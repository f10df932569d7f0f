"""`POST /feishu/events`: Feishu / Lark event subscription, schema 2.0, sent to the developer's server.

With an Encrypt Key set in the app's console, Feishu encrypts every body as
`{"encrypt": base64(iv + AES-256-CBC(PKCS#7(json)))}` with the key SHA-256(Encrypt Key) and a random
16-byte iv, and signs every event delivery: `X-Lark-Signature` is the hex SHA-256 of
`X-Lark-Request-Timestamp + X-Lark-Request-Nonce + Encrypt Key + body` (the raw body, before
decryption). The URL verification handshake comes encrypted but unsigned: decrypting it proves the
key. Every body carries the app's Verification Token (`header.token`, or `token` in the handshake),
compared in constant time.

The official SDK (lark-oapi) is not used: its webhook handler answers every failure with 500 (so
Feishu retries forged requests), checks no timestamp window, and compares the signature with `!=`;
importing it takes seconds and five more packages for what is here a few lines on `cryptography`.
The scheme is the documented one; tests/unit/test_gateway_feishu.py checks it against the
documentation's own example.

Feishu retries a delivery not answered 200 within its timeout (after about 15 s, 5 min, 1 h, 6 h);
a retry carries the same `message_id`, hence the same event id.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pipeline.connectors import Options
from pipeline.connectors.feishu import EVENT_TYPES
from pipeline.gateway.platform import Accept, Answer, Ignore, Refused, Request, convert, epoch_header, json_object, \
    required_header, within

NAME = "feishu"
PATH = "/feishu/events"
SIGNATURE_HEADER = "X-Lark-Signature"
TIMESTAMP_HEADER, NONCE_HEADER = "X-Lark-Request-Timestamp", "X-Lark-Request-Nonce"
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[\x21-\x7e]{1,128}")   # printable ASCII, as Feishu's nonces are
_MAX_CHALLENGE = 1000
_BLOCK = 16


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """The plaintext of Feishu's `encrypt` field; ValueError when it is not one made with this key."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) < 2 * _BLOCK or len(raw) % _BLOCK:
        raise ValueError("not a whole number of AES blocks after the iv")
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:_BLOCK])).decryptor()
    padded = decryptor.update(raw[_BLOCK:]) + decryptor.finalize()
    unpadder = padding.PKCS7(8 * _BLOCK).unpadder()
    return unpadder.update(padded) + unpadder.finalize()   # ValueError on bad padding


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


class Feishu:
    name, path, refusal_headers = NAME, PATH, {}
    setting_names = ("MODERATION_FEISHU_VERIFICATION_TOKEN", "MODERATION_FEISHU_ENCRYPT_KEY")

    def __init__(self, verification_token: str | None, encrypt_key: str | None, options: Options,
                 window_seconds: float = 3600.0):
        self.token, self.key, self.options, self.window = verification_token, encrypt_key, options, window_seconds

    @property
    def configured(self) -> bool:
        """On with the Verification Token (every body carries it); the Encrypt Key adds encryption and
        signatures, and is strongly advised (without it the token is a static password)."""
        return bool(self.token)

    def is_retry(self, request: Request) -> bool:
        return False   # Feishu marks no retry; the event id is the same

    def handle(self, request: Request) -> Accept | Answer | Ignore:
        signed = self.key is not None and self._check_signature(request)
        outer = json_object(request.body)
        if self.key is not None:
            record = self._decrypted(outer)
        elif "encrypt" in outer:
            raise Refused(401, "bad_encryption", "the body is encrypted but MODERATION_FEISHU_ENCRYPT_KEY is not set")
        else:
            record = outer
        handshake = record.get("type") == "url_verification"
        header = record.get("header")
        # Schema 2.0 carries the token in its header; the handshake and version 1.0 events at the top.
        token = header.get("token") if isinstance(header, dict) and not handshake else record.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                                                 self.token.encode("utf-8")):
            raise Refused(401, "bad_token", "the verification token does not match")
        if handshake:
            challenge = record.get("challenge")
            if not isinstance(challenge, str) or not 0 < len(challenge) <= _MAX_CHALLENGE:
                raise Refused(422, "invalid_event", "url_verification without a challenge string")
            return Answer({"challenge": challenge})
        if self.key is not None and not signed:
            raise Refused(401, "missing_signature", f"the {SIGNATURE_HEADER} header is missing")
        if record.get("schema") != "2.0" or not isinstance(header, dict):
            raise Refused(422, "unknown_type", "not an event of subscription version 2.0: set the app's event "
                                               "subscription to 2.0")
        if header.get("event_type") not in EVENT_TYPES:
            raise Refused(422, "unknown_type", "an event type this gateway does not know; subscribe to the events "
                                               "docs/CONNECTORS.md lists")
        return convert(NAME, record, self.options)

    def _check_signature(self, request: Request) -> bool:
        """False when the request carries no signature at all (only the handshake may); `Refused` when
        it carries a wrong, malformed or stale one."""
        headers = request.headers
        if SIGNATURE_HEADER not in headers:
            return False
        given = required_header(headers, SIGNATURE_HEADER, _SIGNATURE, "64 hexadecimal digits")
        when = epoch_header(headers, TIMESTAMP_HEADER)
        nonce = required_header(headers, NONCE_HEADER, _NONCE, "printable ASCII of at most 128 characters")
        within(when, request.now, self.window, TIMESTAMP_HEADER)
        expected = signature(headers[TIMESTAMP_HEADER], nonce, self.key, request.body)
        if not hmac.compare_digest(expected, given):
            raise Refused(401, "bad_signature", f"{SIGNATURE_HEADER} does not match the body and the Encrypt Key")
        return True

    def _decrypted(self, outer: dict) -> dict:
        encrypted = outer.get("encrypt")
        if not isinstance(encrypted, str):
            raise Refused(401, "bad_encryption", "the body is not encrypted but MODERATION_FEISHU_ENCRYPT_KEY is set")
        try:
            plain = decrypt(self.key, encrypted)
        except ValueError:
            raise Refused(401, "bad_encryption", "the body does not decrypt with the Encrypt Key") from None
        try:
            return json_object(plain, "the decrypted body")
        except Refused:
            raise Refused(401, "bad_encryption", "the body does not decrypt with the Encrypt Key") from None
