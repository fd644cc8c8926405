"""Answer validation and assignment draws: pure functions."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey_service.experiments.assignment import draw_variant
from survey_service.responses.answers import clean_text, role_columns, validate_answers
from survey_service.surveys.definitions import (
    Experiment,
    SurveyDefinition,
    Variant,
    decode_definition,
)
from survey_service.surveys.serving import clean_metadata, localize

FORMS = Path(__file__).resolve().parents[2] / "forms"


def form(name: str) -> SurveyDefinition:
    result = decode_definition((FORMS / f"{name}.toml").read_text())
    assert isinstance(result, SurveyDefinition)
    return result


def test_valid_answers_map_to_role_columns() -> None:
    definition = form("empathy-csat")
    answers = {
        "satisfaction": 4,
        "understood": 5,
        "cared": False,
        "emotional": 1,
        "comment": " ok\r\n ",
    }
    clean, errors = validate_answers(definition, answers)
    assert errors == []
    assert clean["comment"] == "ok"
    columns = role_columns(definition, clean)
    assert columns == {
        "nps": None,
        "csat": 4,
        "empathy_understood": 5,
        "empathy_cared": False,
        "empathy_emotional": 1,
        "empathy_influence": None,
        "comment": "ok",
    }


def test_blank_optional_text_is_no_answer() -> None:
    clean, errors = validate_answers(form("nps-empathy"), {"recommend": 0, "reason": "  \x00 "})
    assert errors == []
    assert clean == {"recommend": 0}


@pytest.mark.parametrize("value", [True, 2.0, "3", None, 6, 0])
def test_rating_rejects(value: object) -> None:
    definition = form("counter-check")
    _, errors = validate_answers(definition, {"understood": value, "cared": True})
    assert [e.key for e in errors] == ["answers.understood"]


def test_clean_text_removes_control_characters() -> None:
    assert clean_text("a\x07b\tc\r\nd\x1b") == "ab\tc\nd"


def test_clean_metadata_keeps_only_allowed_short_values() -> None:
    kept = clean_metadata(
        ["agent", "touchpoint", "location"],
        {"agent": " 17 ", "touchpoint": "x" * 101, "location": "a\nb", "other": "1"},
    )
    assert kept == {"agent": "17"}


def test_variant_overrides_wording() -> None:
    definition = form("counter-check")
    warm = localize(definition, 1, "en", "warm")
    neutral = localize(definition, 1, "en", "neutral")
    assert warm.questions[0].text != neutral.questions[0].text
    assert warm.questions[1].text == neutral.questions[1].text
    assert localize(definition, 1, "es", "warm").questions[0].text.startswith("¿Sintió")


def test_draw_follows_cumulative_weights() -> None:
    experiment = Experiment(
        key="e",
        control="a",
        variants=[
            Variant(name="a", weight=20),
            Variant(name="b", weight=30),
            Variant(name="c", weight=50),
        ],
    )
    assert draw_variant(experiment, 0.0) == "a"
    assert draw_variant(experiment, 0.1999) == "a"
    assert draw_variant(experiment, 0.2) == "b"
    assert draw_variant(experiment, 0.4999) == "b"
    assert draw_variant(experiment, 0.5) == "c"
    assert draw_variant(experiment, 0.9999999) == "c"
    assert {draw_variant(experiment) for _ in range(500)} == {"a", "b", "c"}
