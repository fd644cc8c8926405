"""Outcome events in (JSON, lists, CSV; per-row errors; idempotent by event id, also under
concurrency) and the value report (segments, intervals, correlations and the logistic
regression, checked against numpy, scipy and statsmodels)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest
import statsmodels.api as sm
from litestar import Litestar
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportion_confint

from survey_service.apikeys.service import create_key
from tests.rows import insert

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
async def keys(app: Litestar, db: asyncpg.Connection) -> AsyncIterator[dict[str, dict[str, str]]]:
    made = {}
    for name, scopes in {"write": ["outcomes:write"], "read": ["kpis:read"]}.items():
        created = await create_key(app.state.db, name, scopes)
        made[name] = {"Authorization": f"Bearer {created.key}"}
    return made


def _event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "kind": "purchase",
        "customer": "C1",
        "occurred_at": (NOW - dt.timedelta(days=1)).isoformat(),
        "amount": "19.90",
        "currency": "EUR",
        **fields,
    }


async def test_events_are_stored_once_by_their_id(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    batch = [
        _event("e1"),
        _event("e2", kind="referral", amount=None, currency=None),
        _event("e3", kind="refund", amount=5, customer="C2", hash_customer=True),
        _event("e1"),  # twice in one batch: stored once
    ]
    batch[1] = {k: v for k, v in batch[1].items() if v is not None}
    r = await client.post("/api/v1/outcomes", json=batch, headers=keys["write"])
    assert r.status_code == 201, r.text
    assert r.json() == {"created": 3, "duplicates": ["e1"], "rejected": []}
    replay = await client.post("/api/v1/outcomes", json=batch, headers=keys["write"])
    assert replay.status_code == 200
    assert replay.json()["created"] == 0
    assert sorted(replay.json()["duplicates"]) == ["e1", "e2", "e3"]
    rows = await db.fetch("SELECT event_id, customer_ref, amount FROM outcome ORDER BY event_id")
    assert [(r["event_id"], r["customer_ref"]) for r in rows] == [
        ("e1", "C1"),
        ("e2", "C1"),
        ("e3", None),
    ]
    assert str(rows[0]["amount"]) == "19.9000"


async def test_concurrent_replays_store_one_event(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    sends = [
        client.post("/api/v1/outcomes", json=_event("same"), headers=keys["write"])
        for _ in range(12)
    ]
    answers = await asyncio.gather(*sends)
    assert sorted(a.status_code for a in answers) == [200] * 11 + [201]
    assert await db.fetchval("SELECT count(*) FROM outcome") == 1


async def test_csv_batches_report_each_bad_row(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    day = (NOW - dt.timedelta(days=3)).isoformat()
    text = (
        "event_id,kind,customer,occurred_at,amount,currency,hash_customer\n"
        f"c1,purchase,C1,{day},10.5,USD,\n"
        f"c2,churn,C2,{day},,,true\n"
        f"c3,gift,C3,{day},,,\n"
        f"c4,purchase,C4,{day},,,\n"
        f"c5,purchase,C5,{day},1.23456,USD,\n"
        f"c6,purchase,C6,{day},10,XXX,\n"
        f"c7,complaint,C7,{day},3,EUR,\n"
        "c8,churn,C8,2026-01-01T00:00:00,,,\n"
        "c9,churn,C9,2999-01-01T00:00:00Z,,,\n"
        f"c10,refund,C10,{day},-4,EUR,\n"
        f"c11,churn,  ,{day},,,\n"
    )
    r = await client.post(
        "/api/v1/outcomes",
        content=text.encode(),
        headers={**keys["write"], "content-type": "text/csv"},
    )
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["created"] == 2
    errors = {row["row"]: {e["key"] for e in row["errors"]} for row in body["rejected"]}
    assert errors == {
        2: {"kind"},
        3: {"amount", "currency"},
        4: {"amount"},
        5: {"currency"},
        6: {"amount"},
        7: {"occurred_at"},
        8: {"occurred_at"},
        9: {"amount"},
        10: {"customer"},
    }
    stored = await db.fetch("SELECT event_id, customer_ref FROM outcome ORDER BY event_id")
    assert [(s["event_id"], s["customer_ref"]) for s in stored] == [("c1", "C1"), ("c2", None)]


async def test_unusable_bodies_are_refused_and_store_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    headers = {**keys["write"], "content-type": "application/json"}
    for content in (b"{", b"[]", b"\xff", b"7", b'[{"event_id": 1}]', b'{"kind": "purchase"}'):
        r = await client.post("/api/v1/outcomes", content=content, headers=headers)
        assert r.status_code == 400, (content, r.text)
    too_many = [_event(f"x{i}") for i in range(10_001)]
    r = await client.post("/api/v1/outcomes", json=too_many, headers=keys["write"])
    assert r.status_code in (400, 413)
    huge = b"[" + b'"' + b"x" * (5 * 1024 * 1024) + b'"]'
    r = await client.post("/api/v1/outcomes", content=huge, headers=headers)
    assert r.status_code == 413
    assert (await client.post("/api/v1/outcomes", json=_event("a"))).status_code == 401
    r = await client.post("/api/v1/outcomes", json=_event("a"), headers=keys["read"])
    assert r.status_code == 403
    assert await db.fetchval("SELECT count(*) FROM outcome") == 0


async def _customers(
    client: httpx.AsyncClient, db: asyncpg.Connection, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """300 customers who answered 200 days ago (some twice), with purchases more likely
    the more understood they felt; and 20 recent ones still inside a 90-day horizon."""
    rng = random.Random(7)
    people = []
    events = []
    for i in range(320):
        recent = i >= 300
        at = NOW - dt.timedelta(days=10 if recent else 200, minutes=i)
        understood = rng.randint(1, 5)
        cared = rng.random() < 0.3 + 0.1 * understood
        emotional = rng.randint(1, 5)
        touchpoint = rng.choice(["counter", "counter", "phone", "web"])
        channel = rng.choice(["link", "qr"])
        answers = [(understood, cared, emotional)]
        if i % 10 == 0:
            answers.append((min(5, understood + 1), cared, emotional))
        for n, (u, c, e) in enumerate(answers):
            await insert(
                db,
                "empathy-csat",
                at=at + dt.timedelta(days=n),
                understood=u,
                cared=c,
                emotional=e,
                channel=channel if n == 0 else "email",
                metadata={"customer_ref": f"P{i}", "touchpoint": touchpoint},
            )
        odds = math.exp(-2.2 + 0.55 * understood + 0.4 * cared)
        bought = rng.random() < odds / (1 + odds)
        revenue = 0.0
        if bought:
            amount = round(rng.uniform(10, 90), 2)
            revenue = amount
            events.append(
                _event(
                    f"p{i}",
                    customer=f"P{i}",
                    occurred_at=(at + dt.timedelta(days=20)).isoformat(),
                    amount=str(amount),
                )
            )
            if i % 7 == 0:  # a refund inside the horizon
                revenue -= 5
                events.append(
                    _event(
                        f"r{i}",
                        kind="refund",
                        customer=f"P{i}",
                        amount="5",
                        occurred_at=(at + dt.timedelta(days=30)).isoformat(),
                    )
                )
        if i % 5 == 0:  # outside a 90-day horizon: counts only for 365
            events.append(
                _event(
                    f"late{i}",
                    customer=f"P{i}",
                    occurred_at=(at + dt.timedelta(days=150)).isoformat(),
                    amount="1000",
                )
            )
        if i % 4 == 0:
            events.append(
                {
                    k: v
                    for k, v in _event(
                        f"ref{i}",
                        kind="referral",
                        customer=f"P{i}",
                        occurred_at=(at + dt.timedelta(days=5)).isoformat(),
                    ).items()
                    if k not in ("amount", "currency")
                }
            )
        if i % 9 == 0:  # another currency: left out of EUR revenue
            events.append(
                _event(
                    f"usd{i}",
                    customer=f"P{i}",
                    currency="USD",
                    amount="500",
                    occurred_at=(at + dt.timedelta(days=3)).isoformat(),
                )
            )
            bought = True
        if i % 11 == 0:  # before the first answer: not an outcome of it
            events.append(
                _event(
                    f"pre{i}",
                    customer=f"P{i}",
                    amount="700",
                    occurred_at=(at - dt.timedelta(days=3)).isoformat(),
                )
            )
        index_values = [
            (25 * (u - 1) + (100 if c else 0) + 25 * (e - 1)) / 3 for u, c, e in answers
        ]
        people.append(
            {
                "recent": recent,
                "index": sum(index_values) / len(index_values),
                "understood": sum(u for u, _, _ in answers) / len(answers),
                "cared": float(cared),
                "emotional": float(emotional),
                "touchpoint": touchpoint,
                "channel": channel,
                "bought": bought,
                "referrals": 1 if i % 4 == 0 else 0,
                "revenue": revenue,
            }
        )
    happened = [e for e in events if dt.datetime.fromisoformat(e["occurred_at"]) <= NOW]
    r = await client.post("/api/v1/outcomes", json=happened, headers=headers)
    assert r.status_code == 201, r.text
    return people


async def test_the_value_report_matches_independent_computations(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    people = await _customers(client, db, keys["write"])
    r = await client.get("/api/v1/surveys/empathy-csat/outcomes", headers=keys["read"])
    assert r.status_code == 200, r.text
    report = r.json()
    done = [p for p in people if not p["recent"]]
    assert report["horizon_days"] == 90
    assert report["currency"] == "EUR"
    assert report["still_in_horizon"] == 20
    figures = report["figures"]
    assert figures["customers"] == 300
    assert "not proof of cause" in report["note"]
    segments = {s["segment"]: s for s in figures["segments"]}
    for name, members in (
        ("low", [p for p in done if p["index"] < 50]),
        ("middle", [p for p in done if 50 <= p["index"] < 80]),
        ("high", [p for p in done if p["index"] >= 80]),
    ):
        segment = segments[name]
        assert segment["customers"] == len(members), name
        bought = sum(p["bought"] for p in members)
        rate = segment["repeat_purchase_rate"]
        assert rate["value"] == pytest.approx(100 * bought / len(members))
        low, high = proportion_confint(bought, len(members), method="wilson")
        assert rate["ci_low"] == pytest.approx(100 * low)
        assert rate["ci_high"] == pytest.approx(100 * high)
        revenue = np.array([p["revenue"] for p in members])
        assert segment["revenue_per_customer"]["value"] == pytest.approx(revenue.mean())
        t_low, t_high = scipy_stats.t.interval(
            0.95, len(revenue) - 1, revenue.mean(), scipy_stats.sem(revenue)
        )
        assert segment["revenue_per_customer"]["ci_low"] == pytest.approx(t_low)
        assert segment["revenue_per_customer"]["ci_high"] == pytest.approx(t_high)
        referrals = np.array([p["referrals"] for p in members])
        assert segment["referrals_per_customer"]["value"] == pytest.approx(referrals.mean())
        m, retained = revenue.mean(), min(bought / len(members), 0.9)
        assert segment["lifetime_value"]["value"] == pytest.approx(m / (1 - retained))
    # High minus low: Welch's difference of means.
    low_rev = [p["revenue"] for p in done if p["index"] < 50]
    high_rev = [p["revenue"] for p in done if p["index"] >= 80]
    diff = figures["high_vs_low"]["revenue_per_customer"]
    assert diff["absolute"] == pytest.approx(np.mean(high_rev) - np.mean(low_rev))
    welch = scipy_stats.ttest_ind(high_rev, low_rev, equal_var=False)
    assert diff["p_value"] == pytest.approx(welch.pvalue)
    # Correlations: numpy's r.
    pairs = {(c["measure"], c["outcome"]): c for c in figures["correlations"]}
    index = [p["index"] for p in done]
    assert pairs[("empathy_index", "repeat_purchase")]["r"] == pytest.approx(
        np.corrcoef(index, [float(p["bought"]) for p in done])[0, 1]
    )
    assert pairs[("empathy_understood", "revenue")]["r"] == pytest.approx(
        np.corrcoef([p["understood"] for p in done], [p["revenue"] for p in done])[0, 1]
    )
    # The regression: statsmodels' Logit on the same design (counter and link are the most
    # common levels, so the references).
    regression = figures["regression"]
    assert regression["reference_levels"] == {"touchpoint": "counter", "channel": "link"}
    x = np.array(
        [
            [
                1.0,
                p["understood"],
                p["cared"],
                p["emotional"],
                float(p["touchpoint"] == "phone"),
                float(p["touchpoint"] == "web"),
                float(p["channel"] == "qr"),
            ]
            for p in done
        ]
    )
    y = np.array([float(p["bought"]) for p in done])
    fit = sm.Logit(y, x).fit(disp=0)
    ci = fit.conf_int()
    terms = {t["term"]: t for t in regression["terms"]}
    names = [
        "empathy_understood (per point, 1-5)",
        "empathy_cared (yes against no)",
        "empathy_emotional (per point, 1-5)",
        "touchpoint: phone",
        "touchpoint: web",
        "channel: qr",
    ]
    assert sorted(terms) == sorted(names)
    for column, name in enumerate(names, start=1):
        assert terms[name]["odds_ratio"] == pytest.approx(math.exp(fit.params[column]), rel=1e-6)
        assert terms[name]["ci_low"] == pytest.approx(math.exp(ci[column][0]), rel=1e-6)
        assert terms[name]["ci_high"] == pytest.approx(math.exp(ci[column][1]), rel=1e-6)
        assert terms[name]["p_value"] == pytest.approx(fit.pvalues[column], rel=1e-5)
    assert terms[names[0]]["odds_ratio"] > 1  # the simulated effect is found


async def test_horizons_currencies_and_cut_points(
    client: httpx.AsyncClient, db: asyncpg.Connection, keys: dict[str, dict[str, str]]
) -> None:
    people = await _customers(client, db, keys["write"])
    year = await client.get(
        "/api/v1/surveys/empathy-csat/outcomes", params={"horizon": 365}, headers=keys["read"]
    )
    # 200 days ago is inside a year: every customer is still inside the horizon.
    assert year.json()["still_in_horizon"] == 320
    assert year.json()["figures"]["customers"] == 0
    usd = await client.get(
        "/api/v1/surveys/empathy-csat/outcomes", params={"currency": "USD"}, headers=keys["read"]
    )
    done = [p for p in people if not p["recent"]]
    total = sum(
        s["revenue_per_customer"]["value"] * s["customers"]
        for s in usd.json()["figures"]["segments"]
        if not s["suppressed"]
    )
    assert total == pytest.approx(500 * sum(1 for i in range(300) if i % 9 == 0))
    cuts = await client.get(
        "/api/v1/surveys/empathy-csat/outcomes",
        params={"low_below": 10, "high_from": 95},
        headers=keys["read"],
    )
    segments = {s["segment"]: s for s in cuts.json()["figures"]["segments"]}
    assert segments["low"]["customers"] == sum(p["index"] < 10 for p in done)
    assert segments["high"]["empathy_from"] == 95
    for params, field in (
        ({"horizon": 60}, "horizon"),
        ({"low_below": 90, "high_from": 80}, "low_below"),
        ({"currency": "EURO"}, "currency"),
        ({"tz": "Nowhere/Land"}, "tz"),
        ({"from": "soon"}, "from"),
    ):
        r = await client.get(
            "/api/v1/surveys/empathy-csat/outcomes", params=params, headers=keys["read"]
        )
        assert r.status_code == 400, params
        assert field in r.text
    r = await client.get("/api/v1/surveys/no-such/outcomes", headers=keys["read"])
    assert r.status_code == 404
