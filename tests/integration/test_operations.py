"""What an operator of many instances reads: request ids, JSON logs, Prometheus metrics."""

from __future__ import annotations

import json
import logging
import re

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from survey_service.lib.logs import REQUEST_ID, JsonFormatter


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, parsed by the client library's own parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    made = await client.get("/health/live")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    given = await client.get("/health/live", headers={"X-Request-ID": "lb-7f3a9c2e-01"})
    assert given.headers["x-request-id"] == "lb-7f3a9c2e-01"
    for hostile in ("short", "x" * 65, "a b c d e f g h", "abc\u00e9defghij".encode()):
        replaced = await client.get("/health/live", headers={"X-Request-ID": hostile})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), hostile
    missing = await client.get("/api/v1/surveys/no-such-survey")
    assert missing.status_code == 404
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    unrouted = await client.get("/no/such/route")  # the router's own 404
    assert unrouted.json()["request_id"] == unrouted.headers["x-request-id"]


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.makeLogRecord(
        {"name": "survey_service.x", "levelname": "WARNING", "msg": "odd %s", "args": ("thing",)}
    )
    token = REQUEST_ID.set("req-12345678")
    try:
        line = JsonFormatter().format(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "odd thing"
    assert entry["level"] == "WARNING"
    assert entry["request_id"] == "req-12345678"
    assert "request_id" not in json.loads(JsonFormatter().format(record))


async def test_metrics_count_requests_responses_and_backlogs(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    before = samples((await client.get("/metrics")).text)
    served = await client.get("/api/v1/surveys/nps-empathy")
    for _ in range(2):  # the second is a replay: stored once
        posted = await client.post(
            "/api/v1/surveys/nps-empathy/responses",
            json={"token": served.json()["token"], "answers": {"recommend": 3}},
        )
    assert posted.status_code == 200
    page = await client.get("/metrics")
    assert page.headers["content-type"].startswith("text/plain")
    after = samples(page.text)
    survey_id = await db.fetchval("SELECT survey_id FROM response")
    stored = ("survey_responses_stored_total", (("survey_id", str(survey_id)),))
    assert after[stored] - before.get(stored, 0) == 1
    route = (
        ("method", "POST"),
        ("route", "/api/v1/surveys/{slug}/responses"),
        ("status", "200"),
    )
    assert after[("survey_http_request_duration_seconds_count", route)] >= 1
    unfolded = await db.fetchval("SELECT count(*) FROM response_unfolded")
    assert after[("survey_fold_backlog_rows", (("table", "response"),))] == unfolded == 1
    assert after[("survey_fold_lag_seconds", (("table", "response"),))] >= 0
    assert after[("survey_outbox_depth", ())] == 0
    queued = await db.fetchval("SELECT count(*) FROM response_event_queue")
    assert after[("survey_alert_queue_rows", ())] == queued == 1
    assert after[("survey_webhook_pending", ())] == 0
    assert after[("survey_webhook_endpoints_disabled", ())] == 0
