"""Kiosk sessions: a staff member unlocks a counter screen once with the PIN; the screen
then holds a signed session value (an HttpOnly cookie) until it expires, or until the PIN
changes (the PIN is part of what is signed). Pure functions."""

from __future__ import annotations

import hmac
import time

from survey_service.lib.keys import derive_key, mac

__all__ = ["SESSION_SECONDS", "check_pin", "session", "unlocked"]

SESSION_SECONDS = 12 * 3600


def check_pin(given: str, pin: str | None) -> bool:
    """Whether ``given`` is the staff PIN (constant time; always False when kiosks are off)."""
    return pin is not None and hmac.compare_digest(given.encode(), pin.encode())


def session(secret: str, pin: str, expires: int) -> str:
    """The session value for a screen unlocked with ``pin`` until ``expires`` (Unix time)."""
    signed = mac(derive_key(secret, "kiosk-session"), f"{expires}:{pin}").hex()
    return f"{expires}.{signed}"


def unlocked(secret: str, pin: str | None, value: str, now: float | None = None) -> bool:
    """Whether ``value`` is a genuine, unexpired session value for the current ``pin``."""
    if pin is None:
        return False
    expires, _, _mac = value.partition(".")
    if not expires.isdecimal() or len(expires) > 12:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(value, session(secret, pin, int(expires)))
