"""Experiments over HTTP: definitions, sticky assignments, and results checked against an
independent calculation (SciPy's Welch test, the delta method by hand)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar
from scipy import stats as scipy_stats

from survey_service.apikeys.service import create_key
from survey_service.app import create_app
from survey_service.db import Database
from survey_service.experiments.assignment import AssignmentRecorder, NewAssignment
from survey_service.experiments.queries import insert_assignments
from survey_service.reporting.rollups import fold_all
from survey_service.settings import Settings
from survey_service.surveys.tokens import new_nonce
from tests.helpers import hidden, running
from tests.rows import T0, insert


@pytest.fixture
async def headers(app: Litestar, db: asyncpg.Connection) -> dict[str, str]:
    created = await create_key(app.state.db, "experiments", ["kpis:read", "assignments:write"])
    return {"Authorization": f"Bearer {created.key}"}


async def assignments(db: asyncpg.Connection, slug: str, counts: dict[str, int]) -> None:
    """Serve forms until each variant has ``counts`` served in all (answered ones included:
    every inserted response brought its own assignment)."""
    survey_id, version_id = await db.fetchrow(
        "SELECT id, current_version_id FROM survey WHERE slug = $1", slug
    )
    served = dict(
        await db.fetch(
            "SELECT variant, count(*) FROM assignment WHERE survey_id = $1 GROUP BY variant",
            survey_id,
        )
    )
    rows = [
        (survey_id, version_id, uuid.uuid4(), variant, T0)
        for variant, count in counts.items()
        for _ in range(count - served.get(variant, 0))
    ]
    await db.executemany(
        "INSERT INTO assignment (survey_id, survey_version_id, token_nonce, variant, channel,"
        " language, created_at) VALUES ($1, $2, $3, $4, 'link', 'en', $5)",
        rows,
    )


async def results(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], key: str, **params: str
) -> dict[str, Any]:
    await fold_all(app.state.db, "UTC")
    response = await client.get(
        f"/api/v1/experiments/{key}/results", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def welch(control: list[float], treatment: list[float]) -> dict[str, float]:
    mc, mt = sum(control) / len(control), sum(treatment) / len(treatment)
    vc, vt = scipy_stats.tvar(control), scipy_stats.tvar(treatment)
    nc, nt = len(control), len(treatment)
    se = math.sqrt(vt / nt + vc / nc)
    df = (vt / nt + vc / nc) ** 2 / ((vt / nt) ** 2 / (nt - 1) + (vc / nc) ** 2 / (nc - 1))
    q = scipy_stats.t.ppf(0.975, df)
    rel_se = math.sqrt(vt / (nt * mc**2) + vc * mt**2 / (nc * mc**4)) if mc else math.nan
    return {
        "absolute": mt - mc,
        "low": mt - mc - q * se,
        "high": mt - mc + q * se,
        "p": scipy_stats.ttest_ind(treatment, control, equal_var=False).pvalue,
        "relative": (mt - mc) / mc if mc else math.nan,
        "rel_low": (mt - mc) / mc - q * rel_se if mc else math.nan,
        "rel_high": (mt - mc) / mc + q * rel_se if mc else math.nan,
    }


async def test_definitions_are_listed(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    listed = (await client.get("/api/v1/experiments", headers=headers)).json()
    keys = {e["key"]: e for e in listed}
    assert keys["counter-wording"]["control"] == "neutral"
    assert keys["counter-wording"]["primary_metric"] == "empathy_index"
    one = (await client.get("/api/v1/experiments/split-20-30-50", headers=headers)).json()
    assert [(v["name"], v["weight"]) for v in one["variants"]] == [("a", 20), ("b", 30), ("c", 50)]
    missing = await client.get("/api/v1/experiments/nope", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no experiment called 'nope'"


async def test_assignment_is_sticky_and_concurrency_safe(
    client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection, app: Litestar
) -> None:
    url = "/api/v1/experiments/counter-wording/assignments"
    answers = await asyncio.gather(
        *(
            client.post(url, json={"subject": "order-1", "cluster": "agent-7"}, headers=headers)
            for _ in range(20)
        )
    )
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["variant"] for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM experiment_subject") == 1
    await app.state.surveys.recorder.flush()
    assert await db.fetchval("SELECT count(*) FROM assignment") == 1
    first = answers[0].json()
    # The link opens the form in the assigned variant, and the response keeps it.
    page = await client.get(first["link"].removeprefix(app.state.settings.base_url))
    assert page.status_code == 200
    token = hidden(page.text, "token")
    assert app.state.surveys.signer.verify(token).variant == first["variant"]
    posted = await client.post(
        "/s/counter-check",
        data={
            "token": token,
            "_csrf_token": hidden(page.text, "_csrf_token"),
            "understood": "4",
            "cared": "yes",
        },
    )
    assert posted.status_code == 303
    assert await db.fetchval("SELECT variant FROM response") == first["variant"]
    bad = await client.post(url, json={"subject": ""}, headers=headers)
    assert bad.status_code == 400
    reader = await create_key(app.state.db, "reader", ["kpis:read"])
    refused = await client.post(
        url, json={"subject": "x"}, headers={"Authorization": f"Bearer {reader.key}"}
    )
    assert refused.status_code == 403


async def test_two_variants_match_welch_and_the_delta_method(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    plan = {
        "neutral": [(3, False), (4, True), (2, False), (5, True)] * 12,
        "warm": [(4, True), (5, True), (3, False), (5, True)] * 10,
    }
    values: dict[str, list[float]] = {}
    for variant, answers in plan.items():
        values[variant] = []
        for understood, cared in answers:
            await insert(
                db, "counter-check", at=T0, understood=understood, cared=cared, variant=variant
            )
            values[variant].append(((understood - 1) * 25 + (100 if cared else 0)) / 2)
    await assignments(db, "counter-check", {"neutral": 60, "warm": 55})
    body = await results(app, client, headers, "counter-wording")
    [treatment] = body["treatments"]
    got = treatment["metrics"]["empathy_index"]["comparison"]
    want = welch(values["neutral"], values["warm"])
    assert got["absolute"] == pytest.approx(want["absolute"], rel=1e-6)
    assert got["absolute_ci"] == pytest.approx([want["low"], want["high"]], rel=1e-6)
    assert got["p_value"] == pytest.approx(want["p"], rel=1e-6)
    assert got["relative"] == pytest.approx(want["relative"], rel=1e-6)
    assert got["relative_ci"] == pytest.approx([want["rel_low"], want["rel_high"]], rel=1e-6)
    assert got["p_value_adjusted"] == got["p_value"]  # one treatment: nothing to adjust
    variants = {v["variant"]: v for v in body["variants"]}
    assert (variants["neutral"]["responses"], variants["neutral"]["assignments"]) == (48, 60)
    rate = variants["warm"]["metrics"]["response_rate"]
    assert rate["mean"] == pytest.approx(100 * 40 / 55)
    assert body["sample_ratio"]["mismatch"] is False
    verdict = treatment["metrics"]["empathy_index"]["verdict"]
    assert verdict == ("better" if want["p"] < 0.05 else "no detectable difference")
    assert treatment["metrics"]["nps"]["verdict"] == "not enough data"  # the form asks no NPS


async def test_three_variants_holm_srm_and_a_variant_without_responses(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    scores = {"a": [9, 10, 6, 7, 3, 9] * 8, "b": [10, 10, 9, 8, 9, 6] * 8}
    for variant, values in scores.items():
        for score in values:
            await insert(db, "split-20-30-50", at=T0, nps=score, variant=variant)
    await assignments(db, "split-20-30-50", {"a": 300, "b": 280, "c": 420})  # b is short: SRM
    body = await results(app, client, headers, "split-20-30-50", mde="0.2")
    treatments = {t["variant"]: t["metrics"]["nps"] for t in body["treatments"]}
    x = {
        v: [100.0 if s >= 9 else 0.0 if s >= 7 else -100.0 for s in values]
        for v, values in scores.items()
    }
    want = welch(x["a"], x["b"])
    assert treatments["b"]["comparison"]["p_value"] == pytest.approx(want["p"], rel=1e-6)
    # Holm over the treatments that have a p-value (c has no responses: none).
    assert treatments["b"]["comparison"]["p_value_adjusted"] == pytest.approx(want["p"], rel=1e-6)
    assert treatments["c"]["comparison"]["p_value"] is None
    assert treatments["c"]["verdict"] == "not enough data"
    observed = [300, 280, 420]
    chi = scipy_stats.chisquare(observed, [1000 * w for w in (0.2, 0.3, 0.5)])
    assert body["sample_ratio"]["chi_square"] == pytest.approx(chi.statistic, rel=1e-9)
    assert body["sample_ratio"]["p_value"] == pytest.approx(chi.pvalue, rel=1e-9)
    assert body["sample_ratio"]["mismatch"] == bool(chi.pvalue < 0.001)
    power = body["power"]
    assert power["metric"] == "nps"  # the experiment's primary metric
    assert power["mde"] == 0.2
    assert power["smallest_arm"] == 0  # variant c has no responses yet
    assert power["progress"] == 0.0
    sequential = await results(app, client, headers, "split-20-30-50", sequential="true")
    fixed_width = treatments["b"]["comparison"]["absolute_ci"]
    seq_width = {t["variant"]: t["metrics"]["nps"] for t in sequential["treatments"]}["b"][
        "comparison"
    ]["absolute_ci"]
    assert seq_width[1] - seq_width[0] > fixed_width[1] - fixed_width[0]


async def test_holm_adjusts_two_treatments(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    scores = {"a": [9, 6, 7, 3] * 12, "b": [10, 9, 9, 6] * 12, "c": [9, 7, 8, 6] * 12}
    for variant, values in scores.items():
        for score in values:
            await insert(db, "split-20-30-50", at=T0, nps=score, variant=variant)
    body = await results(app, client, headers, "split-20-30-50", metric="nps", mde="0.5")
    x = {
        v: [100.0 if s >= 9 else 0.0 if s >= 7 else -100.0 for s in values]
        for v, values in scores.items()
    }
    raw = {v: welch(x["a"], x[v])["p"] for v in ("b", "c")}
    ordered = sorted(raw.items(), key=lambda item: item[1])
    expected = {ordered[0][0]: min(1, 2 * ordered[0][1])}
    expected[ordered[1][0]] = max(expected[ordered[0][0]], min(1, ordered[1][1]))
    for t in body["treatments"]:
        assert t["metrics"]["nps"]["comparison"]["p_value_adjusted"] == pytest.approx(
            expected[t["variant"]], rel=1e-6
        )
    control = x["a"]
    mean = sum(control) / len(control)
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    needed = math.ceil(2 * scipy_stats.tvar(control) * z**2 / (abs(mean) * 0.5) ** 2)
    assert body["power"]["required_per_variant"] == needed
    assert body["power"]["smallest_arm"] == 48


async def test_control_mean_of_zero_has_no_relative_lift(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    for _ in range(40):
        await insert(db, "split-50-50", at=T0, nps=8, variant="a")  # all passives: NPS 0
        await insert(db, "split-50-50", at=T0, nps=10, variant="b")
    body = await results(app, client, headers, "split-50-50")
    comparison = body["treatments"][0]["metrics"]["nps"]["comparison"]
    assert comparison["relative"] is None
    assert comparison["relative_note"] == "relative difference undefined: the control mean is 0"
    assert comparison["absolute"] == 100.0
    assert comparison["p_value"] is None  # both arms without variance: nothing to test
    assert body["treatments"][0]["metrics"]["nps"]["verdict"] == "not enough data"


async def test_clustered_assignments_are_warned_about(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    await client.post(
        "/api/v1/experiments/split-50-50/assignments",
        json={"subject": "t-1", "cluster": "shift-2"},
        headers=headers,
    )
    body = await results(app, client, headers, "split-50-50")
    assert any("clusters" in w for w in body["warnings"])
    assert any("fewer than 30" in w for w in body["warnings"])
    bad = await client.get("/api/v1/experiments/split-50-50/results?variant=a", headers=headers)
    assert bad.status_code == 400
    assert json.loads(bad.text)["extra"][0]["key"] == "variant"


async def test_results_of_an_experiment_without_any_data(
    app: Litestar, client: httpx.AsyncClient, headers: dict[str, str], db: asyncpg.Connection
) -> None:
    body = await results(app, client, headers, "counter-wording", sequential="true", mde="0.1")
    assert body["sample_ratio"]["assignments"] == {"neutral": 0, "warm": 0}
    assert body["sample_ratio"]["mismatch"] is False
    assert [v["responses"] for v in body["variants"]] == [0, 0]
    assert body["treatments"][0]["metrics"]["empathy_index"]["verdict"] == "not enough data"


async def test_outcome_metrics_compare_what_subjects_did_after_assignment(
    app: Litestar, client: httpx.AsyncClient, db: asyncpg.Connection, headers: dict[str, str]
) -> None:
    outcome_key = await create_key(
        app.state.db, "shop", ["outcomes:write", "invitations:write", "kpis:read"]
    )
    shop = {"Authorization": f"Bearer {outcome_key.key}"}
    url = "/api/v1/experiments/counter-wording/assignments"
    for i in range(90):
        r = await client.post(url, json={"subject": f"S{i}"}, headers=headers)
        assert r.status_code in (200, 201), r.text
    invited = await client.post(
        "/api/v1/invitations",
        json={
            "survey": "counter-check",
            "email": "i@example.com",
            "metadata": {"customer_ref": "INV"},
        },
        headers=shop,
    )
    assert invited.status_code == 201, invited.text
    # 80 subjects (and the invitation) were assigned 120 days ago; 10 only yesterday.
    await db.execute(
        "UPDATE experiment_subject SET created_at = now() - interval '120 days'"
        " WHERE substr(subject, 2)::int < 80"
    )
    await db.execute("UPDATE invitation SET created_at = now() - interval '120 days'")
    await db.execute(
        "UPDATE experiment_subject SET created_at = now() - interval '1 day'"
        " WHERE substr(subject, 2)::int >= 80"
    )
    subjects = {
        r["subject"]: (r["variant"], r["created_at"])
        for r in await db.fetch("SELECT subject, variant, created_at FROM experiment_subject")
    }
    subjects["INV"] = (
        await db.fetchval("SELECT variant FROM invitation"),
        await db.fetchval("SELECT created_at FROM invitation"),
    )
    events = []
    revenue: dict[str, float] = {}
    for i, (subject, (variant, at)) in enumerate(sorted(subjects.items())):
        if subject in {f"S{n}" for n in range(80, 90)}:
            continue
        # warm subjects buy more often; one purchase after the horizon never counts
        if i % (2 if variant == "warm" else 3) == 0:
            amount = 10 + i
            events.append(
                {
                    "event_id": f"b{i}",
                    "kind": "purchase",
                    "customer": subject,
                    "occurred_at": (at + dt.timedelta(days=30)).isoformat(),
                    "amount": amount,
                    "currency": "EUR",
                }
            )
            revenue[subject] = amount
        if i % 5 == 0:
            events.append(
                {
                    "event_id": f"late{i}",
                    "kind": "purchase",
                    "customer": subject,
                    "occurred_at": (at + dt.timedelta(days=100)).isoformat(),
                    "amount": 999,
                    "currency": "EUR",
                }
            )
    r = await client.post("/api/v1/outcomes", json=events, headers=shop)
    assert r.status_code == 201, r.text
    await app.state.surveys.recorder.flush()
    body = await results(app, client, headers, "counter-wording", metric="revenue_90d", mde="0.1")
    assert body["outcomes"] == [
        {
            "horizon_days": 90,
            "currency": "EUR",
            "subjects": {
                v: sum(
                    1
                    for s, (var, _) in subjects.items()
                    if var == v and s not in {f"S{n}" for n in range(80, 90)}
                )
                for v in ("neutral", "warm")
            },
            "still_in_horizon": {
                v: sum(1 for n in range(80, 90) if subjects[f"S{n}"][0] == v)
                for v in ("neutral", "warm")
            },
        }
    ]
    counted = {s: v for s, (v, _) in subjects.items() if s not in {f"S{n}" for n in range(80, 90)}}
    per_variant = {
        v: [revenue.get(s, 0.0) for s, var in counted.items() if var == v]
        for v in ("neutral", "warm")
    }
    bought = {
        v: [100.0 if s in revenue else 0.0 for s, var in counted.items() if var == v]
        for v in ("neutral", "warm")
    }
    variants = {v["variant"]: v for v in body["variants"]}
    assert variants["warm"]["metrics"]["revenue_90d"]["mean"] == pytest.approx(
        sum(per_variant["warm"]) / len(per_variant["warm"])
    )
    assert variants["neutral"]["metrics"]["repeat_purchase_90d"]["n"] == len(bought["neutral"])
    treatment = body["treatments"][0]["metrics"]
    for metric, values in (("revenue_90d", per_variant), ("repeat_purchase_90d", bought)):
        expected = welch(values["neutral"], values["warm"])
        got = treatment[metric]["comparison"]
        assert got["absolute"] == pytest.approx(expected["absolute"])
        assert got["absolute_ci"][0] == pytest.approx(expected["low"])
        assert got["p_value"] == pytest.approx(expected["p"])
    assert body["power"]["metric"] == "revenue_90d"
    assert body["power"]["required_per_variant"] > 0
    assert sum(body["sample_ratio"]["assignments"].values()) >= 90
    # The primary metric of the TOML is a survey metric: no outcome section unless asked.
    plain = await results(app, client, headers, "counter-wording")
    assert plain["outcomes"] == []
    assert "revenue_90d" not in plain["variants"][0]["metrics"]
    bad = await client.get(
        "/api/v1/experiments/counter-wording/results",
        params={"metric": "revenue_60d"},
        headers=headers,
    )
    assert bad.status_code == 400
    assert "metric" in bad.text


async def test_an_answer_writes_its_own_assignment_once(
    settings: Settings, db: asyncpg.Connection
) -> None:
    """A form answered before the recorder wrote its assignment leaves the buffer: the
    answer's statement writes it (once), and nothing is left to insert the same key again."""
    app = create_app(msgspec.structs.replace(settings, assignment_flush_seconds=3600))
    async with running(app):
        recorder = app.state.surveys.recorder
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            served = [(await c.get("/api/v1/surveys/nps-empathy")).json() for _ in range(3)]
            assert recorder.pending == 3
            answer = {"token": served[0]["token"], "answers": {"recommend": 10}}
            posted = await c.post("/api/v1/surveys/nps-empathy/responses", json=answer)
            assert posted.status_code == 201
            assert recorder.pending == 2  # the answered one was written with its answer
            assert await recorder.flush() == 2
    rows = await db.fetch(
        "SELECT a.token_nonce, r.id IS NOT NULL AS answered FROM assignment a"
        " LEFT JOIN response r USING (survey_id, token_nonce)"
    )
    assert sorted(r["answered"] for r in rows) == [False, False, True]


