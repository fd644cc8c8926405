"""One key per purpose, derived from the service's secret, and the MAC they serve.

Every HMAC in the service (form tokens, short links, unsubscribe links, kiosk sessions,
client-address salts, CSRF) uses a key from :func:`derive_key`, so a MAC made for one
purpose can never be replayed as another.

:func:`mac` is HMAC-SHA256 (RFC 2104) computed from the key's inner and outer SHA-256
states, prepared once per key. Besides skipping the key schedule, this keeps the GIL:
``hmac.digest`` releases it on every call, and on the event loop, which shares the GIL
with the server's own threads, each release can hand the GIL away for the rest of a
switch interval (``benchmarks/bench_page_ceiling.py`` prints the form page's cost).
``hashlib`` keeps the GIL for messages under 2 KiB, which every MAC here is.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["derive_key", "mac"]

_BLOCK = 64  # SHA-256's block size
_INNER = bytes(x ^ 0x36 for x in range(256))
_OUTER = bytes(x ^ 0x5C for x in range(256))


def derive_key(secret: str, purpose: str) -> bytes:
    """HMAC-SHA256(secret, purpose): a 256-bit key that serves ``purpose`` only."""
    return hmac.digest(secret.encode(), purpose.encode(), "sha256")


@lru_cache(maxsize=64)  # a few keys per purpose; the client salts change daily
def _states(key: bytes) -> tuple[_Hash, _Hash]:
    """SHA-256 after the padded key XOR ipad, and after it XOR opad."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    padded = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(padded.translate(_INNER)), hashlib.sha256(padded.translate(_OUTER))


def mac(key: bytes, message: str | bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under ``key``."""
    data = message.encode() if isinstance(message, str) else message
    inner_state, outer_state = _states(key)
    inner = inner_state.copy()
    inner.update(data)
    outer = outer_state.copy()
    outer.update(inner.digest())
    return outer.digest()
