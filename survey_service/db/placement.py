"""Where each table of :mod:`survey_service.db.schema` goes on Citus.

Every hot table carries ``survey_id`` in every primary, unique and foreign key and every
hot query filters by it, so the tables can be distributed by survey (:data:`DISTRIBUTED`,
one co-location group) with the small ones copied to every node (:data:`REFERENCE`) and
the rest left on the coordinator (:data:`LOCAL`); ``tests/integration/test_shard_ready.py``
checks all three on the migrated schema and on the SQL, and ``docs/scale-out.md`` gives
the plan.
"""

from __future__ import annotations

from survey_service.db.schema import TABLES

__all__ = ["DISTRIBUTED", "LOCAL", "REFERENCE"]

DISTRIBUTED: tuple[str, ...] = (
    "response",
    "assignment",
    "invitation",
    "experiment_subject",
    "response_unfolded",
    "assignment_unfolded",
    "response_event_queue",
    "follow_up_case",
    *(t.name for t in TABLES if "_rollup" in t.name),
)
"""Hot tables: distributed by ``survey_id`` on Citus, all co-located with ``response``."""

REFERENCE: tuple[str, ...] = (
    "survey",
    "survey_version",
    "api_key",
    "short_link",
    "suppression",
    "alert_settings",
)
"""Small tables read by every shard's queries (or by code alone): a copy on every node."""

LOCAL: tuple[str, ...] = (
    "rollup_state",
    "erasure",
    "rate_window",
    "interaction",
    "outcome",
    "app_user",
    "user_session",
    "webhook_endpoint",
    "webhook_message",
    "webhook_attempt",
    "alert_email",
    "kpi_alert",
    "report_run",
)
"""Stay on the coordinator: settings, the erasure audit, rate-limit counters (which a Citus
deployment keeps in Redis instead), and the business-wide staff log and outcome events
(keyed by customer, not survey; a small business logs thousands a day at most, and the
service links them to responses itself, never in a cross-shard join), and the owner's side:
users and sessions, the webhook and alert-email outboxes, fired KPI alerts and report
runs (small, and read by the coordinator's jobs)."""
