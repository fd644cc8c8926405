"""Standard Webhooks, as pure functions: secrets, signatures, message ids and the retry
schedule (https://www.standardwebhooks.com/).

- A secret is ``whsec_`` + base64 of 24 random bytes; the HMAC key is the decoded bytes.
- Headers: ``webhook-id`` (the message id, the same on every retry: receivers de-duplicate
  by it), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``:
  ``v1,`` + base64 HMAC-SHA256 over ``{id}.{timestamp}.{body}``; during a rotation the
  message is signed with the new and the old secret, space-separated, so receivers can
  switch at their own pace.
- Retries: after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (about a day in all), each
  with ±20% jitter so endpoints that come back are not hit by every sender at once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import random
import secrets
from collections.abc import Sequence

__all__ = [
    "DISABLE_AFTER",
    "RETRY_DELAYS",
    "headers",
    "message_id",
    "new_secret",
    "retry_delay",
    "sign",
]

PREFIX = "whsec_"
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)
"""Seconds before each retry; after the last, the message is given up."""
DISABLE_AFTER = dt.timedelta(days=1)
"""An endpoint failing for this long is disabled (and its owners told)."""


def new_secret() -> str:
    """A fresh signing secret."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def message_id() -> str:
    """A unique message id (``msg_`` and 128 random bits)."""
    return "msg_" + secrets.token_hex(16)


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of one message under one secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets_),
        "content-type": "application/json",
    }


def retry_delay(attempts: int, rng: random.Random | None = None) -> dt.timedelta | None:
    """How long to wait after ``attempts`` failed attempts; None: give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts - 1]
    jitter = (rng or random.SystemRandom()).uniform(0.8, 1.2)
    return dt.timedelta(seconds=base * jitter)
