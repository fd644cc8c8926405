"""Piccolo's configuration module (``PICCOLO_CONF``): Piccolo only runs the migrations.

``DB`` stays None until :func:`bind_engine` installs an engine for the DSN the settings
name: the DSN is only known at run time (the embedded server picks its socket). (A
placeholder engine would connect at import time: Piccolo engines check the server version
when built.)
"""

from __future__ import annotations

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

__all__ = ["APP_REGISTRY", "DB", "bind_engine"]

DB: PostgresEngine | None = None

APP_REGISTRY = AppRegistry(apps=["survey_service.db.piccolo_app"])


def bind_engine(dsn: str) -> PostgresEngine:
    """Build the engine for ``dsn`` and make Piccolo's migration runner use it."""
    global DB
    os.environ.setdefault("PICCOLO_CONF", "survey_service.db.piccolo_conf")
    engine = PostgresEngine(config={"dsn": dsn})
    DB = engine
    from piccolo.apps.migrations.tables import Migration

    Migration._meta.db = engine
    return engine
