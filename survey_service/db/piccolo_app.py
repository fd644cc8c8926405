"""Piccolo app: the migrations folder (Piccolo runs migrations; queries are asyncpg)."""

from __future__ import annotations

import os
from pathlib import Path

from piccolo.conf.apps import AppConfig

__all__ = ["APP_CONFIG", "migrations_folder"]

_PACKAGE = Path(__file__).resolve().parents[1]


def migrations_folder() -> Path:
    """``SURVEY_MIGRATIONS_DIR``; else ``migrations/`` shipped inside the package (a wheel
    install); else ``migrations/`` beside the package (a source checkout)."""
    configured = os.environ.get("SURVEY_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    shipped = _PACKAGE / "migrations"
    return shipped if shipped.is_dir() else _PACKAGE.parent / "migrations"


APP_CONFIG = AppConfig(
    app_name="survey_service",
    migrations_folder_path=str(migrations_folder()),
    table_classes=[],
    migration_dependencies=[],
    commands=[],
)
