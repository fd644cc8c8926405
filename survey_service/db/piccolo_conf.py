"""Piccolo's configuration module (``PICCOLO_CONF``).

``DB`` is a placeholder until :func:`survey_service.db.database.bind_engine` installs the
engine built from the settings: the DSN is only known at run time (the embedded server
picks its socket), and Piccolo's migration runner looks the engine up here.
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(config={})

APP_REGISTRY = AppRegistry(apps=["survey_service.db.piccolo_app"])
