"""Erasure, access and retention: personal data goes, KPIs stay exactly right."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
from litestar import Litestar

from survey_service.apikeys.service import create_key
from survey_service.reporting.rollups import fold_all, rebuild
from tests.rows import T0, insert, rollup_tables


@pytest.fixture
async def admin(app: Litestar) -> dict[str, str]:
    created = await create_key(app.state.db, "dpo", ["admin"])
    return {"Authorization": f"Bearer {created.key}"}


async def invite_and_answer(
    client: httpx.AsyncClient, headers: dict[str, str], email: str, score: int, **extra: Any
) -> int:
    """An invitation to ``email`` answered through its personal link; the invitation id."""
    row = {"survey": "nps-empathy", "email": email, "metadata": {"order_ref": "R-1", **extra}}
    created = await client.post("/api/v1/invitations", json=[row], headers=headers)
    [invitation_id] = created.json()["created"]
    link = (await client.get(f"/api/v1/invitations/{invitation_id}", headers=headers)).json()
    token = parse_qs(urlsplit(link["link"]).query)["t"][0]
    answered = await client.post(
        "/api/v1/surveys/nps-empathy/responses",
        json={"token": token, "answers": {"recommend": score, "reason": f"{email} was lovely"}},
    )
    assert answered.status_code == 201
    return int(invitation_id)


async def kpis(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/surveys/nps-empathy/kpis?group_by=agent&include_flagged=true", headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def test_erasing_a_person_removes_them_and_keeps_rollups_exact(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, admin: dict[str, str]
) -> None:
    for i in range(6):
        await invite_and_answer(client, admin, f"keep{i}@example.com", 9, agent="a1")
    await invite_and_answer(client, admin, "Ana@Example.com", 2, agent="a1")
    await app.state.surveys.recorder.flush()
    await fold_all(app.state.db, "UTC")  # one of Ana's answers folded, one not yet
    await invite_and_answer(client, admin, "ana@example.com", 3, agent="a2")
    await db.execute("INSERT INTO suppression (email) VALUES ('ana@example.com')")

    erased = await client.post(
        "/api/v1/privacy/erasures", json={"email": "ANA@example.com"}, headers=admin
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["responses"] == 2
    assert erased.json()["invitations"] == 2
    assert await db.fetchval("SELECT count(*) FROM invitation WHERE email LIKE 'ana%'") == 0
    stored = [r["comment"] for r in await db.fetch("SELECT comment FROM response")]
    assert len(stored) == 6
    assert not [c for c in stored if "ana" in c]
    # The served forms keep where and by whom, not who the customer was.
    metadata = [r["metadata"] for r in await db.fetch("SELECT metadata FROM assignment")]
    assert sum('"order_ref"' in m for m in metadata) == 6
    # Still suppressed, no longer in clear.
    assert await db.fetchval("SELECT count(*) FROM suppression WHERE email LIKE '%ana%'") == 0
    again = await client.post(
        "/api/v1/invitations",
        json=[{"survey": "nps-empathy", "email": "ana@example.com"}],
        headers=admin,
    )
    assert again.json()["rejected"][0]["errors"][0]["code"] == "suppressed"
    audit = await db.fetchrow("SELECT * FROM erasure")
    assert (audit["kind"], audit["responses"], audit["invitations"]) == ("email", 2, 2)
    assert "ana" not in str(dict(audit)).lower().replace("api key", "")
    # Rollups equal a rebuild from what is left, and so do the KPIs.
    before = await kpis(client, admin)
    await app.state.surveys.recorder.flush()
    await fold_all(app.state.db, "UTC")  # what was not folded yet, as the service would
    incremental = await rollup_tables(db)
    await rebuild(app.state.db, "UTC")
    assert await rollup_tables(db) == incremental
    assert await kpis(client, admin) == before
    assert before["n"] == 6


async def test_erasing_one_response_or_invitation(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, admin: dict[str, str]
) -> None:
    await invite_and_answer(client, admin, "one@example.com", 10)
    second = await invite_and_answer(client, admin, "two@example.com", 0)
    await fold_all(app.state.db, "UTC")
    response_id = await db.fetchval("SELECT min(id) FROM response")
    gone = await client.post(
        "/api/v1/privacy/erasures", json={"response_id": response_id}, headers=admin
    )
    assert (gone.json()["responses"], gone.json()["invitations"]) == (1, 0)
    gone = await client.post(
        "/api/v1/privacy/erasures", json={"invitation_id": second}, headers=admin
    )
    assert (gone.json()["responses"], gone.json()["invitations"]) == (1, 1)
    assert await db.fetchval("SELECT count(*) FROM response") == 0
    assert await db.fetchval("SELECT count(*) FROM invitation") == 1  # the first's is kept
    await app.state.surveys.recorder.flush()
    await fold_all(app.state.db, "UTC")  # what was not folded yet, as the service would
    incremental = await rollup_tables(db)
    await rebuild(app.state.db, "UTC")
    assert await rollup_tables(db) == incremental
    missing = await client.post(
        "/api/v1/privacy/erasures", json={"response_id": response_id}, headers=admin
    )
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"no response called '{response_id}'"
    both = await client.post(
        "/api/v1/privacy/erasures", json={"response_id": 1, "invitation_id": 1}, headers=admin
    )
    assert both.status_code == 400
    reader = await create_key(app.state.db, "reader", ["kpis:read"])
    refused = await client.post(
        "/api/v1/privacy/erasures",
        json={"email": "x@example.com"},
        headers={"Authorization": f"Bearer {reader.key}"},
    )
    assert refused.status_code == 403


async def test_a_person_can_have_their_data(
    client: httpx.AsyncClient, db: asyncpg.Connection, admin: dict[str, str]
) -> None:
    await invite_and_answer(client, admin, "me@example.com", 8)
    await invite_and_answer(client, admin, "someone@example.com", 4)
    exported = await client.post(
        "/api/v1/privacy/exports", json={"email": "Me@Example.com"}, headers=admin
    )
    body = exported.json()
    assert exported.status_code == 200
    assert [i["email"] for i in body["invitations"]] == ["me@example.com"]
    assert [r["answers"]["recommend"] for r in body["responses"]] == [8]
    assert body["invitations"][0]["metadata"] == {"order_ref": "R-1"}
    assert body["suppressed"] is False


async def test_retention_redacts_old_personal_data_and_keeps_every_kpi(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, admin: dict[str, str]
) -> None:
    for i in range(6):
        await invite_and_answer(client, admin, f"old{i}@example.com", 3 + i, agent="a7")
    await invite_and_answer(client, admin, "new@example.com", 9, agent="a7")
    await app.state.surveys.recorder.flush()
    await fold_all(app.state.db, "UTC")
    await db.execute(
        "UPDATE response SET created_at = created_at - interval '100 days'"
        " WHERE comment NOT LIKE 'new%'"
    )
    await db.execute(
        "UPDATE invitation SET created_at = created_at - interval '100 days'"
        " WHERE email <> 'new@example.com'"
    )
    for n, days_ago in enumerate((100, 100, 10)):
        logged = {
            "emotion": "sad",
            "actions": [],
            "reaction": "left",
            "reference": f"R{days_ago}",
            "note": "said her name was Ana",
        }
        await client.post("/api/v1/interactions", json=logged, headers=admin)
        event = {"event_id": f"e{n}", "kind": "churn", "customer": "R1"}
        event["occurred_at"] = "2026-01-01T00:00:00Z" if days_ago > 90 else "2026-11-20T00:00:00Z"
        await client.post("/api/v1/outcomes", json=event, headers=admin)
    await db.execute(
        "UPDATE interaction SET occurred_at = now() - interval '100 days'"
        " WHERE customer_ref = 'R100'"
    )
    await rebuild(app.state.db, "UTC")
    before = await kpis(client, admin)
    report = await app.state.privacy.apply_retention(default_days=90)
    assert (report.responses, report.invitations) == (6, 6)
    assert (report.interactions, report.outcomes) == (2, 2)
    log = await db.fetch("SELECT note, customer_ref, customer_key FROM interaction ORDER BY id")
    assert [(r["note"], r["customer_ref"]) for r in log] == [
        (None, None),
        (None, None),
        ("said her name was Ana", "R10"),
    ]
    assert all(r["customer_key"] for r in log)  # still linked, by the keyed hash only
    refs = await db.fetch("SELECT customer_ref FROM outcome ORDER BY occurred_at")
    assert [r["customer_ref"] for r in refs] == [None, None, "R1"]
    # A case's note (a manager's words about the customer) goes with the rest.
    old = await db.fetchrow("SELECT survey_id, id FROM response WHERE redacted_at IS NOT NULL")
    await db.execute(
        "INSERT INTO follow_up_case (survey_id, response_id, reason, note, opened_at)"
        " VALUES ($1, $2, 'detractor', 'called Ana on her mobile', now() - interval '100 days')",
        old["survey_id"],
        old["id"],
    )
    await app.state.privacy.apply_retention(default_days=90)
    assert await db.fetchval("SELECT note FROM follow_up_case") is None
    old = await db.fetch("SELECT * FROM response WHERE redacted_at IS NOT NULL")
    assert len(old) == 6
    assert {r["comment"] for r in old} == {""}
    assert all("reason" not in r["answers"] and "order_ref" not in r["metadata"] for r in old)
    assert all('"agent": "a7"' in r["metadata"] and r["client_hash"] is None for r in old)
    kept = await db.fetchrow("SELECT comment FROM response WHERE redacted_at IS NULL")
    assert kept["comment"] == "new@example.com was lovely"
    emails = {r["email"] for r in await db.fetch("SELECT email FROM invitation")}
    assert "new@example.com" in emails
    assert not [e for e in emails if e.startswith("old")]
    assert await kpis(client, admin) == before  # scores and every KPI stay
    await app.state.surveys.recorder.flush()
    await fold_all(app.state.db, "UTC")  # what was not folded yet, as the service would
    incremental = await rollup_tables(db)
    await rebuild(app.state.db, "UTC")
    assert await rollup_tables(db) == incremental
    assert (await app.state.privacy.apply_retention(default_days=90)).responses == 0


async def test_erasing_a_customer_reference_reaches_every_record_naming_it(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, admin: dict[str, str]
) -> None:
    for i in range(5):
        await invite_and_answer(client, admin, f"other{i}@example.com", 9, customer_ref=f"K{i}")
    await invite_and_answer(client, admin, "cust@example.com", 4, customer_ref="CUST-9")
    await insert(db, "counter-check", at=T0, understood=2, metadata={"order_ref": "CUST-9"})
    await insert(db, "counter-check", at=T0, understood=5, metadata={"order_ref": "K1"})
    assigned = await client.post(
        "/api/v1/experiments/counter-wording/assignments",
        json={"subject": "CUST-9"},
        headers=admin,
    )
    token = parse_qs(urlsplit(assigned.json()["link"]).query)["t"][0]
    answered = await client.post(
        "/api/v1/surveys/counter-check/responses",
        json={"token": token, "answers": {"understood": 3, "cared": True}},
    )
    assert answered.status_code == 201, answered.text
    for reference, hashed in (("CUST-9", False), ("CUST-9", True), ("K1", False)):
        body = {
            "emotion": "sad",
            "actions": ["listened"],
            "reaction": "calmer",
            "reference": reference,
            "hash_reference": hashed,
            "note": f"about {reference}",
        }
        r = await client.post("/api/v1/interactions", json=body, headers=admin)
        assert r.status_code == 201
    events = [
        {
            "event_id": "o1",
            "kind": "churn",
            "customer": "CUST-9",
            "occurred_at": "2026-03-01T00:00:00Z",
        },
        {
            "event_id": "o2",
            "kind": "referral",
            "customer": "CUST-9",
            "hash_customer": True,
            "occurred_at": "2026-03-01T00:00:00Z",
        },
        {
            "event_id": "o3",
            "kind": "referral",
            "customer": "K1",
            "occurred_at": "2026-03-01T00:00:00Z",
        },
    ]
    assert (await client.post("/api/v1/outcomes", json=events, headers=admin)).status_code == 201
    await app.state.surveys.recorder.flush()
    await fold_all(app.state.db, "UTC")

    erased = await client.post(
        "/api/v1/privacy/erasures", json={"customer": " CUST-9 "}, headers=admin
    )
    assert erased.status_code == 200, erased.text
    report = erased.json()
    assert (report["responses"], report["invitations"]) == (3, 1)
    assert (report["interactions"], report["outcomes"]) == (2, 2)
    for table in (
        "response",
        "assignment",
        "invitation",
        "interaction",
        "outcome",
        "experiment_subject",
        "erasure",
    ):
        rows = await db.fetch(f"SELECT * FROM {table}")  # fixed names
        assert "CUST-9" not in str([dict(r) for r in rows]), table
    subject = await db.fetchrow("SELECT subject, variant FROM experiment_subject")
    assert subject["subject"].startswith("erased:")
    assert subject["variant"] == assigned.json()["variant"]  # still counted for the SRM check
    assert await db.fetchval("SELECT count(*) FROM interaction") == 1
    assert await db.fetchval("SELECT count(*) FROM outcome") == 1
    audit = await db.fetchrow("SELECT * FROM erasure")
    assert (audit["kind"], audit["interactions"], audit["outcomes"]) == ("customer", 2, 2)
    # Rollups still equal a rebuild from what is left.
    await fold_all(app.state.db, "UTC")
    incremental = await rollup_tables(db)
    await rebuild(app.state.db, "UTC")
    assert await rollup_tables(db) == incremental
    for body in ({"customer": "  "}, {"customer": "x", "email": "a@example.com"}, {"customer": 5}):
        r = await client.post("/api/v1/privacy/erasures", json=body, headers=admin)
        assert r.status_code == 400, body


async def test_retention_reaches_served_forms_never_answered(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """A form served through a link that named a customer, and never answered, loses the
    customer's metadata past retention as an answered one does; later passes start where
    the last one stopped."""
    info = app.state.surveys.survey("nps-empathy")
    # As on a service that never ran this pass (an earlier test's pass left its position).
    await db.execute("DELETE FROM rollup_state WHERE name LIKE 'retention_served_forms:%'")
    served = (
        "INSERT INTO assignment (survey_id, survey_version_id, token_nonce, channel, language,"
        " metadata, created_at) VALUES ($1, $2, gen_random_uuid(), 'link', 'en', $3::jsonb,"
        " now() - $4::interval)"
    )
    for days in (100, 100, 95, 10):
        await db.execute(
            served,
            info.survey_id,
            info.version_id,
            '{"agent": "a7", "order_ref": "R-9"}',
            dt.timedelta(days=days),
        )
    first = await app.state.privacy.apply_retention(default_days=90)
    assert first.served_forms >= 3  # and those of earlier tests' forms
    rows = await db.fetch(
        "SELECT metadata, created_at < now() - interval '90 days' AS old FROM assignment"
        " WHERE survey_id = $1 AND metadata->>'agent' = 'a7' AND channel = 'link'",
        info.survey_id,
    )
    assert sorted((r["old"], r["metadata"]) for r in rows)[-4:] == [
        (False, '{"agent": "a7", "order_ref": "R-9"}'),
        (True, '{"agent": "a7"}'),
        (True, '{"agent": "a7"}'),
        (True, '{"agent": "a7"}'),
    ]
    reached = await db.fetchval(
        "SELECT value FROM rollup_state WHERE name = $1",
        f"retention_served_forms:{info.survey_id}",
    )
    assert reached is not None
    assert (await app.state.privacy.apply_retention(default_days=90)).served_forms == 0
