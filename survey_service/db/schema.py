"""The schema in one file: every table and column the migrations build, declared once.

The migrations in ``migrations/`` create the schema (raw SQL, so constraints and indexes
are exactly what the queries need); this module says what they must have built, and
``tests/integration/test_schema.py`` checks that a freshly migrated database matches it,
rollup columns included (generated from :mod:`survey_service.reporting.columns`). Test
clean-up truncates :data:`DATA_TABLES`.

Where each table goes on Citus is :mod:`survey_service.db.placement`.
"""

from __future__ import annotations

from typing import NamedTuple

from survey_service.reporting.columns import (
    AGGREGATE_NAMES,
    GRAINS,
    SERVED_AGGREGATES,
    WIDE_SUMS,
    Grain,
)

__all__ = ["DATA_TABLES", "TABLES", "Column", "Table"]


class Column(NamedTuple):
    """A column: its name, PostgreSQL type (as ``format_type`` spells it) and nullability."""

    name: str
    type: str
    null: bool = False


class Table(NamedTuple):
    """A table and what it is for."""

    name: str
    doc: str
    columns: tuple[Column, ...]


def _table(name: str, doc: str, *columns: Column) -> Table:
    return Table(name, doc, columns)


INT, BIGINT, SMALLINT = "integer", "bigint", "smallint"
TEXT, BOOL, JSONB, UUID, REAL = "text", "boolean", "jsonb", "uuid", "real"
TIME, DATE, TEXTS = "timestamp with time zone", "date", "text[]"


def _varchar(length: int) -> str:
    return f"character varying({length})"


def _rollup(table: str, grain: Grain, *, sums: list[str], flagged: bool) -> Table:
    bucket = Column(grain.bucket, TIME if grain.bucket == "hour" else DATE)
    dimensions = [Column(d.column, d.sql_type, d.null) for d in grain.dimensions]
    flags = [Column("flagged", BOOL), Column("low_trust", BOOL)] if flagged else []
    kept = ", ".join(d.name for d in grain.dimensions)
    return _table(
        table,
        f"sums of {table.split('_')[0]} rows by survey, {grain.bucket} and {kept}",
        Column("survey_id", INT),
        bucket,
        *dimensions,
        *flags,
        *(Column(name, BIGINT if name in WIDE_SUMS else INT) for name in sums),
    )


def _rollups(source: str, sums: list[str], *, flagged: bool) -> list[Table]:
    return [
        _rollup(f"{source}_rollup{grain.suffix}", grain, sums=sums, flagged=flagged)
        for grain in GRAINS
    ]


SURVEY = _table(
    "survey",
    "one row per slug; current_version_id is the version served to new visitors",
    Column("id", INT),
    Column("slug", _varchar(63)),
    Column("current_version_id", INT, null=True),
    Column("created_at", TIME),
)
SURVEY_VERSION = _table(
    "survey_version",
    "an immutable snapshot of a definition; responses point at the one they answered",
    Column("id", INT),
    Column("survey_id", INT),
    Column("version", INT),
    Column("content_hash", _varchar(64)),
    Column("definition", JSONB),
    Column("created_at", TIME),
)
_SERVED = (
    Column("survey_id", INT),
    Column("survey_version_id", INT),
    Column("token_nonce", UUID),
    Column("variant", _varchar(40), null=True),
    Column("channel", _varchar(10)),
    Column("language", _varchar(2)),
    Column("metadata", JSONB),
)
ASSIGNMENT = _table(
    "assignment",
    "a served form: which variant was shown, through which channel (unique per nonce)",
    Column("id", BIGINT),
    *_SERVED,
    Column("created_at", TIME),
)
RESPONSE = _table(
    "response",
    "a submitted form; answers by role are typed columns for the KPI queries",
    Column("id", BIGINT),
    *_SERVED,
    Column("answers", JSONB),
    Column("nps", SMALLINT, null=True),
    Column("csat", SMALLINT, null=True),
    Column("empathy_understood", SMALLINT, null=True),
    Column("empathy_cared", BOOL, null=True),
    Column("empathy_emotional", SMALLINT, null=True),
    Column("empathy_influence", SMALLINT, null=True),
    Column("comment", TEXT, null=True),
    Column("flags", TEXTS),
    Column("client_hash", _varchar(32), null=True),
    Column("sentiment_polarity", REAL, null=True),
    Column("sentiment_class", SMALLINT, null=True),
    Column("sentiment_cues", TEXTS),
    Column("sentiment_version", _varchar(20), null=True),
    Column("score_text_mismatch", BOOL),
    Column("created_at", TIME),
    Column("redacted_at", TIME, null=True),
)


def _unfolded(table: str) -> Table:
    return _table(
        f"{table}_unfolded",
        f"the fold's queue: {table} rows the rollups do not hold yet (filled by a trigger)",
        Column("survey_id", INT),
        Column("id", BIGINT),
    )


