"""Invitations API: validated batches, personal single-use links, suppression."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar

from survey_service.apikeys.service import create_key
from survey_service.invitations.statuses import InvitationStatus
from tests.helpers import hidden


@pytest.fixture
async def headers(app: Litestar, db: asyncpg.Connection) -> dict[str, str]:
    created = await create_key(
        app.state.db, "crm", ["invitations:write"], ["counter-check", "nps-empathy"]
    )
    return {"Authorization": f"Bearer {created.key}"}


async def test_batch_stores_valid_rows_and_reports_the_rest(
    client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    await db.execute("INSERT INTO suppression (email) VALUES ('gone@example.com')")
    rows: list[dict[str, Any]] = [
        {
            "survey": "counter-check",
            "email": "Ana@Example.com",
            "name": "Ana\r\nBcc: evil@x.com",
            "language": "es",
            "metadata": {"agent": "17", "junk": "dropped"},
        },
        {"survey": "counter-check", "email": "not-an-email"},
        {"survey": "counter-check", "email": "a@b.com\r\nBcc: x@y.com"},
        {"survey": "empathy-csat", "email": "c@example.com"},  # outside the key's surveys
        {"survey": "nps-empathy", "email": "d@example.com", "language": "fr"},
        {"survey": "nps-empathy", "email": "gone@example.com"},
        {"survey": "nps-empathy", "email": "e@example.com", "send_at": "2026-12-01T09:00:00"},
        {"survey": "nps-empathy", "email": "f@example.com", "send_at": "2026-12-01T09:00:00+01:00"},
        {"email": "g@example.com"},
    ]
    response = await client.post("/api/v1/invitations", json=rows, headers=headers)
    assert response.status_code == 207, response.text
    body = response.json()
    assert len(body["created"]) == 2
    rejected = {r["row"]: [e["key"] for e in r["errors"]] for r in body["rejected"]}
    assert rejected == {
        1: ["email"],
        2: ["email"],
        3: ["survey"],
        4: ["language"],
        5: ["email"],
        6: ["send_at"],
        8: ["row"],
    }
    stored = await db.fetch(
        "SELECT email, name, language, metadata, variant, status FROM invitation ORDER BY id"
    )
    assert [r["email"] for r in stored] == ["ana@example.com", "f@example.com"]
    assert stored[0]["name"] == "Ana  Bcc: evil@x.com"  # no line break left to inject a header
    assert stored[0]["metadata"] == '{"agent": "17"}'
    assert stored[0]["variant"] in {"neutral", "warm"}
    assert {r["status"] for r in stored} == {"queued"}


async def test_hostile_rows_are_refused_by_field_never_a_500(
    client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    rows: list[dict[str, Any]] = [
        {"survey": "nps-empathy", "email": "ünï@example.com"},
        {"survey": "nps-empathy", "email": "nul\u0000@example.com"},
        {"survey": "nps-empathy", "email": "a" * 60 + "@" + "b" * 200 + ".com"},
        {"survey": "nps-empathy", "email": "y@example.com", "send_at": "9999-12-31T00:00:00Z"},
        {"survey": "nps-empathy", "email": "z@example.com", "name": "=?utf-8?q?A=0D=0AB?="},
        {"survey": "nps-empathy", "email": "ok@example.com", "name": "Ana\u2028\u202eevil"},
    ]
    response = await client.post("/api/v1/invitations", json=rows, headers=headers)
    assert response.status_code == 207, response.text
    rejected = {
        r["row"]: [(e["key"], e["code"]) for e in r["errors"]] for r in response.json()["rejected"]
    }
    assert rejected == {
        0: [("email", "invalid")],
        1: [("email", "invalid")],
        2: [("email", "too_long")],
        3: [("send_at", "range")],
        4: [("name", "invalid")],
    }
    names = [r["name"] for r in await db.fetch("SELECT name FROM invitation")]
    assert names == ["Ana evil"]  # line separator and bidi override gone


async def test_all_invalid_is_400_and_nothing_is_stored(
    client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    response = await client.post(
        "/api/v1/invitations", json={"survey": "nps-empathy", "email": "x"}, headers=headers
    )
    assert response.status_code == 400
    assert await db.fetchval("SELECT count(*) FROM invitation") == 0
    bad = await client.post(
        "/api/v1/invitations",
        content=b"[{",
        headers={**headers, "content-type": "application/json"},
    )
    assert bad.status_code == 400


async def test_csv_batch_of_ten_thousand(
    client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    lines = ["survey,email,name,agent"] + [
        f"nps-empathy,user{i}@example.com,User {i},a{i % 7}" for i in range(10_000)
    ]
    response = await client.post(
        "/api/v1/invitations",
        content="\n".join(lines).encode(),
        headers={**headers, "content-type": "text/csv"},
    )
    assert response.status_code == 201, response.text[:300]
    assert len(response.json()["created"]) == 10_000
    assert await db.fetchval("SELECT count(DISTINCT token_nonce) FROM invitation") == 10_000
    assert (
        await db.fetchval(
            "SELECT metadata->>'agent' FROM invitation WHERE email = 'user8@example.com'"
        )
        == "a1"
    )


async def test_personal_link_answers_once_with_its_variant(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    created = await client.post(
        "/api/v1/invitations",
        json={
            "survey": "counter-check",
            "email": "p@example.com",
            "language": "es",
            "metadata": {"order_ref": "A-1"},
        },
        headers=headers,
    )
    [invitation_id] = created.json()["created"]
    invitation = (await client.get(f"/api/v1/invitations/{invitation_id}", headers=headers)).json()
    assert invitation["status"] == "queued"
    path = invitation["link"].removeprefix(app.state.settings.base_url)
    page = await client.get(path)
    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    claims = app.state.surveys.signer.verify(hidden(page.text, "token"))
    assert (claims.channel, claims.variant, claims.metadata) == (
        "email",
        invitation["variant"],
        {"order_ref": "A-1"},
    )
    again = await client.get(
        path
    )  # opening twice (a mail scanner, then the customer) spends nothing
    assert await db.fetchval("SELECT count(*) FROM response") == 0
    for understood in ("4", "1"):
        await client.post(
            "/s/counter-check",
            data={
                "token": hidden(again.text, "token"),
                "_csrf_token": hidden(again.text, "_csrf_token"),
                "understood": understood,
                "cared": "yes",
            },
        )
    rows = await db.fetch("SELECT empathy_understood, variant, channel FROM response")
    assert [(r["empathy_understood"], r["variant"], r["channel"]) for r in rows] == [
        (4, invitation["variant"], "email")
    ]


async def test_list_filters_pages_and_scopes(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    rows = [{"survey": "nps-empathy", "email": f"l{i}@example.com"} for i in range(5)]
    rows.append(
        {
            "survey": "counter-check",
            "email": "c@example.com",
            "send_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        }
    )
    await client.post("/api/v1/invitations", json=rows, headers=headers)
    first = (
        await client.get(
            "/api/v1/invitations", params={"survey": "nps-empathy", "limit": "3"}, headers=headers
        )
    ).json()
    rest = (
        await client.get(
            "/api/v1/invitations",
            params={"survey": "nps-empathy", "cursor": str(first[-1]["id"])},
            headers=headers,
        )
    ).json()
    assert [i["email"] for i in first + rest] == [f"l{i}@example.com" for i in range(5)]
    assert (
        await client.get("/api/v1/invitations", params={"status": "nope"}, headers=headers)
    ).status_code == 400
    for status in InvitationStatus:  # every documented status is a valid filter
        listed = await client.get("/api/v1/invitations", params={"status": status}, headers=headers)
        assert listed.status_code == 200, status
    queued = await client.get("/api/v1/invitations", params={"status": "queued"}, headers=headers)
    assert {i["status"] for i in queued.json()} == {"queued"}
    assert len(queued.json()) >= 5
    missing = await client.get("/api/v1/invitations/987654321", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no invitation called '987654321'"
    reader = await create_key(app.state.db, "reader", ["kpis:read"])
    assert (
        await client.get("/api/v1/invitations", headers={"Authorization": f"Bearer {reader.key}"})
    ).status_code == 403
    other = await create_key(app.state.db, "other", ["invitations:write"], ["empathy-csat"])
    one = first[0]["id"]
    assert (
        await client.get(
            f"/api/v1/invitations/{one}", headers={"Authorization": f"Bearer {other.key}"}
        )
    ).status_code == 404
