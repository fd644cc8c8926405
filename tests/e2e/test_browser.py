"""End to end in Debian's headless chromium at a phone viewport, against a real server.

Every shipped form is answered in English and Spanish with JavaScript on and off; axe-core
(shipped inside the axe-playwright-python wheel, injected from disk) checks the form, error
and thank-you pages.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from survey_service.surveys.definitions import QuestionType, SurveyDefinition, decode_definition
from survey_service.surveys.tokens import TokenSigner
from tests.helpers import FORMS, TEST_KEY, start_service

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SHIPPED = {p.stem: p for p in sorted(FORMS.glob("*.toml"))}
ANSWER_TEXT = {"en": "Very kind and patient staff", "es": "Personal muy amable y paciente"}
THANKS_TITLE = {"en": "Thank you!", "es": "¡Gracias!"}


def chromium_path() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(found):
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on CI: .ci/run must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed here (apt-get install chromium)")
    return found


def definition(slug: str) -> SurveyDefinition:
    result = decode_definition(SHIPPED[slug].read_text(encoding="utf-8"))
    assert isinstance(result, SurveyDefinition)
    return result


# Module scope: the server stops (flushing its buffered assignments) before other modules'
# tests start truncating the shared database.
@pytest.fixture(scope="module")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``survey-service serve`` as a real process on 127.0.0.1."""
    env = {
        "DATABASE_URL": database_url,
        "SURVEY_SECRET_KEY": TEST_KEY,
        "SURVEY_FORMS_DIR": str(FORMS),
        "SURVEY_DATA_DIR": str(tmp_path_factory.mktemp("live")),
        "SURVEY_MIN_FILL_SECONDS": "0",
        "SURVEY_SUBMIT_LIMIT_PER_IP": "10000",
        "SURVEY_KIOSK_PIN": "246810",
        # It shares the test database: its background fold must not race the rollup tests.
        "SURVEY_ROLLUP_INTERVAL_SECONDS": "3600",
    }
    log = tmp_path_factory.mktemp("live-log") / "server.log"
    process, base = start_service(env, log)
    yield base
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    executable = chromium_path()
    from playwright.async_api import async_playwright

    playwright = await async_playwright().start()
    instance = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield instance
    await instance.close()
    await playwright.stop()


@pytest.fixture(scope="session")
def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


async def new_page(browser: Any, *, javascript: bool, bypass_csp: bool = False) -> Any:
    context = await browser.new_context(
        viewport=PHONE, java_script_enabled=javascript, bypass_csp=bypass_csp, is_mobile=True
    )
    return await context.new_page()


async def answer_everything(page: Any, d: SurveyDefinition, language: str) -> None:
    for q in d.questions:
        if q.type is QuestionType.TEXT:
            await page.fill(f"#q-{q.id}", ANSWER_TEXT[language])
        else:
            value = {QuestionType.NPS: "9", QuestionType.RATING: "4", QuestionType.YES_NO: "yes"}[
                q.type
            ]
            await page.click(f"label[for='q-{q.id}-{value}']")


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("slug", list(SHIPPED))
async def test_customer_answers_on_a_phone(
    browser: Any,
    live_server: str,
    database_url: str,
    slug: str,
    language: str,
    javascript: bool,
    figures: Callable[[str], None],
) -> None:
    d = definition(slug)
    agent = f"e2e-{slug}-{language}-{javascript}"
    page = await new_page(browser, javascript=javascript)
    response = await page.goto(f"{live_server}/s/{slug}?lang={language}&channel=qr&agent={agent}")
    body = await response.body()
    if javascript:
        figures(f"page weight {slug} ({language}): {len(body)} bytes HTML+CSS, 0 scripts")
    assert len(body) < 20 * 1024
    assert await page.evaluate("document.documentElement.lang") == language
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    token = await page.input_value("input[name=token]")
    variant = TokenSigner(TEST_KEY).verify(token).variant
    await answer_everything(page, d, language)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"**/s/{slug}/thanks?lang={language}")
    assert (await page.text_content("h1")) == THANKS_TITLE[language]
    assert (await page.text_content("p")) == (d.thanks[language] if d.thanks else None)
    await page.context.close()

    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT * FROM response WHERE metadata->>'agent' = $1", agent
        )
    finally:
        await connection.close()
    assert row is not None
    assert (row["variant"], row["channel"], row["language"]) == (variant, "qr", language)
    assert json.loads(row["metadata"]) == {"agent": agent}
    answers = json.loads(row["answers"])
    assert len(answers) == len(d.questions)
    if "comment" in {q.role for q in d.questions}:
        assert row["comment"] == ANSWER_TEXT[language]


