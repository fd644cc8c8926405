"""Single-use short links for counter kiosks.

A kiosk shows one code at a time; the code carries a fixed token nonce, so the unique key
on responses lets it be answered once, and the kiosk moves on to a new code as soon as that
response exists or the code's time is up.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "single-use kiosk links"

STATEMENTS = [
    "ALTER TABLE short_link ADD COLUMN kiosk varchar(32)",
    "ALTER TABLE short_link ADD COLUMN token_nonce uuid",
    "ALTER TABLE short_link ADD COLUMN expires_at timestamptz",
    "CREATE INDEX short_link_kiosk_idx ON short_link (kiosk, created_at) WHERE kiosk IS NOT NULL",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