ROLLUP_STATE = _table(
    "rollup_state",
    "service state by name: daily_zone (the zone daily rollup rows are kept in) and, per"
    " survey, retention_served_forms:<id> (served forms before it are redacted)",
    Column("name", TEXT),
    Column("value", TEXT),
)
API_KEY = _table(
    "api_key",
    "a bearer key for /api/v1: its SHA-256, scopes and the surveys it may read (empty: all)",
    Column("id", INT),
    Column("name", _varchar(100)),
    Column("prefix", _varchar(16)),
    Column("secret_hash", _varchar(64)),
    Column("scopes", TEXTS),
    Column("surveys", TEXTS),
    Column("created_at", TIME),
    Column("revoked_at", TIME, null=True),
    Column("last_used_at", TIME, null=True),
)
EXPERIMENT_SUBJECT = _table(
    "experiment_subject",
    "a subject's sticky variant in an experiment assigned before the survey",
    Column("id", BIGINT),
    Column("survey_id", INT),
    Column("experiment_key", _varchar(63)),
    Column("subject", _varchar(200)),
    Column("variant", _varchar(40)),
    Column("cluster", _varchar(200), null=True),
    Column("token_nonce", UUID),
    Column("created_at", TIME),
)
SHORT_LINK = _table(
    "short_link",
    "/q/<code>: a survey with its channel and metadata; kiosk codes add a fixed nonce",
    Column("code", _varchar(16)),
    Column("survey_id", INT),
    Column("channel", _varchar(10)),
    Column("metadata", JSONB),
    Column("kiosk", _varchar(32), null=True),
    Column("token_nonce", UUID, null=True),
    Column("expires_at", TIME, null=True),
    Column("created_at", TIME),
)
INVITATION = _table(
    "invitation",
    "the email outbox: one personal single-use link per row, its status and attempts",
    Column("id", BIGINT),
    Column("survey_id", INT),
    Column("survey_version_id", INT),
    Column("email", _varchar(254)),
    Column("name", _varchar(100), null=True),
    Column("language", _varchar(2)),
    Column("metadata", JSONB),
    Column("variant", _varchar(40), null=True),
    Column("token_nonce", UUID),
    Column("status", _varchar(16)),
    Column("send_at", TIME),
    Column("expires_at", TIME),
    Column("attempts", INT),
    Column("last_error", TEXT, null=True),
    Column("sent_at", TIME, null=True),
    Column("reminder_sent_at", TIME, null=True),
    Column("created_at", TIME),
    Column("redacted_at", TIME, null=True),
)
SUPPRESSION = _table(
    "suppression",
    "addresses that unsubscribed or bounced: never invited again",
    Column("email", _varchar(254)),
    Column("created_at", TIME),
)

ERASURE = _table(
    "erasure",
    "the audit of erasures: what was erased and by whom, never the person's data",
    Column("id", BIGINT),
    Column("kind", _varchar(20)),
    Column("subject_hash", _varchar(64)),
    Column("responses", INT),
    Column("invitations", INT),
    Column("requested_by", _varchar(100)),
    Column("created_at", TIME),
    Column("interactions", INT),
    Column("outcomes", INT),
)
INTERACTION = _table(
    "interaction",
    "a staff member's log of one customer interaction: emotion, actions, reaction",
    Column("id", BIGINT),
    Column("occurred_at", TIME),
    Column("touchpoint", _varchar(63), null=True),
    Column("agent", _varchar(63), null=True),
    Column("channel", _varchar(10)),
    Column("emotion", _varchar(12)),
    Column("actions", TEXTS),
    Column("reaction", _varchar(12)),
    Column("duration_seconds", INT, null=True),
    Column("note", TEXT, null=True),
    Column("customer_key", _varchar(32), null=True),
    Column("customer_ref", _varchar(200), null=True),
    Column("recorded_by", _varchar(100)),
    Column("created_at", TIME),
)
OUTCOME = _table(
    "outcome",
    "what a customer did later (purchase, referral, refund ...), unique by event_id",
    Column("id", BIGINT),
    Column("event_id", _varchar(200)),
    Column("kind", _varchar(20)),
    Column("customer_key", _varchar(32)),
    Column("customer_ref", _varchar(200), null=True),
    Column("occurred_at", TIME),
    Column("amount", "numeric(18,4)", null=True),
    Column("currency", _varchar(3), null=True),
    Column("recorded_by", _varchar(100)),
    Column("created_at", TIME),
)
RATE_WINDOW = _table(
    "rate_window",
    "shared rate-limit counters (UNLOGGED): a keyed hash of scope, key and window",
    Column("key", TEXT),
    Column("hits", INT),
    Column("expires_at", TIME),
)

