"""One key per purpose, derived from the service's secret.

Every HMAC in the service (form tokens, short links, unsubscribe links, kiosk sessions,
client-address salts, CSRF) uses a key from :func:`derive_key`, so a MAC made for one
purpose can never be replayed as another.
"""

from __future__ import annotations

import hmac

__all__ = ["derive_key", "mac"]


def derive_key(secret: str, purpose: str) -> bytes:
    """HMAC-SHA256(secret, purpose): a 256-bit key that serves ``purpose`` only."""
    return hmac.digest(secret.encode(), purpose.encode(), "sha256")


def mac(key: bytes, message: str | bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under ``key``."""
    data = message.encode() if isinstance(message, str) else message
    return hmac.digest(key, data, "sha256")
