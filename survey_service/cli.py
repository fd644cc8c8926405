"""The ``survey-service`` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from survey_service.errors import SettingsError
from survey_service.settings import Settings, load_secret_key

if TYPE_CHECKING:
    from survey_service.db import Database
    from survey_service.privacy.service import PrivacyService

__all__ = ["main"]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"survey-service: invalid setting {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(args: argparse.Namespace) -> int:
    import os

    import msgspec
    from granian import Granian
    from granian.constants import Interfaces, Loops

    from survey_service.app import SERVE_PID
    from survey_service.lib.logs import lean_records, logging_config
    from survey_service.settings import env_name

    settings = _settings()
    settings = msgspec.structs.replace(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
    )
    base = settings.base_url
    slugs = ", ".join(f"{base}/s/{p.stem}" for p in sorted(Path(settings.forms_dir).glob("*.toml")))
    print(
        f"survey-service on {base} ({settings.worker_count} worker process(es))\n"
        f"  forms: {slugs}\n  API docs: {base}/schema\n",
        flush=True,
    )
    # Granian, measured against uvicorn on this service (benchmarks/bench_http.py): equal
    # with one process, while uvicorn's multi-process mode answered every request ~44 ms
    # late here (727 hello-world req/s with 2 workers against Granian's 20,400).
    # Each worker builds its app from the environment, so this process hands them what
    # it decided (address, worker count, and the embedded server it starts for all).
    embedded = None
    if settings.database_url is None:
        from survey_service.db.engine import start_embedded, stop_embedded

        dsn, embedded = start_embedded(settings.data_dir)
        os.environ["DATABASE_URL"] = dsn
    load_secret_key(settings)  # created once here, not raced by the workers
    for field, value in (
        ("host", settings.host),
        ("port", settings.port),
        ("workers", settings.worker_count),
    ):
        os.environ[env_name(field)] = str(value)
    os.environ[SERVE_PID] = str(os.getpid())
    lean_records()
    server = Granian(
        "survey_service.app:create_app",
        factory=True,
        interface=Interfaces.ASGI,
        # uvloop (a dependency) where it installs, else asyncio's: in alternating runs of
        # the token-held ingestion scenario uvloop took 19% more answers a second.
        loop=Loops.auto,
        address=settings.host,
        port=settings.port,
        workers=settings.worker_count,
        log_dictconfig=logging_config(settings.log_level, settings.log_format),
        log_access=False,  # the service logs each request itself, with its request id
    )
    try:
        server.serve()
    finally:
        if embedded is not None:
            stop_embedded(embedded)
    return 0


def _migrate(_: argparse.Namespace) -> int:
    from survey_service.db.engine import apply_migrations, embedded_dsn
    from survey_service.errors import DatabaseError

    settings = _settings()

    async def run() -> list[str]:
        direct = settings.database_direct_url or settings.database_url
        return await apply_migrations(direct or embedded_dsn(settings.data_dir))

    try:
        applied = asyncio.run(run())
    except DatabaseError as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s)" if applied else "database is up to date")
    return 0


def _forms_check(args: argparse.Namespace) -> int:
    from survey_service.surveys.definitions import load_forms

    folder = Path(args.dir or _settings().forms_dir)
    forms, errors = load_forms(folder)
    for error in errors:
        print(error)
    for form in forms:
        d = form.definition
        experiment = f", experiment {d.experiment.key}" if d.experiment else ""
        languages = "/".join(d.languages)
        print(f"ok {form.path}: {d.slug} ({len(d.questions)} questions, {languages}{experiment})")
    return 1 if errors else 0


def _sentiment_score(args: argparse.Namespace) -> int:
    import msgspec

    from survey_service.responses.sentiment import analyse

    source = open(args.file, encoding="utf-8") if args.file else sys.stdin  # noqa: SIM115
    encoder = msgspec.json.Encoder()
    with source:
        for line in source:
            sys.stdout.buffer.write(encoder.encode(analyse(line, args.language)) + b"\n")
    sys.stdout.flush()
    return 0


T = TypeVar("T")


def _with_database(job: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``job`` with the database open (migrated), as the settings say; exit 1 if not."""
    from survey_service.db.engine import embedded_dsn, open_database
    from survey_service.errors import DatabaseError

    settings = _settings()

    async def run() -> T:
        db = await open_database(
            settings.database_url or embedded_dsn(settings.data_dir),
            migrate_dsn=settings.database_direct_url,
            transaction_pooler=settings.db_transaction_pooler,
        )
        try:
            return await job(db)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except DatabaseError as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _sentiment_rescore(args: argparse.Namespace) -> int:
    from survey_service.responses.storage import rescore_comments

    def bar(done: int, total: int) -> None:
        filled = int(30 * done / total) if total else 30
        print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr)

    count = _with_database(lambda db: rescore_comments(db, args.batch, bar))
    print(f"\nrescored {count} comment(s)")
    return 0


