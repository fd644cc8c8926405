"""KPIs against an independent, straightforward computation over the raw rows (1e-9)."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import math
import random
import statistics
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar
from scipy import stats as scipy_stats

from survey_service.apikeys.service import ApiKeyInfo, create_key, revoke_key
from survey_service.db.engine import pooled
from survey_service.reporting import queries, rollups
from survey_service.reporting.columns import GRAINS
from survey_service.reporting.queries import AggregateQuery
from survey_service.reporting.rollups import fold_all, rebuild
from survey_service.reporting.service import KpiParams, ReportingService
from tests.rows import T0, insert, insert_assignments, rollup_tables

ADMIN = ApiKeyInfo(
    id=0,
    name="t",
    prefix="t",
    scopes=["admin"],
    surveys=[],
    created_at=T0,
    revoked_at=None,
    last_used_at=None,
)

# --- the independent computation ----------------------------------------------------------


def t_interval(
    values: list[float], low: float, high: float
) -> tuple[float | None, float | None, float | None]:
    """The mean and its t interval, cut to the metric's range [low, high]."""
    if not values:
        return None, None, None
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None, None
    half = scipy_stats.t.ppf(0.975, len(values) - 1) * math.sqrt(
        statistics.variance(values) / len(values)
    )
    return mean, max(low, mean - half), min(high, mean + half)