APP_USER = _table(
    "app_user",
    "a dashboard user (owner or manager of listed surveys), argon2id password hash",
    Column("id", INT),
    Column("email", _varchar(254)),
    Column("role", _varchar(10)),
    Column("surveys", TEXTS),
    Column("password_hash", TEXT),
    Column("created_at", TIME),
    Column("disabled_at", TIME, null=True),
)
USER_SESSION = _table(
    "user_session",
    "a signed-in browser: the SHA-256 of its cookie token, until it expires",
    Column("token_hash", _varchar(64)),
    Column("user_id", INT),
    Column("created_at", TIME),
    Column("expires_at", TIME),
)
ALERT_SETTINGS = _table(
    "alert_settings",
    "alert rules set over the API for a survey (they replace its TOML's)",
    Column("survey_id", INT),
    Column("rules", JSONB),
    Column("updated_at", TIME),
)
RESPONSE_EVENT_QUEUE = _table(
    "response_event_queue",
    "responses not yet looked at for alerts and webhooks (filled by a trigger)",
    Column("survey_id", INT),
    Column("id", BIGINT),
)
WEBHOOK_ENDPOINT = _table(
    "webhook_endpoint",
    "a Standard Webhooks receiver: URL, event types, surveys, signing secrets, health",
    Column("id", INT),
    Column("url", TEXT),
    Column("description", _varchar(200)),
    Column("event_types", TEXTS),
    Column("surveys", TEXTS),
    Column("secret", TEXT),
    Column("previous_secret", TEXT, null=True),
    Column("previous_until", TIME, null=True),
    Column("created_at", TIME),
    Column("failing_since", TIME, null=True),
    Column("disabled_at", TIME, null=True),
    Column("disabled_reason", TEXT, null=True),
)
WEBHOOK_MESSAGE = _table(
    "webhook_message",
    "the webhook outbox: one event for one endpoint, until delivered or given up",
    Column("id", BIGINT),
    Column("endpoint_id", INT),
    Column("message_id", _varchar(40)),
    Column("event_type", _varchar(40)),
    Column("payload", TEXT),
    Column("status", _varchar(10)),
    Column("attempts", INT),
    Column("next_attempt_at", TIME),
    Column("created_at", TIME),
    Column("delivered_at", TIME, null=True),
)
WEBHOOK_ATTEMPT = _table(
    "webhook_attempt",
    "the delivery log: every attempt's status code, latency and error",
    Column("id", BIGINT),
    Column("message_id", BIGINT),
    Column("attempt", INT),
    Column("status_code", INT, null=True),
    Column("latency_ms", REAL),
    Column("error", TEXT, null=True),
    Column("created_at", TIME),
)
ALERT_EMAIL = _table(
    "alert_email",
    "the alert and report email outbox (text and HTML parts), sent by the SMTP sender",
    Column("id", BIGINT),
    Column("to_email", _varchar(254)),
    Column("subject", TEXT),
    Column("body_text", TEXT),
    Column("body_html", TEXT),
    Column("status", _varchar(10)),
    Column("attempts", INT),
    Column("next_attempt_at", TIME),
    Column("last_error", TEXT, null=True),
    Column("created_at", TIME),
    Column("sent_at", TIME, null=True),
)
FOLLOW_UP_CASE = _table(
    "follow_up_case",
    "a detractor to call back: open, contacted or resolved, with a note",
    Column("id", BIGINT),
    Column("survey_id", INT),
    Column("response_id", BIGINT),
    Column("reason", _varchar(20)),
    Column("status", _varchar(10)),
    Column("note", TEXT, null=True),
    Column("opened_at", TIME),
    Column("contacted_at", TIME, null=True),
    Column("resolved_at", TIME, null=True),
    Column("updated_by", _varchar(254), null=True),
)
KPI_ALERT = _table(
    "kpi_alert",
    "KPI rules that fired: once per survey, rule and day",
    Column("survey_id", INT),
    Column("rule", _varchar(80)),
    Column("period", DATE),
    Column("created_at", TIME),
)
REPORT_RUN = _table(
    "report_run",
    "weekly reports sent: once per week (its Monday)",
    Column("week", DATE),
    Column("created_at", TIME),
)

TABLES: tuple[Table, ...] = (
    SURVEY,
    SURVEY_VERSION,
    ASSIGNMENT,
    RESPONSE,
    *_rollups("response", AGGREGATE_NAMES, flagged=True),
    *_rollups("assignment", [name for name, _ in SERVED_AGGREGATES], flagged=False),
    _unfolded("response"),
    _unfolded("assignment"),
    ROLLUP_STATE,
    API_KEY,
    EXPERIMENT_SUBJECT,
    SHORT_LINK,
    INVITATION,
    SUPPRESSION,
    ERASURE,
    RATE_WINDOW,
    INTERACTION,
    OUTCOME,
    APP_USER,
    USER_SESSION,
    ALERT_SETTINGS,
    RESPONSE_EVENT_QUEUE,
    WEBHOOK_ENDPOINT,
    WEBHOOK_MESSAGE,
    WEBHOOK_ATTEMPT,
    ALERT_EMAIL,
    FOLLOW_UP_CASE,
    KPI_ALERT,
    REPORT_RUN,
)
"""Every table of the service (Piccolo's own ``migration`` table aside)."""

DATA_TABLES: tuple[str, ...] = tuple(
    t.name for t in TABLES if t.name not in ("survey", "survey_version")
)
"""Tables holding collected data rather than definitions (emptied between tests)."""