async def test_nps_buttons_wrap_and_are_big_enough(browser: Any, live_server: str) -> None:
    page = await new_page(browser, javascript=True)
    await page.goto(f"{live_server}/s/nps-empathy")
    boxes = [await page.locator(f"label[for='q-recommend-{n}']").bounding_box() for n in range(11)]
    assert all(b["width"] >= 44 and b["height"] >= 44 for b in boxes)
    assert boxes[10]["y"] > boxes[0]["y"]  # wrapped onto a second row
    assert max(b["x"] + b["width"] for b in boxes) <= PHONE["width"]
    await page.context.close()


async def test_keyboard_alone_answers_the_form(
    browser: Any, live_server: str, database_url: str
) -> None:
    page = await new_page(browser, javascript=False)
    await page.goto(f"{live_server}/s/nps-empathy?agent=keyboard")
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.name") == "recommend":
            break
    outline = await page.evaluate(
        "getComputedStyle(document.activeElement.nextElementSibling).outlineStyle"
    )
    assert outline == "solid"  # the focused button is visibly marked
    for _ in range(8):
        await page.keyboard.press("ArrowRight")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Quick and kind")
    while await page.evaluate("document.activeElement.tagName") != "BUTTON":
        await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/thanks**")
    await page.context.close()
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT nps, comment FROM response WHERE metadata->>'agent' = 'keyboard'"
        )
    finally:
        await connection.close()
    assert (row["nps"], row["comment"]) == (8, "Quick and kind")


async def run_axe(page: Any, axe_source: str) -> list[dict[str, Any]]:
    await page.add_script_tag(content=axe_source)
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    violations: list[dict[str, Any]] = result["violations"]
    return violations