def _apikey_create(args: argparse.Namespace) -> int:
    from survey_service.apikeys.service import create_key
    from survey_service.surveys.definitions import load_forms

    forms, _ = load_forms(Path(_settings().forms_dir))
    unknown = sorted(set(args.survey or []) - {form.definition.slug for form in forms})
    if unknown:
        print(f"survey-service: no survey called {', '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        created = _with_database(
            lambda db: create_key(db, args.name, args.scope, args.survey or [])
        )
    except ValueError as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        return 2
    info = created.info
    surveys = ", ".join(info.surveys) or "all surveys"
    print(f"API key {info.id} '{info.name}' ({', '.join(info.scopes)}; {surveys})")
    print("It is shown this once; store it now:")
    print(created.key)
    return 0


def _apikey_list(_: argparse.Namespace) -> int:
    from survey_service.apikeys.service import list_keys

    for info in _with_database(list_keys):
        state = f"revoked {info.revoked_at:%Y-%m-%d}" if info.revoked_at else "live"
        used = f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "never"
        surveys = ",".join(info.surveys) or "*"
        scopes = ",".join(info.scopes)
        print(f"{info.id}\t{info.prefix}\t{info.name}\t{scopes}\t{surveys}\t{state}\tused {used}")
    return 0


def _apikey_revoke(args: argparse.Namespace) -> int:
    from survey_service.apikeys.service import revoke_key

    if _with_database(lambda db: revoke_key(db, args.key)):
        print(f"revoked {args.key}")
        return 0
    print(f"survey-service: no live key {args.key}", file=sys.stderr)
    return 1


def _send(_: argparse.Namespace) -> int:
    """Send the due invitations once (the service also does this every few seconds)."""
    from survey_service.app import create_app
    from survey_service.invitations.sender import send_due

    settings = _settings()
    smtp = settings.smtp
    if smtp is None:
        print("survey-service: set SURVEY_SMTP_HOST to send invitations", file=sys.stderr)
        return 2
    if settings.public_url is None:
        print(
            f"survey-service: SURVEY_PUBLIC_URL is unset; the emails' links point at"
            f" {settings.base_url}. Set it to the address customers reach.",
            file=sys.stderr,
        )
    app = create_app(settings)

    async def run() -> tuple[int, int, int]:
        sent = failed = deferred = 0
        async with app.lifespan():
            invitations = app.state.invitations
            while (report := await send_due(invitations, smtp)).claimed:
                sent, failed = sent + report.sent, failed + report.failed
                deferred += report.deferred
        return sent, failed, deferred

    sent, failed, deferred = asyncio.run(run())
    print(f"sent {sent}, failed {failed}, deferred {deferred} (to be retried)")
    return 1 if failed else 0


async def _privacy_service(db: Database) -> PrivacyService:
    """The privacy service over the current survey definitions (no HTTP app needed)."""
    from survey_service.privacy.service import PrivacyService
    from survey_service.settings import load_secret_key
    from survey_service.surveys.catalog import Catalog, sync_definitions
    from survey_service.surveys.definitions import load_forms

    settings = _settings()
    forms, _ = load_forms(Path(settings.forms_dir))
    _, current = await sync_definitions(db, [form.definition for form in forms])
    return PrivacyService(db, Catalog(db, current), load_secret_key(settings))


def _erase(args: argparse.Namespace) -> int:
    from survey_service.errors import BadParameter, NotFound

    async def run(db: Database) -> Any:
        privacy = await _privacy_service(db)
        return await privacy.erase(
            email=args.email,
            response_id=args.response,
            invitation_id=args.invitation,
            customer=args.customer,
            requested_by=f"cli ({getpass.getuser()})",
        )

    try:
        report = _with_database(run)
    except (BadParameter, NotFound) as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        return 2
    print(
        f"erasure {report.erasure_id}: {report.responses} response(s),"
        f" {report.invitations} invitation(s), {report.interactions} interaction(s) and"
        f" {report.outcomes} outcome event(s) erased"
    )
    return 0


