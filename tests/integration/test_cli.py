"""The survey-service command, run as a real process."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "survey_service", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_forms_check_accepts_the_shipped_forms() -> None:
    result = run("forms", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") == 3


def test_forms_check_prints_file_line_and_field(tmp_path: Path) -> None:
    good = (ROOT / "forms" / "nps-empathy.toml").read_text()
    (tmp_path / "bad.toml").write_text(good.replace("max_length = 1000", "max_length = 0"))
    (tmp_path / "good.toml").write_text(good)
    result = run("forms", "check", "--dir", str(tmp_path))
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if "bad.toml" in line)
    number = next(i for i, text in enumerate(good.splitlines(), 1) if "max_length = 1000" in text)
    assert line.startswith(f"{tmp_path / 'bad.toml'}:{number}: questions[1].max_length:")
    assert "ok " in result.stdout


def test_bad_setting_stops_with_one_line() -> None:
    result = run("serve", env={"SURVEY_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "survey-service: invalid setting SURVEY_PORT: Expected `int`, got `str`"
    ]


@pytest.fixture
async def empty_database(server_dsn: str) -> AsyncIterator[str]:
    name = "survey_cli_" + secrets.token_hex(4)
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(server_dsn)._replace(path="/" + name))
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_migrate_creates_the_schema_once(empty_database: str) -> None:
    first = run("migrate", env={"DATABASE_URL": empty_database})
    assert first.returncode == 0, first.stderr
    migrations = len(list((ROOT / "migrations").glob("survey_service_*.py")))
    assert f"applied {migrations} migration(s)" in first.stdout
    second = run("migrate", env={"DATABASE_URL": empty_database})
    assert "up to date" in second.stdout
    connection = await asyncpg.connect(empty_database)
    try:
        tables = {
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
    finally:
        await connection.close()
    assert {"survey", "survey_version", "assignment", "response"} <= tables


def install_wheel_and_migrate(tmp_path: Path, dsn: str) -> subprocess.CompletedProcess[str]:
    """Build the wheel, install it (no checkout on the path) and run ``migrate`` from it."""
    dist, target = tmp_path / "dist", tmp_path / "site"
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist)]
    subprocess.run([*build, str(ROOT)], check=True, timeout=300)
    [wheel] = dist.glob("*.whl")
    install = [*pip, "install", "-q", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, timeout=300)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import survey_service.cli as cli;"
        " assert cli.__file__.startswith(sys.argv[1]), cli.__file__;"
        " raise SystemExit(cli.main(['migrate']))"
    )
    env = {**os.environ, "DATABASE_URL": dsn}
    env.pop("SURVEY_MIGRATIONS_DIR", None)
    return subprocess.run(
        [sys.executable, "-c", script, str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # far from the checkout's migrations/
        env=env,
        check=False,
    )


async def test_a_plain_wheel_install_migrates(empty_database: str, tmp_path: Path) -> None:
    """The wheel carries the migrations: no checkout, no editable install needed."""
    result = await asyncio.to_thread(install_wheel_and_migrate, tmp_path, empty_database)
    assert result.returncode == 0, result.stderr
    migrations = len(list((ROOT / "migrations").glob("survey_service_*.py")))
    assert f"applied {migrations} migration(s)" in result.stdout


def test_apikey_for_an_unknown_survey_is_refused() -> None:
    result = run("apikey", "create", "--name", "typo", "--scope", "kpis:read", "--survey", "nps")
    assert result.returncode == 2
    assert "no survey called nps" in result.stderr


def run_with_input(
    args: list[str], text: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "survey_service", *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, **env},
        check=False,
    )


async def test_dashboard_users_from_the_command_line(empty_database: str) -> None:
    env = {"DATABASE_URL": empty_database}
    create = [
        "user",
        "create",
        "--email",
        "Owner@Example.com",
        "--role",
        "owner",
        "--password-stdin",
    ]
    made = run_with_input(create, "a long enough password\n", env)
    assert made.returncode == 0, made.stderr
    assert "owner@example.com (owner; all surveys)" in made.stdout
    again = run_with_input(create, "a long enough password\n", env)
    assert again.returncode == 2
    assert "exists" in again.stderr
    manager = [
        "user",
        "create",
        "--email",
        "m@example.com",
        "--role",
        "manager",
        "--password-stdin",
    ]
    assert "at least one survey" in run_with_input(manager, "a long enough password\n", env).stderr
    typo = run_with_input([*manager, "--survey", "nps"], "a long enough password\n", env)
    assert "no survey called 'nps'" in typo.stderr
    short = run_with_input([*manager, "--survey", "nps-empathy"], "short\n", env)
    assert "12 to 1024" in short.stderr
    ok = run_with_input([*manager, "--survey", "nps-empathy"], "a long enough password\n", env)
    assert ok.returncode == 0, ok.stderr
    listed = run("user", "list", env=env)
    assert "owner@example.com\towner\t*\tactive" in listed.stdout
    assert "m@example.com\tmanager\tnps-empathy\tactive" in listed.stdout
    connection = await asyncpg.connect(empty_database)
    try:
        hashed = await connection.fetchval(
            "SELECT password_hash FROM app_user WHERE role = 'owner'"
        )
        assert hashed.startswith("$argon2id$")
        user_id = await connection.fetchval("SELECT id FROM app_user WHERE role = 'manager'")
        await connection.execute(
            "INSERT INTO user_session (token_hash, user_id, expires_at)"
            " VALUES ('x', $1, now() + interval '1 day')",
            user_id,
        )
        changed = run_with_input(
            ["user", "password", "--email", "m@example.com", "--password-stdin"],
            "another long password\n",
            env,
        )
        assert "signed out everywhere" in changed.stdout
        assert await connection.fetchval("SELECT count(*) FROM user_session") == 0
        assert run("user", "disable", "--email", "m@example.com", env=env).returncode == 0
        assert "disabled" in run("user", "list", env=env).stdout
        assert run("user", "disable", "--email", "nobody@example.com", env=env).returncode == 2
    finally:
        await connection.close()


async def test_the_weekly_report_on_demand(empty_database: str) -> None:
    env = {"DATABASE_URL": empty_database}
    made = run_with_input(
        ["user", "create", "--email", "o@example.com", "--role", "owner", "--password-stdin"],
        "a long enough password\n",
        env,
    )
    assert made.returncode == 0, made.stderr
    report = run("report", "--week", "--date", "2026-11-25", env=env)
    assert report.returncode == 0, report.stderr
    assert "Empathy this week: 2026-11-16 to 2026-11-22" in report.stdout
    assert "0 responses" in report.stdout
    connection = await asyncpg.connect(empty_database)
    try:
        queued = await connection.fetch("SELECT to_email, subject FROM alert_email")
    finally:
        await connection.close()
    assert [(q["to_email"], q["subject"]) for q in queued] == [
        ("o@example.com", "Empathy this week: 2026-11-16 to 2026-11-22")
    ]
    assert run("report", "--week", "--date", "yesterday", env=env).returncode == 2
