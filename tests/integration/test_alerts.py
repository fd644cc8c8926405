"""Alerts that close the loop, end to end on the real database: rules, the once-only
event job, Standard Webhooks deliveries to a real HTTP receiver (signatures checked with
the standardwebhooks reference library), retries, replay, rotation, disabling, manager
emails through a real SMTP server, KPI and SRM rules, and follow-up cases."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import json
import mailbox
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from standardwebhooks.webhooks import Webhook

from survey_service.alerts.delivery import deliver_webhooks
from survey_service.alerts.egress import webhook_client
from survey_service.alerts.mail import send_alert_emails
from survey_service.alerts.queries import CLAIM_EVENTS, claim_events
from survey_service.apikeys.service import create_key
from survey_service.db.engine import pooled
from survey_service.reporting import rollups
from survey_service.settings import SmtpSettings
from tests.helpers import answer_nps, start_smtp
from tests.rows import insert
from tests.servers import WebhookReceiver

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
async def admin(app: Litestar, db: asyncpg.Connection) -> dict[str, str]:
    await db.execute("TRUNCATE app_user, alert_settings, webhook_endpoint CASCADE")
    created = await create_key(app.state.db, "ops", ["admin"])
    return {"Authorization": f"Bearer {created.key}"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


async def endpoint(
    client: httpx.AsyncClient, admin: dict[str, str], url: str, types: list[str], **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/webhooks/endpoints",
        json={"url": url, "event_types": types, **extra},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def answer(client: httpx.AsyncClient, db: asyncpg.Connection, score: int) -> None:
    """An NPS answer from a customer who took their time (not flagged too_fast)."""
    assert await answer_nps(client, score) == 201
    await db.execute("UPDATE response SET flags = array_remove(flags, 'too_fast')")


async def deliver(app: Litestar, http: httpx.AsyncClient | None = None) -> Any:
    """One pass of the sender, with the service's own client unless ``http`` is given."""
    client = http or app.state.webhook_client
    return await deliver_webhooks(app.state.db, client, base_url="http://testserver")


async def test_a_detractor_is_signed_delivered_logged_and_opens_a_case(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    admin: dict[str, str],
    receiver: WebhookReceiver,
) -> None:
    hook = await endpoint(
        client,
        admin,
        receiver.url,
        ["response.created", "response.detractor"],
        surveys=["nps-empathy"],
    )
    assert hook["secret"].startswith("whsec_")
    await answer(client, db, 3)
    await answer(client, db, 10)
    assert await app.state.alerts.process_events() == 2
    assert await app.state.alerts.process_events() == 0  # each response once
    report = await deliver(app)
    assert report.delivered == 3
    assert len(receiver.received) == 3
    verifier = Webhook(hook["secret"])
    events = [verifier.verify(body, headers) for headers, body in receiver.received]
    kinds = sorted(e["type"] for e in events)
    assert kinds == ["response.created", "response.created", "response.detractor"]
    detractor = next(e for e in events if e["type"] == "response.detractor")["data"]
    assert detractor["nps"] == 3
    assert detractor["alerts"] == ["detractor"]
    case = await db.fetchrow("SELECT * FROM follow_up_case")
    assert (case["status"], case["reason"], case["id"]) == (
        "open",
        "detractor",
        detractor["case_id"],
    )
    ids = [h["webhook-id"] for h, _ in receiver.received]
    assert len(set(ids)) == 3
    assert "comment" not in json.dumps(events)  # no free text leaves in a webhook
    log = await client.get(f"/api/v1/webhooks/endpoints/{hook['id']}/messages", headers=admin)
    assert log.status_code == 200
    assert {m["status"] for m in log.json()} == {"delivered"}
    attempt = log.json()[0]["log"][0]
    assert attempt["status_code"] == 200
    assert attempt["latency_ms"] > 0
    listed = await client.get("/api/v1/webhooks/endpoints", headers=admin)
    assert "secret" not in listed.text or listed.json()[0]["secret"] is None


