"""Reminders: when an invitation's one reminder went out."""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "invitation reminders"

STATEMENTS = ["ALTER TABLE invitation ADD COLUMN reminder_sent_at timestamptz"]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
