"""Abuse controls that never bother real customers: flags, and a hashed client address.

Suspect submissions are stored with flags rather than refused, so nothing a real customer
typed is lost; KPIs leave flagged responses out unless asked (``include_flagged``).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections.abc import Sequence

from survey_service.lib.keys import derive_key, mac

__all__ = ["HONEYPOT_FIELD", "client_address", "client_hash", "submission_flags"]

HONEYPOT_FIELD = "website"
"""A field hidden from people (CSS, aria-hidden, no tab stop) that form-filling bots fill."""


def submission_flags(
    *,
    honeypot: str | None,
    issued_at: int,
    now: float,
    min_fill_seconds: float,
    plain_qr: bool = False,
) -> list[str]:
    """Why a form submission looks automated (``honeypot``, ``too_fast``), and
    ``low_trust`` for answers through a plain (multi-use) counter QR code, which anyone with
    a photo of it can send: reported apart (``trust=``), not excluded as abuse."""
    flags = ["low_trust"] if plain_qr else []
    if honeypot:
        flags.append("honeypot")
    if now - issued_at < min_fill_seconds:
        flags.append("too_fast")
    return flags


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str]
) -> str:
    """The client's address: the socket peer, or, only when that peer is a trusted proxy,
    the nearest untrusted hop in X-Forwarded-For (clients can forge the rest of it)."""
    address = peer or "unknown"
    if not forwarded_for or not _trusted(address, trusted_proxies):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _trusted(hop, trusted_proxies):
            return hop
        address = hop
    return address


def _trusted(address: str, trusted: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in trusted)


def client_hash(secret: str, address: str, day: dt.date) -> str:
    """Keyed hash of the address with a salt that changes daily; the address is never kept."""
    return mac(_daily_salt(secret, day), address)[:16].hex()


@functools.lru_cache(maxsize=2)  # today's, and yesterday's around midnight
def _daily_salt(secret: str, day: dt.date) -> bytes:
    return derive_key(secret, f"client-salt:{day.isoformat()}")
