"""QR images decoded by a real decoder (zxing-cpp) back to links that open the right form."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import msgspec
import pytest
import zxingcpp
from litestar import Litestar
from PIL import Image

from survey_service.app import create_app
from survey_service.qr.images import clear_cache
from survey_service.qr.links import NEW_LINKS_PER_MINUTE
from survey_service.settings import Settings
from survey_service.surveys.tokens import TokenSigner
from tests.helpers import TEST_KEY, hidden, outside_a_window_edge


def decode_png(body: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(body)))]


async def open_link(client: httpx.AsyncClient, app: Litestar, url: str) -> Any:
    base = app.state.settings.base_url
    assert url.startswith(base + "/q/")
    page = await client.get(url.removeprefix(base))
    assert page.status_code == 200, page.text
    return app.state.surveys.signer.verify(hidden(page.text, "token"))


@pytest.mark.parametrize("ec", ["L", "M", "Q", "H"])
@pytest.mark.parametrize("scale", [2, 5, 12])
async def test_png_decodes_to_a_link_with_the_signed_metadata(
    client: httpx.AsyncClient, app: Litestar, ec: str, scale: int
) -> None:
    client.cookies.clear()
    response = await client.get(
        "/s/counter-check/qr.png",
        params={
            "ec": ec,
            "scale": str(scale),
            "agent": "17",
            "touchpoint": "counter 3",
            "junk": "x",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    [url] = decode_png(response.content)
    assert len(url) < 45  # a short link, not a token: the code stays a low QR version
    assert int(response.headers["x-qr-version"]) <= 5
    claims = await open_link(client, app, url)
    assert claims.channel == "qr"
    assert claims.metadata == {"agent": "17", "touchpoint": "counter 3"}


@pytest.mark.parametrize(
    ("fg", "bg"), [("#1a237e", "#ffffff"), ("#000000", "#fff59d"), ("#4a148c", "#e0f7fa")]
)
async def test_colours_with_enough_contrast_decode(
    client: httpx.AsyncClient, fg: str, bg: str
) -> None:
    response = await client.get(
        "/s/nps-empathy/qr.png", params={"fg": fg, "bg": bg, "location": "Centro"}
    )
    assert response.status_code == 200
    assert len(decode_png(response.content)) == 1


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"scale": "1"}, "scale"),
        ({"scale": "41"}, "scale"),
        ({"scale": "big"}, "scale"),
        ({"border": "1"}, "border"),
        ({"ec": "X"}, "ec"),
        ({"fg": "red"}, "fg"),
        ({"fg": "#cccccc"}, "fg"),  # too light to scan
        ({"fg": "#ffffff", "bg": "#000000"}, "fg"),  # inverted
    ],
)
async def test_unreadable_or_bad_options_are_400(
    client: httpx.AsyncClient, params: dict[str, str], key: str
) -> None:
    response = await client.get("/s/counter-check/qr.svg", params=params)
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == key


async def test_images_are_deterministic_cached_and_revalidated(client: httpx.AsyncClient) -> None:
    params = {"agent": "5", "ec": "Q"}
    first = await client.get("/s/empathy-csat/qr.svg", params=params)
    clear_cache()  # drawn afresh, byte for byte the same: the ETag stays valid
    second = await client.get("/s/empathy-csat/qr.svg", params=params)
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    assert "immutable" in first.headers["cache-control"]
    assert "set-cookie" not in first.headers
    again = await client.get(
        "/s/empathy-csat/qr.svg", params=params, headers={"If-None-Match": first.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")
    other = await client.get("/s/empathy-csat/qr.svg", params={"agent": "6", "ec": "Q"})
    assert other.content != first.content


async def test_unknown_links_and_surveys(client: httpx.AsyncClient) -> None:
    assert (await client.get("/q/NOSUCHCODE00")).status_code == 404
    assert (await client.get("/s/no-such/qr.png")).status_code == 404


async def test_answers_through_a_plain_counter_code_are_low_trust(
    client: httpx.AsyncClient, app: Litestar, db: Any
) -> None:
    image = await client.get("/s/nps-empathy/qr.png", params={"touchpoint": "till 2"})
    [url] = decode_png(image.content)
    page = await client.get(url.removeprefix(app.state.settings.base_url))
    posted = await client.post(
        "/s/nps-empathy",
        data={
            "token": hidden(page.text, "token"),
            "_csrf_token": hidden(page.text, "_csrf_token"),
            "recommend": "8",
        },
    )
    assert posted.status_code == 303
    flags = await db.fetchval("SELECT flags FROM response")
    assert "low_trust" in flags


@pytest.fixture
def kiosk_app(app: Litestar, settings: Settings) -> Litestar:
    """The app with kiosks on (PIN 246810), sharing the running app's services."""
    return with_pin(app, settings, "246810")


