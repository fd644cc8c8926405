"""The JSON API on a real PostgreSQL: happy path, bad input, idempotency."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar

from survey_service.app import create_app
from survey_service.lib.ratelimit import Limits, MemoryCounter
from survey_service.settings import Settings
from survey_service.surveys.serving import SurveyService
from survey_service.web.security import API_POLICY
from tests.helpers import TEST_KEY, outside_a_window_edge


async def serve(client: httpx.AsyncClient, slug: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/surveys/{slug}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def count(db: asyncpg.Connection, table: str = "response") -> int:
    value: int = await db.fetchval(f"SELECT count(*) FROM {table}")
    return value


async def test_served_form_is_localized_and_signed(client: httpx.AsyncClient) -> None:
    body = await serve(client, "empathy-csat", lang="es")
    survey = body["survey"]
    assert survey["language"] == "es"
    assert survey["title"] == "Su experiencia con nuestro equipo"
    assert [q["role"] for q in survey["questions"]] == [
        "csat",
        "empathy_understood",
        "empathy_cared",
        "empathy_emotional",
        "comment",
    ]
    assert body["token"].startswith("1.")


async def test_language_from_accept_language_then_default(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/surveys/nps-empathy", headers={"Accept-Language": "fr;q=0.9, es;q=0.8"}
    )
    assert response.json()["survey"]["language"] == "es"
    response = await client.get("/api/v1/surveys/nps-empathy", params={"lang": "de"})
    assert response.json()["survey"]["language"] == "en"


async def test_response_is_stored_with_variant_and_metadata(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    body = await serve(
        client,
        "counter-check",
        lang="es",
        channel="qr",
        agent="17",
        touchpoint="counter 3",
        bogus="dropped",
        location="x" * 101,
    )
    variant = body["survey"]["variant"]
    assert variant in {"neutral", "warm"}
    answers = {"understood": 4, "cared": True, "comment": "  Muy amable  "}
    response = await client.post(
        "/api/v1/surveys/counter-check/responses", json={"token": body["token"], "answers": answers}
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["variant"] == variant
    row = await db.fetchrow("SELECT * FROM response WHERE id = $1", receipt["id"])
    assert row["variant"] == variant
    assert row["channel"] == "qr"
    assert row["language"] == "es"
    assert json.loads(row["metadata"]) == {"agent": "17", "touchpoint": "counter 3"}
    assert row["empathy_understood"] == 4
    assert row["empathy_cared"] is True
    assert row["comment"] == "Muy amable"
    assert row["nps"] is None
    assert json.loads(row["answers"]) == {"understood": 4, "cared": True, "comment": "Muy amable"}


async def test_assignment_is_recorded_for_every_served_form(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for _ in range(7):
        await serve(client, "counter-check", agent="5")
    service: SurveyService = app.state.surveys
    await service.recorder.flush()
    rows = await db.fetch("SELECT variant, channel, metadata FROM assignment")
    assert len(rows) == 7
    assert {r["variant"] for r in rows} <= {"neutral", "warm"}
    assert all(r["channel"] == "api" and json.loads(r["metadata"]) == {"agent": "5"} for r in rows)


async def test_same_token_twice_stores_one_row(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    body = await serve(client, "nps-empathy")
    payload = {"token": body["token"], "answers": {"recommend": 9}}
    first = await client.post("/api/v1/surveys/nps-empathy/responses", json=payload)
    payload["answers"] = {"recommend": 2}
    second = await client.post("/api/v1/surveys/nps-empathy/responses", json=payload)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert await db.fetchval("SELECT array_agg(nps) FROM response") == [9]


async def test_concurrent_submissions_of_one_token_store_exactly_one_row(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    body = await serve(client, "empathy-csat")
    payload = {
        "token": body["token"],
        "answers": {"satisfaction": 5, "understood": 5, "cared": True, "emotional": 4},
    }
    results = await asyncio.gather(
        *(client.post("/api/v1/surveys/empathy-csat/responses", json=payload) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["id"] for r in results}) == 1
    assert await count(db) == 1


async def test_answers_arriving_together_are_written_together(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Group commit: 40 answers and 20 replays of one of them at once are stored in fewer
    statements than answers, one row per token, and only one caller per token hears 201."""
    writer = app.state.surveys.writer
    forms = [await serve(client, "nps-empathy") for _ in range(40)]
    payloads = [
        {"token": form["token"], "answers": {"recommend": i % 11}} for i, form in enumerate(forms)
    ]
    before = writer.statements
    url = "/api/v1/surveys/nps-empathy/responses"
    results = await asyncio.gather(
        *(client.post(url, json=p) for p in [*payloads, *[payloads[7]] * 20])
    )
    assert writer.statements - before < len(results)
    assert sorted(r.status_code for r in results) == [200] * 20 + [201] * 40
    replays = {r.json()["id"] for r in results[40:]}
    assert replays == {results[7].json()["id"]}
    assert await count(db) == 40
    stored = await db.fetch("SELECT nps FROM response ORDER BY id")
    assert sorted(r["nps"] for r in stored) == sorted(i % 11 for i in range(40))