async def test_failures_are_retried_with_backoff_replayed_and_disabled_after_a_day(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    admin: dict[str, str],
) -> None:
    flaky = WebhookReceiver([500, 503])
    try:
        hook = await endpoint(client, admin, flaky.url, ["response.created"])
        await app.state.accounts.create("boss@example.com", "owner", [], "a long enough password")
        await answer(client, db, 8)
        await app.state.alerts.process_events()
        first = await deliver(app)
        assert (first.delivered, first.failed) == (0, 1)
        row = await db.fetchrow("SELECT * FROM webhook_message")
        wait = (row["next_attempt_at"] - dt.datetime.now(dt.UTC)).total_seconds()
        assert 3.5 < wait < 6.5  # 5 s with ±20% jitter
        assert (await deliver(app)).delivered == 0  # not due yet
        await db.execute("UPDATE webhook_message SET next_attempt_at = now()")
        assert (await deliver(app)).failed == 1
        await db.execute("UPDATE webhook_message SET next_attempt_at = now()")
        assert (await deliver(app)).delivered == 1
        log = (
            await client.get(f"/api/v1/webhooks/endpoints/{hook['id']}/messages", headers=admin)
        ).json()
        assert [a["status_code"] for a in log[0]["log"]] == [500, 503, 200]
        assert [a["error"] for a in log[0]["log"]][:2] == ["HTTP 500", "HTTP 503"]
        first_id = flaky.received[0][0]["webhook-id"]
        replayed = await client.post(
            f"/api/v1/webhooks/messages/{log[0]['id']}/replay", headers=admin
        )
        assert replayed.status_code == 202
        assert (await deliver(app)).delivered == 1
        assert {h["webhook-id"] for h, _ in flaky.received} == {first_id}  # the same message
        # A day of failures disables the endpoint and tells the owners.
        flaky.codes = [500] * 10
        await answer(client, db, 9)
        await app.state.alerts.process_events()
        await db.execute("UPDATE webhook_endpoint SET failing_since = now() - interval '25 hours'")
        report = await deliver(app)
        assert report.disabled == [hook["id"]]
        state = await db.fetchrow("SELECT disabled_at, disabled_reason FROM webhook_endpoint")
        assert state["disabled_at"] is not None
        mail = await db.fetchrow("SELECT to_email, subject FROM alert_email")
        assert mail["to_email"] == "boss@example.com"
        assert "disabled" in mail["subject"]
        await db.execute("UPDATE webhook_message SET next_attempt_at = now()")
        assert (await deliver(app)).failed == 0  # a disabled endpoint gets nothing
        enabled = await client.patch(
            f"/api/v1/webhooks/endpoints/{hook['id']}", json={"enabled": True}, headers=admin
        )
        assert enabled.json()["disabled_at"] is None
    finally:
        flaky.close()


