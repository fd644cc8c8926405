"""The owner's side: dashboard users and sessions, alerts (rules, the response event queue,
emails), Standard Webhooks (endpoints, the message outbox, every attempt), follow-up cases
and the weekly report's runs.

``app_user``: "user" is a reserved word in SQL; the concept is called a user everywhere
else. ``response_event_queue`` is filled by the same statement-level trigger as the fold's
queue (one more INSERT ... SELECT from the inserted rows), so every response is looked at
for alerts exactly once, whoever wrote it.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "users, alerts, webhooks, follow-up cases, weekly reports"

STATEMENTS = [
    """
    CREATE TABLE app_user (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        email varchar(254) NOT NULL UNIQUE,
        role varchar(10) NOT NULL CHECK (role IN ('owner', 'manager')),
        surveys text[] NOT NULL DEFAULT ARRAY[]::text[],
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        disabled_at timestamptz
    )
    """,
    """
    CREATE TABLE user_session (
        token_hash varchar(64) PRIMARY KEY,
        user_id integer NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX user_session_user ON user_session (user_id)",
    """
    CREATE TABLE alert_settings (
        survey_id integer PRIMARY KEY REFERENCES survey (id),
        rules jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE response_event_queue (
        survey_id integer NOT NULL,
        id bigint NOT NULL,
        PRIMARY KEY (survey_id, id)
    )
    """,
    """
    CREATE OR REPLACE FUNCTION response_queue_unfolded() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO response_unfolded (survey_id, id) SELECT survey_id, id FROM new_rows;
        INSERT INTO response_event_queue (survey_id, id) SELECT survey_id, id FROM new_rows;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TABLE webhook_endpoint (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        url text NOT NULL,
        description varchar(200) NOT NULL DEFAULT '',
        event_types text[] NOT NULL,
        surveys text[] NOT NULL DEFAULT ARRAY[]::text[],
        secret text NOT NULL,
        previous_secret text,
        previous_until timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        failing_since timestamptz,
        disabled_at timestamptz,
        disabled_reason text
    )
    """,
    """
    CREATE TABLE webhook_message (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        endpoint_id integer NOT NULL REFERENCES webhook_endpoint (id) ON DELETE CASCADE,
        message_id varchar(40) NOT NULL,
        event_type varchar(40) NOT NULL,
        payload text NOT NULL,
        status varchar(10) NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        UNIQUE (endpoint_id, message_id)
    )
    """,
    "CREATE INDEX webhook_message_due ON webhook_message (next_attempt_at)"
    " WHERE status = 'pending'",
    """
    CREATE TABLE webhook_attempt (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id bigint NOT NULL REFERENCES webhook_message (id) ON DELETE CASCADE,
        attempt integer NOT NULL,
        status_code integer,
        latency_ms real NOT NULL,
        error text,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX webhook_attempt_message ON webhook_attempt (message_id)",
    """
    CREATE TABLE alert_email (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        to_email varchar(254) NOT NULL,
        subject text NOT NULL,
        body_text text NOT NULL,
        body_html text NOT NULL,
        status varchar(10) NOT NULL DEFAULT 'pending',
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz
    )
    """,
    "CREATE INDEX alert_email_due ON alert_email (next_attempt_at) WHERE status = 'pending'",
    """
    CREATE TABLE follow_up_case (
        id bigint GENERATED ALWAYS AS IDENTITY,
        survey_id integer NOT NULL REFERENCES survey (id),
        response_id bigint NOT NULL,
        reason varchar(20) NOT NULL,
        status varchar(10) NOT NULL DEFAULT 'open'
            CHECK (status IN ('open', 'contacted', 'resolved')),
        note text,
        opened_at timestamptz NOT NULL DEFAULT now(),
        contacted_at timestamptz,
        resolved_at timestamptz,
        updated_by varchar(254),
        PRIMARY KEY (survey_id, id),
        UNIQUE (survey_id, response_id),
        FOREIGN KEY (survey_id, response_id) REFERENCES response (survey_id, id)
            ON DELETE CASCADE
    )
    """,
    """
    CREATE TABLE kpi_alert (
        survey_id integer NOT NULL,
        rule varchar(80) NOT NULL,
        period date NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (survey_id, rule, period)
    )
    """,
    """
    CREATE TABLE report_run (
        week date PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