@pytest.mark.parametrize(
    ("answers", "field", "message"),
    [
        ({"recommend": 11}, "answers.recommend", "from 0 to 10"),
        ({"recommend": -1}, "answers.recommend", "from 0 to 10"),
        ({"recommend": "9"}, "answers.recommend", "whole number"),
        ({"recommend": True}, "answers.recommend", "whole number"),
        ({}, "answers.recommend", "required"),
        ({"recommend": 8, "influence": 0}, "answers.influence", "from 1 to 5"),
        ({"recommend": 8, "reason": "x" * 1001}, "answers.reason", "at most 1000"),
        ({"recommend": 8, "extra": 1}, "answers.extra", "no such question"),
    ],
)
async def test_bad_answers_are_400_with_the_field_and_store_nothing(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    answers: dict[str, Any],
    field: str,
    message: str,
) -> None:
    body = await serve(client, "nps-empathy")
    response = await client.post(
        "/api/v1/surveys/nps-empathy/responses", json={"token": body["token"], "answers": answers}
    )
    assert response.status_code == 400
    errors = response.json()["extra"]
    assert any(e["key"] == field and message in e["message"] for e in errors), errors
    assert await count(db) == 0


async def test_wrong_json_types_are_400_naming_the_field(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    body = await serve(client, "nps-empathy")
    response = await client.post(
        "/api/v1/surveys/nps-empathy/responses",
        json={"token": body["token"], "answers": {"recommend": 9.5}},
    )
    assert response.status_code == 400
    assert "answers" in response.text
    response = await client.post("/api/v1/surveys/nps-empathy/responses", json={"answers": {}})
    assert response.status_code == 400
    assert "token" in response.text
    assert await count(db) == 0


async def test_malformed_json_is_400(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    response = await client.post(
        "/api/v1/surveys/nps-empathy/responses",
        content=b'{"token": "abc", "answers": {',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert await count(db) == 0


async def test_unknown_survey_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/surveys/no-such-survey")).status_code == 404
    response = await client.post(
        "/api/v1/surveys/no-such-survey/responses", json={"token": "1.a.b.c", "answers": {}}
    )
    assert response.status_code == 404


async def test_tampered_token_is_403(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    body = await serve(client, "nps-empathy")
    version, kid, claims, signature = body["token"].split(".")
    # Flip one character of the claims: the signature no longer matches.
    forged_claims = claims[:-2] + ("A" if claims[-2] != "A" else "B") + claims[-1]
    forged = ".".join([version, kid, forged_claims, signature])
    response = await client.post(
        "/api/v1/surveys/nps-empathy/responses", json={"token": forged, "answers": {"recommend": 9}}
    )
    assert response.status_code == 403
    assert await count(db) == 0


async def test_garbage_and_foreign_tokens_are_400(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    response = await client.post(
        "/api/v1/surveys/nps-empathy/responses",
        json={"token": "not-a-token", "answers": {"recommend": 9}},
    )
    assert response.status_code == 400
    other = await serve(client, "empathy-csat")
    response = await client.post(
        "/api/v1/surveys/nps-empathy/responses",
        json={"token": other["token"], "answers": {"recommend": 9}},
    )
    assert response.status_code == 400
    assert "another survey" in response.text
    assert await count(db) == 0


async def test_expired_token_is_400(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    service: SurveyService = app.state.surveys
    original = service.token_ttl_seconds
    service.token_ttl_seconds = -1
    try:
        body = await serve(client, "nps-empathy")
    finally:
        service.token_ttl_seconds = original
    response = await client.post(
        "/api/v1/surveys/nps-empathy/responses",
        json={"token": body["token"], "answers": {"recommend": 9}},
    )
    assert response.status_code == 400
    assert response.json()["extra"] == [
        {"key": "token", "message": "token has expired", "code": "token"}
    ]
    assert await count(db) == 0


async def test_body_over_the_limit_is_413(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    body = await serve(client, "nps-empathy")
    payload = {"token": body["token"], "answers": {"recommend": 9, "reason": "x" * 70_000}}
    response = await client.post("/api/v1/surveys/nps-empathy/responses", json=payload)
    assert response.status_code == 413
    assert await count(db) == 0


async def test_health_and_schema(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/surveys/{slug}/responses" in schema["paths"]


async def test_buffered_assignments_survive_a_clean_shutdown(
    app: Litestar, db: asyncpg.Connection
) -> None:
    from survey_service.experiments.assignment import AssignmentRecorder, NewAssignment
    from survey_service.surveys.tokens import new_nonce

    info = app.state.surveys.survey("counter-check")
    recorder = AssignmentRecorder(
        app.state.db, interval=3600
    )  # nothing would be written before stop()
    await recorder.start()
    for _ in range(25):
        recorder.record(
            NewAssignment(
                survey_id=info.survey_id,
                survey_version_id=info.version_id,
                nonce=new_nonce(),
                variant="warm",
                channel="link",
                language="en",
                metadata={},
            )
        )
    assert await db.fetchval("SELECT count(*) FROM assignment") == 0
    await recorder.stop()
    assert recorder.pending == 0
    assert await db.fetchval("SELECT count(*) FROM assignment") == 25


async def test_the_json_api_gets_the_forms_abuse_controls(
    app: Litestar, settings: Settings, db: asyncpg.Connection
) -> None:
    """Same treatment as the HTML form: the client limit (serving counts too, so anonymous
    callers cannot mint assignments without end), ``too_fast``, a hashed client address."""
    await outside_a_window_edge()
    strict = create_app(msgspec.structs.replace(settings, submit_limit_per_ip=4))
    strict.state.surveys = app.state.surveys
    strict.state.db = app.state.db
    strict.state.limits = Limits(MemoryCounter(), TEST_KEY)
    transport = httpx.ASGITransport(app=strict, client=("10.6.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        served = await client.get("/api/v1/surveys/nps-empathy")
        posted = await client.post(
            "/api/v1/surveys/nps-empathy/responses",
            json={"token": served.json()["token"], "answers": {"recommend": 9}},
        )
        assert posted.status_code == 201
        statuses = [(await client.get("/api/v1/surveys/nps-empathy")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    row = await db.fetchrow("SELECT flags, client_hash FROM response")
    assert row["flags"] == ["too_fast"]
    assert row["client_hash"] is not None
    assert "10.6.0.1" not in row["client_hash"]


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [("GET", "/nowhere", 404), ("DELETE", "/health/live", 405), ("POST", "/s/nps-empathy", 403)],
)
async def test_every_error_carries_the_security_headers(
    client: httpx.AsyncClient, method: str, url: str, status: int
) -> None:
    response = await client.request(method, url)
    assert response.status_code == status
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_api_answers_carry_the_api_policy_not_the_pages_one(
    client: httpx.AsyncClient,
) -> None:
    """JSON has nothing to style: no style hashes, nothing framed; pages keep theirs."""
    for url in ("/api/v1/surveys/nps-empathy", "/api/v1/nowhere"):
        answer = await client.get(url)
        assert answer.headers["content-security-policy"] == API_POLICY, url
        assert answer.headers["x-content-type-options"] == "nosniff"
    page = await client.get("/s/nps-empathy")
    assert "style-src 'sha256-" in page.headers["content-security-policy"]


async def test_api_docs_are_served_from_the_package(client: httpx.AsyncClient) -> None:
    """No CDN: the docs page loads Redoc from this service, under a CSP that allows exactly
    that; the schema documents the error answers and the API-key scheme."""
    page = await client.get("/schema")
    assert page.status_code == 200
    assert '<script src="/static/redoc/redoc.standalone.js">' in page.text
    assert "https://" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = await client.get("/static/redoc/redoc.standalone.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert len(script.content) > 500_000
    schema = (await client.get("/schema/openapi.json")).json()
    kpis = schema["paths"]["/api/v1/surveys/{slug}/kpis"]["get"]
    assert {"400", "401", "403", "404", "429", "503"} <= set(kpis["responses"])
    assert kpis["security"] == [{"apiKey": []}]
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
