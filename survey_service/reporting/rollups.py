"""Incremental rollups: the fold that keeps them, a rebuild, and the zone they are kept in.

Writes never touch a rollup (no hot row lock in the response path). Every inserted response
and assignment is listed in ``response_unfolded`` / ``assignment_unfolded`` (a
statement-level trigger, so every writer does it). A fold job takes a batch off that queue
(``FOR UPDATE SKIP LOCKED``) and adds the rows' sums to every rollup of
:data:`.columns.GRAINS` in the same statement, so each row is counted exactly once: hourly
(UTC), daily (in the business's zone), daily totals (no staff or channel dimensions) and
daily staff (only the staff dimensions). Folding never updates a response
or an assignment, so it leaves no dead row versions in those big tables. The read side is
:mod:`survey_service.reporting.queries`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from survey_service.db import Database, Executor
from survey_service.reporting.columns import (
    DIMENSIONS,
    GRAINS,
    RESPONSE_AGGREGATES,
    SERVED_AGGREGATES,
    Grain,
)

__all__ = [
    "ABUSE_FLAGGED",
    "FOLD_LOCK",
    "LOW_TRUST",
    "Upkeep",
    "by_key",
    "ensure_zone",
    "erase_sql",
    "fold",
    "fold_all",
    "kept_zone",
    "plan_for_now",
    "prune_empty",
    "queue_claim",
    "rebuild",
    "vacuum_taken",
]

log = logging.getLogger(__name__)
FOLD_LOCK = 7_406_223

ABUSE_FLAGGED = "cardinality(array_remove(flags, 'low_trust'))"
"""Abuse flags (honeypot, too_fast ...): low_trust marks a channel, not a suspect answer."""
LOW_TRUST = "'low_trust' = ANY(flags)"


def _rollup_sql(
    table: str,
    aggregates: Sequence[tuple[str, str]],
    *,
    flagged: bool,
    batch: str,
    sign: str = "",
    only_folded: bool = False,
    before: str = "",
) -> str:
    """One statement: take the ``batch`` of ``table`` rows (a data-modifying CTE body) and add
    them (``sign`` "-": take them away) to the rollups of every grain, and, for responses, to
    the answered count of the forms they answer. ``only_folded``: the rollups hold only the
    batch's rows whose ``folded`` is true. ``before``: data-modifying CTEs the batch reads
    (``name AS (...),``). $1 is the daily zone."""
    where = "folded" if only_folded else "TRUE"
    # Every grain's bucket and dimensions (the hour and the local day both: an hour can
    # straddle two local days in a half-hour zone): the batch is summed once by all of
    # them, and each grain's upsert adds up those few sums, not the whole batch again
    # (7,000 rows measured alone: 25-40 to 15-21 µs a response, 11-14 to 4-7 an
    # assignment).
    finest = [
        ("hour", "date_trunc('hour', created_at, 'UTC')"),
        ("day", "(created_at AT TIME ZONE $1::text)::date"),
        *((d.column, d.expression) for d in DIMENSIONS),
    ]
    flags = [("flagged", f"{ABUSE_FLAGGED} > 0"), ("low_trust", LOW_TRUST)] if flagged else []

    def summed(name: str, source: str, key: list[tuple[str, str]], sums: str) -> str:
        positions = ", ".join(str(i) for i in range(1, len(key) + 2))
        columns = ", ".join(f"{expr} AS {column}" for column, expr in key)
        return (
            f"{name} AS (SELECT survey_id, {columns}, {sums} FROM {source}"
            f" WHERE {where} GROUP BY {positions})"
        )

    def upsert(
        rollup: str, source: str, grain: Grain, key_flags: list[str], names: list[str]
    ) -> str:
        """Add the sums ``names`` of ``source`` (a summed CTE) to ``rollup``, by ``grain``.
        An ``answered`` count goes into an assignment rollup with no forms served more."""
        key = ", ".join(["survey_id", grain.bucket, *(d.column for d in grain.dimensions)])
        key += "".join(f", {flag}" for flag in key_flags)
        positions = ", ".join(str(i) for i in range(1, key.count(",") + 2))
        updates = ", ".join(f"{n} = {rollup}.{n} + EXCLUDED.{n}" for n in names)
        served = names == ["answered"]
        return f"""{rollup}{"_answered" if served else ""} AS (
    INSERT INTO {rollup} ({key}, {"n, " if served else ""}{", ".join(names)})
    SELECT {key}, {"0, " if served else ""}{", ".join(f"sum({n})" for n in names)}
    FROM {source} GROUP BY {positions} ORDER BY {positions}
    ON CONFLICT ({key}) DO UPDATE SET {updates}
    RETURNING 1
)"""

    sums = ", ".join(f"{sign}coalesce(sum({expr}), 0) AS {name}" for name, expr in aggregates)
    ctes = [summed("fine", "batch", finest + flags, sums)]
    flag_names = [flag for flag, _ in flags]
    names = [name for name, _ in aggregates]
    ctes += [upsert(f"{table}_rollup{g.suffix}", "fine", g, flag_names, names) for g in GRAINS]
    if table == "response":
        # Each answer counts once for the form it answers: the assignment rollup bucket of
        # its serving time and the assignment's own dimensions (the response rate's
        # cohort). The forms are looked up once for every grain (a CTE read more than
        # once is computed once): each lookup took a third of the fold's time.
        ctes.append(
            f"answered AS (SELECT a.*{', b.folded' if only_folded else ''} FROM batch b"
            " JOIN assignment a ON a.survey_id = b.survey_id AND a.token_nonce = b.token_nonce)"
        )
        ctes.append(summed("answered_fine", "answered", finest, f"{sign}count(*) AS answered"))
        ctes += [
            upsert(f"assignment_rollup{g.suffix}", "answered_fine", g, [], ["answered"])
            for g in GRAINS
        ]
    upserts = ",\n".join(ctes)
    return f"""