def wilson(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    z = scipy_stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * p, 100 * max(0, centre - half), 100 * min(1, centre + half)


def expected_kpis(
    rows: list[asyncpg.Record], cohort: tuple[int, int] | None = None
) -> dict[str, tuple[Any, ...]]:
    """Every KPI computed by hand from raw rows; the response rate from ``cohort`` (forms
    served in the window, how many of them answered) when given."""
    nps = [
        100 if r["nps"] >= 9 else 0 if r["nps"] >= 7 else -100 for r in rows if r["nps"] is not None
    ]
    csat = [r["csat"] for r in rows if r["csat"] is not None]
    items: dict[str, list[float]] = defaultdict(list)
    empathy = []
    for r in rows:
        scaled = []
        if r["empathy_understood"] is not None:
            scaled.append((r["empathy_understood"] - 1) / 4 * 100)
            items["empathy_understood"].append(scaled[-1])
        if r["empathy_cared"] is not None:
            scaled.append(100.0 if r["empathy_cared"] else 0.0)
            items["empathy_cared"].append(scaled[-1])
        if r["empathy_emotional"] is not None:
            scaled.append((r["empathy_emotional"] - 1) / 4 * 100)
            items["empathy_emotional"].append(scaled[-1])
        if r["empathy_influence"] is not None:
            items["empathy_influence"].append((r["empathy_influence"] - 1) / 4 * 100)
        if scaled:
            empathy.append(statistics.fmean(scaled))
    classes = [100 * r["sentiment_class"] for r in rows if r["sentiment_class"] is not None]
    comments = [r for r in rows if r["comment"] is not None]
    out = {
        "nps": (*t_interval(nps, -100, 100), len(nps)),
        "csat_top2": (*wilson(sum(c >= 4 for c in csat), len(csat)), len(csat)),
        "csat_mean": (*t_interval([float(c) for c in csat], 1, 5), len(csat)),
        "empathy_index": (*t_interval(empathy, 0, 100), len(empathy)),
        "css": (*t_interval([float(c) for c in classes], -100, 100), len(classes)),
        "heard_share": (
            *wilson(sum("felt_heard" in r["sentiment_cues"] for r in comments), len(comments)),
            len(comments),
        ),
        "ignored_share": (
            *wilson(sum("not_heard" in r["sentiment_cues"] for r in comments), len(comments)),
            len(comments),
        ),
    }
    for name in ("empathy_understood", "empathy_emotional", "empathy_influence"):
        out[name] = (*t_interval(items[name], 0, 100), len(items[name]))
    cared = items["empathy_cared"]  # yes/no: a share with its Wilson interval
    out["empathy_cared"] = (*wilson(int(sum(cared)) // 100, len(cared)), len(cared))
    if cohort is not None:
        served, answered = cohort
        out["response_rate"] = (*wilson(answered, served), served)
    return out


async def cohort(
    db: asyncpg.Connection, slug: str, where: str = "TRUE", *args: Any
) -> tuple[int, int]:
    """Forms served (assignments ``a`` matching ``where``) and how many have a response."""
    row = await db.fetchrow(
        "SELECT count(*) AS served, count(r.id) AS answered FROM assignment a"
        " JOIN survey s ON s.id = a.survey_id LEFT JOIN response r"
        " ON r.survey_id = a.survey_id AND r.token_nonce = a.token_nonce"
        f" WHERE s.slug = $1 AND {where}",
        slug,
        *args,
    )
    return row["served"], row["answered"]


def assert_matches(kpis: dict[str, Any], expected: dict[str, tuple[Any, ...]]) -> None:
    for name, (value, low, high, n) in expected.items():
        got = kpis[name]
        assert got["n"] == n, name
        for field, want in (("value", value), ("ci_low", low), ("ci_high", high)):
            if want is None:
                assert got[field] is None, (name, field)
            else:
                assert got[field] == pytest.approx(want, rel=1e-9, abs=1e-9), (name, field)


# --- data ---------------------------------------------------------------------------------


async def raw_rows(
    db: asyncpg.Connection, slug: str, where: str = "TRUE", *args: Any
) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            f"SELECT r.* FROM response r JOIN survey s ON s.id = r.survey_id WHERE s.slug = $1 AND {where}",
            slug,
            *args,
        )
    )


async def random_csat(db: asyncpg.Connection, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(count):
        await insert(
            db,
            "empathy-csat",
            at=T0 + dt.timedelta(hours=rng.randint(0, 24 * 20), minutes=rng.randint(0, 59)),
            agent=rng.choice(["a1", "a2", "a3"]),
            flagged=rng.random() < 0.1,
            csat=rng.randint(1, 5),
            understood=rng.choice([None, 1, 2, 3, 4, 5, 5]),
            cared=rng.choice([None, True, False, True]),
            emotional=rng.choice([None, 1, 3, 4, 5]),
            comment=rng.choice([None, "x", "y"]),
            sentiment=rng.choice([None, -1, 0, 1, 1]) if i % 2 else None,
            cues=tuple(rng.sample(["felt_heard", "not_heard", "waited"], rng.randint(0, 2))),
        )


@pytest.fixture
def service(app: Litestar) -> ReportingService:
    """The app's reporting with no suppression, for exact comparisons on small data."""
    return ReportingService(app.state.db, app.state.surveys.catalog, min_n=1)


async def report(service: ReportingService, slug: str, **params: Any) -> dict[str, Any]:
    result = await service.survey_kpis(ADMIN, slug, KpiParams(**params))
    decoded: dict[str, Any] = msgspec.to_builtins(result)
    return decoded


# --- correctness --------------------------------------------------------------------------


async def test_every_kpi_matches_an_independent_computation(
    app: Litestar, service: ReportingService, db: asyncpg.Connection
) -> None:
    await random_csat(db, 150, seed=7)
    await fold_all(app.state.db, "UTC")  # the first half comes from rollups ...
    await random_csat(db, 150, seed=8)  # ... the second from the unfolded tail
    await insert_assignments(db, "empathy-csat", 400, T0 + dt.timedelta(hours=5))
    rows = await raw_rows(db, "empathy-csat", "cardinality(flags) = 0")
    result = await report(service, "empathy-csat")
    assert result["n"] == len(rows)
    served = await cohort(db, "empathy-csat")
    assert served[0] == 300 + 400
    assert_matches(result["kpis"], expected_kpis(rows, served))
    everything = await report(service, "empathy-csat", include_flagged=True)
    assert_matches(everything["kpis"], expected_kpis(await raw_rows(db, "empathy-csat"), served))


async def test_window_edges_inside_hours_use_raw_rows(
    app: Litestar, service: ReportingService, db: asyncpg.Connection
) -> None:
    await random_csat(db, 200, seed=11)
    await fold_all(app.state.db, "UTC")
    start, end = T0 + dt.timedelta(hours=30, minutes=17), T0 + dt.timedelta(days=9, minutes=41)
    rows = await raw_rows(
        db,
        "empathy-csat",
        "r.created_at >= $2 AND r.created_at < $3 AND cardinality(r.flags) = 0",
        start,
        end,
    )
    await random_csat(db, 60, seed=12)  # some answers not folded yet
    rows = await raw_rows(
        db,
        "empathy-csat",
        "r.created_at >= $2 AND r.created_at < $3 AND cardinality(r.flags) = 0",
        start,
        end,
    )
    result = await report(service, "empathy-csat", start=start.isoformat(), end=end.isoformat())
    assert result["n"] == len(rows)
    # Forms served just before the window and answered in it do not count; forms served in
    # it and answered after it do (a cohort by serving time): never above 100%.
    served = await cohort(
        db, "empathy-csat", "a.created_at >= $2 AND a.created_at < $3", start, end
    )
    assert_matches(result["kpis"], expected_kpis(rows, served))


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Adelaide"])
async def test_daily_groups_by_agent_in_local_time(
    app: Litestar, service: ReportingService, db: asyncpg.Connection, zone: str
) -> None:
    await random_csat(db, 120, seed=3)
    await fold_all(app.state.db, "UTC")
    await random_csat(db, 40, seed=4)
    result = await report(service, "empathy-csat", tz=zone, group_by="day,agent")
    tz = zoneinfo.ZoneInfo(zone)
    grouped: dict[tuple[str, str], list[asyncpg.Record]] = defaultdict(list)
    for r in await raw_rows(db, "empathy-csat", "cardinality(flags) = 0"):
        day = r["created_at"].astimezone(tz).date().isoformat()
        grouped[(day, json.loads(r["metadata"])["agent"])].append(r)
    # Groups with served forms only (served before midnight, answered after) have n 0.
    got = {(g["key"]["day"], g["key"]["agent"]): g for g in result["groups"] if g["n"]}
    assert set(got) == set(grouped)
    for key, rows in grouped.items():
        assert got[key]["n"] == len(rows)
        assert_matches(got[key]["kpis"], expected_kpis(rows))
    # The breakdown's whole (its groups added up) is the report without groups, served
    # forms (and their rate) included.
    whole = await report(service, "empathy-csat", tz=zone)
    assert (result["n"], result["suppressed"]) == (whole["n"], whole["suppressed"])
    assert result["kpis"] == whole["kpis"]
    assert whole["kpis"]["response_rate"]["n"] > 0


@pytest.mark.parametrize(
    ("group_by", "filters", "grain"),
    [
        ("", {}, "totals"),
        ("variant", {"language": "en"}, "totals"),
        ("day,agent", {}, "staff"),
        ("touchpoint", {"location": "north"}, "staff"),
        ("agent", {"channel": "qr"}, "daily"),
        ("agent,variant", {}, "daily"),
    ],
)
def test_a_read_takes_the_first_daily_rollup_holding_its_dimensions(
    group_by: str, filters: dict[str, str], grain: str
) -> None:
    query = AggregateQuery(
        survey_ids=[1], group_by=[g for g in group_by.split(",") if g], filters=dict(filters)
    )
    assert queries._grain(query) == grain
    elsewhere = msgspec.structs.replace(query, time_zone="America/New_York")
    assert queries._grain(elsewhere) == "hourly"


async def test_the_staff_rollups_filled_from_the_daily_ones_equal_the_fold(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """The migration that added the staff rollups filled them from the daily rollups."""
    await random_csat(db, 200, seed=21)
    await insert_assignments(db, "empathy-csat", 50, T0 + dt.timedelta(hours=3))
    await fold_all(app.state.db, "UTC")
    folded = await rollup_tables(db)
    staff = [f"{t}_rollup_daily_staff" for t in ("response", "assignment")]
    assert all(folded[table] for table in staff)
    await db.execute(f"TRUNCATE {', '.join(staff)}")
    migration = importlib.import_module("migrations.survey_service_2026_11_26t19_30_00_000000")
    for statement in migration.STATEMENTS:
        if statement.startswith(("INSERT", "SELECT")):
            await db.execute(statement)
    assert await rollup_tables(db) == folded


async def test_half_past_eleven_local_lands_on_the_local_day(
    app: Litestar, service: ReportingService, db: asyncpg.Connection
) -> None:
    # 23:30 in New York on 10 March = 03:30 UTC on 11 March.
    late = dt.datetime(2026, 3, 10, 23, 30, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    await insert(db, "nps-empathy", at=late, nps=10)
    await insert(db, "nps-empathy", at=late + dt.timedelta(hours=1), nps=0)
    await fold_all(app.state.db, "UTC")
    result = await report(service, "nps-empathy", tz="America/New_York", group_by="day")
    assert [(g["key"]["day"], g["kpis"]["nps"]["value"]) for g in result["groups"]] == [
        ("2026-03-10", 100.0),
        ("2026-03-11", -100.0),
    ]
    utc = await report(service, "nps-empathy", group_by="day")
    assert [g["key"]["day"] for g in utc["groups"]] == ["2026-03-11"]
    local_day = await report(
        service, "nps-empathy", tz="America/New_York", start="2026-03-10", end="2026-03-10"
    )
    assert local_day["n"] == 1


async def test_empty_one_all_promoters_all_detractors(
    app: Litestar, service: ReportingService, db: asyncpg.Connection
) -> None:
    empty = await report(service, "nps-empathy")
    assert empty["n"] == 0
    assert empty["suppressed"] is True  # n = 0 is below any minimum
    await insert(db, "nps-empathy", at=T0, nps=9)
    one = (await report(service, "nps-empathy"))["kpis"]["nps"]
    assert (one["value"], one["ci_low"], one["ci_high"], one["n"]) == (100.0, None, None, 1)
    for _ in range(4):
        await insert(db, "nps-empathy", at=T0, nps=10)
    promoters = (await report(service, "nps-empathy"))["kpis"]["nps"]
    assert (promoters["value"], promoters["ci_low"], promoters["ci_high"]) == (100.0, 100.0, 100.0)
    assert (promoters["promoters"], promoters["promoter_share"]) == (5, 100.0)
    await db.execute("UPDATE response SET nps = 3")
    await rebuild(app.state.db, "UTC")
    detractors = (await report(service, "nps-empathy"))["kpis"]["nps"]
    assert (detractors["value"], detractors["detractors"], detractors["detractor_share"]) == (
        -100.0,
        5,
        100.0,
    )


async def test_groups_below_the_minimum_are_suppressed(
    app: Litestar, db: asyncpg.Connection
) -> None:
    strict = ReportingService(app.state.db, app.state.surveys.catalog, min_n=5)
    for agent, count in (("big", 6), ("small", 2)):
        for _ in range(count):
            await insert(db, "nps-empathy", at=T0, nps=8, agent=agent)
    result = msgspec.to_builtins(
        await strict.survey_kpis(ADMIN, "nps-empathy", KpiParams(group_by="agent"))
    )
    small = next(g for g in result["groups"] if g["key"]["agent"] == "small")
    big = next(g for g in result["groups"] if g["key"]["agent"] == "big")
    assert (small["n"], small["suppressed"], small["kpis"]) == (2, True, None)
    assert big["suppressed"] is False
    assert big["kpis"]["nps"]["value"] == 0.0


async def test_rebuild_equals_the_incremental_state(
    app: Litestar, service: ReportingService, db: asyncpg.Connection
) -> None:
    await random_csat(db, 100, seed=21)
    await fold_all(app.state.db, "UTC", batch_size=37)  # many small batches
    await random_csat(db, 100, seed=22)
    await insert_assignments(db, "empathy-csat", 30, T0)
    await fold_all(app.state.db, "UTC")
    incremental = await rollup_tables(db)
    assert all(incremental.values())
    await rebuild(app.state.db, "UTC")
    assert await rollup_tables(db) == incremental
    assert await db.fetchval("SELECT count(*) FROM response_unfolded") == 0


async def test_the_wide_sum_holds_a_busy_day_beyond_an_integer(
    app: Litestar, service: ReportingService, db: asyncpg.Connection
) -> None:
    """Rollup sums are integers except the squares of the empathy index (``WIDE_SUMS``):
    6,000 top-empathy answers of one agent on one day sum to 2,160,000,000 there, past an
    integer's 2,147,483,647; the fold and the read stay exact."""
    survey_id, version_id = await db.fetchrow(
        "SELECT id, current_version_id FROM survey WHERE slug = 'counter-check'"
    )
    rows = [
        (survey_id, version_id, uuid.uuid4(), "link", "en", '{"agent": "a1"}', "{}", 5, True, 5, T0)
        for _ in range(6000)
    ]
    columns = ["survey_id", "survey_version_id", "token_nonce", "channel", "language"]
    columns += ["metadata", "answers", "empathy_understood", "empathy_cared"]
    await db.copy_records_to_table(
        "response", records=rows, columns=[*columns, "empathy_emotional", "created_at"]
    )
    await fold_all(app.state.db, "UTC")
    for rollup in (f"response_rollup{grain.suffix}" for grain in GRAINS):
        sums = await db.fetchrow(f"SELECT n, empathy_sum6, empathy_sumsq36 FROM {rollup}")
        assert tuple(sums) == (6000, 6000 * 600, 6000 * 600 * 600)
        assert sums[2] > 2**31 - 1
    index = (await report(service, "counter-check", group_by="day"))["groups"][0]["kpis"]
    assert (index["empathy_index"]["value"], index["empathy_index"]["n"]) == (100.0, 6000)
    assert index["empathy_index"]["ci_low"] == index["empathy_index"]["ci_high"] == 100.0


async def test_folding_never_rewrites_a_response_or_an_assignment(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """The fold takes rows off its queue: every row version stays where the insert put it
    (no UPDATE, so no dead versions for autovacuum to chase), through folds and a rebuild."""
    await random_csat(db, 80, seed=41)
    await insert_assignments(db, "empathy-csat", 20, T0)
    versions = "SELECT array_agg((ctid, xmin)::text ORDER BY id) FROM {}"
    before = [await db.fetchval(versions.format(t)) for t in ("response", "assignment")]
    assert await db.fetchval("SELECT count(*) FROM response_unfolded") == 80
    await fold_all(app.state.db, "UTC", batch_size=30)
    assert await db.fetchval("SELECT count(*) FROM response_unfolded") == 0
    await rebuild(app.state.db, "UTC")
    after = [await db.fetchval(versions.format(t)) for t in ("response", "assignment")]
    assert after == before


async def test_the_fold_does_not_chase_rows_that_arrive_while_it_runs(
    app: Litestar, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full batch means more is waiting: fold again. A batch that was not full took all
    there was when it began; rows that arrived meanwhile wait for the next period, or under
    load the fold would run back to back on a few rows at a time."""
    await random_csat(db, 40, seed=45)
    real_fold = rollups.fold
    batches: list[tuple[int, bool]] = []

    async def fold_while_answers_arrive(*args: Any) -> tuple[int, bool]:
        batch = await real_fold(*args)
        batches.append(batch)
        await random_csat(db, 5, seed=46 + len(batches))
        return batch

    monkeypatch.setattr(rollups, "fold", fold_while_answers_arrive)
    assert await fold_all(app.state.db, "UTC", batch_size=30) == 90
    assert batches == [(60, True), (30, False)]  # 40 + 40 then 10 + 5 of each
    assert await db.fetchval("SELECT count(*) FROM response_unfolded") == 5


async def test_the_fold_statements_are_prepared_once_per_connection(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """The fold's statements (22 KB) stay in the connection's statement cache: an uncached
    one is parsed and planned again on every fold."""
    one = await pooled(app.state.db.dsn, pool_max=1, transaction_pooler=False)
    try:
        for seed in (47, 48):
            await random_csat(db, 5, seed=seed)
            assert await fold_all(one, "UTC") == 10
        prepared = [r["statement"] for r in await one.fetch("TABLE pg_prepared_statements")]
    finally:
        await one.close()
    for queue in ("response_unfolded", "assignment_unfolded"):
        assert sum(f"DELETE FROM {queue}" in statement for statement in prepared) == 1


async def test_the_fold_plans_each_claim_for_the_queue_as_it_is_then(
    app: Litestar, db: asyncpg.Connection
) -> None:
    """A plan cached while a queue was (vacuumed) empty scans the whole queue for every
    row it deletes once the queue has grown: PostgreSQL switches a prepared statement to
    its generic plan after five executions, and that plan was a sequential scan testing
    each row against the batch's row addresses (one fold of 20,000 took 20 s at 450,000
    queued). So every fold plans its statements for the queue as it is then."""
    await db.execute("VACUUM response_unfolded, assignment_unfolded")  # both empty: 0 rows
    one = await pooled(app.state.db.dsn, pool_max=1, transaction_pooler=False)
    try:
        for seed in range(8):  # more than the five custom plans PostgreSQL makes first
            await random_csat(db, 1, seed=seed)
            assert await fold_all(one, "UTC") == 2
        plans = await one.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
    finally:
        await one.close()
    for queue in ("response_unfolded", "assignment_unfolded"):
        [(generic, custom)] = [
            (r["generic_plans"], r["custom_plans"]) for r in plans if queue in r["statement"]
        ]
        assert (generic, custom) == (0, 8)


async def test_a_large_fold_leaves_its_tables_vacuumed_and_analyzed(
    app: Litestar, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After many rows taken off the queues (in one pass, or in many small ones: the
    periodic job's), the fold vacuums its queues and vacuums and analyzes the rollups it
    rewrote: reads need no autovacuum (off on some servers) for lean queues and fresh
    statistics."""
    monkeypatch.setattr(rollups, "VACUUM_AFTER", 100)
    monkeypatch.setattr(rollups, "ANALYZE_AFTER", 140)
    upkeep = rollups.Upkeep()
    started = await db.fetchval("SELECT now()")
    await random_csat(db, 40, seed=43)
    assert await fold_all(app.state.db, "UTC", upkeep=upkeep) == 80  # answers and forms
    unvacuumed = await db.fetchval(
        "SELECT count(*) FROM pg_stat_user_tables WHERE relname LIKE '%unfolded'"
        " AND last_vacuum > $1",
        started,
    )
    assert unvacuumed == 0
    await random_csat(db, 40, seed=44)
    await fold_all(app.state.db, "UTC", upkeep=upkeep)  # 160 in all: past both
    rows = await db.fetch(
        "SELECT relname, last_vacuum, last_analyze FROM pg_stat_user_tables"
        " WHERE relname LIKE '%rollup%' OR relname LIKE '%unfolded'"
    )
    vacuumed = {r["relname"] for r in rows if (r["last_vacuum"] or started) > started}
    analyzed = {r["relname"] for r in rows if (r["last_analyze"] or started) > started}
    rollup_names = {
        f"{t}_rollup{g}"
        for t in ("response", "assignment")
        for g in (grain.suffix for grain in GRAINS)
    }
    assert vacuumed == rollup_names | {"response_unfolded", "assignment_unfolded"}
    assert analyzed == rollup_names
    rebuilt = await db.fetchval("SELECT now()")
    await rebuild(app.state.db, "UTC")  # and a rebuild analyzes what it wrote
    analyzed_again = await db.fetchval(
        "SELECT count(*) FROM pg_stat_user_tables WHERE relname LIKE '%rollup%'"
        " AND last_analyze > $1",
        rebuilt,
    )
    assert analyzed_again == len(rollup_names)


async def test_young_rollups_are_analyzed_soon_then_less_and_less_often(
    app: Litestar, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process analyzes the rollups after its first FIRST_ANALYZE rows, then after as
    many rows again as it had folded before (not only every ANALYZE_AFTER rows)."""
    monkeypatch.setattr(rollups, "FIRST_ANALYZE", 50)
    upkeep = rollups.Upkeep()

    async def analyzed_since(moment: object) -> int:
        count: int = await db.fetchval(
            "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'response_rollup_daily'"
            " AND last_analyze > $1",
            moment,
        )
        return count

    start = await db.fetchval("SELECT now()")
    await random_csat(db, 30, seed=61)
    assert await fold_all(app.state.db, "UTC", upkeep=upkeep) == 60  # answers and forms
    assert await analyzed_since(start) == 1  # past the first 50
    second = await db.fetchval("SELECT now()")
    await random_csat(db, 20, seed=62)
    await fold_all(app.state.db, "UTC", upkeep=upkeep)  # 40 since: under the 60 before
    assert await analyzed_since(second) == 0
    await random_csat(db, 20, seed=63)
    await fold_all(app.state.db, "UTC", upkeep=upkeep)  # 80 since: past them
    assert await analyzed_since(second) == 1
    assert upkeep.analyzed_after == 140


async def test_daily_rollups_in_the_business_zone(app: Litestar, db: asyncpg.Connection) -> None:
    await random_csat(db, 150, seed=31)
    zone = "America/New_York"
    await rebuild(app.state.db, zone)
    await random_csat(db, 50, seed=32)  # an unfolded tail on top of the daily rollups
    try:
        local = ReportingService(app.state.db, app.state.surveys.catalog, min_n=1, time_zone=zone)
        result = msgspec.to_builtins(
            await local.survey_kpis(
                ADMIN,
                "empathy-csat",
                KpiParams(start="2026-03-04", end="2026-03-15", group_by="week"),
            )
        )
        tz = zoneinfo.ZoneInfo(zone)
        rows = [
            r
            for r in await raw_rows(db, "empathy-csat", "cardinality(r.flags) = 0")
            if dt.date(2026, 3, 4) <= r["created_at"].astimezone(tz).date() <= dt.date(2026, 3, 15)
        ]
        assert result["time_zone"] == zone
        assert result["n"] == len(rows)
        assert_matches(result["kpis"], expected_kpis(rows))
        weeks: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for r in rows:
            day = r["created_at"].astimezone(tz).date()
            weeks[(day - dt.timedelta(days=day.weekday())).isoformat()].append(r)
        assert {g["key"]["week"]: g["n"] for g in result["groups"]} == {
            k: len(v) for k, v in weeks.items()
        }
    finally:
        await rebuild(app.state.db, "UTC")


async def test_business_wide_kpis_only_count_surveys_that_ask(
    service: ReportingService, db: asyncpg.Connection
) -> None:
    await insert(db, "nps-empathy", at=T0, nps=10)
    await insert(db, "nps-empathy", at=T0, nps=2)
    await insert(db, "empathy-csat", at=T0, csat=5, understood=5)
    result = msgspec.to_builtins(
        await service.business_kpis(ADMIN, [], KpiParams(group_by="survey"))
    )
    assert result["n"] == 3
    assert result["kpis"]["nps"]["n"] == 2
    assert result["kpis"]["csat_mean"]["n"] == 1
    assert {g["key"]["survey"]: g["n"] for g in result["groups"]} == {
        "nps-empathy": 2,
        "empathy-csat": 1,
    }


# --- over HTTP: keys and bad parameters ----------------------------------------------------


@pytest.fixture
async def key(app: Litestar, db: asyncpg.Connection) -> AsyncIterator[str]:
    created = await create_key(
        app.state.db, "tests", ["kpis:read"], ["nps-empathy", "empathy-csat"]
    )
    yield created.key
    await revoke_key(app.state.db, created.info.prefix)


async def test_kpis_need_a_live_key_with_the_scope(
    app: Litestar, client: httpx.AsyncClient, key: str, db: asyncpg.Connection
) -> None:
    url = "/api/v1/surveys/nps-empathy/kpis"
    assert (await client.get(url)).status_code == 401
    assert (
        await client.get(url, headers={"Authorization": "Bearer ssk_nope_x"})
    ).status_code == 401
    ok = await client.get(url, headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200, ok.text
    assert await db.fetchval(
        "SELECT last_used_at IS NOT NULL FROM api_key WHERE prefix = $1", key.split("_")[1]
    )
    other = await create_key(app.state.db, "responses only", ["responses:read"])
    assert (
        await client.get(url, headers={"Authorization": f"Bearer {other.key}"})
    ).status_code == 403
    await revoke_key(app.state.db, key.split("_")[1])
    assert (await client.get(url, headers={"Authorization": f"Bearer {key}"})).status_code == 401


async def test_a_key_never_sees_other_surveys(client: httpx.AsyncClient, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    outside = await client.get("/api/v1/surveys/counter-check/kpis", headers=headers)
    missing = await client.get("/api/v1/surveys/no-such/kpis", headers=headers)
    assert outside.status_code == missing.status_code == 404
    business = await client.get("/api/v1/kpis", headers=headers)
    assert sorted(business.json()["surveys"]) == ["empathy-csat", "nps-empathy"]
    assert (
        await client.get("/api/v1/kpis?survey=counter-check", headers=headers)
    ).status_code == 404


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("group_by=colour", "group_by"),
        ("group_by=day,agent,channel", "group_by"),
        ("tz=Mars/Olympus", "tz"),
        ("from=2026-03-05&to=2026-03-01", "from"),
        ("from=yesterday", "from"),
        ("variant=purple", "variant"),
        ("version=99", "version"),
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(
    client: httpx.AsyncClient, key: str, query: str, parameter: str
) -> None:
    response = await client.get(
        f"/api/v1/surveys/empathy-csat/kpis?{query}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == parameter


async def test_http_report_shape(
    client: httpx.AsyncClient, key: str, db: asyncpg.Connection
) -> None:
    for score in (10, 9, 9, 7, 3, 0):
        await insert(db, "nps-empathy", at=T0, nps=score, agent="n1")
    response = await client.get(
        "/api/v1/surveys/nps-empathy/kpis?agent=n1&from=2026-03-01&to=2026-03-31&tz=Europe/Madrid",
        headers={"Authorization": f"Bearer {key}"},
    )
    body = response.json()
    assert body["n"] == 6
    assert body["filters"] == {"agent": "n1"}
    nps = body["kpis"]["nps"]
    assert (nps["promoters"], nps["passives"], nps["detractors"]) == (3, 1, 2)
    assert nps["value"] == pytest.approx(100 / 6)


async def test_the_background_fold_folds_and_respects_the_kept_zone(
    app: Litestar, db: asyncpg.Connection
) -> None:
    from survey_service.lib.periodic import Periodic

    await rebuild(app.state.db, "UTC")
    await insert(db, "nps-empathy", at=T0, nps=9)
    other_zone = Periodic(lambda: fold_all(app.state.db, "Europe/Madrid"), 0.02, "fold-madrid")
    await other_zone.start()
    await asyncio.sleep(0.3)
    await other_zone.stop()
    assert await db.fetchval("SELECT count(*) FROM response_unfolded") == 1
    folder = Periodic(lambda: fold_all(app.state.db, "UTC"), 0.02, "fold-utc")
    await folder.start()
    for _ in range(100):
        if not await db.fetchval("SELECT count(*) FROM response_unfolded"):
            break
        await asyncio.sleep(0.05)
    await folder.stop()
    assert await db.fetchval("SELECT count(*) FROM response_unfolded") == 0
    assert await db.fetchval("SELECT sum(nps_n) FROM response_rollup_daily") == 1


async def test_low_trust_is_a_filter_not_an_abuse_flag(
    app: Litestar, service: ReportingService, db: asyncpg.Connection
) -> None:
    for score, low in ((10, True), (10, True), (0, False), (9, False)):
        await insert(db, "nps-empathy", at=T0, nps=score, low_trust=low, channel="qr")
    await insert(db, "nps-empathy", at=T0, nps=0, low_trust=True, flagged=True)
    await fold_all(app.state.db, "UTC")
    await insert(db, "nps-empathy", at=T0, nps=10, low_trust=True)  # unfolded tail too
    every = await report(service, "nps-empathy")
    high = await report(service, "nps-empathy", trust="high")
    low = await report(service, "nps-empathy", trust="low")
    assert (every["n"], high["n"], low["n"]) == (5, 2, 3)
    assert low["kpis"]["nps"]["value"] == 100.0
    assert (await report(service, "nps-empathy", include_flagged=True))["n"] == 6
    with pytest.raises(Exception, match="trust"):
        await report(service, "nps-empathy", trust="some")


async def test_answers_to_forms_served_before_the_window_never_push_the_rate_past_100(
    app: Litestar, service: ReportingService, db: asyncpg.Connection
) -> None:
    """Forms served yesterday and answered today (an invitation campaign, any "last hour"
    window): today has answers but no served forms; yesterday's cohort is all answered."""
    day = dt.timedelta(days=1)
    for _ in range(6):
        await insert(
            db, "nps-empathy", at=T0 + day + dt.timedelta(hours=3), nps=9, served_before=day
        )
    await insert_assignments(db, "nps-empathy", 2, T0 + dt.timedelta(hours=3))  # unanswered
    await insert_assignments(db, "nps-empathy", 1, T0 + day + dt.timedelta(hours=4))
    for folded in (False, True):
        if folded:
            await fold_all(app.state.db, "UTC")
        today = await report(
            service,
            "nps-empathy",
            start=(T0 + day).date().isoformat(),
            end=(T0 + day).date().isoformat(),
        )
        assert today["n"] == 6
        # 6 answers today, 1 form served today and not answered: 0 of 1, not 600%.
        assert today["kpis"]["response_rate"]["value"] == 0.0
        assert today["kpis"]["response_rate"]["n"] == 1
        yesterday = await report(
            service, "nps-empathy", start=T0.date().isoformat(), end=T0.date().isoformat()
        )
        assert yesterday["n"] == 0
        assert yesterday["groups"] == []
        rate = await report(
            service, "nps-empathy", start=T0.date().isoformat(), end=(T0 + day).date().isoformat()
        )
        assert rate["kpis"]["response_rate"]["value"] == pytest.approx(100 * 6 / 9)
        assert rate["kpis"]["response_rate"]["n"] == 9


@pytest.mark.parametrize(
    "queue", ["response_unfolded", "assignment_unfolded", "response_event_queue"]
)
@pytest.mark.parametrize("statistics", ["fresh", "stale"])
async def test_a_claim_takes_its_batch_by_key_and_row_address_whatever_the_statistics(
    db: asyncpg.Connection, queue: str, statistics: str
) -> None:
    """With a large backlog (a bulk load, a restart after downtime) each claim of the fold
    and of the alert job walks the queue's primary key, stops after its batch and deletes
    by row address: the same plan with fresh statistics and with stale ones (a vacuum
    while a bulk load's rows were uncommitted leaves the queue counted as empty)."""
    if statistics == "stale":
        await db.execute(f"VACUUM {queue}")  # empty now: zero rows recorded
    await db.execute(
        f"INSERT INTO {queue} (survey_id, id) SELECT 1 + g % 3, g FROM generate_series(1, 60000) g"
    )
    if statistics == "fresh":
        await db.execute(f"ANALYZE {queue}")
    try:
        plan = "\n".join(
            r[0] for r in await db.fetch("EXPLAIN " + rollups.queue_claim(queue, "1000"))
        )
        assert f"Index Scan using {queue}_pkey" in plan
        assert "Tid Scan" in plan
        assert "Join" not in plan
        assert "Sort" not in plan
    finally:
        await db.execute(f"TRUNCATE {queue}")
        await db.execute(f"ANALYZE {queue}")
