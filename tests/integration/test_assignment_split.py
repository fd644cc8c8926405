"""Served forms equal recorded assignments, and every response keeps the variant its form
was served with (the draw's weights are tested on 100,000 draws in the unit tests)."""

from __future__ import annotations

import collections

import asyncpg
import httpx
import pytest
from litestar import Litestar

from survey_service.surveys.serving import SurveyService
from tests.helpers import SPLITS, hidden

SERVED = 300
ANSWERED = 60


@pytest.mark.parametrize("slug", list(SPLITS))
async def test_served_equals_recorded_and_responses_keep_their_variant(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, slug: str
) -> None:
    service: SurveyService = app.state.surveys
    served: collections.Counter[str] = collections.Counter()
    tokens: list[tuple[str, str]] = []
    csrf = ""
    for i in range(SERVED):
        client.cookies.pop(f"ss_{slug.replace('-', '_')}", None)  # each visit a new browser
        response = await client.get(f"/s/{slug}")
        token = hidden(response.text, "token")
        variant = service.signer.verify(token).variant
        assert variant is not None
        served[variant] += 1
        if i < ANSWERED:
            tokens.append((token, variant))
            csrf = hidden(response.text, "_csrf_token")
    assert set(served) == set(SPLITS[slug])

    await service.recorder.flush()
    recorded = dict(
        await db.fetch(
            "SELECT a.variant, count(*) FROM assignment a JOIN survey s ON s.id = a.survey_id"
            " WHERE s.slug = $1 GROUP BY a.variant",
            slug,
        )
    )
    assert recorded == dict(served)

    for token, _ in tokens:
        response = await client.post(
            f"/s/{slug}", data={"token": token, "_csrf_token": csrf, "score": "8"}
        )
        assert response.status_code == 303
    stored = await db.fetch(
        "SELECT r.variant, r.token_nonce FROM response r JOIN survey s ON s.id = r.survey_id"
        " WHERE s.slug = $1",
        slug,
    )
    assert len(stored) == ANSWERED
    issued = {service.signer.verify(t).nonce: v for t, v in tokens}
    assert all(issued[row["token_nonce"].bytes] == row["variant"] for row in stored)
