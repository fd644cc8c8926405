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

from piccolo.custom_types import Combinable

from survey_service.lib.structs import Struct
from survey_service.db.tables import ApiKey

__all__ = [
    "SCOPES",
    "ApiKeyInfo",
    "NewApiKey",
    "authenticate",
    "create_key",
    "list_keys",
    "revoke_key",
]

SCOPES = ("kpis:read", "responses:read", "invitations:write", "assignments:write", "admin")
"""``admin`` grants every other scope."""

_LAST_USED_EVERY = dt.timedelta(seconds=60)  # at most one last_used_at write a minute per key


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
    return ApiKeyInfo(**{f: row[f] for f in ApiKeyInfo.__struct_fields__})  # type: ignore[arg-type]


_COLUMNS = (
    ApiKey.id,
    ApiKey.name,
    ApiKey.prefix,
    ApiKey.scopes,
    ApiKey.surveys,
    ApiKey.created_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
)


async def create_key(name: str, scopes: Sequence[str], surveys: Sequence[str] = ()) -> NewApiKey:
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
    rows = await ApiKey.insert(
        ApiKey(
            name=name.strip()[:100],
            prefix=prefix,
            secret_hash=_hash(key),
            scopes=sorted(set(scopes)),
            surveys=sorted(set(surveys)),
            revoked_at=None,
            last_used_at=None,
        )
    ).returning(*_COLUMNS)
    return NewApiKey(key=key, info=_info(rows[0]))


async def list_keys() -> list[ApiKeyInfo]:
    """Every key, newest first."""
    return [_info(r) for r in await ApiKey.select(*_COLUMNS).order_by(ApiKey.id, ascending=False)]


async def revoke_key(prefix_or_id: str) -> bool:
    """Revoke by prefix or id; False when there is no such live key."""
    match: Combinable = ApiKey.prefix == prefix_or_id
    if prefix_or_id.isdecimal():
        match = match | (ApiKey.id == int(prefix_or_id))
    rows = await (
        ApiKey.update({ApiKey.revoked_at: dt.datetime.now(dt.UTC)})
        .where(match & ApiKey.revoked_at.is_null())
        .returning(ApiKey.id)
    )
    return bool(rows)


async def authenticate(key: str) -> ApiKeyInfo | None:
    """The live key this secret belongs to, or None; records when it was last used."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "ssk" or len(key) > 200:
        return None
    rows = await ApiKey.select(*_COLUMNS, ApiKey.secret_hash).where(ApiKey.prefix == parts[1])
    if not rows or not hmac.compare_digest(rows[0]["secret_hash"], _hash(key)):
        return None
    info = _info(rows[0])
    if info.revoked_at is not None:
        return None
    now = dt.datetime.now(dt.UTC)
    if info.last_used_at is None or now - info.last_used_at > _LAST_USED_EVERY:
        await ApiKey.update({ApiKey.last_used_at: now}).where(ApiKey.id == info.id)
    return info