async def test_accessibility_of_form_error_and_thanks_pages(
    browser: Any, live_server: str, axe_source: str, figures: Callable[[str], None]
) -> None:
    page = await new_page(browser, javascript=True, bypass_csp=True)
    checked: dict[str, list[dict[str, Any]]] = {}
    for slug in SHIPPED:
        for language in ("en", "es"):
            await page.goto(f"{live_server}/s/{slug}?lang={language}")
            checked[f"form {slug} {language}"] = await run_axe(page, axe_source)
    await page.goto(f"{live_server}/s/empathy-csat?lang=es")
    await page.click("button[type=submit]")  # nothing answered: the error page
    assert await page.locator(".err").count() > 1
    checked["error empathy-csat es"] = await run_axe(page, axe_source)
    await page.goto(f"{live_server}/s/nps-empathy")
    await page.click("label[for='q-recommend-10']")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/thanks**")
    checked["thanks nps-empathy en"] = await run_axe(page, axe_source)
    await page.context.close()
    serious: list[str] = []
    for name, violations in checked.items():
        counts = {i: sum(v["impact"] == i for v in violations) for i in ("critical", "serious")}
        minor = len(violations) - sum(counts.values())
        figures(
            f"axe {name}: {counts['critical']} critical, {counts['serious']} serious, {minor} other"
        )
        serious += [
            f"{name}: {v['id']} ({v['impact']})"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
    assert serious == []


async def test_axe_harness_reports_real_violations(browser: Any, axe_source: str) -> None:
    # Proves the check above can fail: an unlabeled input and an image without alt text.
    page = await new_page(browser, javascript=True, bypass_csp=True)
    await page.set_content(
        '<html lang="en"><body><main><img src="x.png"><input></main></body></html>'
    )
    impacts = {v["id"]: v["impact"] for v in await run_axe(page, axe_source)}
    await page.context.close()
    assert impacts.get("image-alt") == "critical"
    assert impacts.get("label") == "critical"


@pytest.mark.parametrize("ec", ["L", "H"])
async def test_svg_rasterised_by_chromium_decodes_to_the_right_form(
    browser: Any, live_server: str, ec: str
) -> None:
    import io

    import zxingcpp
    from PIL import Image

    page = await new_page(browser, javascript=False)
    await page.set_viewport_size({"width": 600, "height": 600})
    await page.goto(f"{live_server}/s/empathy-csat/qr.svg?ec={ec}&scale=6&agent=22&touchpoint=till")
    shot = await page.screenshot()
    await page.context.close()
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert result.text.startswith(f"{live_server}/q/")
    async with httpx.AsyncClient() as client:
        form = await client.get(result.text)
    assert form.status_code == 200
    token = form.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    claims = TokenSigner(TEST_KEY).verify(token)
    assert (claims.channel, claims.metadata) == ("qr", {"agent": "22", "touchpoint": "till"})


@pytest.mark.parametrize("size", ["a4", "a6"])
async def test_poster_prints_on_one_page_and_its_code_scans(
    browser: Any, live_server: str, size: str
) -> None:
    import io
    import re

    import zxingcpp
    from PIL import Image

    page = await new_page(browser, javascript=False)
    await page.set_viewport_size({"width": 500, "height": 760})
    url = f"{live_server}/s/counter-check/poster?size={size}&lang=es&touchpoint=Mostrador%203&agent=Ana"
    await page.goto(url)
    assert (await page.text_content("h1")) == "¿Qué tal le atendimos hoy?"
    assert (await page.text_content(".who")) == "Mostrador 3 · Ana"
    pdf = await page.pdf(prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one clean page
    box = [float(v) for v in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", pdf)[0].split()]
    width_mm = (box[2] - box[0]) / 72 * 25.4
    assert abs(width_mm - {"a4": 210, "a6": 105}[size]) < 1
    shot = await page.screenshot(full_page=True)
    await page.context.close()
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    async with httpx.AsyncClient() as client:
        form = await client.get(result.text)
    token = form.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    claims = TokenSigner(TEST_KEY).verify(token)
    assert (claims.channel, claims.metadata) == (
        "qr",
        {"agent": "Ana", "touchpoint": "Mostrador 3"},
    )
    assert result.text.split("://", 1)[1] in (await client_text(live_server, url))


async def client_text(base: str, url: str) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).text


async def goto(page: Any, url: str) -> None:
    """Open ``url``; the kiosk page refreshes itself every few seconds, and a refresh that
    starts at the same moment aborts the navigation, so try once more (as a person would)."""
    for attempt in range(3):
        try:
            await page.goto(url)
            return
        except Exception:
            if attempt == 2:
                raise


async def scan(page: Any) -> str:
    import io

    import zxingcpp
    from PIL import Image

    # The kiosk page refreshes itself every few seconds; a screenshot taken mid-refresh
    # shows no code, so look again (as a phone camera would).
    for _ in range(5):
        try:
            shot = await page.screenshot(full_page=True)
        except Exception:  # navigation in progress
            shot = b""
        results = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot))) if shot else []
        if results:
            return str(results[0].text)
        await page.wait_for_timeout(300)
    raise AssertionError("no QR code on the kiosk screen")


async def test_kiosk_code_is_single_use_and_rotates(
    browser: Any, live_server: str, database_url: str
) -> None:
    kiosk = await new_page(browser, javascript=False)
    await kiosk.set_viewport_size({"width": 600, "height": 900})
    screen = f"{live_server}/kiosk/counter-check?touchpoint=Kiosk%201"
    await goto(kiosk, screen)
    await kiosk.fill("#pin", "000000")
    await kiosk.click("button[type=submit]")
    assert "Wrong PIN" in await kiosk.content()
    await goto(kiosk, screen)
    await kiosk.fill("#pin", "246810")
    await kiosk.click("button[type=submit]")
    await kiosk.wait_for_selector("svg")
    first = await scan(kiosk)
    await goto(kiosk, screen)  # (the page also refreshes itself every few seconds)
    assert await scan(kiosk) == first  # unchanged until someone answers

    async def open_code(code_url: str) -> Any:
        phone = await new_page(browser, javascript=False)
        await phone.goto(code_url)
        return phone

    phone = await open_code(first)
    other_phone = await open_code(first)  # a photo of the same code
    await phone.click("label[for='q-understood-5']")
    await phone.click("label[for='q-cared-yes']")
    await phone.click("button[type=submit]")
    await phone.wait_for_url("**/thanks**")
    await other_phone.click("label[for='q-understood-1']")
    await other_phone.click("label[for='q-cared-no']")
    await other_phone.click("button[type=submit]")
    assert "This code was already used" in await other_phone.content()
    await phone.goto(first)
    assert "This code was already used" in await phone.content()
    await goto(kiosk, screen)
    second = await scan(kiosk)
    assert second != first  # the display moved on
    for page in (kiosk, phone, other_phone):
        await page.context.close()
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT empathy_understood, channel, metadata FROM response"
            " WHERE metadata->>'touchpoint' = 'Kiosk 1'"
        )
    finally:
        await connection.close()
    assert [(r["empathy_understood"], r["channel"]) for r in rows] == [(5, "qr")]


