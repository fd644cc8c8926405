"""The phone form pages, driven over HTTP in-process against the real database."""

from __future__ import annotations

import json
import re
import time
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
from survey_service.surveys.tokens import FormClaims
from tests.helpers import TEST_KEY, hidden, outside_a_window_edge

PAGE_BUDGET = 20 * 1024


def claims_of(app: Litestar, token: str) -> FormClaims:
    service: SurveyService = app.state.surveys
    return service.signer.verify(token)


async def open_form(client: httpx.AsyncClient, url: str, **headers: str) -> tuple[str, str, str]:
    """GET a form page; return (html, form token, csrf token)."""
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.text, hidden(response.text, "token"), hidden(response.text, "_csrf_token")


async def post_form(
    client: httpx.AsyncClient, slug: str, token: str, csrf: str, **fields: str
) -> httpx.Response:
    return await client.post(
        f"/s/{slug}", data={"token": token, "_csrf_token": csrf, **fields}, follow_redirects=False
    )


def aged(app: Litestar, token: str, seconds: int) -> str:
    """The same token re-signed as if served ``seconds`` ago (to pass the fill-time check)."""
    service: SurveyService = app.state.surveys
    claims = service.signer.verify(token)
    return service.signer.sign(
        msgspec.structs.replace(claims, issued_at=claims.issued_at - seconds)
    )


async def test_form_page_shows_every_question_and_is_small(client: httpx.AsyncClient) -> None:
    response = await client.get("/s/empathy-csat", headers={"Accept-Language": "es-ES,es;q=0.9"})
    page = response.text
    assert response.status_code == 200
    assert '<html lang="es">' in page
    assert page.count("<fieldset") == 4  # csat, understood, cared, emotional
    assert page.count('type="radio"') == 5 + 5 + 2 + 5
    assert 'maxlength="1000"' in page
    assert "Enviar" in page
    assert 'hreflang="en"' in page  # the language switch
    assert "<script" not in page
    assert len(response.content) < PAGE_BUDGET
    nps_page = (await client.get("/s/nps-empathy")).text
    assert len(re.findall(r'name="recommend" value="\d+"', nps_page)) == 11


async def test_security_headers_on_pages_and_api(client: httpx.AsyncClient) -> None:
    for url in ("/s/counter-check", "/api/v1/surveys/counter-check", "/s/nope"):
        response = await client.get(url)
        csp = response.headers["content-security-policy"]
        assert "script-src" not in csp  # default-src 'none' forbids every script
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


