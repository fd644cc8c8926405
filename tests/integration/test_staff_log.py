"""The staff interaction log page: PIN, CSRF, errors shown in the page, what is stored,
and what the phone remembers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar

from survey_service.app import create_app
from survey_service.settings import Settings
from tests.helpers import hidden


def _with_pin(app: Litestar, settings: Settings, pin: str | None) -> Litestar:
    other = create_app(msgspec.structs.replace(settings, kiosk_pin=pin))
    for name in ("surveys", "db", "limits", "interactions", "accounts"):
        other.state[name] = app.state[name]
    return other


@pytest.fixture
async def staff(
    app: Litestar, settings: Settings, db: asyncpg.Connection
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_with_pin(app, settings, "246810"))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _unlock(client: httpx.AsyncClient) -> str:
    page = await client.get("/staff/log?lang=en")
    assert 'id="pin"' in page.text
    csrf = hidden(page.text, "_csrf_token")
    wrong = await client.post("/staff/log?lang=en", data={"pin": "1", "_csrf_token": csrf})
    assert wrong.status_code == 403
    opened = await client.post("/staff/log?lang=en", data={"pin": "246810", "_csrf_token": csrf})
    assert opened.status_code == 303
    assert opened.headers["location"] == "/staff/log?lang=en"
    return csrf


async def test_staff_accounts_sign_in_without_a_pin(
    app: Litestar, settings: Settings, db: asyncpg.Connection
) -> None:
    await db.execute("TRUNCATE app_user CASCADE")
    await app.state.accounts.create(
        "ana@example.com", "manager", ["counter-check"], "a long enough password"
    )
    transport = httpx.ASGITransport(app=_with_pin(app, settings, None))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/staff/log?lang=es")
        assert page.status_code == 200
        assert 'id="pin"' not in page.text  # kiosks are off: no PIN to offer
        assert "O entra con tu cuenta de personal" in page.text
        csrf = hidden(page.text, "_csrf_token")
        wrong = await client.post(
            "/staff/log?lang=en",
            data={"email": "ana@example.com", "password": "not it at all", "_csrf_token": csrf},
        )
        assert wrong.status_code == 403
        assert "Wrong email or password." in wrong.text
        pin = await client.post("/staff/log", data={"pin": "246810", "_csrf_token": csrf})
        assert pin.status_code == 403  # no PIN is right while kiosks are off
        ok = await client.post(
            "/staff/log?lang=en",
            data={
                "email": "ana@example.com",
                "password": "a long enough password",
                "_csrf_token": csrf,
            },
        )
        assert ok.status_code == 303
        assert "Path=/staff/" in ok.headers["set-cookie"]
        saved = await client.post(
            "/staff/log?lang=en",
            data={"emotion": "sad", "reaction": "calmer", "agent": "ana", "_csrf_token": csrf},
        )
        assert saved.status_code == 303
    assert (
        await db.fetchval("SELECT recorded_by FROM interaction") == "staff page (ana@example.com)"
    )


async def test_staff_log_an_interaction_in_a_few_taps(
    staff: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    csrf = await _unlock(staff)
    form = await staff.get("/staff/log?lang=en")
    assert "How did the customer feel at first?" in form.text
    assert 'value="in_person" checked' in form.text
    data = {
        "_csrf_token": csrf,
        "emotion": "anxious",
        "actions": ["listened", "explained"],
        "reaction": "calmer",
        "channel": "phone",
        "touchpoint": "returns desk",
        "agent": "ana",
        "duration": "4",
        "reference": "ORD-77",
        "note": "worried about a late parcel",
    }
    saved = await staff.post("/staff/log?lang=en", data=data)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/staff/log?lang=en&saved=1"
    row = await db.fetchrow("SELECT * FROM interaction")
    assert (row["emotion"], list(row["actions"]), row["reaction"]) == (
        "anxious",
        ["listened", "explained"],
        "calmer",
    )
    assert (row["channel"], row["touchpoint"], row["agent"]) == ("phone", "returns desk", "ana")
    assert row["duration_seconds"] == 240
    assert row["customer_ref"] == "ORD-77"
    assert row["recorded_by"] == "staff page (ana)"
    again = await staff.get("/staff/log?lang=en&saved=1")
    assert "Saved. Thank you." in again.text
    # The phone remembers where and who, not the customer.
    assert 'value="returns desk"' in again.text
    assert 'value="ana"' in again.text
    assert 'value="phone" checked' in again.text
    assert "ORD-77" not in again.text


async def test_errors_are_shown_in_the_page_and_nothing_is_stored(
    staff: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    csrf = await _unlock(staff)
    data = {
        "_csrf_token": csrf,
        "actions": "hugged",
        "reaction": "calmer",
        "agent": "<script>alert(1)</script>",
        "duration": "ten",
    }
    r = await staff.post("/staff/log?lang=es", data=data)
    assert r.status_code == 400
    assert "Revisa los campos marcados abajo." in r.text
    assert 'id="e-emotion"' in r.text
    assert 'id="e-duration"' in r.text
    assert "<script>alert" not in r.text
    assert "&lt;script&gt;" in r.text  # kept, escaped
    wrong_choice = {**data, "emotion": "furious", "duration": "3", "actions": "listened"}
    r = await staff.post("/staff/log?lang=en", data=wrong_choice)
    assert r.status_code == 400
    assert "Please choose one." in r.text
    assert await db.fetchval("SELECT count(*) FROM interaction") == 0


async def test_posts_need_the_session_and_the_csrf_token(
    staff: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    page = await staff.get("/staff/log")
    csrf = hidden(page.text, "_csrf_token")
    body = {"emotion": "sad", "reaction": "calmer", "_csrf_token": csrf}
    locked = await staff.post("/staff/log", data=body)
    assert locked.status_code == 303  # back to the PIN form
    await _unlock(staff)
    forged = await staff.post("/staff/log", data={"emotion": "sad", "reaction": "calmer"})
    assert forged.status_code == 403
    staff.cookies.set("ss_staff_device", "agent=" + "x" * 5000 + "%0Aevil", path="/staff/")
    page = await staff.get("/staff/log")
    assert page.status_code == 200
    assert "x" * 64 not in page.text
    assert await db.fetchval("SELECT count(*) FROM interaction") == 0
