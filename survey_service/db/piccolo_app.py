"""Piccolo app: the tables and the top-level ``migrations/`` folder."""

import os
from pathlib import Path

from piccolo.conf.apps import AppConfig

from survey_service.db.tables import TABLES


def migrations_folder() -> Path:
    """``SURVEY_MIGRATIONS_DIR``, else ``migrations/`` beside the package (source checkout)."""
    configured = os.environ.get("SURVEY_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "migrations"


APP_CONFIG = AppConfig(
    app_name="survey_service",
    migrations_folder_path=str(migrations_folder()),
    table_classes=list(TABLES),
    migration_dependencies=[],
    commands=[],
)
