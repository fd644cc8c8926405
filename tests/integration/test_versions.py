"""Definition versioning: a changed file is a new immutable version; responses keep theirs."""

from __future__ import annotations

import asyncpg
import msgspec
from litestar import Litestar

from survey_service.experiments.assignment import AssignmentRecorder
from survey_service.surveys.catalog import Catalog, SurveyVersionInfo, sync_definitions
from survey_service.surveys.definitions import SurveyDefinition, decode_definition
from survey_service.surveys.serving import SurveyService

SOURCE = """\
slug = "versioning-probe"
languages = ["en"]
title.en = "Probe"

[[questions]]
id = "score"
type = "nps"
role = "nps"
text.en = "{text}"
"""


def definition(text: str) -> SurveyDefinition:
    result = decode_definition(SOURCE.format(text=text))
    assert isinstance(result, SurveyDefinition)
    return result


async def test_changed_definition_becomes_a_new_version(
    app: Litestar, db: asyncpg.Connection
) -> None:
    v1, v2 = definition("Recommend?"), definition("Would you recommend us?")
    [first], _ = await sync_definitions(app.state.db, [v1])
    [again], _ = await sync_definitions(app.state.db, [v1])
    [second], _ = await sync_definitions(app.state.db, [v2])
    [back], _current = await sync_definitions(app.state.db, [v1])
    assert first.created
    assert not again.created
    assert second.created
    assert not back.created
    assert (first.version, again.version, second.version, back.version) == (1, 1, 2, 1)
    rows = await db.fetch(
        "SELECT v.version, v.definition FROM survey_version v JOIN survey s ON s.id = v.survey_id"
        " WHERE s.slug = 'versioning-probe' ORDER BY v.version"
    )
    assert [r["version"] for r in rows] == [1, 2]
    stored = msgspec.json.decode(rows[1]["definition"], type=SurveyDefinition)
    assert stored == v2
    slug_row = await db.fetchrow(
        "SELECT s.current_version_id = v.id AS is_current FROM survey s JOIN survey_version v"
        " ON v.survey_id = s.id WHERE s.slug = 'versioning-probe' AND v.version = 1"
    )
    assert slug_row["is_current"]


def service_for(app: Litestar, current: list[SurveyVersionInfo]) -> SurveyService:
    """A survey service serving exactly ``current`` (as a process started with those files)."""
    db = app.state.db
    return SurveyService(
        db,
        Catalog(db, current),
        app.state.surveys.signer,
        AssignmentRecorder(db),
        app.state.limits,
        token_ttl_seconds=3600,
        base_url="http://testserver",
        client_secret="x" * 32,
    )


async def test_response_points_at_the_version_it_was_served_with(
    app: Litestar, db: asyncpg.Connection
) -> None:
    _, current_v1 = await sync_definitions(app.state.db, [definition("Old wording?")])
    old_service = service_for(app, current_v1)
    served = await old_service.open_form(
        "versioning-probe", params={}, accept_language=None, default_channel="link"
    )
    _, current_v2 = await sync_definitions(app.state.db, [definition("New wording?")])
    new_service = service_for(app, current_v2)
    stored, created = await new_service.submit("versioning-probe", served.token, {"score": 7})
    assert created
    version = await db.fetchval(
        "SELECT v.definition->'questions'->0->'text'->>'en' FROM response r"
        " JOIN survey_version v ON v.id = r.survey_version_id WHERE r.id = $1",
        stored.id,
    )
    assert version == "Old wording?"
    assert current_v1[0].version_id != current_v2[0].version_id


async def test_an_instance_follows_the_version_another_one_made_current(app: Litestar) -> None:
    """Another instance started with a new file: this one serves that version after its
    catalog refresh (and nothing changes when nothing did)."""
    _, current = await sync_definitions(app.state.db, [definition("Before the deploy?")])
    catalog = Catalog(app.state.db, current)
    assert await catalog.refresh() == []
    _, elsewhere = await sync_definitions(app.state.db, [definition("After the deploy?")])
    assert await catalog.refresh() == ["versioning-probe"]
    info = catalog.get("versioning-probe")
    assert info.version_id == elsewhere[0].version_id
    assert info.definition.questions[0].text["en"] == "After the deploy?"
    assert catalog.by_id(info.survey_id) == info
