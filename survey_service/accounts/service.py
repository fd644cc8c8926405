"""Dashboard users: owners see every survey, managers the surveys listed for them.

Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes, RFC 9106's
second recommended option), off the event loop. A session is a random 256-bit token in an
HttpOnly cookie; the database keeps only its SHA-256, so sessions survive a restart, work
across every service process, and a stolen database holds no usable cookie. A password
change or a disabled user ends every session of that user ("sign out everywhere").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from survey_service.accounts import queries
from survey_service.db import Database
from survey_service.errors import BadParameter, NotFound
from survey_service.invitations.batch import is_address
from survey_service.lib.structs import Struct

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "SESSION_DAYS",
    "AccountService",
    "Role",
    "UserInfo",
]

Role = Literal["owner", "manager"]
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
SESSION_DAYS = 14

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so they take as long as known ones."""
    return _hasher.hash(secrets.token_urlsafe(16))


class UserInfo(Struct):
    """A user as the dashboard knows them (never the password hash)."""

    id: int
    email: str
    role: Role
    surveys: list[str]
    created_at: dt.datetime
    disabled_at: dt.datetime | None

    def sees(self, slug: str) -> bool:
        """Owners see every survey; managers the ones listed for them."""
        return self.role == "owner" or slug in self.surveys


def _user(row: Any) -> UserInfo:
    return UserInfo(
        id=row["id"],
        email=row["email"],
        role=row["role"],
        surveys=list(row["surveys"]),
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadParameter("password", f"{MIN_PASSWORD} to {MAX_PASSWORD} characters")


class AccountService:
    """Users, passwords and sessions."""

    def __init__(self, db: Database, known_surveys: Sequence[str] = ()) -> None:
        self.db = db
        self.known_surveys = set(known_surveys)

    async def create(
        self, email: str, role: str, surveys: Sequence[str], password: str
    ) -> UserInfo:
        """A new owner, or a manager of ``surveys``."""
        address = email.strip().lower()
        if not is_address(address):
            raise BadParameter("email", "not an email address")
        if role not in ("owner", "manager"):
            raise BadParameter("role", "owner or manager")
        if role == "manager" and not surveys:
            raise BadParameter("survey", "a manager needs at least one survey")
        unknown = [s for s in surveys if self.known_surveys and s not in self.known_surveys]
        if unknown:
            raise BadParameter("survey", f"no survey called '{unknown[0]}'")
        _check_password(password)
        hashed = await asyncio.to_thread(_hasher.hash, password)
        row = await queries.insert_user(self.db, address, role, surveys, hashed)
        if row is None:
            raise BadParameter("email", "a user with this address exists")
        return _user(row)

    async def users(self) -> list[UserInfo]:
        """Every user."""
        return [_user(row) for row in await queries.users(self.db)]

    async def disable(self, email: str) -> None:
        """Disable a user; their sessions end now."""
        if not await queries.disable_user(self.db, email.strip().lower()):
            raise NotFound("user", email)

    async def set_password(self, email: str, password: str) -> None:
        """A new password; every session of the user ends (sign out everywhere)."""
        _check_password(password)
        hashed = await asyncio.to_thread(_hasher.hash, password)
        if not await queries.set_password(self.db, email.strip().lower(), hashed):
            raise NotFound("user", email)

    async def sign_in(self, email: str, password: str) -> tuple[str, UserInfo] | None:
        """A new session token for the right address and password of an enabled user;
        None otherwise, after the same work either way (no telling which was wrong)."""
        row = await queries.user_by_email(self.db, email.strip().lower()[:254])
        stored = row["password_hash"] if row is not None else _dummy_hash()
        try:
            await asyncio.to_thread(_hasher.verify, stored, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled_at"] is not None:
            return None
        token = secrets.token_urlsafe(32)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=SESSION_DAYS)
        await queries.create_session(self.db, _token_hash(token), row["id"], expires)
        return token, _user(row)

    async def session_user(self, token: str) -> UserInfo | None:
        """The user a session token belongs to, while it is live."""
        if not token or len(token) > 100:
            return None
        row = await queries.session_user(self.db, _token_hash(token))
        return None if row is None else _user(row)

    async def sign_out(self, token: str) -> None:
        """End this session."""
        await queries.delete_session(self.db, _token_hash(token))

    async def sign_out_everywhere(self, user_id: int) -> int:
        """End every session of the user; how many."""
        return await queries.delete_sessions(self.db, user_id)
