"""Sentiment stored at write time, the rescore command's work, and the score command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
from litestar import Litestar

from survey_service.responses.sentiment import ANALYSER_VERSION
from survey_service.responses.storage import rescore_comments

ROOT = Path(__file__).resolve().parents[2]


async def submit(
    client: httpx.AsyncClient, slug: str, answers: dict[str, object], lang: str = "en"
) -> int:
    served = (await client.get(f"/api/v1/surveys/{slug}", params={"lang": lang})).json()
    response = await client.post(
        f"/api/v1/surveys/{slug}/responses", json={"token": served["token"], "answers": answers}
    )
    assert response.status_code == 201, response.text
    value: int = response.json()["id"]
    return value


async def test_comment_sentiment_is_stored_with_the_response(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    negative = await submit(
        client, "nps-empathy", {"recommend": 10, "reason": "Nobody listened and I waited an hour."}
    )
    spanish = await submit(client, "nps-empathy", {"recommend": 9, "reason": "Muy amables"}, "es")
    silent = await submit(client, "nps-empathy", {"recommend": 7})
    long_text = "The staff were patient and kind. " * 30  # analysed in a worker thread
    long_id = await submit(client, "nps-empathy", {"recommend": 9, "reason": long_text[:1000]})
    rows = {
        r["id"]: r
        for r in await db.fetch(
            "SELECT id, sentiment_polarity, sentiment_class, sentiment_cues, sentiment_version,"
            " score_text_mismatch FROM response"
        )
    }
    assert rows[negative]["sentiment_class"] == -1
    assert rows[negative]["sentiment_polarity"] < -0.3
    assert set(rows[negative]["sentiment_cues"]) >= {"not_heard", "waited"}
    assert rows[negative]["score_text_mismatch"] is True  # NPS 10 with a clearly negative comment
    assert rows[negative]["sentiment_version"] == ANALYSER_VERSION
    assert rows[spanish]["sentiment_class"] is None
    assert rows[silent]["sentiment_class"] is None
    assert rows[silent]["score_text_mismatch"] is False
    assert rows[long_id]["sentiment_class"] == 1


async def test_rescore_updates_old_versions_only_and_resumes(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    ids = [
        await submit(
            client,
            "empathy-csat",
            {
                "satisfaction": 5,
                "understood": 5,
                "cared": True,
                "emotional": 5,
                "comment": f"Great help number {i}",
            },
        )
        for i in range(7)
    ]
    await db.execute(
        "UPDATE response SET sentiment_version = 'old', sentiment_class = NULL,"
        " sentiment_polarity = NULL WHERE id = ANY($1)",
        ids[:5],
    )
    seen: list[tuple[int, int]] = []
    assert (
        await rescore_comments(
            app.state.db, batch_size=2, progress=lambda d, t: seen.append((d, t))
        )
        == 5
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]
    rows = await db.fetch("SELECT sentiment_version, sentiment_class FROM response")
    assert all(
        r["sentiment_version"] == ANALYSER_VERSION and r["sentiment_class"] == 1 for r in rows
    )
    assert await rescore_comments(app.state.db) == 0  # nothing left: a rerun resumes at nothing


def test_score_command_writes_json_lines(tmp_path: Path) -> None:
    source = tmp_path / "comments.txt"
    source.write_text("They really listened to me\nRude and slow\n\nGracias, muy amables\n")
    result = subprocess.run(
        [sys.executable, "-m", "survey_service", "sentiment", "score", str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["class"] for line in lines] == [1, -1, None, None]
    assert lines[0]["cues"] == ["felt_heard"]
    assert {line["analyser"] for line in lines} == {ANALYSER_VERSION}
    piped = subprocess.run(
        [sys.executable, "-m", "survey_service", "sentiment", "score"],
        input="Awful\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(piped.stdout)["class"] == -1
