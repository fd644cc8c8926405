"""``survey-service user ...``: dashboard users from the command line (the only way to
make the first owner)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

__all__ = ["add_user_commands"]


def _password(args: argparse.Namespace) -> str:
    """From standard input (``--password-stdin``, for scripts) or typed twice."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (12 characters or more): ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _run(job: Any) -> int:
    from pathlib import Path

    from survey_service.accounts.service import AccountService
    from survey_service.cli import _settings, _with_database
    from survey_service.errors import BadParameter, NotFound
    from survey_service.surveys.definitions import load_forms

    forms, _ = load_forms(Path(_settings().forms_dir))
    slugs = [form.definition.slug for form in forms]
    try:
        message = _with_database(lambda db: job(AccountService(db, slugs)))
    except (BadParameter, NotFound, ValueError) as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        return 2
    print(message)
    return 0


def _create(args: argparse.Namespace) -> int:
    try:
        password = _password(args)
    except ValueError as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        return 2

    async def job(accounts: Any) -> str:
        user = await accounts.create(args.email, args.role, args.survey or [], password)
        seen = "all surveys" if user.role == "owner" else ", ".join(user.surveys)
        return f"user {user.id} {user.email} ({user.role}; {seen})"

    return _run(job)


def _list(_: argparse.Namespace) -> int:
    async def job(accounts: Any) -> str:
        lines = []
        for user in await accounts.users():
            state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
            surveys = "*" if user.role == "owner" else ",".join(user.surveys)
            lines.append(f"{user.id}\t{user.email}\t{user.role}\t{surveys}\t{state}")
        return "\n".join(lines) or "no users yet: survey-service user create --role owner"

    return _run(job)


def _disable(args: argparse.Namespace) -> int:
    async def job(accounts: Any) -> str:
        await accounts.disable(args.email)
        return f"disabled {args.email}; their sessions ended"

    return _run(job)


def _set_password(args: argparse.Namespace) -> int:
    try:
        password = _password(args)
    except ValueError as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        return 2

    async def job(accounts: Any) -> str:
        await accounts.set_password(args.email, password)
        return f"new password for {args.email}; signed out everywhere"

    return _run(job)


def add_user_commands(commands: Any) -> None:
    """Add ``user create|list|disable|password`` to the command's subparsers."""
    user = commands.add_parser("user", help="dashboard users (owners and managers)")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    create = user_commands.add_parser("create", help="create an owner or a manager")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=["owner", "manager"])
    create.add_argument("--survey", action="append", help="a manager's survey (repeatable)")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.set_defaults(func=_create)
    user_commands.add_parser("list", help="list users").set_defaults(func=_list)
    disable = user_commands.add_parser("disable", help="disable a user (sessions end now)")
    disable.add_argument("--email", required=True)
    disable.set_defaults(func=_disable)
    password = user_commands.add_parser("password", help="set a password; signs out everywhere")
    password.add_argument("--email", required=True)
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    password.set_defaults(func=_set_password)