def _export_person(args: argparse.Namespace) -> int:
    import msgspec

    from survey_service.errors import BadParameter

    async def run(db: Database) -> Any:
        return await (await _privacy_service(db)).export(args.email)

    try:
        exported = _with_database(run)
    except BadParameter as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(exported)) + b"\n")
    return 0


def _retention(_: argparse.Namespace) -> int:
    days = _settings().retention_days

    async def run(db: Database) -> Any:
        return await (await _privacy_service(db)).apply_retention(days)

    report = _with_database(run)
    print(f"redacted {report.responses} response(s) and {report.invitations} invitation(s)")
    return 0


def _rollups_rebuild(_: argparse.Namespace) -> int:
    from survey_service.reporting.rollups import rebuild

    zone = _settings().time_zone
    _with_database(lambda db: rebuild(db, zone))
    print("rollups rebuilt from every stored response and assignment")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="survey-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service (applies migrations first)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, help="processes (default SURVEY_WORKERS, else one per CPU)"
    )
    serve.set_defaults(func=_serve)
    commands.add_parser("migrate", help="apply pending database migrations").set_defaults(
        func=_migrate
    )
    forms = commands.add_parser("forms", help="survey definitions")
    forms_commands = forms.add_subparsers(dest="forms_command", required=True)
    check = forms_commands.add_parser("check", help="validate every forms/*.toml")
    check.add_argument("--dir", help="folder to check (default SURVEY_FORMS_DIR or forms)")
    check.set_defaults(func=_forms_check)
    sentiment = commands.add_parser("sentiment", help="comment sentiment")
    sentiment_commands = sentiment.add_subparsers(dest="sentiment_command", required=True)
    score = sentiment_commands.add_parser(
        "score", help="score one comment per line (stdin or FILE) as JSON lines"
    )
    score.add_argument("file", nargs="?", help="read this file instead of standard input")
    score.add_argument("--language", default="en", help="the comments' language (default en)")
    score.set_defaults(func=_sentiment_score)
    rescore = sentiment_commands.add_parser(
        "rescore", help="re-analyse stored comments scored by an older analyser (resumable)"
    )
    rescore.add_argument("--batch", type=int, default=500)
    rescore.set_defaults(func=_sentiment_rescore)

    from survey_service.apikeys.service import SCOPES

    apikey = commands.add_parser("apikey", help="API keys for /api/v1")
    apikey_commands = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_commands.add_parser("create", help="create a key (shown once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, choices=SCOPES)
    create.add_argument("--survey", action="append", help="limit to this survey (repeatable)")
    create.set_defaults(func=_apikey_create)
    apikey_commands.add_parser("list", help="list keys").set_defaults(func=_apikey_list)
    revoke = apikey_commands.add_parser("revoke", help="revoke a key now")
    revoke.add_argument("key", help="the key's id or prefix")
    revoke.set_defaults(func=_apikey_revoke)

    from survey_service.accounts.commands import add_user_commands
    from survey_service.dashboard.commands import add_report_command

    add_user_commands(commands)
    add_report_command(commands)

    commands.add_parser("send", help="send the invitations that are due").set_defaults(func=_send)

    erase = commands.add_parser(
        "erase", help="erase a person, a response, an invitation or a customer reference"
    )
    subject = erase.add_mutually_exclusive_group(required=True)
    subject.add_argument("--email", help="everything about this address")
    subject.add_argument("--response", type=int, help="one response by id")
    subject.add_argument("--invitation", type=int, help="one invitation (and its response)")
    subject.add_argument(
        "--customer", help="a customer or order reference: everything that names it"
    )
    erase.set_defaults(func=_erase)
    export = commands.add_parser("export-person", help="everything stored about an address")
    export.add_argument("--email", required=True)
    export.set_defaults(func=_export_person)
    retention = commands.add_parser("retention", help="data retention")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True)
    retention_commands.add_parser(
        "apply", help="redact what is past its retention now (the service does it hourly)"
    ).set_defaults(func=_retention)

    rollups = commands.add_parser("rollups", help="KPI rollups")
    rollups_commands = rollups.add_subparsers(dest="rollups_command", required=True)
    rollups_commands.add_parser(
        "rebuild", help="recompute every rollup from the stored rows"
    ).set_defaults(func=_rollups_rebuild)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result: int = args.func(args)
    return result
