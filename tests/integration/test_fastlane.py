"""The fast lane (survey_service.web.fastlane): it answers the four common requests without
Litestar, answers them exactly as Litestar's controllers do, and hands everything else on."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.middleware.csrf import generate_csrf_hash, generate_csrf_token
from litestar.types import Receive, Scope, Send

from survey_service.app import create_app
from survey_service.settings import Settings
from survey_service.web.fastlane import FastLane
from tests.helpers import hidden, outside_a_window_edge, running

FORM = "/s/empathy-csat"
ANSWERS = {"satisfaction": "4", "understood": "5", "cared": "yes", "emotional": "3"}
PER_REQUEST = {"x-request-id", "set-cookie", "content-length"}  # values differ every time


class Passed:
    """Counts the requests the lane hands on to Litestar's router."""

    def __init__(self, lane: FastLane) -> None:
        self.lane, self.inner, self.paths = lane, lane.inner, list[str]()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(f"{scope['method']} {scope['path']}")
        await self.inner(scope, receive, send)


@pytest.fixture
def passed(app: Litestar) -> Iterator[Passed]:
    lane = app.asgi_handler
    assert isinstance(lane, FastLane)
    counter = Passed(lane)
    lane.inner = counter
    yield counter
    lane.inner = counter.inner


@pytest.fixture(scope="module")
async def plain(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second instance on the same database with the fast lane off: Litestar only."""
    app = create_app(msgspec.structs.replace(settings, fast_lane=False))
    assert not isinstance(app.asgi_handler, FastLane)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def _post_form(
    client: httpx.AsyncClient, page: httpx.Response, **fields: str
) -> httpx.Response:
    data = {"token": hidden(page.text, "token"), "_csrf_token": hidden(page.text, "_csrf_token")}
    return await client.post(FORM, data={**data, **fields})


async def test_the_four_common_requests_never_reach_litestar(
    client: httpx.AsyncClient, passed: Passed, db: asyncpg.Connection
) -> None:
    page = await client.get(FORM)
    posted = await _post_form(client, page, **ANSWERS)
    served = await client.get("/api/v1/surveys/nps-empathy", params={"lang": "en"})
    body = {"token": served.json()["token"], "answers": {"recommend": 9}}
    answered = await client.post("/api/v1/surveys/nps-empathy/responses", json=body)
    replayed = await client.post("/api/v1/surveys/nps-empathy/responses", json=body)
    assert [page.status_code, posted.status_code, served.status_code] == [200, 303, 200]
    assert [answered.status_code, replayed.status_code] == [201, 200]
    assert replayed.json() == answered.json()
    assert posted.headers["location"] == "/s/empathy-csat/thanks?lang=en"
    assert passed.paths == []
    stored = await db.fetch("SELECT answers, channel FROM response ORDER BY id")
    assert [(json.loads(r["answers"]), r["channel"]) for r in stored] == [
        ({"satisfaction": 4, "understood": 5, "cared": True, "emotional": 3}, "link"),
        ({"recommend": 9}, "api"),
    ]


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in PER_REQUEST}


def _cookies(response: httpx.Response) -> list[str]:
    """The Set-Cookie lines with their values and dates blanked."""
    lines = response.headers.get_list("set-cookie")
    return sorted(re.sub(r"=[^;]*", "=", line, count=1).split("; expires=")[0] for line in lines)


async def test_both_paths_answer_alike(
    client: httpx.AsyncClient, plain: httpx.AsyncClient, passed: Passed, db: asyncpg.Connection
) -> None:
    fast, slow = await client.get(FORM), await plain.get(FORM)
    assert (fast.status_code, _headers(fast)) == (slow.status_code, _headers(slow))
    assert _cookies(fast) == _cookies(slow)
    assert "content-security-policy" in fast.headers
    assert "x-request-id" in fast.headers

    def blanked(page: httpx.Response) -> str:
        token, csrf = hidden(page.text, "token"), hidden(page.text, "_csrf_token")
        return page.text.replace(token, "TOKEN").replace(csrf, "CSRF")

    assert blanked(fast) == blanked(slow)

    posts = [await _post_form(c, p, **ANSWERS) for c, p in ((client, fast), (plain, slow))]
    assert [p.status_code for p in posts] == [303, 303]
    assert _headers(posts[0]) == _headers(posts[1])
    assert _cookies(posts[0]) == _cookies(posts[1])

    forms = [await c.get("/api/v1/surveys/nps-empathy") for c in (client, plain)]
    assert _headers(forms[0]) == _headers(forms[1])
    first, second = (f.json() for f in forms)
    assert first["survey"] == second["survey"]
    assert first.keys() == second.keys()

    answers = [
        await c.post(
            "/api/v1/surveys/nps-empathy/responses",
            json={"token": f.json()["token"], "answers": {"recommend": 7, "reason": "kind"}},
        )
        for c, f in zip((client, plain), forms, strict=True)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert _headers(answers[0]) == _headers(answers[1])
    shapes = [{k: v for k, v in a.json().items() if k not in ("id", "created_at")} for a in answers]
    assert shapes[0] == shapes[1]
    assert passed.paths == []
    assert await db.fetchval("SELECT count(*) FROM response") == 4


async def test_lane_answers_carry_litestars_route_labels(
    client: httpx.AsyncClient, app: Litestar, passed: Passed
) -> None:
    """Each request the lane answers is timed under the route template Litestar's router
    gives the same request (the metrics and the access log speak of routes, not paths)."""
    requests = [
        ("GET", "/s/{slug}", "200"),
        ("GET", "/api/v1/surveys/{slug}", "200"),
        ("POST", "/api/v1/surveys/{slug}/responses", "201"),
    ]
    registry = app.state.metrics.registry

    def counts() -> list[float]:
        name = "survey_http_request_duration_seconds_count"
        labels = [dict(zip(("method", "route", "status"), r, strict=True)) for r in requests]
        return [registry.get_sample_value(name, label) or 0.0 for label in labels]

    before = counts()
    await client.get(FORM)
    await _json_answer(client, {"recommend": 9})
    assert [after - was for after, was in zip(counts(), before, strict=True)] == [1.0] * 3
    assert passed.paths == []


async def _page(client: httpx.AsyncClient) -> httpx.Response:
    page = await client.get(FORM)
    assert page.status_code == 200
    return page


async def _json_answer(client: httpx.AsyncClient, answers: Any) -> httpx.Response:
    served = await client.get("/api/v1/surveys/nps-empathy")
    return await client.post(
        "/api/v1/surveys/nps-empathy/responses",
        json={"token": served.json()["token"], "answers": answers},
    )


async def test_what_it_does_not_expect_goes_to_litestar(
    client: httpx.AsyncClient, passed: Passed, db: asyncpg.Connection, app: Litestar
) -> None:
    # A link token, this browser's own form again, answers chosen in the link, no survey.
    forged = await client.get(FORM, params={"t": "forged"})
    assert forged.status_code == 400
    assert "link" in forged.text.lower()
    page = await _page(client)
    again = await client.get(FORM)  # the cookie the first visit set: same form again
    nonce = [app.state.surveys.signer.verify(hidden(p.text, "token")).nonce for p in (page, again)]
    assert nonce[0] == nonce[1]
    chosen = await client.get("/s/nps-empathy", params={"recommend": "9"})
    assert chosen.status_code == 200
    assert re.search(r'value="9"[^>]*checked', chosen.text)
    assert (await client.get("/s/no-such-survey")).status_code == 404
    assert passed.paths == [f"GET {FORM}"] * 2 + ["GET /s/nps-empathy", "GET /s/no-such-survey"]
    passed.paths.clear()

    # Posts: a bad CSRF token, answers with an error, a forged token, a repeated field,
    # a body over the form's limit.
    bad_csrf = await _post_form(client, page, **ANSWERS, _csrf_token="0" * 128)
    assert bad_csrf.status_code == 403
    wrong = await _post_form(client, page, **{**ANSWERS, "satisfaction": "9"})
    assert wrong.status_code == 400
    assert 'class="err" role="alert"' in wrong.text
    token = await _post_form(client, page, **ANSWERS, token="forged")
    assert token.status_code == 400
    repeated = await client.post(
        FORM,
        content=f"token={hidden(page.text, 'token')}&_csrf_token={hidden(page.text, '_csrf_token')}"
        "&cared=yes&cared=no",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code == 400
    huge = await _post_form(client, page, **ANSWERS, comment="x" * 40_000)
    assert huge.status_code == 413
    assert len(passed.paths) == 5
    assert set(passed.paths) == {f"POST {FORM}"}
    passed.paths.clear()

    # JSON: not JSON, a wrong type, an unknown question.
    url = "/api/v1/surveys/nps-empathy/responses"
    broken = await client.post(url, content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    typed = await _json_answer(client, {"recommend": [9]})
    unknown = await _json_answer(client, {"nope": 1})
    assert typed.status_code == 400
    assert unknown.status_code == 400
    assert "nope" in unknown.text
    assert passed.paths == [f"POST {url}"] * 3
    assert await db.fetchval("SELECT count(*) FROM response") == 0


async def test_a_used_single_use_form_gets_litestars_page(
    client: httpx.AsyncClient, passed: Passed, app: Litestar
) -> None:
    surveys = app.state.surveys
    info = surveys.survey("empathy-csat")
    claims = surveys.claims(
        info.version_id,
        nonce=b"k" * 16,
        variant=None,
        channel="kiosk",
        language="en",
        metadata={},
    )
    claims = msgspec.structs.replace(claims, single_use=True)
    page = await client.get(FORM)
    fields = {"token": surveys.signer.sign(claims), "_csrf_token": hidden(page.text, "_csrf_token")}
    first = await client.post(FORM, data={**fields, **ANSWERS})
    second = await client.post(FORM, data={**fields, **ANSWERS})
    assert first.status_code == 303
    assert first.headers["location"].startswith("/kiosk/")
    assert second.status_code == 200
    assert "already" in second.text.lower()
    assert passed.paths == [f"POST {FORM}"]


async def test_the_client_limit_counts_a_handed_on_request_once(settings: Settings) -> None:
    app = create_app(msgspec.structs.replace(settings, submit_limit_per_ip=4))
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await outside_a_window_edge()
            served = await c.get("/api/v1/surveys/nps-empathy")  # 1
            token = served.json()["token"]
            url = "/api/v1/surveys/nps-empathy/responses"
            wrong = await c.post(url, json={"token": token, "answers": {"recommend": 11}})  # 2
            right = await c.post(url, json={"token": token, "answers": {"recommend": 10}})  # 3
            fourth = await c.get("/api/v1/surveys/nps-empathy")  # 4
            fifth = await c.get("/api/v1/surveys/nps-empathy")  # 5: over
    assert [served.status_code, wrong.status_code, right.status_code] == [200, 400, 201]
    assert fourth.status_code == 200
    assert fifth.status_code == 429
    assert "retry-after" in fifth.headers


def test_lane_is_off_when_settings_say_so(settings: Settings) -> None:
    on = create_app(settings)
    off = create_app(msgspec.structs.replace(settings, fast_lane=False))
    assert isinstance(on.asgi_handler, FastLane)
    assert not isinstance(off.asgi_handler, FastLane)


def test_lane_csrf_tokens_are_litestars(app: Litestar) -> None:
    """The lane makes and checks CSRF tokens itself (one-shot HMAC); Litestar's middleware
    must accept them when a request is handed on, and the other way round."""
    lane = app.asgi_handler
    assert isinstance(lane, FastLane)
    assert app.csrf_config is not None
    secret = app.csrf_config.secret
    made = lane.new_csrf_token()
    assert len(made) == 128
    assert made[64:] == generate_csrf_hash(made[:64], secret)
    theirs = generate_csrf_token(secret)
    assert lane._csrf_ok(theirs, theirs)
    assert not lane._csrf_ok(theirs, made)