async def test_rotation_signs_with_both_secrets_for_a_day(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    admin: dict[str, str],
    receiver: WebhookReceiver,
) -> None:
    hook = await endpoint(client, admin, receiver.url, ["response.created"])
    rotated = await client.post(f"/api/v1/webhooks/endpoints/{hook['id']}/rotate", headers=admin)
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != hook["secret"]
    await answer(client, db, 7)
    await app.state.alerts.process_events()
    await deliver(app)
    headers, body = receiver.received[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (hook["secret"], new):
        assert Webhook(secret).verify(body, headers)["type"] == "response.created"


async def test_the_job_drains_the_queue_however_long(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, admin: dict[str, str]
) -> None:
    """Under load more answers arrive in a period than one batch holds: one run of the
    job takes them all (it once took one batch a period, and the queue grew for ever)."""
    await endpoint(client, admin, "http://127.0.0.1:9/hook", ["response.created"])
    survey_id, version_id = await db.fetchrow(
        "SELECT id, current_version_id FROM survey WHERE slug = 'nps-empathy'"
    )
    await db.execute(
        "INSERT INTO response (survey_id, survey_version_id, token_nonce, channel, language,"
        " metadata, answers, nps) SELECT $1, $2, gen_random_uuid(), 'link', 'en', '{}',"
        " '{\"recommend\": 9}', 9 FROM generate_series(1, 250)",
        survey_id,
        version_id,
    )
    assert await app.state.alerts.drain_events(batch=100) == 250
    assert await db.fetchval("SELECT count(*) FROM response_event_queue") == 0
    assert await db.fetchval("SELECT count(*) FROM webhook_message") == 250


async def test_the_job_does_not_chase_answers_that_arrive_while_it_runs(
    app: Litestar, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a full batch means more is waiting; answers arriving during a short one wait
    for the next period."""
    survey_id, version_id = await db.fetchrow(
        "SELECT id, current_version_id FROM survey WHERE slug = 'nps-empathy'"
    )
    insert = (
        "INSERT INTO response (survey_id, survey_version_id, token_nonce, channel, language,"
        " metadata, answers, nps) SELECT $1, $2, gen_random_uuid(), 'link', 'en', '{}',"
        " '{\"recommend\": 9}', 9 FROM generate_series(1, $3)"
    )
    await db.execute(insert, survey_id, version_id, 150)
    alerts = app.state.alerts
    real = alerts.process_events
    batches: list[int] = []

    async def process_while_answers_arrive(batch: int) -> int:
        done: int = await real(batch)
        batches.append(done)
        await db.execute(insert, survey_id, version_id, 5)
        return done

    monkeypatch.setattr(alerts, "process_events", process_while_answers_arrive)
    assert await alerts.drain_events(batch=100) == 155
    assert batches == [100, 55]
    assert await db.fetchval("SELECT count(*) FROM response_event_queue") == 5


async def test_rules_decide_and_flagged_answers_alert_nobody(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    admin: dict[str, str],
    receiver: WebhookReceiver,
) -> None:
    await endpoint(client, admin, receiver.url, ["response.detractor", "response.created"])
    set_rules = await client.put(
        "/api/v1/surveys/nps-empathy/alerts",
        json={"response": ["mismatch"], "email": False},
        headers=admin,
    )
    assert set_rules.status_code == 200, set_rules.text
    await answer(client, db, 1)
    await insert(db, "nps-empathy", at=NOW, nps=0, flagged=True)
    # Three job runs at once: every response is claimed by exactly one of them.
    done = await asyncio.gather(*(app.state.alerts.process_events() for _ in range(3)))
    assert sum(done) == 2
    kinds = [r["event_type"] for r in await db.fetch("SELECT event_type FROM webhook_message")]
    assert kinds == ["response.created"]  # no detractor rule; the flagged answer is silent
    assert await db.fetchval("SELECT count(*) FROM follow_up_case") == 0
    reset = await client.delete("/api/v1/surveys/nps-empathy/alerts", headers=admin)
    assert "detractor" in reset.json()["response"]
    for body in (
        {"response": ["everything"]},
        {"kpi": [{"metric": "nps"}]},
        {"kpi": [{"metric": "css", "below": 0}]},
    ):
        r = await client.put("/api/v1/surveys/nps-empathy/alerts", json=body, headers=admin)
        assert r.status_code == 400, body


async def test_managers_get_alert_emails_through_smtp(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    admin: dict[str, str],
    tmp_path: Path,
) -> None:
    await app.state.accounts.create(
        "desk@example.com", "manager", ["nps-empathy"], "a long enough password"
    )
    await app.state.accounts.create(
        "other@example.com", "manager", ["counter-check"], "a long enough password"
    )
    await answer(client, db, 2)
    await answer(client, db, 4)
    await app.state.alerts.process_events()
    box = tmp_path / "box"
    port, process = start_smtp("aiosmtpd.handlers.Mailbox", str(box))
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=port, sender="alerts@example.com")
        assert await send_alert_emails(app.state.db, smtp) == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
    [message] = [
        email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
        for m in mailbox.Maildir(box)
    ]
    assert message["To"] == "desk@example.com"
    assert "2 alert(s)" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert text.count("detractor: NPS") == 2
    assert "/dashboard/cases" in text
    assert message.get_body(("html",)) is not None
    assert await db.fetchval("SELECT status FROM alert_email") == "sent"


async def test_kpi_and_srm_rules_fire_once_a_day(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    admin: dict[str, str],
    receiver: WebhookReceiver,
) -> None:
    await endpoint(client, admin, receiver.url, ["kpi.threshold", "experiment.srm"])
    rules = {
        "kpi": [{"metric": "nps", "below": 0}, {"metric": "empathy_index", "drop": True}],
        "email": False,
    }
    assert (
        await client.put("/api/v1/surveys/nps-empathy/alerts", json=rules, headers=admin)
    ).status_code == 200
    counter = {"kpi": [{"metric": "empathy_index", "drop": True}], "email": False}
    assert (
        await client.put("/api/v1/surveys/counter-check/alerts", json=counter, headers=admin)
    ).status_code == 200
    for i in range(12):
        await insert(db, "nps-empathy", at=NOW - dt.timedelta(days=2, minutes=i), nps=2)
        day = dt.timedelta(days=2, minutes=i)
        await insert(db, "counter-check", at=NOW - day, understood=1 + i % 2, cared=False)
        week = dt.timedelta(days=10, minutes=i)
        await insert(db, "counter-check", at=NOW - week, understood=4 + i % 2, cared=True)
    # An experiment whose assignments ignore its 50/50 weights.
    survey_id, version_id = await db.fetchrow(
        "SELECT id, current_version_id FROM survey WHERE slug = 'counter-check'"
    )
    await db.execute(
        "INSERT INTO assignment (survey_id, survey_version_id, token_nonce, variant, channel, language)"
        " SELECT $1, $2, gen_random_uuid(), CASE WHEN g < 900 THEN 'warm' ELSE 'neutral' END, 'link', 'en'"
        " FROM generate_series(1, 1000) g",
        survey_id,
        version_id,
    )
    from survey_service.reporting.rollups import fold_all

    await fold_all(app.state.db, "UTC")
    fired = await app.state.alerts.check_kpis()
    assert fired == 3  # NPS below 0, counter-check's empathy drop, the SRM
    assert await app.state.alerts.check_kpis() == 0  # once a day
    await deliver(app)
    payloads = [json.loads(body) for _, body in receiver.received]
    by_type = {(p["type"], p["data"]["survey"]) for p in payloads}
    assert by_type == {
        ("kpi.threshold", "nps-empathy"),
        ("kpi.threshold", "counter-check"),
        ("experiment.srm", "counter-check"),
    }
    nps = next(p["data"] for p in payloads if p["data"]["survey"] == "nps-empathy")
    assert nps["value"] == -100.0
    assert nps["threshold"] == 0
    drop = next(
        p["data"]
        for p in payloads
        if p["type"] == "kpi.threshold" and p["data"]["survey"] == "counter-check"
    )
    assert drop["previous"] == pytest.approx(93.75)
    assert drop["difference_ci"][1] < 0


async def test_cases_are_worked_through_and_measured(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, admin: dict[str, str]
) -> None:
    for score in (1, 2, 3, 9):
        await answer(client, db, score)
    await app.state.alerts.process_events()
    cases = (await client.get("/api/v1/cases", headers=admin)).json()
    assert len(cases) == 3
    assert {c["status"] for c in cases} == {"open"}
    first, second, third = (c["id"] for c in cases)
    r = await client.patch(
        f"/api/v1/cases/{first}", json={"status": "contacted", "note": "called back"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["note"] == "called back"
    assert r.json()["contacted_at"] is not None
    await client.patch(f"/api/v1/cases/{second}", json={"status": "resolved"}, headers=admin)
    await client.patch(
        f"/api/v1/cases/{third}", json={"status": "resolved", "note": "refunded"}, headers=admin
    )
    await db.execute(
        "UPDATE follow_up_case SET resolved_at = opened_at + interval '2 hours' WHERE id = $1",
        second,
    )
    await db.execute(
        "UPDATE follow_up_case SET resolved_at = opened_at + interval '6 hours' WHERE id = $1",
        third,
    )
    stats = await client.get("/api/v1/surveys/nps-empathy/follow-up", headers=admin)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert (body["opened"], body["contacted"], body["resolved"]) == (3, 1, 2)
    assert body["closed_share"]["value"] == pytest.approx(200 / 3)
    assert body["median_hours_to_close"] == pytest.approx(4.0)
    for path, payload in (
        (f"/api/v1/cases/{first}", {"status": "done"}),
        ("/api/v1/cases/999999", {"status": "open"}),
    ):
        r = await client.patch(path, json=payload, headers=admin)
        assert r.status_code in (400, 404)
    narrow = await create_key(app.state.db, "narrow", ["kpis:read"], ["counter-check"])
    assert (
        await client.get("/api/v1/cases", headers={"Authorization": f"Bearer {narrow.key}"})
    ).json() == []


async def test_endpoints_refuse_bad_input(
    client: httpx.AsyncClient, admin: dict[str, str], app: Litestar
) -> None:
    for body, field in (
        ({"url": "ftp://x.example", "event_types": ["response.created"]}, "url"),
        ({"url": "https://x.example/\nHost: evil", "event_types": ["response.created"]}, "url"),
        ({"url": "https://x.example", "event_types": ["response.deleted"]}, "event_types"),
        ({"url": "https://x.example", "event_types": []}, "event_types"),
        (
            {"url": "https://x.example", "event_types": ["kpi.threshold"], "surveys": ["nope"]},
            "surveys",
        ),
        ({"event_types": ["kpi.threshold"]}, "url"),
        ({"url": "http:///hooks", "event_types": ["kpi.threshold"]}, "url"),
        # Not public, and not in the allowed networks (the tests allow 127.0.0.0/8 only):
        ({"url": "http://169.254.169.254/latest", "event_types": ["kpi.threshold"]}, "link-local"),
        ({"url": "http://[::1]:8080/in", "event_types": ["kpi.threshold"]}, "loopback"),
        ({"url": "http://10.0.0.5/in", "event_types": ["kpi.threshold"]}, "private"),
    ):
        r = await client.post("/api/v1/webhooks/endpoints", json=body, headers=admin)
        assert r.status_code == 400, body
        assert field in r.text
    assert (
        await client.post("/api/v1/webhooks/endpoints/999/rotate", headers=admin)
    ).status_code == 404
    assert (
        await client.post("/api/v1/webhooks/messages/999/replay", headers=admin)
    ).status_code == 404
    reader = await create_key(app.state.db, "reader", ["kpis:read"])
    r = await client.get(
        "/api/v1/webhooks/endpoints", headers={"Authorization": f"Bearer {reader.key}"}
    )
    assert r.status_code == 403


def test_the_openapi_document_describes_every_event(app: Litestar) -> None:
    schema = app.openapi_schema.to_schema()
    assert set(schema["webhooks"]) >= {
        "response.created",
        "response.detractor",
        "response.mismatch",
        "kpi.threshold",
        "experiment.srm",
    }
    created = schema["webhooks"]["response.created"]["post"]
    assert {p["name"] for p in created["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    assert "nps" in schema["components"]["schemas"]["ResponseEvent"]["properties"]


async def test_deliveries_go_only_to_allowed_addresses_checked_when_connecting(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    admin: dict[str, str],
    receiver: WebhookReceiver,
) -> None:
    """An endpoint whose host is (or now resolves to) a non-public address gets nothing:
    the check is made on the addresses looked up when the connection opens, so a name
    registered while it pointed elsewhere is caught too."""
    literal = await endpoint(client, admin, receiver.url, ["response.created"])
    port = receiver.url.split(":")[2].split("/")[0]
    named = await endpoint(client, admin, f"http://localhost:{port}/hooks", ["response.created"])
    await answer(client, db, 9)
    await app.state.alerts.process_events()
    async with webhook_client([]) as public_only:  # the default: public addresses only
        report = await deliver(app, public_only)
    assert (report.delivered, report.failed) == (0, 2)
    assert receiver.received == []  # never connected
    for hook in (literal, named):
        log = (
            await client.get(f"/api/v1/webhooks/endpoints/{hook['id']}/messages", headers=admin)
        ).json()
        error = log[0]["log"][0]["error"]
        assert "loopback address" in error
        assert "SURVEY_WEBHOOK_ALLOWED_NETWORKS" in error
        assert log[0]["log"][0]["status_code"] is None
    # The same message goes out once loopback is allowed (the address literal's; the
    # name's too where localhost has no IPv6 address outside 127.0.0.0/8).
    await db.execute("UPDATE webhook_message SET next_attempt_at = now()")
    async with webhook_client([ipaddress.ip_network("127.0.0.0/8")]) as loopback:
        await deliver(app, loopback)
    log = (
        await client.get(f"/api/v1/webhooks/endpoints/{literal['id']}/messages", headers=admin)
    ).json()
    assert [a["status_code"] for a in log[0]["log"]] == [None, 200]
    assert log[0]["message_id"] in {h["webhook-id"] for h, _ in receiver.received}


async def test_draining_many_events_leaves_the_queue_vacuumed(
    app: Litestar, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the fold does for its queues: after many responses taken off the event queue,
    the job vacuums it, so no autovacuum is needed to keep claims from scanning dead rows."""
    monkeypatch.setattr(rollups, "VACUUM_AFTER", 100)
    started = await db.fetchval("SELECT now()")
    for minute in range(120):
        await insert(db, "empathy-csat", at=NOW - dt.timedelta(minutes=minute), csat=4)
    assert await app.state.alerts.drain_events(batch=50) == 120
    assert await db.fetchval("SELECT count(*) FROM response_event_queue") == 0
    vacuumed = await db.fetchval(
        "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'response_event_queue'"
    )
    assert vacuumed is not None
    assert vacuumed > started


async def test_a_claim_reads_each_queued_response_by_its_key(db: asyncpg.Connection) -> None:
    """The alert job's claim looks each claimed response up by its primary key, a plan no
    table size can turn into a scan of every response per batch (a plain join did, at a
    million responses: 550 ms a batch). Nested loops are priced out here, so a join the
    planner were free to choose would show up as a scan."""
    await db.execute(
        "INSERT INTO response (survey_id, survey_version_id, token_nonce, channel, language,"
        " metadata, answers, flags) SELECT s.id, s.current_version_id, gen_random_uuid(),"
        " 'link', 'en', '{}', '{}', '{}' FROM survey s, generate_series(1, 3)"
        " WHERE s.slug = 'nps-empathy'"
    )
    async with db.transaction():
        await db.execute("SET LOCAL enable_nestloop = off")
        plan = "\n".join(r[0] for r in await db.fetch("EXPLAIN " + CLAIM_EVENTS, 1000))
    assert "Index Scan using response_pkey" in plan
    assert "Seq Scan on response " not in plan


async def test_a_claim_is_planned_for_the_queue_as_it_is_then(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """As the fold's claims (see ``test_kpis``): never the generic plan PostgreSQL caches
    after five executions, made while the queue was empty."""
    one = await pooled(app.state.db.dsn, pool_max=1, transaction_pooler=False)
    try:
        await db.execute("VACUUM response_event_queue")  # emptied by ``db``: 0 rows recorded
        for _ in range(8):
            async with one.transaction() as tx:
                assert await claim_events(tx, 500) == []
        plans = await one.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            CLAIM_EVENTS,
        )
    finally:
        await one.close()
    assert [tuple(r) for r in plans] == [(0, 8)]