WITH {before}batch AS ({batch}),
{upserts}
SELECT count(*) AS n FROM batch
"""


def by_key(table: str) -> str:
    """The ``table`` row (as ``t``) whose key is the current ``u`` row's (a queue row),
    looked up by its primary key. ``LIMIT 1`` keeps the planner from turning this into a
    hash join over a scan of the whole table, which it otherwise picks once a queue's dead
    rows make the queue look a few thousand rows long (200 ms instead of 5 at a million
    responses)."""
    return f"(SELECT * FROM {table} r WHERE r.survey_id = u.survey_id AND r.id = u.id LIMIT 1) t"


def queue_claim(queue: str, limit: str) -> str:
    """Take the oldest ``limit`` rows that no other claimer holds off a (survey_id, id)
    queue, returning their keys. Two choices keep the plan the same whatever the
    statistics say:

    - rows are chosen in the order of the primary key, an index scan that stops after
      ``limit`` rows (in ``id`` order alone every claim sorted the whole queue: 200 ms a
      claim with a million waiting, against 2.5 ms);
    - they are deleted by their row addresses (a TID scan), never through a join: a vacuum
      while a bulk load's rows were not yet committed once left the queue's statistics at
      zero rows with 885,000 waiting, and the planner then re-ran the choice for every
      queued row (a nested-loop semi-join; one claim ran for minutes).
    """
    return (
        f"DELETE FROM {queue} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {queue}"
        f" ORDER BY survey_id, id LIMIT {limit} FOR UPDATE SKIP LOCKED))"
        " RETURNING survey_id, id"
    )


async def plan_for_now(tx: Executor) -> None:
    """Plan the rest of this transaction's statements for the tables as they are now, never
    with a plan cached for them as they were (for :func:`queue_claim`'s callers).

    PostgreSQL switches a prepared statement to one generic plan after five executions,
    and keeps it until the tables' statistics change. Made while a queue was vacuumed
    empty, that plan sorts the whole queue and scans it again for every row it deletes,
    testing each against the batch's row addresses: once the queue had grown, one fold of
    20,000 took 20 s of a core at 450,000 queued (against 75 ms), the queue grew faster
    than it was folded, and pages and answers lost a third of their speed in the runs it
    happened in. Planning anew costs about a millisecond a statement, a few times a
    minute."""
    await tx.execute("SET LOCAL plan_cache_mode = force_custom_plan")


def _fold_sql(
    table: str, aggregates: Sequence[tuple[str, str]], *, flagged: bool, limit: bool
) -> str:
    """Add a batch of ``table`` rows to the rollups: taken off the queue (``limit``: $2 of
    them, oldest first), or every row (a rebuild, the queue emptied first). $1 the daily
    zone."""
    if not limit:
        return _rollup_sql(table, aggregates, flagged=flagged, batch=f"SELECT * FROM {table}")
    queued = f"queued AS ({queue_claim(table + '_unfolded', '$2')}), "
    batch = f"SELECT t.* FROM queued u CROSS JOIN LATERAL {by_key(table)}"
    return _rollup_sql(table, aggregates, flagged=flagged, batch=batch, before=queued)


def erase_sql(where: str) -> str:
    """Delete the responses ``where`` selects (its parameters from $2) and take the folded
    ones out of every rollup, in one statement: rollups stay equal to a rebuild. (Callers
    hold the fold's lock, so no fold is halfway through these rows.)"""
    gone = (
        f"gone AS (DELETE FROM response WHERE {where} RETURNING *), "
        "dequeued AS (DELETE FROM response_unfolded u USING gone"
        " WHERE u.survey_id = gone.survey_id AND u.id = gone.id RETURNING u.survey_id, u.id), "
    )
    batch = (
        "SELECT gone.*, NOT EXISTS (SELECT 1 FROM dequeued d"
        " WHERE d.survey_id = gone.survey_id AND d.id = gone.id) AS folded FROM gone"
    )
    return _rollup_sql(
        "response",
        RESPONSE_AGGREGATES,
        flagged=True,
        batch=batch,
        sign="-",
        only_folded=True,
        before=gone,
    )


_FOLDS = [
    (
        _fold_sql("response", RESPONSE_AGGREGATES, flagged=True, limit=True),
        _fold_sql("response", RESPONSE_AGGREGATES, flagged=True, limit=False),
    ),
    (
        _fold_sql("assignment", SERVED_AGGREGATES, flagged=False, limit=True),
        _fold_sql("assignment", SERVED_AGGREGATES, flagged=False, limit=False),
    ),
]
_ROLLUP_TABLES = [
    f"{table}_rollup{grain}"
    for table in ("response", "assignment")
    for grain in (g.suffix for g in GRAINS)
]


async def prune_empty(db: Executor, survey_ids: list[int]) -> None:
    """Drop rollup rows an erasure emptied (a rebuild would not have them)."""
    for grain in (g.suffix for g in GRAINS):
        await db.execute(
            f"DELETE FROM response_rollup{grain} WHERE survey_id = ANY($1) AND n = 0", survey_ids
        )
        await db.execute(
            f"DELETE FROM assignment_rollup{grain} WHERE survey_id = ANY($1)"
            " AND n = 0 AND answered = 0",
            survey_ids,
        )


async def kept_zone(db: Executor) -> str | None:
    zone: str | None = await db.fetchval("SELECT value FROM rollup_state WHERE name = 'daily_zone'")
    return zone


VACUUM_AFTER = 10_000
"""Rows taken off the queues before the fold vacuums them itself."""
ANALYZE_AFTER = 100_000
"""Rows folded into the rollups before the fold vacuums and analyzes them (at the latest)."""
FIRST_ANALYZE = 1_000
"""Rows folded before a process first vacuums and analyzes the rollups; then again after as
many rows as it had folded before (doubling up to :data:`ANALYZE_AFTER`). Young rollups
get statistics soon: a 1,810-group breakdown of 10,000 responses took 38-49 ms right after
the fold and 31-43 ms once the rollups were analyzed (29-38 vacuumed too)."""


async def vacuum_taken(db: Executor, queues: Sequence[str], taken: int) -> int:
    """Vacuum ``queues`` once ``taken`` rows (counted since their last vacuum) have come
    off them, as autovacuum would were it on; the count to keep (0 after a vacuum). Their
    dead rows are what every later claim and read of the queue would wade through."""
    if taken < VACUUM_AFTER:
        return taken
    for queue in queues:
        await db.execute(f"VACUUM {queue}")
    return 0


class Upkeep:
    """Rows folded since the queues, and the rollups, were last vacuumed: a service folds
    a few thousand rows every few seconds, which add up to what one large pass takes."""

    def __init__(self) -> None:
        self.queues = 0
        self.rollups = 0
        self.analyzed_after = 0
        """Rows folded by this process up to the rollups' last vacuum and analyze."""


async def fold(db: Database, zone: str, batch_size: int = 20_000) -> tuple[int, bool]:
    """Fold one batch of responses and of assignments (daily rows in ``zone``): how many
    rows, and whether a batch was full (more may be waiting). 0 when another process holds
    the fold (it will do the work), nothing was waiting, or the daily rollups are kept in
    another zone (a process with an older setting must not mix zones)."""
    async with db.transaction() as tx:
        if not await tx.fetchval("SELECT pg_try_advisory_xact_lock($1)", FOLD_LOCK):
            return 0, False
        kept = await kept_zone(tx)
        if kept is not None and kept != zone:
            log.warning("rollups are kept in %s, not %s: not folding", kept, zone)
            return 0, False
        await plan_for_now(tx)
        counts = [await tx.fetchval(batch_sql, zone, batch_size) for batch_sql, _ in _FOLDS]
    return sum(counts), max(counts) >= batch_size


async def fold_all(
    db: Database, zone: str, batch_size: int = 20_000, upkeep: Upkeep | None = None
) -> int:
    """Fold what is waiting, in batches of ``batch_size`` (or nothing: another process is
    folding); how many rows.

    Then the upkeep autovacuum would do, were it on (some servers run it rarely or not
    at all), counted in ``upkeep`` across calls (the periodic job's) or in this call: after
    :data:`VACUUM_AFTER` rows taken off the queues, vacuum them (:func:`vacuum_taken`); after
    :data:`FIRST_ANALYZE` rows folded, then after as many again, doubling up to every
    :data:`ANALYZE_AFTER`, vacuum and analyze the rollups (space reused, and statistics
    that let a grouped read hash its ten thousand rows, not sort them)."""
    folded, more = 0, True
    # Only while a batch came back full: under load, what arrived during a fold is the
    # next period's work, not a reason to fold again at once (the fold would chase the
    # stream, one small costly statement after another; measured in benchmarks/run).
    while more:
        done, more = await fold(db, zone, batch_size)
        folded += done
    upkeep = upkeep or Upkeep()
    upkeep.rollups += folded
    upkeep.queues = await vacuum_taken(
        db, ("response_unfolded", "assignment_unfolded"), upkeep.queues + folded
    )
    if upkeep.rollups >= min(ANALYZE_AFTER, max(FIRST_ANALYZE, upkeep.analyzed_after)):
        upkeep.analyzed_after += upkeep.rollups
        upkeep.rollups = 0
        for rollup in _ROLLUP_TABLES:
            await db.execute(f"VACUUM (ANALYZE) {rollup}")
    return folded


async def rebuild(db: Database, zone: str) -> None:
    """Recompute every rollup from the raw rows, daily ones in ``zone``, in one transaction."""
    async with db.transaction() as tx:
        await tx.execute("SELECT pg_advisory_xact_lock($1)", FOLD_LOCK)
        await tx.execute(
            f"TRUNCATE {', '.join(_ROLLUP_TABLES)}, response_unfolded, assignment_unfolded"
        )
        for _, everything_sql in _FOLDS:
            await tx.execute(everything_sql, zone)
        await tx.execute(
            "INSERT INTO rollup_state (name, value) VALUES ('daily_zone', $1)"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            zone,
        )
        for rollup in _ROLLUP_TABLES:  # statistics for the new contents (see fold_all)
            await tx.execute(f"ANALYZE {rollup}")


async def ensure_zone(db: Database, zone: str) -> bool:
    """Make the daily rollups be kept in ``zone``; rebuild them when they were kept in
    another (the business moved, or its setting changed). True when it rebuilt."""
    if await kept_zone(db) == zone:
        return False
    await rebuild(db, zone)
    return True
