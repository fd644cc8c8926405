"""Data layer: Piccolo tables, the engine, migrations and the embedded server.

Rows never leave this package's callers' data-access functions: they are converted to
Structs at that boundary.
"""

from survey_service.db.engine import Database, DatabaseError, open_database

__all__ = ["Database", "DatabaseError", "open_database"]
