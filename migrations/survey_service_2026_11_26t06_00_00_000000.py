"""Room on the rollup pages for the fold's updates (fillfactor).

The fold adds to rollup rows again and again; none of the columns it changes is indexed, so
each update can be a heap-only tuple on the same page, pruned there the next time the page
fills, but only when the page has room. Packed full (the default), every update moved its
row to another page: after a million responses folded in batches the daily rollup held
20,000 live rows on 10,000 pages (84 MB), and a grouped read scanned them all (autovacuum,
off on some servers, frees space but does not gather rows back). With half-full pages the
same fold left 20 MB. A daily row is updated by every pass that brings its day's answers,
so those pages keep half their room; an hourly row only during its hour, so those keep a
fifth (the hourly rollup is the largest, and reads of partial days scan it).
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T06:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "rollup pages keep room for the fold's updates"

FILLFACTOR = {"": 80, "_daily": 50, "_daily_totals": 50}

STATEMENTS = [
    f"ALTER TABLE {table}_rollup{grain} SET (fillfactor = {percent})"
    for table in ("response", "assignment")
    for grain, percent in FILLFACTOR.items()
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
