"""Abuse flags and a privacy-preserving client hash on responses.

``flags`` lists why a response is suspect (honeypot, too_fast, ...); KPIs leave flagged rows
out unless asked. ``client_hash`` is a keyed hash of the client address with a salt that
changes daily: enough to see bursts from one client, never the address itself.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "response flags and client hash"

STATEMENTS = [
    "ALTER TABLE response ADD COLUMN flags text[] NOT NULL DEFAULT ARRAY[]::text[]",
    "ALTER TABLE response ADD COLUMN client_hash varchar(32)",
]


forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