def with_pin(app: Litestar, settings: Settings, pin: str) -> Litestar:
    other = create_app(msgspec.structs.replace(settings, kiosk_pin=pin))
    for name in ("surveys", "links", "db", "limits"):
        other.state[name] = app.state[name]
    return other


async def test_kiosk_unlock_is_safe_and_ends_with_a_pin_change(
    kiosk_app: Litestar, app: Litestar, settings: Settings
) -> None:
    transport = httpx.ASGITransport(app=kiosk_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/kiosk/counter-check?touchpoint=desk")
        csrf = hidden(page.text, "_csrf_token")
        wrong = await client.post(
            "/kiosk/counter-check?touchpoint=desk", data={"pin": "000000", "_csrf_token": csrf}
        )
        assert wrong.status_code == 403
        assert 'id="pin"' in wrong.text  # the PIN form again, with the reason
        unlocked = await client.post(
            "/kiosk/counter-check?touchpoint=desk",
            data={"pin": "246810", "_csrf_token": csrf},
            headers={"host": "evil.example"},
        )
        assert unlocked.status_code == 303
        assert unlocked.headers["location"] == "/kiosk/counter-check?touchpoint=desk"
        screen = await client.get("/kiosk/counter-check?touchpoint=desk")
        assert "<svg" in screen.text
        cookies = dict(client.cookies)
    changed = with_pin(app, settings, "135791")
    transport = httpx.ASGITransport(app=changed)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", cookies=cookies
    ) as client:
        screen = await client.get("/kiosk/counter-check?touchpoint=desk")
        assert 'id="pin"' in screen.text  # the old session ended with the old PIN


async def test_anonymous_callers_cannot_fill_the_short_link_table(app: Litestar, db: Any) -> None:
    await outside_a_window_edge()
    transport = httpx.ASGITransport(app=app, client=("10.5.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        statuses = [
            (await client.get("/s/nps-empathy/qr.svg", params={"agent": f"a{i}"})).status_code
            for i in range(NEW_LINKS_PER_MINUTE + 2)
        ]
        known = await client.get("/s/nps-empathy/qr.svg", params={"agent": "a0"})
    assert statuses == [200] * NEW_LINKS_PER_MINUTE + [429, 429]
    assert await db.fetchval("SELECT count(*) FROM short_link") == NEW_LINKS_PER_MINUTE
    assert known.status_code == 200  # codes already made still answer


async def test_large_codes_are_drawn_off_the_event_loop(app: Litestar) -> None:
    """Anyone may ask for a 40-pixel, error-correction-H PNG (over 100 ms of CPU each): while
    six are being drawn, the service still answers at once."""
    transport = httpx.ASGITransport(app=app, client=("10.4.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for i in range(6):  # the short links exist: what is left is drawing
            small = {"scale": "2", "agent": f"big{i}", "location": "x" * 60}
            assert (await client.get("/s/nps-empathy/qr.png", params=small)).status_code == 200
        heavy = [
            asyncio.create_task(
                client.get(
                    "/s/nps-empathy/qr.png",
                    params={"scale": "40", "ec": "H", "agent": f"big{i}", "location": "x" * 60},
                )
            )
            for i in range(6)
        ]
        await asyncio.sleep(0.01)
        live = await client.get("/health/live")
        still_drawing = sum(not task.done() for task in heavy)
        images = await asyncio.gather(*heavy)
    assert live.status_code == 200
    assert still_drawing >= 3
    assert all(image.status_code == 200 for image in images)


async def test_metadata_loses_line_and_direction_tricks(client: httpx.AsyncClient) -> None:
    """Link metadata with a line or paragraph separator or NEL is dropped; bidirectional
    overrides are removed (README: values with line breaks are dropped, not truncated)."""
    page = await client.get(
        "/api/v1/surveys/counter-check",
        params={"touchpoint": "desk\u20281", "agent": "a\u0085b", "location": "\u202eshop"},
    )
    assert page.status_code == 200
    token = page.json()["token"]
    assert TokenSigner(TEST_KEY).verify(token).metadata == {"location": "shop"}
