"""Settings from the environment: defaults, conversion, one clear line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey_service.errors import SettingsError
from survey_service.settings import Settings, load_secret_key


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.port == 8000
    assert settings.base_url == "http://127.0.0.1:8000"


def test_values_are_converted() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://x/y",
            "SURVEY_PORT": "9000",
            "SURVEY_PUBLIC_URL": "https://s.example/",
        }
    )
    assert settings.database_url == "postgresql://x/y"
    assert settings.port == 9000
    assert settings.base_url == "https://s.example"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SURVEY_PORT": "eighty"}, "SURVEY_PORT"),
        ({"SURVEY_PORT": "70000"}, "SURVEY_PORT"),
        ({"SURVEY_LOG_LEVEL": "LOUD"}, "SURVEY_LOG_LEVEL"),
        ({"SURVEY_TOKEN_TTL_SECONDS": "0"}, "SURVEY_TOKEN_TTL_SECONDS"),
        ({"SURVEY_SECRET_KEY": "short"}, "SURVEY_SECRET_KEY"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert message.startswith(variable + ":")
    assert "\n" not in message


def test_secret_key_is_generated_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"))
    first = load_secret_key(settings)
    assert len(first) >= 32
    assert load_secret_key(settings) == first
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert load_secret_key(Settings(secret_key="s" * 32)) == "s" * 32
