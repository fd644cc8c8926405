"""Kiosk sessions: a staff member unlocks a counter screen once with the PIN; the screen
then holds a signed session value (an HttpOnly cookie) until it expires. Pure functions."""

from __future__ import annotations

import hmac
import time

from survey_service.lib.keys import derive_key, mac

__all__ = ["SESSION_SECONDS", "check_pin", "session", "unlocked"]

SESSION_SECONDS = 12 * 3600


def check_pin(given: str, pin: str | None) -> bool:
    """Whether ``given`` is the staff PIN (constant time; always False when kiosks are off)."""
    return pin is not None and hmac.compare_digest(given.encode(), pin.encode())


def session(secret: str, expires: int) -> str:
    """The session value for a screen unlocked until ``expires`` (Unix time)."""
    return f"{expires}.{mac(derive_key(secret, 'kiosk-session'), str(expires)).hex()}"


def unlocked(secret: str, value: str, now: float | None = None) -> bool:
    """Whether ``value`` is a genuine, unexpired session value."""
    expires, _, _mac = value.partition(".")
    if not expires.isdecimal() or len(expires) > 12:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(value, session(secret, int(expires)))
