"""SQL of the accounts domain: users and their sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from survey_service.db import Executor

__all__ = [
    "create_session",
    "delete_session",
    "delete_sessions",
    "disable_user",
    "insert_user",
    "session_user",
    "set_password",
    "user_by_email",
    "users",
]

_USER = "id, email, role, surveys, created_at, disabled_at"


async def insert_user(
    db: Executor, email: str, role: str, surveys: Sequence[str], password_hash: str
) -> Any:
    """A new user; None when the address is taken."""
    return await db.fetchrow(
        "INSERT INTO app_user (email, role, surveys, password_hash) VALUES ($1, $2, $3, $4)"
        f" ON CONFLICT (email) DO NOTHING RETURNING {_USER}",
        email,
        role,
        list(surveys),
        password_hash,
    )


async def users(db: Executor) -> list[Any]:
    """Every user, by id."""
    return await db.fetch(f"SELECT {_USER} FROM app_user ORDER BY id")


async def user_by_email(db: Executor, email: str) -> Any:
    """The user with this address and their password hash, if any."""
    return await db.fetchrow(f"SELECT {_USER}, password_hash FROM app_user WHERE email = $1", email)


async def set_password(db: Executor, email: str, password_hash: str) -> bool:
    """Replace the password and end every session of the user; whether the user exists."""
    row = await db.fetchrow(
        "WITH changed AS (UPDATE app_user SET password_hash = $2 WHERE email = $1 RETURNING id),"
        " ended AS (DELETE FROM user_session WHERE user_id IN (SELECT id FROM changed))"
        " SELECT id FROM changed",
        email,
        password_hash,
    )
    return row is not None


async def disable_user(db: Executor, email: str) -> bool:
    """Disable the user and end their sessions; whether the user exists."""
    row = await db.fetchrow(
        "WITH changed AS (UPDATE app_user SET disabled_at = coalesce(disabled_at, now())"
        " WHERE email = $1 RETURNING id),"
        " ended AS (DELETE FROM user_session WHERE user_id IN (SELECT id FROM changed))"
        " SELECT id FROM changed",
        email,
    )
    return row is not None


async def create_session(
    db: Executor, token_hash: str, user_id: int, expires_at: dt.datetime
) -> None:
    """Remember a signed-in browser (by the hash of its token)."""
    await db.execute(
        "INSERT INTO user_session (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        token_hash,
        user_id,
        expires_at,
    )


async def session_user(db: Executor, token_hash: str) -> Any:
    """The live, enabled user of a session, if any."""
    return await db.fetchrow(
        f"SELECT {', '.join('u.' + c.strip() for c in _USER.split(','))} FROM user_session s"
        " JOIN app_user u ON u.id = s.user_id"
        " WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL",
        token_hash,
    )


async def delete_session(db: Executor, token_hash: str) -> None:
    """Sign one browser out."""
    await db.execute("DELETE FROM user_session WHERE token_hash = $1", token_hash)


async def delete_sessions(db: Executor, user_id: int) -> int:
    """Sign a user out everywhere; how many sessions ended."""
    rows = await db.fetch("DELETE FROM user_session WHERE user_id = $1 RETURNING 1", user_id)
    return len(rows)
