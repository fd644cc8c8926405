"""Ready for Citus: the migrated schema and the SQL, read as Citus would need them.

- Every table is distributed by ``survey_id``, a reference table, or local (one list each).
- A distributed table's primary and unique keys contain ``survey_id``; its foreign keys
  point at reference tables or contain ``survey_id`` (co-location).
- Every statement in a ``queries.py`` that touches a distributed table names ``survey_id``
  (routed to one shard), except the few listed here, which span surveys on purpose and run
  as multi-shard statements (each with its reason, and the list must stay exact).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import asyncpg

from survey_service.db.placement import DISTRIBUTED, LOCAL, REFERENCE
from survey_service.db.schema import TABLES

PACKAGE = Path(__file__).resolve().parents[2] / "survey_service"
_TOUCHES = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(" + "|".join(sorted(DISTRIBUTED, key=len)[::-1]) + r")\b",
    re.IGNORECASE,
)

SPANS_SURVEYS = {
    ("invitations/queries.py", "unsubscribe"): "a sent unsubscribe link names the invitation"
    " by id alone (and the address is then suppressed for every survey)",
    ("invitations/queries.py", "language"): "the unsubscribe page, by the link's invitation id",
    ("invitations/queries.py", "claim_due"): "the outbox: due invitations of every survey",
    ("invitations/queries.py", "due"): "metrics: the outbox depth over every survey",
    ("alerts/queries.py", "health"): "metrics: the alert queue's depth over every survey",
    ("privacy/queries.py", "*"): "erasure, export and retention: a person or a date, all surveys",
    ("responses/queries.py", "_PENDING"): "rescoring (CLI): every survey's comments",
    ("responses/queries.py", "rescore"): "rescoring (CLI): rows by id from _PENDING",
}
"""(module, function): why the statement spans surveys (``*``: the whole module)."""


def test_every_table_has_one_place() -> None:
    names = [t.name for t in TABLES]
    placed = [*DISTRIBUTED, *REFERENCE, *LOCAL]
    assert sorted(placed) == sorted(names)


async def test_keys_of_distributed_tables_carry_the_survey(db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        "SELECT conrelid::regclass::text AS source, contype::text AS contype,"
        " confrelid::regclass::text AS target, pg_get_constraintdef(oid) AS definition"
        " FROM pg_constraint WHERE contype IN ('p', 'u', 'f')"
        " AND connamespace = 'public'::regnamespace"
    )
    checked, wrong = 0, []
    for row in rows:
        if row["source"] not in DISTRIBUTED:
            continue
        checked += 1
        columns = row["definition"].split(")")[0]
        if row["contype"] == "f" and row["target"] in REFERENCE:
            continue
        if "survey_id" not in columns:
            wrong.append((row["source"], row["definition"]))
    assert wrong == []
    assert checked >= 2 * len(DISTRIBUTED)  # at least a key and a foreign key each


ROUTED_BY = "raw_conditions("
"""A function building its WHERE with ``reporting.queries.raw_conditions`` filters by
``survey_id = ANY(...)`` (its first condition, always)."""


def statements() -> list[tuple[str, str, str]]:
    """(module, function or constant, its SQL text) for every top-level function and
    constant of the queries modules that holds SQL."""
    found = []
    for path in sorted(PACKAGE.rglob("*queries.py")):
        module = str(path.relative_to(PACKAGE))
        source = path.read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = node.name
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
            else:
                continue
            text = " ".join(
                inner.value
                for inner in ast.walk(node)
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str)
            )
            if ROUTED_BY in (ast.get_source_segment(source, node) or ""):
                text += " survey_id"
            found.append((module, name, text))
    return found


def test_hot_statements_are_routed_by_survey() -> None:
    spanning = set()
    for module, name, sql in statements():
        if _TOUCHES.search(sql) and "survey_id" not in sql:
            entry = (module, name) if (module, name) in SPANS_SURVEYS else (module, "*")
            assert entry in SPANS_SURVEYS, f"{module}:{name} spans surveys (no survey_id)"
            spanning.add(entry)
    assert spanning == set(SPANS_SURVEYS)  # no stale entry either


def test_the_citus_script_follows_the_schema() -> None:
    script = (PACKAGE.parent / "docs" / "citus-distribute.sql").read_text(encoding="utf-8")
    made = re.findall(r"create_(distributed|reference)_table\('(\w+)'", script)
    assert sorted(t for kind, t in made if kind == "distributed") == sorted(DISTRIBUTED)
    assert sorted(t for kind, t in made if kind == "reference") == sorted(REFERENCE)
