"""API keys: random bearer secrets stored as hashes, with scopes and an optional survey list.

A key reads ``ssk_<prefix>_<secret>``; the prefix finds the row, the SHA-256 of the whole
key is compared in constant time. A plain hash is enough (no slow KDF) because keys are 256
random bits, not passwords: there is nothing to guess. The full key is shown once, at
creation. Revocation takes effect on the next request (every request reads the row).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Protocol

from survey_service.apikeys import queries
from survey_service.db import Executor
from survey_service.lib.structs import Struct

__all__ = [
    "EVERYONE",
    "SCOPES",
    "ApiKeyInfo",
    "Audience",
    "NewApiKey",
    "authenticate",
    "create_key",
    "list_keys",
    "revoke_key",
]

SCOPES = (
    "kpis:read",
    "responses:read",
    "invitations:write",
    "assignments:write",
    "interactions:write",
    "outcomes:write",
    "admin",
)
"""``admin`` grants every other scope."""

_LAST_USED_EVERY = dt.timedelta(seconds=60)  # at most one last_used_at write a minute per key


class Audience(Protocol):
    """Whoever reads figures: an API key, or a signed-in dashboard user. Services ask it
    only which surveys it may see (a survey it may not is answered as one that does not
    exist)."""

    def sees(self, slug: str) -> bool:
        """Whether survey ``slug`` is visible."""
        ...


class _Everyone:
    """The background jobs' audience: they look at every survey."""

    def sees(self, slug: str) -> bool:
        """Every survey."""
        return True


EVERYONE: Audience = _Everyone()
"""Who the periodic jobs (alerts, the weekly report) read figures as."""


class ApiKeyInfo(Struct):
    """A key as stored (never its secret)."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    surveys: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def allows(self, scope: str) -> bool:
        """Whether the key carries ``scope`` (or admin)."""
        return scope in self.scopes or "admin" in self.scopes

    def sees(self, slug: str) -> bool:
        """Whether the key may read survey ``slug`` (an empty list means every survey)."""
        return not self.surveys or slug in self.surveys


class NewApiKey(Struct):
    """A freshly created key: ``key`` is the only time the secret is ever shown."""

    key: str
    info: ApiKeyInfo


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _info(row: dict[str, object]) -> ApiKeyInfo:
    return ApiKeyInfo(**row)  # type: ignore[arg-type]


async def create_key(
    db: Executor, name: str, scopes: Sequence[str], surveys: Sequence[str] = ()
) -> NewApiKey:
    """Store a new key; raise ValueError for an unknown scope or an empty name."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(
            f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}"
        )
    if not name.strip():
        raise ValueError("a key needs a name")
    prefix = secrets.token_hex(4)
    key = f"ssk_{prefix}_{secrets.token_urlsafe(32)}"
    row = await queries.insert_key(
        db, name.strip()[:100], prefix, _hash(key), sorted(set(scopes)), sorted(set(surveys))
    )
    return NewApiKey(key=key, info=_info(row))


async def list_keys(db: Executor) -> list[ApiKeyInfo]:
    """Every key, newest first."""
    return [_info(r) for r in await queries.list_keys(db)]


async def revoke_key(db: Executor, prefix_or_id: str) -> bool:
    """Revoke by prefix or id; False when there is no such live key."""
    return await queries.revoke(db, prefix_or_id, dt.datetime.now(dt.UTC))


async def authenticate(db: Executor, key: str) -> ApiKeyInfo | None:
    """The live key this secret belongs to, or None; records when it was last used."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "ssk" or len(key) > 200:
        return None
    found = await queries.by_prefix(db, parts[1])
    if found is None or not hmac.compare_digest(found[1], _hash(key)):
        return None
    info = _info(found[0])
    if info.revoked_at is not None:
        return None
    now = dt.datetime.now(dt.UTC)
    if info.last_used_at is None or now - info.last_used_at > _LAST_USED_EVERY:
        await queries.touch(db, info.id, now)
    return info