async def test_kiosk_tablet_form_resets_after_each_answer(
    browser: Any, live_server: str, database_url: str
) -> None:
    tablet = await new_page(browser, javascript=False)
    await tablet.goto(f"{live_server}/kiosk/nps-empathy?location=Lobby")
    await tablet.fill("#pin", "246810")
    await tablet.click("button[type=submit]")
    await tablet.click("a.button")  # "Or answer here on this screen"
    for score in ("9", "3"):
        await tablet.wait_for_selector("label[for='q-recommend-0']")
        assert not await tablet.is_checked(f"#q-recommend-{score}")  # a blank form each time
        await tablet.click(f"label[for='q-recommend-{score}']")
        await tablet.click("button[type=submit]")
        await tablet.wait_for_url("**/kiosk/nps-empathy/thanks**")
        await tablet.wait_for_url("**/kiosk/nps-empathy/form**", timeout=15_000)  # refreshes back
    await tablet.context.close()
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT nps, channel, flags FROM response WHERE metadata->>'location' = 'Lobby' ORDER BY id"
        )
    finally:
        await connection.close()
    assert [(r["nps"], r["channel"], r["flags"]) for r in rows] == [
        (9, "kiosk", []),
        (3, "kiosk", []),
    ]


DASHBOARD_PASSWORD = "a long enough password"


async def dashboard_owner(database_url: str, email: str) -> None:
    """An owner who can sign in to the dashboard with ``DASHBOARD_PASSWORD``."""
    from argon2 import PasswordHasher

    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO app_user (email, role, password_hash) VALUES ($1, 'owner', $2)"
            " ON CONFLICT (email) DO NOTHING",
            email,
            PasswordHasher().hash(DASHBOARD_PASSWORD),
        )
    finally:
        await connection.close()


