"""Responses export (JSON pages, CSV) and key-driver analysis."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import AsyncIterator

import asyncpg
import httpx
import numpy as np
import pytest
from litestar import Litestar
from scipy import stats as scipy_stats

from survey_service.apikeys.service import create_key
from survey_service.reporting.exports import neutralise
from tests.rows import T0, insert


@pytest.fixture
async def headers(app: Litestar, db: asyncpg.Connection) -> AsyncIterator[dict[str, str]]:
    created = await create_key(app.state.db, "export", ["responses:read", "kpis:read"])
    return {"Authorization": f"Bearer {created.key}"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("fine", "fine"),
        ("a=b", "a=b"),
    ],
)
def test_neutralise(value: str, expected: str) -> None:
    assert neutralise(value) == expected


async def test_json_pages_walk_every_response_once(
    client: httpx.AsyncClient, db: asyncpg.Connection, headers: dict[str, str]
) -> None:
    for i in range(23):
        await insert(db, "nps-empathy", at=T0 + dt.timedelta(minutes=i), nps=i % 11, flagged=i == 5)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        body = (
            await client.get(
                "/api/v1/surveys/nps-empathy/responses", params=params, headers=headers
            )
        ).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert seen == sorted(seen)
    unflagged = await client.get(
        "/api/v1/surveys/nps-empathy/responses",
        params={"include_flagged": "false", "limit": "100"},
        headers=headers,
    )
    assert len(unflagged.json()["items"]) == 22
    bad = await client.get(
        "/api/v1/surveys/nps-empathy/responses", params={"cursor": "x"}, headers=headers
    )
    assert (bad.status_code, bad.json()["extra"][0]["key"]) == (400, "cursor")


async def test_csv_is_streamed_neutralised_and_optionally_with_bom(
    client: httpx.AsyncClient, db: asyncpg.Connection, headers: dict[str, str]
) -> None:
    survey_id, version_id = await db.fetchrow(
        "SELECT id, current_version_id FROM survey WHERE slug = 'counter-check'"
    )
    await db.executemany(
        "INSERT INTO response (survey_id, survey_version_id, token_nonce, channel, language, metadata,"
        " answers, empathy_understood, empathy_cared, comment, created_at) VALUES ($1, $2,"
        " gen_random_uuid(), 'qr', 'en', $3, $4, 4, true, $5, $6)",
        [
            (
                survey_id,
                version_id,
                '{"agent": "=HYPERLINK(1)"}',
                '{"understood": 4, "cared": true, "comment": "+cmd|calc"}',
                "+cmd|calc",
                T0,
            )
            for _ in range(2500)  # more than one streamed chunk
        ],
    )
    response = await client.get(
        "/api/v1/surveys/counter-check/responses.csv?bom=true", headers=headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, data = rows[0], rows[1:]
    assert len(data) == 2500
    assert header[:3] == ["id", "created_at", "survey_version"]
    first = dict(zip(header, data[0], strict=True))
    assert first["agent"] == "'=HYPERLINK(1)"
    assert first["comment"] == "'+cmd|calc"
    assert first["cared"] == "true"
    plain = await client.get("/api/v1/surveys/counter-check/responses.csv", headers=headers)
    assert not plain.content.startswith(b"\xef\xbb\xbf")


async def test_export_needs_the_responses_scope(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    kpis_only = await create_key(app.state.db, "kpis", ["kpis:read"])
    response = await client.get(
        "/api/v1/surveys/nps-empathy/responses",
        headers={"Authorization": f"Bearer {kpis_only.key}"},
    )
    assert response.status_code == 403


async def test_drivers_match_numpy(
    client: httpx.AsyncClient, db: asyncpg.Connection, headers: dict[str, str]
) -> None:
    rng = random.Random(5)
    data = []
    for _ in range(120):
        understood, cared, emotional = rng.randint(1, 5), rng.random() < 0.6, rng.randint(1, 5)
        csat = max(
            1, min(5, round(0.5 * understood + 0.8 * cared + 0.2 * emotional + rng.gauss(0, 0.8)))
        )
        data.append((csat, understood, int(cared), emotional))
        await insert(
            db,
            "empathy-csat",
            at=T0,
            csat=csat,
            understood=understood,
            cared=cared,
            emotional=emotional,
        )
    await insert(
        db, "empathy-csat", at=T0, csat=3, understood=None, cared=True, emotional=2
    )  # incomplete
    body = (await client.get("/api/v1/surveys/empathy-csat/drivers", headers=headers)).json()
    assert body["outcome"] == "csat"
    assert body["n"] == 120
    assert body["warning"] is None
    matrix = np.array(data, dtype=float)
    z = (matrix - matrix.mean(axis=0)) / matrix.std(axis=0)
    betas, *_ = np.linalg.lstsq(z[:, 1:], z[:, 0], rcond=None)
    for index, driver in enumerate(body["drivers"], start=1):
        r = scipy_stats.pearsonr(matrix[:, index], matrix[:, 0]).statistic
        assert driver["correlation"] == pytest.approx(r, rel=1e-9)
        low, high = np.tanh(
            np.arctanh(r) + np.array([-1, 1]) * scipy_stats.norm.ppf(0.975) / np.sqrt(117)
        )
        assert (driver["ci_low"], driver["ci_high"]) == pytest.approx((low, high), rel=1e-9)
        assert driver["coefficient"] == pytest.approx(betas[index - 1], rel=1e-7)
    assert [d["item"] for d in body["drivers"]] == [
        "empathy_understood",
        "empathy_cared",
        "empathy_emotional",
    ]


async def test_drivers_warn_on_small_samples_and_refuse_missing_outcomes(
    client: httpx.AsyncClient, db: asyncpg.Connection, headers: dict[str, str]
) -> None:
    for score in (9, 3, 10, 6):
        await insert(db, "nps-empathy", at=T0, nps=score, influence=score // 2)
    body = (await client.get("/api/v1/surveys/nps-empathy/drivers", headers=headers)).json()
    assert body["n"] == 4
    assert "too few" in body["warning"]
    missing = await client.get("/api/v1/surveys/counter-check/drivers", headers=headers)
    assert (missing.status_code, missing.json()["extra"][0]["key"]) == (400, "outcome")
    wrong = await client.get("/api/v1/surveys/nps-empathy/drivers?outcome=csat", headers=headers)
    assert wrong.status_code == 400
