"""The comment analyser on hand-written customer-service cases (none from the dev sets)."""

from __future__ import annotations

import time

import pytest
from textblob import TextBlob

from survey_service.responses.sentiment import (
    ANALYSER_VERSION,
    NEUTRAL_BAND,
    analyse,
    looks_english,
    score_text_mismatch,
)


def test_the_issue_example_is_negative_where_plain_textblob_is_not() -> None:
    text = "Nobody cared, I waited 40 minutes and was ignored."
    assert TextBlob(text).sentiment.polarity == 0.0
    result = analyse(text)
    assert result.sentiment_class == -1
    assert result.polarity is not None
    assert result.polarity < -0.3
    assert {"not_cared", "not_heard", "waited"} <= set(result.cues)
    assert result.analyser == ANALYSER_VERSION


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She listened and really understood what I needed. Thank you!", 1),
        ("Very patient and kind with my mother.", 1),
        ("They went above and beyond to fix it.", 1),
        ("The agent was rude and dismissive.", -1),
        ("I was on hold for an hour and nobody called back.", -1),
        ("Not resolved, still broken after three calls.", -1),
        ("The staff did not listen to me.", -1),
        ("Thanks for nothing.", -1),
        ("Total waste of time.", -1),
        ("The order arrived on Tuesday.", 0),
        ("I visited the branch on Main Street.", 0),
    ],
)
def test_customer_service_cases(text: str, expected: int) -> None:
    assert analyse(text).sentiment_class == expected


def test_negation_flips() -> None:
    assert analyse("The service was good.").sentiment_class == 1
    assert analyse("The service was not good.").sentiment_class == -1
    assert analyse("The staff were not rude at all.").sentiment_class == 1


def test_negation_stays_in_its_clause() -> None:
    # VADER alone lets "not" reach across the comma and make "broken" positive.
    result = analyse("Not slow, but the screen was broken")
    assert result.sentiment_class == -1


def test_intensifiers_and_emphasis_raise_the_magnitude() -> None:
    plain = analyse("The help was good").polarity
    strong = analyse("The help was extremely good!!!").polarity
    assert plain is not None
    assert strong is not None
    assert strong > plain > NEUTRAL_BAND


@pytest.mark.parametrize(
    ("text", "expected"), [("Fixed in minutes 😍", 1), ("Still waiting 😡", -1)]
)
def test_emoji(text: str, expected: int) -> None:
    assert analyse(text).sentiment_class == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "...", "12345"])
def test_empty_text_has_no_class(text: str) -> None:
    result = analyse(text)
    assert (result.polarity, result.sentiment_class, result.cues) == (None, None, [])


@pytest.mark.parametrize(
    "text",
    [
        "El personal fue muy amable y me escucharon",
        "Muy amables, gracias",
        "Le service était très bien, merci",
        "Der Service war sehr gut",
        "Обслуживание было отличным",
        "サービスはとても良かった",
    ],
)
def test_non_english_text_is_unclassified(text: str) -> None:
    assert not looks_english(text)
    assert analyse(text).sentiment_class is None


def test_form_language_other_than_english_is_unclassified() -> None:
    assert analyse("Great staff", language="es").sentiment_class is None
    assert analyse("Great staff", language="en").sentiment_class == 1


def test_html_and_control_characters_are_ignored() -> None:
    result = analyse("<p>The <b>staff</b> were&nbsp;helpful\x00\x07</p><script>x</script>")
    assert result.sentiment_class == 1
    assert analyse("<b></b>\x01\x02").sentiment_class is None


def test_very_long_text_is_bounded_in_time() -> None:
    text = "The staff were friendly but the queue was long. " * 5000
    start = time.perf_counter()
    result = analyse(text)
    assert time.perf_counter() - start < 1.0
    assert result.sentiment_class is not None


def test_cue_negation() -> None:
    assert analyse("They listened").cues == ["felt_heard"]
    assert analyse("They never listened").cues == ["not_heard"]
    assert analyse("Problem resolved").cues == ["resolved"]
    assert analyse("Problem not resolved").cues == ["unresolved"]


@pytest.mark.parametrize(
    ("polarity", "nps", "csat", "expected"),
    [
        (-0.6, 10, None, True),
        (-0.6, 8, None, False),
        (0.7, 2, None, True),
        (0.7, 5, None, False),
        (-0.5, None, 5, True),
        (0.5, None, 1, True),
        (-0.1, 10, None, False),
        (None, 0, None, False),
    ],
)
def test_score_text_mismatch(
    polarity: float | None, nps: int | None, csat: int | None, expected: bool
) -> None:
    assert score_text_mismatch(polarity, nps=nps, csat=csat) is expected
