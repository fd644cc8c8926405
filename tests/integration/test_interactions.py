"""The staff interaction log over REST: recording with hostile input, the summary's figures
(checked against statsmodels' Wilson intervals and plain arithmetic), links to follow-up
survey responses, suppression, and where empathy is needed most."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from statsmodels.stats.proportion import proportion_confint

from survey_service.apikeys.service import create_key
from tests.rows import insert

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
async def keys(app: Litestar, db: asyncpg.Connection) -> AsyncIterator[dict[str, dict[str, str]]]:
    made = {}
    for name, scopes in {
        "write": ["interactions:write"],
        "read": ["kpis:read"],
        "log": ["responses:read"],
    }.items():
        created = await create_key(app.state.db, name, scopes)
        made[name] = {"Authorization": f"Bearer {created.key}"}
    return made


def _body(**fields: Any) -> dict[str, Any]:
    return {"emotion": "frustrated", "actions": ["listened"], "reaction": "calmer", **fields}


async def test_an_interaction_is_stored_cleaned_and_its_reference_hashed_on_request(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    body = _body(
        actions=["listened", "apologised", "listened"],
        touchpoint=" counter \u202e",
        agent="ana",
        channel="phone",
        duration_seconds=240,
        note="  waited 20 minutes  ",
        reference="C-1001",
        hash_reference=True,
    )
    r = await client.post("/api/v1/interactions", json=body, headers=keys["write"])
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["actions"] == ["listened", "apologised"]
    assert out["touchpoint"] == "counter"
    assert out["note"] == "waited 20 minutes"
    assert out["reference"] is None
    assert out["linked"] is True
    assert out["recorded_by"].startswith("api key ")
    row = await db.fetchrow("SELECT customer_ref, customer_key FROM interaction")
    assert row["customer_ref"] is None
    assert len(row["customer_key"]) == 32
    assert "C-1001" not in row["customer_key"]
    plain = await client.post(
        "/api/v1/interactions", json=_body(reference="C-1001"), headers=keys["write"]
    )
    assert plain.json()["reference"] == "C-1001"
    stored = await db.fetch("SELECT DISTINCT customer_key FROM interaction")
    assert len(stored) == 1  # hashed or not, one customer


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(emotion="furious"), "emotion"),
        (_body(actions="listened"), "actions"),
        (_body(actions=["hugged"]), "actions"),
        (_body(reaction="fine"), "reaction"),
        (_body(channel="pigeon"), "channel"),
        (_body(duration_seconds=-1), "duration_seconds"),
        (_body(duration_seconds=10**12), "duration_seconds"),
        (_body(note="x" * 1001), "note"),
        (_body(reference="r" * 201), "reference"),
        (_body(occurred_at="2026-11-26T10:00:00"), "occurred_at"),
        (_body(occurred_at=(NOW + dt.timedelta(days=1)).isoformat()), "occurred_at"),
        (_body(occurred_at="1999-01-01T00:00:00Z"), "occurred_at"),
        (_body(agent="\u200b\u202e"), "agent"),
        (_body(hash_reference=True), "hash_reference"),
        (_body(mood="bad"), "mood"),
        ({"actions": [], "reaction": "left"}, "emotion"),
    ],
)
async def test_bad_interactions_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    keys: dict[str, dict[str, str]],
    body: dict[str, Any],
    field: str,
) -> None:
    r = await client.post("/api/v1/interactions", json=body, headers=keys["write"])
    assert r.status_code == 400, r.text
    assert field in r.text
    assert await db.fetchval("SELECT count(*) FROM interaction") == 0


async def test_malformed_bodies_and_missing_scopes(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    headers = {**keys["write"], "content-type": "application/json"}
    for content in (b"{", b"[]", b"\xff\xfe", b"null", b'{"emotion": 3}'):
        r = await client.post("/api/v1/interactions", content=content, headers=headers)
        assert r.status_code == 400, (content, r.text)
    assert (await client.post("/api/v1/interactions", json=_body())).status_code == 401
    r = await client.post("/api/v1/interactions", json=_body(), headers=keys["read"])
    assert r.status_code == 403
    assert (await client.get("/api/v1/interactions", headers=keys["write"])).status_code == 403
    assert await db.fetchval("SELECT count(*) FROM interaction") == 0


async def test_the_log_pages_by_id_with_filters(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    for i in range(7):
        body = _body(agent="ana" if i % 2 else "ben")
        await client.post("/api/v1/interactions", json=body, headers=keys["write"])
    seen: list[int] = []
    cursor = 0
    while True:
        r = await client.get(
            "/api/v1/interactions",
            params={"agent": "ana", "limit": 2, "cursor": cursor},
            headers=keys["log"],
        )
        assert r.status_code == 200
        page = r.json()
        seen += [item["id"] for item in page["items"]]
        assert {item["agent"] for item in page["items"]} <= {"ana"}
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert len(seen) == 3
    assert seen == sorted(seen)
    for params in ({"limit": 0}, {"cursor": -1}, {"tz": "Mars/Base"}, {"from": "yesterday"}):
        r = await client.get("/api/v1/interactions", params=params, headers=keys["log"])
        assert r.status_code == 400, params
        assert next(iter(params)) in r.text


def _wilson(count: int, n: int) -> tuple[float, float]:
    low, high = proportion_confint(count, n, method="wilson")
    return 100 * low, 100 * high


async def test_the_summary_counts_emotions_actions_endings_and_follow_ups(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    # 12 at the counter by ana: 8 frustrated (6 with an apology, ending calmer 5 times),
    # 4 happy; 3 on the phone by ben (suppressed as a group of 3).
    plan = [
        ("counter", "ana", "frustrated", ["listened", "apologised"], "calmer", "C1"),
        ("counter", "ana", "frustrated", ["listened", "apologised"], "calmer", "C2"),
        ("counter", "ana", "frustrated", ["listened", "apologised"], "calmer", "C3"),
        ("counter", "ana", "frustrated", ["listened", "apologised"], "calmer", "C4"),
        ("counter", "ana", "frustrated", ["listened", "apologised"], "calmer", "C5"),
        ("counter", "ana", "frustrated", ["apologised"], "still_upset", "C6"),
        ("counter", "ana", "frustrated", ["explained"], "left", None),
        ("counter", "ana", "frustrated", ["explained"], "still_upset", None),
        ("counter", "ana", "happy", ["solved"], "satisfied", None),
        ("counter", "ana", "happy", ["solved"], "satisfied", None),
        ("counter", "ana", "happy", ["solved"], "satisfied", None),
        ("counter", "ana", "happy", ["solved"], "satisfied", None),
        ("phone", "ben", "angry", ["escalated"], "still_upset", None),
        ("phone", "ben", "angry", ["escalated"], "left", None),
        ("phone", "ben", "confused", ["explained"], "calmer", None),
    ]
    at = NOW - dt.timedelta(days=2)
    for touchpoint, agent, emotion, actions, reaction, reference in plan:
        body = _body(
            touchpoint=touchpoint,
            agent=agent,
            emotion=emotion,
            actions=actions,
            reaction=reaction,
            occurred_at=at.isoformat(),
        )
        if reference:
            body["reference"] = reference
        r = await client.post("/api/v1/interactions", json=body, headers=keys["write"])
        assert r.status_code == 201, r.text
    # Follow-up responses name C1..C6 (one by an order_ref, C7 answered but never logged);
    # one comes 40 days later: outside the follow-up window.
    follow = {"C1": (5, True), "C2": (4, True), "C3": (5, False), "C4": (3, True)}
    for reference, (understood, cared) in follow.items():
        await insert(
            db,
            "counter-check",
            at=at + dt.timedelta(hours=3),
            understood=understood,
            cared=cared,
            metadata={"customer_ref": reference},
        )
    await insert(
        db,
        "counter-check",
        at=at - dt.timedelta(hours=1),
        understood=2,
        cared=False,
        metadata={"order_ref": "C5"},
    )
    await insert(
        db,
        "counter-check",
        at=at + dt.timedelta(days=40),
        understood=1,
        metadata={"customer_ref": "C6"},
    )
    await insert(db, "counter-check", at=at, understood=5, metadata={"customer_ref": "C7"})
    r = await client.get(
        "/api/v1/interactions/summary",
        params={"from": (at - dt.timedelta(days=1)).date().isoformat()},
        headers=keys["read"],
    )
    assert r.status_code == 200, r.text
    report = r.json()
    s = report["summary"]
    assert s["n"] == 15
    assert s["upset"] == 10
    mix = s["emotions"]["emotions"]
    assert mix["frustrated"]["value"] == pytest.approx(100 * 8 / 15)
    low, high = _wilson(8, 15)
    assert (mix["frustrated"]["ci_low"], mix["frustrated"]["ci_high"]) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    touchpoints = {g["key"]: g for g in s["by_touchpoint"]}
    assert touchpoints["counter"]["n"] == 12
    assert not touchpoints["counter"]["suppressed"]
    assert touchpoints["counter"]["emotions"]["happy"]["value"] == pytest.approx(100 * 4 / 12)
    assert touchpoints["phone"] == {"key": "phone", "n": 3, "suppressed": True, "emotions": None}
    agents = {g["key"]: g for g in s["by_agent"]}
    assert agents["ben"]["suppressed"]
    assert not agents["ana"]["suppressed"]
    actions = {a["action"]: a for a in s["actions"]}
    # Of 10 upset interactions, 6 had an apology; of the 6 apologies, 5 ended calmer.
    assert actions["apologised"]["used"] == 6
    assert actions["apologised"]["used_with_upset"]["value"] == pytest.approx(60.0)
    assert actions["apologised"]["ended_well"]["value"] == pytest.approx(100 * 5 / 6)
    low, high = _wilson(5, 6)
    assert actions["apologised"]["ended_well"]["ci_low"] == pytest.approx(low)
    assert actions["escalated"]["ended_well"] is None  # 2 uses: suppressed
    assert actions["listened"]["ended_well"]["value"] == pytest.approx(100.0)
    assert actions["solved"]["used"] == 4
    assert actions["solved"]["ended_well"] is None
    # Linked follow-ups: C1..C5 (C5 answered an hour before the log); C6's came too late.
    assert s["linked"] == 5
    follow_up = {f["action"]: f for f in s["follow_up"]}
    indexes = [100.0, 87.5, 50.0, 75.0, 12.5]  # (understood-1)*25 and cared 100/0, averaged
    assert follow_up["listened"]["n"] == 5
    assert follow_up["listened"]["empathy_index"]["value"] == pytest.approx(sum(indexes) / 5)
    assert follow_up["apologised"]["n"] == 5
    assert follow_up["explained"]["suppressed"]
    assert follow_up["explained"]["empathy_index"] is None
    # Filters narrow every figure; a window before the log holds nothing.
    r = await client.get(
        "/api/v1/interactions/summary", params={"touchpoint": "phone"}, headers=keys["read"]
    )
    assert r.json()["summary"]["n"] == 3
    r = await client.get(
        "/api/v1/interactions/summary", params={"to": "2020-01-01"}, headers=keys["read"]
    )
    assert r.json()["summary"]["n"] == 0
    r = await client.get(
        "/api/v1/interactions/summary", params={"agent": "x" * 201}, headers=keys["read"]
    )
    assert r.status_code == 400
    assert "agent" in r.text


async def test_follow_ups_come_only_from_surveys_the_key_sees(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    keys: dict[str, dict[str, str]],
) -> None:
    at = NOW - dt.timedelta(hours=5)
    for i in range(5):
        body = _body(reference=f"K{i}", occurred_at=at.isoformat())
        await client.post("/api/v1/interactions", json=body, headers=keys["write"])
        await insert(db, "counter-check", at=at, understood=5, metadata={"customer_ref": f"K{i}"})
    log = await client.get("/api/v1/interactions", headers=keys["log"])
    first = log.json()["items"][0]
    detail = await client.get(f"/api/v1/interactions/{first['id']}", headers=keys["log"])
    assert detail.status_code == 200
    [linked] = detail.json()["responses"]
    assert linked["survey"] == "counter-check"
    assert linked["empathy_index"] == 100.0
    missing = await client.get("/api/v1/interactions/999999999", headers=keys["log"])
    assert missing.status_code == 404
    narrow = await create_key(app.state.db, "narrow", ["kpis:read"], ["nps-empathy"])
    wide = await client.get("/api/v1/interactions/summary", headers=keys["read"])
    blind = await client.get(
        "/api/v1/interactions/summary", headers={"Authorization": f"Bearer {narrow.key}"}
    )
    assert wide.json()["summary"]["linked"] == 5
    assert blind.json()["summary"]["linked"] == 0


async def test_need_ranks_touchpoints_and_hours_by_the_lower_bound(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    at = (NOW - dt.timedelta(days=1)).replace(hour=15, minute=0, second=0)
    mix = {"returns": (9, 10), "tills": (2, 10), "door": (2, 2)}  # (upset, n)
    for touchpoint, (upset, n) in mix.items():
        for i in range(n):
            body = _body(
                touchpoint=touchpoint,
                emotion="angry" if i < upset else "neutral",
                occurred_at=at.isoformat(),
            )
            await client.post("/api/v1/interactions", json=body, headers=keys["write"])
    for i in range(6):
        await insert(
            db,
            "counter-check",
            at=at,
            understood=1 if i < 3 else 5,
            metadata={"touchpoint": "tills"},
        )
    r = await client.get("/api/v1/interactions/need", headers=keys["read"])
    assert r.status_code == 200, r.text
    report = r.json()
    groups = {g["key"]: g for g in report["groups"]}
    assert [g["key"] for g in report["groups"]] == ["returns", "tills", "door"]
    assert groups["returns"]["started_upset"]["value"] == pytest.approx(90.0)
    assert groups["door"]["started_upset"] is None
    assert groups["door"]["interactions"] == 2
    assert groups["tills"]["responses"] == 6
    assert groups["tills"]["not_heard"]["value"] == pytest.approx(50.0)
    by_responses = await client.get(
        "/api/v1/interactions/need", params={"ranked_by": "responses"}, headers=keys["read"]
    )
    assert by_responses.json()["groups"][0]["key"] == "tills"
    hours = await client.get(
        "/api/v1/interactions/need",
        params={"by": "hour", "tz": "America/New_York"},
        headers=keys["read"],
    )
    local_hour = at.astimezone(dt.timezone(dt.timedelta(hours=-5))).hour
    keys_seen = {g["key"] for g in hours.json()["groups"]}
    assert keys_seen in ({local_hour}, {local_hour + 1})  # EST or EDT
    for params in ({"by": "weekday"}, {"ranked_by": "vibes"}, {"agent": "ana"}):
        r = await client.get("/api/v1/interactions/need", params=params, headers=keys["read"])
        assert r.status_code == 400
        assert next(iter(params)) in r.text