async def test_forms_and_answers_write_their_keys_in_one_order(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """The recorder and the answers' statement insert assignments in (survey, nonce)
    order, whatever order they came in: two statements inserting overlapping keys in
    different orders deadlock (PostgreSQL breaks it after a second, a p99 of 800 ms under
    load with two workers)."""
    surveys = app.state.surveys
    info = surveys.survey("nps-empathy")
    nonces = sorted((uuid.uuid4().bytes for _ in range(6)), reverse=True)
    claims = [
        surveys.claims(
            info.version_id, nonce=n, variant=None, channel="api", language="en", metadata={}
        )
        for n in nonces
    ]
    served = [NewAssignment.from_claims(info.survey_id, c) for c in claims[:3]]
    await insert_assignments(app.state.db, served)
    # Answered before the recorder wrote their forms: one statement writes all three.
    before = surveys.writer.statements
    await asyncio.gather(*(surveys.store(info, c, {"recommend": 8}) for c in claims[3:]))
    assert surveys.writer.statements == before + 1

    async def nonces_of(table: str) -> list[bytes]:
        rows = await db.fetch(f"SELECT token_nonce FROM {table} ORDER BY id")
        return [r["token_nonce"].bytes for r in rows]

    assert await nonces_of("assignment") == sorted(nonces[:3]) + sorted(nonces[3:])
    assert await nonces_of("response") == sorted(nonces[3:])


def _served(app: Litestar, variant: str, count: int) -> list[NewAssignment]:
    info = app.state.surveys.survey("nps-empathy")
    return [
        NewAssignment(info.survey_id, info.version_id, new_nonce(), variant, "api", "en", {})
        for _ in range(count)
    ]


async def test_a_batch_holding_a_written_key_writes_the_rest(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """COPY cannot skip a key already written (an answer stored its assignment first, or a
    retried batch): the batch is written again skipping it, and the stored row stays."""
    first = _served(app, "warm", 2)
    await insert_assignments(app.state.db, first)
    again = [msgspec.structs.replace(a, variant="plain") for a in first] + _served(app, "plain", 3)
    await insert_assignments(app.state.db, again)
    rows = await db.fetch("SELECT token_nonce, variant FROM assignment")
    stored = {r["token_nonce"].bytes: r["variant"] for r in rows}
    assert stored == {a.nonce: "warm" for a in first} | {a.nonce: "plain" for a in again[2:]}


async def test_a_flush_writes_what_was_buffered_when_it_began(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """Forms served while a flush writes wait for the next one (a drain until empty wrote
    a small statement for each handful that came in meanwhile); stop() leaves none."""
    late = _served(app, "plain", 2)
    recorder = AssignmentRecorder(
        CopyingWhileServing(app.state.db, lambda: [recorder.record(a) for a in late]),
        interval=3600,
    )
    for assignment in _served(app, "warm", 3):
        recorder.record(assignment)
    assert await recorder.flush() == 3
    assert recorder.pending == 2
    assert await db.fetchval("SELECT count(*) FROM assignment") == 3
    await recorder.stop()
    assert recorder.pending == 0
    assert await db.fetchval("SELECT count(*) FROM assignment WHERE variant = 'plain'") == 2


async def test_forms_served_past_the_high_water_mark_wait_for_their_writing(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """Forms are never served faster than their assignments are written: past the mark,
    the form that crosses it is answered only once the buffer is written."""
    recorder = AssignmentRecorder(app.state.db, interval=3600, high_water=5)
    for assignment in _served(app, "warm", 4):
        recorder.record(assignment)
        await recorder.room()
    assert (recorder.pending, await db.fetchval("SELECT count(*) FROM assignment")) == (4, 0)
    for assignment in _served(app, "warm", 2):
        recorder.record(assignment)
        await recorder.room()
    assert (recorder.pending, await db.fetchval("SELECT count(*) FROM assignment")) == (1, 5)
    await recorder.stop()


async def test_pages_past_the_mark_are_answered_once_their_forms_are_written(
    app: Litestar,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = AssignmentRecorder(app.state.db, interval=3600, high_water=3)
    monkeypatch.setattr(app.state.surveys, "recorder", recorder)
    for _ in range(3):  # three customers
        client.cookies.clear()
        assert (await client.get("/s/counter-check")).status_code == 200
    assert (recorder.pending, await db.fetchval("SELECT count(*) FROM assignment")) == (0, 3)


async def test_while_writes_fail_forms_are_served_without_waiting(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """The database away: one write is tried (and fails) when the mark is passed, then no
    form waits until a write works again (the periodic writer's retry)."""
    failing = FailingCopies(app.state.db)
    recorder = AssignmentRecorder(failing, interval=3600, high_water=2)
    for assignment in _served(app, "warm", 5):
        recorder.record(assignment)
        await recorder.room()  # never raises
    assert (failing.attempts, recorder.pending) == (1, 5)
    failing.broken = False
    assert await recorder.flush() == 5  # the periodic writer's next run
    for assignment in _served(app, "warm", 2):
        recorder.record(assignment)
        await recorder.room()
    assert (failing.attempts, recorder.pending) == (3, 0)
    assert await db.fetchval("SELECT count(*) FROM assignment") == 7


class FailingCopies(Database):
    """A database whose COPYs fail while ``broken`` (each attempt counted)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.pool, db.dsn)
        self.broken, self.attempts = True, 0

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
    ) -> None:
        self.attempts += 1
        if self.broken:
            raise ConnectionResetError("the database is away")
        await super().copy_records(table, columns, records)


class CopyingWhileServing(Database):
    """A database whose first COPY runs ``during_copy`` first (forms served meanwhile)."""

    def __init__(self, db: Database, during_copy: Callable[[], object]) -> None:
        super().__init__(db.pool, db.dsn)
        self.during_copy: Callable[[], object] | None = during_copy

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
    ) -> None:
        if self.during_copy is not None:
            self.during_copy()
            self.during_copy = None
        await super().copy_records(table, columns, records)
