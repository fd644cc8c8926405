"""Data layer: the connection pool, migrations, the schema declaration, the embedded server.

See :mod:`survey_service.db.engine` for the one data-access style the service uses.
"""

from survey_service.db.engine import Database, Executor, open_database

__all__ = ["Database", "Executor", "open_database"]
