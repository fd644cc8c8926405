"""Form definitions: the shipped forms, and errors located by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from survey_service.surveys.definitions import (
    DefinitionError,
    SurveyDefinition,
    content_hash,
    decode_definition,
    load_forms,
    pick_language,
)

FORMS = Path(__file__).resolve().parents[2] / "forms"

MINIMAL = """\
slug = "mini"
languages = ["en", "es"]

[title]
en = "Mini"
es = "Mini"

[[questions]]
id = "score"
type = "nps"
role = "nps"
text.en = "Recommend?"
text.es = "¿Recomendaría?"

[[questions]]
id = "why"
type = "text"
role = "comment"
required = false
text.en = "Why?"
text.es = "¿Por qué?"
"""


def errors_of(source: str) -> list[DefinitionError]:
    result = decode_definition(source, "f.toml")
    assert isinstance(result, list), "expected errors"
    return result


def test_shipped_forms_are_valid_and_cover_the_design() -> None:
    forms, errors = load_forms(FORMS)
    assert errors == []
    by_slug = {f.definition.slug: f.definition for f in forms}
    assert set(by_slug) == {"counter-check", "empathy-csat", "nps-empathy"}
    for definition in by_slug.values():
        assert definition.languages == ["en", "es"]
        assert len(definition.questions) <= 5
    roles = {slug: [q.role.value for q in d.questions] for slug, d in by_slug.items()}
    assert roles["counter-check"] == ["empathy_understood", "empathy_cared", "comment"]
    assert roles["empathy-csat"] == [
        "csat",
        "empathy_understood",
        "empathy_cared",
        "empathy_emotional",
        "comment",
    ]
    assert roles["nps-empathy"] == ["nps", "comment", "empathy_influence"]
    experiment = by_slug["counter-check"].experiment
    assert experiment is not None
    assert [v.weight for v in experiment.variants] == [50, 50]


def test_minimal_definition_decodes() -> None:
    result = decode_definition(MINIMAL)
    assert isinstance(result, SurveyDefinition)
    assert result.question("why") is not None
    assert result.questions[1].limit == 500


def test_type_error_names_field_and_line() -> None:
    [error] = errors_of(MINIMAL.replace('type = "nps"', 'type = "stars"'))
    assert error.field == "questions[0].type"
    assert error.line == 10
    assert "Invalid enum value 'stars'" in error.message
    assert str(error).startswith("f.toml:10: questions[0].type:")


def test_role_must_match_type() -> None:
    [error] = errors_of(MINIMAL.replace('role = "nps"', 'role = "csat"'))
    assert error.field == "questions[0].type"
    assert "needs type 'rating'" in error.message


def test_every_semantic_problem_is_reported() -> None:
    source = MINIMAL.replace('text.es = "¿Por qué?"\n', "").replace('id = "why"', 'id = "score"')
    errors = errors_of(source)
    fields = {e.field for e in errors}
    assert fields == {"questions[1].id", "questions[1].text"}
    missing = next(e for e in errors if e.field == "questions[1].text")
    assert "es" in missing.message
    assert missing.line == 20


def test_toml_syntax_error_has_line() -> None:
    [error] = errors_of(MINIMAL.replace('slug = "mini"', 'slug = "mini'))
    assert error.line == 1
    assert "TOML syntax" in error.message


def test_unknown_key_is_an_error() -> None:
    [error] = errors_of(MINIMAL + "\ncolour = 'red'\n")
    assert "colour" in error.message


def test_experiment_checks() -> None:
    source = (
        MINIMAL
        + """
[experiment]
key = "wording"
control = "plain"

[[experiment.variants]]
name = "warm"
weight = 1

[[experiment.variants]]
name = "cold"
weight = 1

[experiment.variants.overrides.nope]
en = "x"
es = "y"
"""
    )
    errors = errors_of(source)
    assert {e.field for e in errors} == {
        "experiment.control",
        "experiment.variants[1].overrides.nope",
    }
    override = next(e for e in errors if "overrides" in e.field)
    assert override.line == 35


def test_reserved_metadata_key() -> None:
    [error] = errors_of(
        MINIMAL.replace(
            'languages = ["en", "es"]', 'languages = ["en", "es"]\nmetadata_keys = ["lang"]'
        )
    )
    assert error.field == "metadata_keys[0]"


def test_content_hash_ignores_formatting_but_not_content() -> None:
    a = decode_definition(MINIMAL)
    b = decode_definition("# a comment\n" + MINIMAL.replace(" = ", "="))
    c = decode_definition(MINIMAL.replace("Recommend?", "Recommend us?"))
    assert isinstance(a, SurveyDefinition)
    assert isinstance(b, SurveyDefinition)
    assert isinstance(c, SurveyDefinition)
    assert content_hash(a) == content_hash(b) != content_hash(c)


def test_duplicate_slugs_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(MINIMAL)
    (tmp_path / "b.toml").write_text(MINIMAL)
    forms, errors = load_forms(tmp_path)
    assert len(forms) == 1
    assert errors[0].field == "slug"


@pytest.mark.parametrize(
    ("requested", "accept", "expected"),
    [
        ("es", None, "es"),
        ("ES-mx", "en", "es"),
        ("fr", "es-ES,es;q=0.9", "es"),
        (None, "fr;q=1, es;q=0.5, en;q=0.7", "en"),
        (None, "es;q=0, fr", "en"),
        (None, "garbage;q=x, es", "es"),
        (None, None, "en"),
    ],
)
def test_pick_language(requested: str | None, accept: str | None, expected: str) -> None:
    definition = decode_definition(MINIMAL)
    assert isinstance(definition, SurveyDefinition)
    assert pick_language(definition, requested, accept) == expected
