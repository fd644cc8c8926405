"""The dashboard: sign-in (CSRF, rate limit, generic errors, sessions in the database),
what a manager may see, and every number on a page equal to the KPI API's."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar

from survey_service.apikeys.service import create_key
from survey_service.app import create_app
from survey_service.lib.ratelimit import Limits, MemoryCounter
from survey_service.settings import Settings
from tests.helpers import hidden, outside_a_window_edge
from tests.rows import insert

PASSWORD = "correct horse battery staple"
TODAY = dt.datetime.now(dt.UTC)


@pytest.fixture
async def owner(app: Litestar, db: asyncpg.Connection) -> str:
    await db.execute("TRUNCATE app_user CASCADE")
    user = await app.state.accounts.create("owner@example.com", "owner", [], PASSWORD)
    return str(user.email)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/dashboard/sign-in")
    csrf = hidden(page.text, "_csrf_token")
    return await client.post(
        "/dashboard/sign-in", data={"email": email, "password": password, "_csrf_token": csrf}
    )


@pytest.fixture
async def browser(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_pages_need_a_session_and_sign_in_is_generic(
    browser: httpx.AsyncClient, owner: str, db: asyncpg.Connection
) -> None:
    r = await browser.get("/dashboard/surveys/counter-check?from=2026-01-01")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/dashboard/sign-in?next=")
    wrong = await sign_in(browser, owner, "not the password at all")
    unknown = await sign_in(browser, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 403
    assert "Wrong email or password" in wrong.text
    assert wrong.text.count("Wrong email") == unknown.text.count("Wrong email")
    ok = await sign_in(browser, owner)
    assert ok.status_code == 303
    assert ok.headers["location"] == "/dashboard"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "Path=/dashboard" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    token = browser.cookies.get("ss_session")
    assert token
    stored = await db.fetchval("SELECT token_hash FROM user_session")
    assert stored != token  # only its hash is kept
    page = await browser.get("/dashboard")
    assert page.status_code == 200
    assert "How empathetic were we?" in page.text


async def test_sign_in_refuses_forged_posts_and_open_redirects(
    browser: httpx.AsyncClient, owner: str
) -> None:
    forged = await browser.post("/dashboard/sign-in", data={"email": owner, "password": PASSWORD})
    assert forged.status_code == 403
    page = await browser.get("/dashboard/sign-in?next=https://evil.example/x")
    csrf = hidden(page.text, "_csrf_token")
    r = await browser.post(
        "/dashboard/sign-in?next=//evil.example",
        data={"email": owner, "password": PASSWORD, "_csrf_token": csrf},
    )
    assert r.headers["location"] == "/dashboard"


async def test_sign_in_is_rate_limited(app: Litestar, settings: Settings, owner: str) -> None:
    limited = create_app(msgspec.structs.replace(settings, sign_in_limit=5))
    for name in ("db", "accounts", "reporting"):
        limited.state[name] = app.state[name]
    limited.state.limits = Limits(MemoryCounter(), "a fresh count")
    await outside_a_window_edge()
    transport = httpx.ASGITransport(app=limited)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        codes = [(await sign_in(c, owner, "wrong password!!")).status_code for _ in range(6)]
        assert codes == [403] * 5 + [429]
        assert (await sign_in(c, owner)).status_code == 429  # even the right password, now


async def test_sign_out_and_password_change_end_sessions(
    app: Litestar, owner: str, db: asyncpg.Connection
) -> None:
    clients = []
    for _ in range(2):
        transport = httpx.ASGITransport(app=app)
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        assert (await sign_in(c, owner)).status_code == 303
        clients.append(c)
    first, second = clients
    assert await db.fetchval("SELECT count(*) FROM user_session") == 2
    page = await first.get("/dashboard/account")
    csrf = hidden(page.text, "_csrf_token")
    changed = await first.post(
        "/dashboard/account",
        data={"current": PASSWORD, "new": "an even better passphrase", "_csrf_token": csrf},
    )
    assert changed.status_code == 303
    assert await db.fetchval("SELECT count(*) FROM user_session") == 0
    assert (await second.get("/dashboard")).status_code == 303  # signed out everywhere
    assert (await sign_in(second, owner, "an even better passphrase")).status_code == 303
    page = await second.get("/dashboard")
    csrf = hidden(page.text, "_csrf_token")
    out = await second.post("/dashboard/sign-out", data={"_csrf_token": csrf})
    assert out.status_code == 303
    assert (await second.get("/dashboard")).status_code == 303
    for c in clients:
        await c.aclose()


async def test_a_manager_sees_only_their_surveys(
    app: Litestar, browser: httpx.AsyncClient, db: asyncpg.Connection, owner: str
) -> None:
    await app.state.accounts.create("m@example.com", "manager", ["counter-check"], PASSWORD)
    assert (await sign_in(browser, "m@example.com")).status_code == 303
    assert (await browser.get("/dashboard/surveys/counter-check")).status_code == 200
    hidden_survey = await browser.get("/dashboard/surveys/nps-empathy")
    assert hidden_survey.status_code == 404
    overview = await browser.get("/dashboard")
    assert 'data-survey="counter-check"' in overview.text
    assert 'data-survey="nps-empathy"' not in overview.text
    assert (await browser.get("/dashboard/surveys/nps-empathy/comments")).status_code == 404


def _cards(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-metric="(\w+)" data-value="([^"]*)"', page))


async def test_every_number_equals_the_kpi_api(
    app: Litestar,
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    db: asyncpg.Connection,
    owner: str,
) -> None:
    for i in range(40):
        await insert(
            db,
            "empathy-csat",
            at=TODAY - dt.timedelta(days=i % 20, hours=1),
            agent=f"a{i % 3}",
            csat=1 + i % 5,
            understood=1 + (i * 3) % 5,
            cared=i % 4 != 0,
            comment="Kind and patient" if i % 2 else "Nobody listened",
            sentiment=1 if i % 2 else -1,
            metadata={"touchpoint": "counter" if i % 3 else "phone"},
        )
    from survey_service.reporting.rollups import fold_all

    await fold_all(app.state.db, "UTC")
    key = await create_key(app.state.db, "bi", ["kpis:read"])
    headers = {"Authorization": f"Bearer {key.key}"}
    await sign_in(browser, owner)
    start = (TODAY - dt.timedelta(days=27)).date().isoformat()
    end = TODAY.date().isoformat()
    params = {"from": start, "to": end, "tz": "UTC", "touchpoint": "counter"}
    api = (
        await client.get("/api/v1/surveys/empathy-csat/kpis", params=params, headers=headers)
    ).json()
    page = await browser.get("/dashboard/surveys/empathy-csat", params=params)
    assert page.status_code == 200, page.text
    cards = _cards(page.text)
    for metric in ("csat_top2", "empathy_index", "css"):
        assert float(cards[metric]) == api["kpis"][metric]["value"], metric
        assert f"{api['kpis'][metric]['value']:.1f}" in page.text
    grouped = (
        await client.get(
            "/api/v1/surveys/empathy-csat/kpis",
            params={**params, "group_by": "agent"},
            headers=headers,
        )
    ).json()
    table = page.text.split('data-dimension="agent"')[1].split("</table>")[0]
    for group in grouped["groups"]:
        row = table.split(f'data-key="{group["key"]["agent"]}"')[1].split("</tr>")[0]
        if group["suppressed"]:
            assert "suppressed" in row
        else:
            empathy = group["kpis"]["empathy_index"]["value"]
            assert f'data-metric="empathy_index">{empathy:.1f}<' in row
    overview = await browser.get("/dashboard", params=params)
    business = (await client.get("/api/v1/kpis", params=params, headers=headers)).json()
    assert (
        float(_cards(overview.text)["empathy_index"]) == business["kpis"]["empathy_index"]["value"]
    )
    comments = await browser.get(
        "/dashboard/surveys/empathy-csat/comments", params={**params, "show": "negative"}
    )
    assert "Nobody listened" in comments.text
    assert "Kind and patient" not in comments.text
    exported = await browser.get("/dashboard/surveys/empathy-csat/responses.csv", params=params)
    assert exported.status_code == 200
    assert exported.text.count("\n") - 1 == api["n"]  # a header and one row per response


async def test_bad_filters_are_explained_in_the_page(
    browser: httpx.AsyncClient, owner: str
) -> None:
    await sign_in(browser, owner)
    for params, word in (
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"from": "last week"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"every": "hour"}, "every"),
    ):
        r = await browser.get("/dashboard/surveys/counter-check", params=params)
        assert r.status_code == 400, params
        assert word in r.text
        assert "<html" in r.text
    assert (await browser.get("/dashboard/experiments/nope")).status_code == 404


async def test_the_experiment_page_shows_the_api_results(
    app: Litestar,
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    db: asyncpg.Connection,
    owner: str,
) -> None:
    for i in range(60):
        variant = "warm" if i % 2 else "neutral"
        understood = 5 if variant == "warm" and i % 3 else 3 + i % 2
        await insert(
            db,
            "counter-check",
            at=TODAY - dt.timedelta(hours=i + 1),
            variant=variant,
            understood=understood,
            cared=i % 5 != 0,
        )
    from survey_service.reporting.rollups import fold_all

    await fold_all(app.state.db, "UTC")
    key = await create_key(app.state.db, "bi", ["kpis:read"])
    await sign_in(browser, owner)
    start = (TODAY - dt.timedelta(days=27)).date().isoformat()
    params = {"from": start, "to": TODAY.date().isoformat(), "tz": "UTC"}
    api = (
        await client.get(
            "/api/v1/experiments/counter-wording/results",
            params=params,
            headers={"Authorization": f"Bearer {key.key}"},
        )
    ).json()
    page = await browser.get("/dashboard/experiments/counter-wording", params=params)
    assert page.status_code == 200, page.text
    for variant in api["variants"]:
        mean = variant["metrics"]["empathy_index"]["mean"]
        row = page.text.split(f'<th scope="row">{variant["variant"]}')[1].split("</tr>")[0]
        assert f">{mean:.1f}<" in row
    lift = api["treatments"][0]["metrics"]["empathy_index"]["comparison"]["absolute"]
    assert f"{lift:+.2f}" in page.text
    assert 'aria-labelledby="lifts-t lifts-d"' in page.text
    assert api["treatments"][0]["metrics"]["empathy_index"]["verdict"] in page.text