async def sign_in_at(page: Any, url: str, email: str) -> None:
    """Open ``url`` (the sign-in form shows), sign in, and land back on it."""
    await page.goto(url)
    await page.fill("#email", email)
    await page.fill("#password", DASHBOARD_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(url)


STAFF_SAVED = {"en": "Saved. Thank you.", "es": "Guardado. Gracias."}


async def _staff_unlock(page: Any, base: str, language: str) -> None:
    await page.goto(f"{base}/staff/log?lang={language}")
    if await page.locator("#pin").count():
        await page.fill("#pin", "246810")
        await page.click("button[type=submit]")
    await page.wait_for_selector("#emotion-frustrated", state="attached")


@pytest.mark.parametrize("language", ["en", "es"])
async def test_staff_log_an_interaction_on_a_phone_without_javascript(
    browser: Any, live_server: str, database_url: str, language: str
) -> None:
    page = await new_page(browser, javascript=False)
    await _staff_unlock(page, live_server, language)
    agent = f"agent-{language}"
    await page.click("label[for='emotion-frustrated']")
    await page.click("label[for='actions-listened']")
    await page.click("label[for='actions-acknowledged_feelings']")
    await page.click("label[for='reaction-satisfied']")
    await page.fill("#f-touchpoint", "till 2")
    await page.fill("#f-agent", agent)
    await page.fill("#f-duration", "3")
    await page.click("button[type=submit]")
    await page.wait_for_url("**saved=1")
    assert STAFF_SAVED[language] in await page.content()
    # The next log starts with the place and the person filled in.
    assert await page.input_value("#f-agent") == agent
    assert not await page.is_checked("#emotion-frustrated")
    await page.context.close()
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow("SELECT * FROM interaction WHERE agent = $1", agent)
    finally:
        await connection.close()
    assert row["emotion"] == "frustrated"
    assert list(row["actions"]) == ["listened", "acknowledged_feelings"]
    assert (row["reaction"], row["duration_seconds"], row["touchpoint"]) == (
        "satisfied",
        180,
        "till 2",
    )


async def test_accessibility_of_the_staff_log(
    browser: Any, live_server: str, axe_source: str, figures: Callable[[str], None]
) -> None:
    page = await new_page(browser, javascript=True, bypass_csp=True)
    checked: dict[str, list[dict[str, Any]]] = {}
    await page.goto(f"{live_server}/staff/log?lang=en")
    checked["staff pin"] = await run_axe(page, axe_source)
    for language in ("en", "es"):
        await _staff_unlock(page, live_server, language)
        checked[f"staff log {language}"] = await run_axe(page, axe_source)
    await page.evaluate("document.querySelector('#f-duration').type = 'text'")
    await page.fill("#f-duration", "many")
    await page.click("button[type=submit]")
    assert await page.locator("p.err").count() >= 3  # summary, emotion, reaction, duration
    checked["staff log errors es"] = await run_axe(page, axe_source)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.context.close()
    serious = []
    for name, violations in checked.items():
        figures(f"axe {name}: {len(violations)} violations")
        serious += [
            f"{name}: {v['id']} ({v['impact']})"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
    assert serious == []


async def test_accessibility_of_the_dashboard(
    browser: Any,
    live_server: str,
    database_url: str,
    axe_source: str,
    figures: Callable[[str], None],
) -> None:
    await dashboard_owner(database_url, "axe@example.com")
    checked: dict[str, list[dict[str, Any]]] = {}
    for viewport in (PHONE, {"width": 1280, "height": 900}):
        context = await browser.new_context(viewport=viewport, bypass_csp=True)
        page = await context.new_page()
        await page.goto(f"{live_server}/dashboard")
        checked[f"sign-in {viewport['width']}"] = await run_axe(page, axe_source)
        await sign_in_at(page, f"{live_server}/dashboard", "axe@example.com")
        for name, path in (
            ("overview", "/dashboard"),
            ("survey", "/dashboard/surveys/empathy-csat?every=week"),
            ("comments", "/dashboard/surveys/empathy-csat/comments?show=negative"),
            ("experiment", "/dashboard/experiments/counter-wording"),
            ("account", "/dashboard/account"),
            ("cases", "/dashboard/cases"),
            ("webhooks", "/dashboard/webhooks"),
            ("report", "/dashboard/report"),
            ("live", "/dashboard/live"),
        ):
            await page.goto(live_server + path)
            assert await page.locator("h1").count() == 1, path
            checked[f"{name} {viewport['width']}"] = await run_axe(page, axe_source)
            if viewport is PHONE:
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"] + 1, (path, width)
        await context.close()
    serious = []
    for name, violations in checked.items():
        figures(
            f"axe dashboard {name}: {len(violations)} violations {[(v['id'], v['impact']) for v in violations]}"
        )
        serious += [
            f"{name}: {v['id']} ({v['impact']})"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
    assert serious == []


async def test_the_live_page_shows_new_responses_as_they_arrive(
    browser: Any, live_server: str, database_url: str
) -> None:
    await dashboard_owner(database_url, "live@example.com")
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        await sign_in_at(page, f"{live_server}/dashboard/live", "live@example.com")
        before = await page.locator("#live tbody tr[data-id]").count()
        # A customer answers on their phone while the manager watches.
        phone = await new_page(browser, javascript=False)
        await phone.goto(f"{live_server}/s/nps-empathy?touchpoint=window")
        await phone.click("label[for='q-recommend-4']")
        await phone.click("button[type=submit]")
        await phone.wait_for_url("**/thanks**")
        await phone.context.close()
        for _ in range(150):  # the page's CSP allows no eval: poll from here
            if await page.locator("#live tbody tr[data-id]").count() > before:
                break
            await asyncio.sleep(0.1)
        first = page.locator("#live tbody tr").first
        assert "window" in await first.inner_text()
        assert refused == []  # the script ran under the page's CSP
    finally:
        await context.close()
