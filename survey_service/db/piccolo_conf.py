"""Piccolo's configuration module (``PICCOLO_CONF``).

``DB`` stays None until :func:`survey_service.db.database.bind_engine` installs the engine
built from the settings: the DSN is only known at run time (the embedded server picks its
socket), and Piccolo's migration runner looks the engine up here. (A placeholder engine
would connect at import time: Piccolo engines check the server version when built.)
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB: PostgresEngine | None = None

APP_REGISTRY = AppRegistry(apps=["survey_service.db.piccolo_app"])