async def test_inline_style_matches_its_csp_hash(client: httpx.AsyncClient) -> None:
    import base64
    import hashlib

    response = await client.get("/s/counter-check")
    css = re.search(r"<style>(.*?)</style>", response.text, re.S)
    assert css
    digest = base64.b64encode(hashlib.sha256(css.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["content-security-policy"]


async def test_language_choice_order(client: httpx.AsyncClient) -> None:
    page, _, _ = await open_form(client, "/s/counter-check?lang=es", **{"Accept-Language": "en"})
    assert '<html lang="es">' in page
    client.cookies.clear()  # a reload would keep the language of the form it reloads
    page, _, _ = await open_form(client, "/s/counter-check", **{"Accept-Language": "es"})
    assert '<html lang="es">' in page
    client.cookies.clear()
    page, _, _ = await open_form(client, "/s/counter-check", **{"Accept-Language": "de"})
    assert '<html lang="en">' in page


async def test_submission_stores_what_the_token_says_and_redirects(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _page, token, csrf = await open_form(
        client, "/s/counter-check?lang=es&channel=qr&agent=17&location=Centro&evil=1"
    )
    variant = claims_of(app, token).variant
    response = await post_form(
        client,
        "counter-check",
        aged(app, token, 5),
        csrf,
        understood="5",
        cared="yes",
        comment="Me escucharon",
        variant="forged",
        agent="99",
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/s/counter-check/thanks?lang=es"
    row = await db.fetchrow("SELECT * FROM response")
    assert row["variant"] == variant
    assert row["channel"] == "qr"
    assert row["language"] == "es"
    assert json.loads(row["metadata"]) == {"agent": "17", "location": "Centro"}
    assert (row["empathy_understood"], row["empathy_cared"], row["comment"]) == (
        5,
        True,
        "Me escucharon",
    )
    assert row["flags"] == ["low_trust"]  # a multi-use QR link: anyone with a photo can answer
    assert re.fullmatch(r"[0-9a-f]{32}", row["client_hash"])
    assert "127.0.0.1" not in json.dumps({k: str(v) for k, v in row.items()})
    thanks = await client.get(response.headers["location"])
    assert "¡Gracias!" in thanks.text


async def test_variant_wording_is_rendered(app: Litestar, client: httpx.AsyncClient) -> None:
    seen: dict[str, str] = {}
    for _ in range(40):
        client.cookies.clear()
        page, token, _ = await open_form(client, "/s/counter-check?lang=en")
        variant = claims_of(app, token).variant
        assert variant is not None
        first_legend = re.search(r"<legend>(.*?)<", page)
        assert first_legend
        seen[variant] = first_legend.group(1)
        if len(seen) == 2:
            break
    assert seen["warm"] == "Did you feel we really understood what you needed today?"
    assert seen["neutral"] == "How well did our team member understand your needs?"


async def test_reload_keeps_variant_and_counts_one_assignment(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, first, _ = await open_form(client, "/s/counter-check?agent=3")
    _, again, _ = await open_form(client, "/s/counter-check?agent=3")
    _, spanish, _ = await open_form(client, "/s/counter-check?agent=3&lang=es")
    a, b, c = (claims_of(app, t) for t in (first, again, spanish))
    assert a.nonce == b.nonce == c.nonce
    assert a.variant == b.variant == c.variant
    assert c.language == "es"
    _, other_link, _ = await open_form(client, "/s/counter-check?agent=4")
    assert claims_of(app, other_link).nonce != a.nonce
    await app.state.surveys.recorder.flush()
    assert await db.fetchval("SELECT count(*) FROM assignment") == 2


async def test_link_carrying_an_assignment_uses_it(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    served = (await client.get("/api/v1/surveys/counter-check?channel=email&agent=8")).json()
    client.cookies.clear()
    page, token, _ = await open_form(client, f"/s/counter-check?t={served['token']}&lang=es")
    claims = claims_of(app, token)
    original = claims_of(app, served["token"])
    assert (claims.nonce, claims.variant, claims.channel, claims.metadata) == (
        original.nonce,
        original.variant,
        "email",
        {"agent": "8"},
    )
    assert '<html lang="es">' in page
    await app.state.surveys.recorder.flush()
    assert await db.fetchval("SELECT count(*) FROM assignment") == 1


async def test_errors_rerender_with_answers_kept_and_nothing_stored(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, token, csrf = await open_form(client, "/s/nps-empathy?lang=es")
    response = await post_form(
        client, "nps-empathy", token, csrf, reason="Buen trato", influence="9"
    )
    assert response.status_code == 400
    page = response.text
    assert '<p class="err" id="e-recommend">Por favor, responda a esta pregunta.</p>' in page
    assert '<p class="err" id="e-influence">Por favor, elija una de las opciones.</p>' in page
    assert ">Buen trato</textarea>" in page
    assert hidden(page, "token") == token
    assert await db.fetchval("SELECT count(*) FROM response") == 0


async def test_overlong_comment_is_refused_by_the_server(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, token, csrf = await open_form(client, "/s/counter-check")
    response = await post_form(
        client, "counter-check", token, csrf, understood="4", cared="no", comment="x" * 501
    )
    assert response.status_code == 400
    assert "Please keep your answer to 500 characters." in response.text
    assert await db.fetchval("SELECT count(*) FROM response") == 0


async def test_second_submission_shows_thanks_and_stores_nothing(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, token, csrf = await open_form(client, "/s/nps-empathy")
    first = await post_form(client, "nps-empathy", token, csrf, recommend="10")
    second = await post_form(client, "nps-empathy", token, csrf, recommend="0")
    assert first.status_code == second.status_code == 303
    assert second.headers["location"].startswith("/s/nps-empathy/thanks")
    assert await db.fetchval("SELECT array_agg(nps) FROM response") == [10]


async def test_submission_clears_the_sticky_form(app: Litestar, client: httpx.AsyncClient) -> None:
    _, token, csrf = await open_form(client, "/s/nps-empathy")
    await post_form(client, "nps-empathy", token, csrf, recommend="7")
    _, next_token, _ = await open_form(client, "/s/nps-empathy")
    assert claims_of(app, next_token).nonce != claims_of(app, token).nonce


async def test_suspect_submissions_are_stored_flagged(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, token, csrf = await open_form(client, "/s/nps-empathy")
    await post_form(client, "nps-empathy", token, csrf, recommend="9")  # immediately
    client.cookies.pop("ss_nps_empathy", None)
    _, token, csrf = await open_form(client, "/s/nps-empathy")
    await post_form(client, "nps-empathy", aged(app, token, 30), csrf, recommend="9", website="x")
    flags = [r["flags"] for r in await db.fetch("SELECT flags FROM response ORDER BY id")]
    assert flags == [["too_fast"], ["honeypot"]]


async def test_expired_token_gets_a_friendly_page_with_a_fresh_form(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    service: SurveyService = app.state.surveys
    _, token, csrf = await open_form(client, "/s/counter-check?lang=es")
    claims = service.signer.verify(token)
    expired = service.signer.sign(msgspec.structs.replace(claims, expires_at=int(time.time()) - 1))
    response = await post_form(
        client,
        "counter-check",
        expired,
        csrf,
        understood="3",
        cared="yes",
        **{"Accept-Language": "es"},
    )
    assert response.status_code == 410
    assert "caducado" in response.text or "expired" in response.text
    assert 'href="/s/counter-check"' in response.text
    page = await client.get(f"/s/counter-check?t={expired}&lang=es")
    assert page.status_code == 410
    assert "Este formulario ha caducado" in page.text
    assert 'href="/s/counter-check?lang=es"' in page.text
    assert await db.fetchval("SELECT count(*) FROM response") == 0


async def test_forged_token_gets_an_invalid_link_page(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, token, csrf = await open_form(client, "/s/nps-empathy")
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = await post_form(client, "nps-empathy", forged, csrf, recommend="10")
    assert response.status_code == 400
    assert "This link does not work" in response.text
    page = await client.get(f"/s/nps-empathy?t={forged}")
    assert page.status_code == 400
    assert await db.fetchval("SELECT count(*) FROM response") == 0


async def test_missing_csrf_is_refused_with_a_page(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, token, _ = await open_form(client, "/s/nps-empathy")
    response = await client.post("/s/nps-empathy", data={"token": token, "recommend": "9"})
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "Please reload the form" in response.text
    assert await db.fetchval("SELECT count(*) FROM response") == 0


async def test_unknown_survey_page_is_404_html(client: httpx.AsyncClient) -> None:
    response = await client.get("/s/no-such-survey", headers={"Accept-Language": "es"})
    assert response.status_code == 404
    assert "Encuesta no encontrada" in response.text


async def test_huge_form_body_is_413_page(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    _, token, csrf = await open_form(client, "/s/nps-empathy")
    response = await post_form(
        client, "nps-empathy", token, csrf, recommend="9", reason="x" * 40_000
    )
    assert response.status_code == 413
    assert "That was too long" in response.text
    assert await db.fetchval("SELECT count(*) FROM response") == 0


@pytest.fixture
def limited_app(app: Litestar, settings: Settings) -> Litestar:
    """A second app with tight submission limits, sharing the running app's services."""
    strict = msgspec.structs.replace(settings, submit_limit_per_ip=3, submit_limit_per_survey=5)
    other = create_app(strict)
    shared: SurveyService = app.state.surveys
    other.state.limits = Limits(MemoryCounter(), TEST_KEY)
    other.state.surveys = SurveyService(
        shared.db,
        shared.catalog,
        shared.signer,
        shared.recorder,
        other.state.limits,
        token_ttl_seconds=shared.token_ttl_seconds,
        base_url=shared.base_url,
        client_secret=TEST_KEY,
        submit_limit_per_survey=5,
    )
    other.state.db = app.state.db
    return other


async def post_from(app: Litestar, address: str, slug: str, recommend: str = "8") -> int:
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        _, token, csrf = await open_form(client, f"/s/{slug}")
        response = await post_form(client, slug, token, csrf, recommend=recommend)
        return response.status_code


async def test_answers_with_errors_do_not_use_up_the_survey_limit(
    limited_app: Litestar, db: asyncpg.Connection
) -> None:
    """The survey's limit counts answers it would store: five rejected ones (a score out of
    range, from five clients) leave all five of the minute's answers to real customers."""
    await outside_a_window_edge()
    rejected = [await post_from(limited_app, f"10.0.3.{i}", "nps-empathy", "11") for i in range(5)]
    assert rejected == [400] * 5
    answered = [await post_from(limited_app, f"10.0.4.{i}", "nps-empathy") for i in range(6)]
    assert answered == [303] * 5 + [429]


async def test_rate_limits_per_client_and_per_survey(
    limited_app: Litestar, db: asyncpg.Connection
) -> None:
    await outside_a_window_edge()
    statuses: list[Any] = [
        await post_from(limited_app, "10.0.0.1", "nps-empathy") for _ in range(4)
    ]
    assert statuses == [303, 303, 303, 429]
    # Another client may still answer, until the survey's own limit (5 a minute) is reached.
    statuses = [await post_from(limited_app, f"10.0.1.{i}", "nps-empathy") for i in range(3)]
    assert statuses == [303, 303, 429]
    assert await post_from(limited_app, "10.0.2.1", "empathy-csat") != 429
    assert await db.fetchval("SELECT count(*) FROM response") == 5


async def test_junk_posts_never_lock_a_survey_for_real_customers(
    limited_app: Litestar, db: asyncpg.Connection
) -> None:
    """Posts without a CSRF token or with a forged token are refused before they count
    against the survey's limit (each address still has its own)."""
    for i in range(12):
        transport = httpx.ASGITransport(app=limited_app, client=(f"10.9.0.{i}", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            junk = await c.post("/s/nps-empathy", data={"token": "x", "recommend": "9"})
            assert junk.status_code == 403
            _, _, csrf = await open_form(c, "/s/nps-empathy")
            forged = await post_form(c, "nps-empathy", "1.a.b.c", csrf, recommend="9")
            assert forged.status_code == 400
    assert await post_from(limited_app, "10.9.1.1", "nps-empathy") == 303


async def test_429_says_when_to_come_back(limited_app: Litestar) -> None:
    statuses = [await post_from(limited_app, "10.8.0.1", "empathy-csat") for _ in range(4)]
    assert statuses[-1] == 429
    transport = httpx.ASGITransport(app=limited_app, client=("10.8.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        busy = await client.post("/s/empathy-csat", data={})
    assert busy.status_code == 429
    assert 0 < int(busy.headers["retry-after"]) <= 60
    assert "default-src 'none'" in busy.headers["content-security-policy"]


async def test_forwarded_for_lines_a_client_adds_are_not_believed(
    limited_app: Litestar, settings: Settings, db: asyncpg.Connection
) -> None:
    """Behind a trusted proxy that appends its own X-Forwarded-For line (HAProxy), a line
    the client sent first does not make it a new client each time."""
    await outside_a_window_edge()
    proxied = create_app(
        msgspec.structs.replace(settings, submit_limit_per_ip=3, trusted_proxies="10.7.0.1")
    )
    proxied.state.surveys = limited_app.state.surveys
    proxied.state.db = limited_app.state.db
    proxied.state.limits = Limits(MemoryCounter(), TEST_KEY)
    statuses = []
    for i in range(5):
        transport = httpx.ASGITransport(app=proxied, client=("10.7.0.1", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = [("x-forwarded-for", f"198.51.100.{i}"), ("x-forwarded-for", "203.0.113.9")]
            _, token, csrf = await open_form(client, "/s/counter-check")
            response = await client.post(
                "/s/counter-check",
                data={"token": token, "_csrf_token": csrf, "understood": "4", "cared": "yes"},
                headers=headers,
            )
            statuses.append(response.status_code)
    assert statuses == [303, 303, 303, 429, 429]


async def test_user_text_is_escaped_in_pages(client: httpx.AsyncClient) -> None:
    _, token, csrf = await open_form(client, "/s/counter-check")
    response = await post_form(
        client,
        "counter-check",
        token,
        csrf,
        understood="9",
        comment="</textarea><script>x</script>",
    )
    assert response.status_code == 400
    assert "<script>x" not in response.text
    assert "&lt;/textarea&gt;&lt;script&gt;x" in response.text
    poster = await client.get(
        "/s/counter-check/poster", params={"agent": '"><img src=x onerror=1>'}
    )
    assert "<img src=x" not in poster.text
    assert "&#34;&gt;&lt;img src=x onerror=1&gt;" in poster.text


async def test_a_blank_form_is_the_page_jinja_renders_with_this_visits_tokens(
    app: Litestar,
) -> None:
    """First visits get the page rendered once per version, language and variant, with
    this visit's form token and CSRF token put in: exactly what rendering it afresh gives."""
    from survey_service.lib.templates import environment
    from survey_service.web.pages import _form_context

    pages = []
    for _ in range(2):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            page = await c.get("/s/empathy-csat", headers={"Accept-Language": "es"})
            pages.append((page, c.cookies["ss_csrf"], c.cookies["ss_empathy_csat"]))
    assert len({(csrf, token) for _, csrf, token in pages}) == 2
    for page, csrf, token in pages:
        assert hidden(page.text, "token") == token
        assert hidden(page.text, "_csrf_token") == csrf
        claims = app.state.surveys.signer.verify(token)
        version = await app.state.surveys.catalog.version(claims.survey_version_id)
        view = app.state.surveys.view(version, claims)
        csrf_input = f'<input type="hidden" name="_csrf_token" value="{csrf}" />'
        context = {**_form_context(view, token, {}, {}), "csrf_input": csrf_input}
        assert page.text == environment().get_template("form.html").render(context)
        assert page.headers["cache-control"] == "no-store"


async def test_a_form_is_localized_once_per_version_language_and_variant(app: Litestar) -> None:
    """The served view is kept per version, language and variant, never mixed up: each is
    what localizing afresh gives, and the cache stays bounded."""
    from survey_service.surveys import serving

    surveys: SurveyService = app.state.surveys
    version = surveys.survey("counter-check")
    seen = {}
    for language in ("en", "es"):
        for variant in ("warm", "neutral"):
            claims = surveys.claims(
                version.version_id,
                nonce=b"n" * 16,
                variant=variant,
                channel="link",
                language=language,
                metadata={},
            )
            view = surveys.view(version, claims)
            fresh = serving.localize(version.definition, version.version, language, variant)
            assert view == fresh
            assert surveys.view(version, claims) is view  # kept, not rebuilt
            seen[language, variant] = msgspec.json.encode(view)
    assert len(set(seen.values())) == 4  # every language and wording differs
    for n in range(serving.MAX_VIEWS + 5):
        surveys.view(msgspec.structs.replace(version, version_id=10_000 + n), claims)
    assert len(surveys._views) <= serving.MAX_VIEWS
