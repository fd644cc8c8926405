"""Hostile and malformed input gets a clear 4xx naming what is wrong, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from survey_service.apikeys.service import create_key


@pytest.fixture
async def admin(app: Litestar) -> dict[str, str]:
    created = await create_key(app.state.db, "hostile", ["admin"])
    return {"Authorization": f"Bearer {created.key}"}


DEEP = b"[" * 1000 + b"]" * 1000

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/surveys/counter-check/responses", {"content": DEEP}),
    ("POST", "/api/v1/surveys/counter-check/responses", {"content": b'{"token": "\xff\xfe"}'}),
    ("GET", "/q/%00", {}),
    ("GET", "/api/v1/surveys/counter-check/kpis?from=0001-01-01&to=9999-12-31", {}),
    ("GET", "/api/v1/surveys/counter-check/kpis?agent=%00", {}),
    ("GET", "/api/v1/surveys/counter-check/kpis?version=99999999999999999999", {}),
    ("GET", "/api/v1/surveys/counter-check/responses?cursor=99999999999999999999999", {}),
    ("GET", "/api/v1/invitations/99999999999999999999", {}),
    ("GET", "/api/v1/invitations?cursor=56999628701289111552", {}),
    ("POST", "/api/v1/invitations/bounces", {"json": [{"email": "a\u0000@example.com"}]}),
    ("POST", "/api/v1/experiments/counter-wording/assignments", {"json": {"subject": "a\u0000b"}}),
    (
        "POST",
        "/api/v1/invitations",
        {
            "content": b"survey,email,note\nnps-empathy,a@example.com," + b"x" * 140_000,
            "headers": {"content-type": "text/csv"},
        },
    ),
]


@pytest.mark.parametrize(
    ("method", "url", "extra"), CASES, ids=[f"{m} {u[:60]}" for m, u, _ in CASES]
)
async def test_no_500(
    client: httpx.AsyncClient, admin: dict[str, str], method: str, url: str, extra: dict[str, Any]
) -> None:
    headers = {**admin, **extra.pop("headers", {})}
    response = await client.request(method, url, headers=headers, **extra)
    assert 400 <= response.status_code < 500, response.text


async def test_repeated_group_by_is_kept_not_dropped(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get(
        "/api/v1/surveys/counter-check/kpis?group_by=day&group_by=agent", headers=admin
    )
    assert response.status_code == 200
    assert response.json()["group_by"] == ["day", "agent"]


async def test_unknown_keys_of_a_json_invitation_are_refused_not_dropped(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    row = {"survey": "nps-empathy", "email": "flat@example.com", "agent": "17"}
    response = await client.post("/api/v1/invitations", json=[row], headers=admin)
    assert response.status_code == 400
    [rejected] = response.json()["rejected"]
    assert "agent" in rejected["errors"][0]["message"]


async def test_a_bug_is_a_logged_500_and_a_lost_database_a_503(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The one place errors become answers: a bug is a 500 with its traceback in the log; a
    database that went away is a 503 with Retry-After (it comes back by itself)."""
    from litestar import get

    from survey_service.web.errors import EXCEPTION_HANDLERS

    @get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @get("/gone")
    async def gone() -> None:
        raise ConnectionRefusedError("the database went away")

    app = Litestar(
        [bug, gone],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        logging_config=None,  # keep pytest's log capture in place
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level("ERROR", logger="survey_service.web"):
            broken = await client.get("/bug")
        unavailable = await client.get("/gone")
    assert broken.status_code == 500
    assert "a bug" not in broken.text  # no internals to the client ...
    assert any(
        r.exc_info and "a bug" in str(r.exc_info[1]) for r in caplog.records
    )  # ... in the log
    assert unavailable.status_code == 503
    assert unavailable.headers["retry-after"] == "5"
