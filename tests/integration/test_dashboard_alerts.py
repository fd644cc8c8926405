"""The dashboard's follow-up, webhooks, weekly report and live pages."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from litestar import Litestar

from survey_service.dashboard import report_pages
from survey_service.dashboard.weekly import last_week, send_if_due
from tests.helpers import hidden
from tests.integration.test_dashboard import PASSWORD, sign_in
from tests.rows import insert

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
async def owner(app: Litestar, db: asyncpg.Connection) -> AsyncIterator[httpx.AsyncClient]:
    await db.execute("TRUNCATE app_user, webhook_endpoint CASCADE")
    await app.state.accounts.create("owner@example.com", "owner", [], PASSWORD)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await sign_in(c, "owner@example.com")).status_code == 303
        yield c


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    return hidden((await client.get(path)).text, "_csrf_token")


async def test_a_manager_works_through_cases_of_their_survey_only(
    app: Litestar, db: asyncpg.Connection, owner: httpx.AsyncClient
) -> None:
    await insert(db, "nps-empathy", at=NOW, nps=2, comment="Nobody called back")
    await insert(db, "counter-check", at=NOW, understood=1)
    await insert(db, "nps-empathy", at=NOW, nps=10)
    await app.state.alerts.process_events()
    await app.state.accounts.create("desk@example.com", "manager", ["nps-empathy"], PASSWORD)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as desk:
        await sign_in(desk, "desk@example.com")
        page = await desk.get("/dashboard/cases")
        assert page.status_code == 200
        assert "Nobody called back" in page.text
        case_id = int(page.text.split('data-case="')[1].split('"')[0])
        token = hidden(page.text, "_csrf_token")
        moved = await desk.post(
            f"/dashboard/cases/{case_id}",
            data={"status": "resolved", "note": "refund sent", "_csrf_token": token},
        )
        assert moved.status_code == 303
        row = await db.fetchrow("SELECT status, note, updated_by, resolved_at FROM follow_up_case")
        assert (row["status"], row["note"], row["updated_by"]) == (
            "resolved",
            "refund sent",
            "desk@example.com",
        )
        assert row["resolved_at"] is not None
        bad = await desk.post(
            f"/dashboard/cases/{case_id}", data={"status": "gone", "_csrf_token": token}
        )
        assert bad.status_code == 400
        assert "status" in bad.text
        # Webhooks are the owner's: a manager does not even see the page.
        assert (await desk.get("/dashboard/webhooks")).status_code == 404
        assert "Webhooks" not in (await desk.get("/dashboard/cases")).text


async def test_the_owner_manages_webhooks_in_the_dashboard(
    app: Litestar, db: asyncpg.Connection, owner: httpx.AsyncClient
) -> None:
    token = await csrf(owner, "/dashboard/webhooks")
    created = await owner.post(
        "/dashboard/webhooks",
        data={
            "url": "https://hooks.example/in",
            "description": "CRM",
            "event_types": ["response.detractor", "kpi.threshold"],
            "surveys": ["nps-empathy"],
            "_csrf_token": token,
        },
    )
    assert created.status_code == 200
    secret = created.text.split("<code>whsec_")[1].split("</code>")[0]
    stored = await db.fetchrow("SELECT id, secret, event_types FROM webhook_endpoint")
    assert stored["secret"] == "whsec_" + secret
    assert list(stored["event_types"]) == ["kpi.threshold", "response.detractor"]
    listing = await owner.get("/dashboard/webhooks")
    assert secret not in listing.text  # shown once
    rotated = await owner.post(
        f"/dashboard/webhooks/{stored['id']}/rotate", data={"_csrf_token": token}
    )
    assert "whsec_" in rotated.text
    assert secret not in rotated.text
    off = await owner.post(
        f"/dashboard/webhooks/{stored['id']}/disable", data={"_csrf_token": token}
    )
    assert off.status_code == 303
    assert await db.fetchval("SELECT disabled_at IS NOT NULL FROM webhook_endpoint")
    log = await owner.get(f"/dashboard/webhooks/{stored['id']}")
    assert log.status_code == 200
    assert "Nothing sent yet" in log.text
    refused = await owner.post(
        "/dashboard/webhooks",
        data={"url": "javascript:alert(1)", "event_types": ["kpi.threshold"], "_csrf_token": token},
    )
    assert refused.status_code == 400
    assert "url" in refused.text
    gone = await owner.post(
        f"/dashboard/webhooks/{stored['id']}/delete", data={"_csrf_token": token}
    )
    assert gone.status_code == 303
    assert await db.fetchval("SELECT count(*) FROM webhook_endpoint") == 0


async def test_the_weekly_report_goes_out_once_on_monday_morning(
    app: Litestar, db: asyncpg.Connection, owner: httpx.AsyncClient
) -> None:
    monday = last_week(dt.date(2026, 11, 23))  # the week of 16 November
    assert monday == dt.date(2026, 11, 16)
    for i in range(8):
        at = dt.datetime(2026, 11, 17, 10, tzinfo=dt.UTC) + dt.timedelta(hours=i)
        await insert(
            db,
            "counter-check",
            at=at,
            understood=5 - i % 2,
            cared=True,
            agent="ana",
            comment="Lovely" if i else "Rude at the till",
            sentiment=1 if i else -1,
        )
        await insert(
            db,
            "counter-check",
            at=at - dt.timedelta(days=7),
            understood=2,
            cared=False,
            agent="ana",
        )
    from survey_service.reporting.rollups import fold_all

    await fold_all(app.state.db, "UTC")
    sunday_night = dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)
    monday_morning = dt.datetime(2026, 11, 23, 7, 30, tzinfo=dt.UTC)
    dashboard = app.state.dashboard
    assert await send_if_due(app.state.db, dashboard, "http://x", sunday_night) is None
    report = await send_if_due(app.state.db, dashboard, "http://x", monday_morning)
    assert report is not None
    assert (report.start, report.end) == (dt.date(2026, 11, 16), dt.date(2026, 11, 22))
    assert await send_if_due(app.state.db, dashboard, "http://x", monday_morning) is None  # once
    mail = await db.fetchrow("SELECT to_email, subject, body_text, body_html FROM alert_email")
    assert mail["to_email"] == "owner@example.com"
    assert "2026-11-16 to 2026-11-22" in mail["subject"]
    empathy = next(c for c in report.cards if c.metric == "empathy_index")
    assert empathy.change is not None
    assert empathy.change.real
    assert "a real change" in mail["body_text"]
    assert "Rude at the till" in mail["body_text"]
    assert "agent ana" in mail["body_text"]
    assert "<html" in mail["body_html"]
    page = await owner.get(
        "/dashboard/report", params={"week": "2026-11-18"}
    )  # any day: its Monday
    assert page.status_code == 200
    assert "Weekly report: 2026-11-16 to 2026-11-22" in page.text
    assert f'data-value="{empathy.value}"' in page.text
    assert (await owner.get("/dashboard/report", params={"week": "monday"})).status_code == 400


async def test_the_live_page_streams_new_responses(
    app: Litestar, db: asyncpg.Connection, owner: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx's in-process transport hands over a body when it ends: end the stream soon.
    monkeypatch.setattr(report_pages, "STREAM_SECONDS", 2.5)
    await insert(db, "nps-empathy", at=NOW, nps=9, metadata={"touchpoint": "till"})
    page = await owner.get("/dashboard/live")
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="15">' in page.text  # inside <noscript>
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "script-src" not in (await owner.get("/dashboard")).headers["content-security-policy"]
    last = int(page.text.split('data-last="')[1].split('"')[0])
    await insert(db, "nps-empathy", at=NOW, nps=3, metadata={"touchpoint": "door"})
    async with owner.stream("GET", f"/dashboard/live/events?after={last}") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = []
        async for line in stream.aiter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    event = json.loads(lines[-1].removeprefix("data:").strip())
    assert event["nps"] == 3
    assert event["touchpoint"] == "door"
    assert "event: response" in lines
