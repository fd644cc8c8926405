"""Surveys and their immutable versions in the database, and the in-process catalog.

Syncing: each definition file's content hash is looked up among its survey's versions; an
unseen hash becomes version max+1, and the survey's current version follows the file.
Surveys whose file was removed keep their data but are no longer served.
"""

from __future__ import annotations

import msgspec

from survey_service.lib.structs import Struct
from survey_service.db.tables import Survey, SurveyVersion
from survey_service.surveys.definitions import SurveyDefinition, content_hash

__all__ = ["Catalog", "SurveyVersionInfo", "SyncOutcome", "sync_definitions"]

_SYNC_LOCK = 7_406_222  # pg_advisory_xact_lock key: one syncing process at a time


class SurveyVersionInfo(Struct):
    """A survey version as the rest of the service sees it."""

    survey_id: int
    version_id: int
    version: int
    definition: SurveyDefinition

    @property
    def slug(self) -> str:
        """The survey's slug."""
        return self.definition.slug


class SyncOutcome(Struct):
    """What syncing did for one definition."""

    slug: str
    version: int
    created: bool


async def sync_definitions(
    definitions: list[SurveyDefinition],
) -> tuple[list[SyncOutcome], list[SurveyVersionInfo]]:
    """Store new versions and point each survey at its file's version."""
    outcomes: list[SyncOutcome] = []
    current: list[SurveyVersionInfo] = []
    async with Survey._meta.db.transaction():
        await Survey.raw("SELECT pg_advisory_xact_lock({})", _SYNC_LOCK).run()
        for definition in definitions:
            info, created = await _sync_one(definition)
            outcomes.append(SyncOutcome(slug=info.slug, version=info.version, created=created))
            current.append(info)
    return outcomes, current


async def _sync_one(definition: SurveyDefinition) -> tuple[SurveyVersionInfo, bool]:
    digest = content_hash(definition)
    rows = await (
        Survey.insert(Survey(slug=definition.slug, current_version_id=None))
        .on_conflict(target=Survey.slug, action="DO UPDATE", values=[Survey.slug])
        .returning(Survey.id)
    )
    survey_id: int = rows[0]["id"]
    existing = await SurveyVersion.select(SurveyVersion.id, SurveyVersion.version).where(
        (SurveyVersion.survey_id == survey_id) & (SurveyVersion.content_hash == digest)
    )
    created = not existing
    if existing:
        version_id, version = existing[0]["id"], existing[0]["version"]
    else:
        latest = await SurveyVersion.raw(
            "SELECT coalesce(max(version), 0) AS v FROM survey_version WHERE survey_id = {}",
            survey_id,
        )
        version = latest[0]["v"] + 1
        inserted = await SurveyVersion.insert(
            SurveyVersion(
                survey_id=survey_id,
                version=version,
                content_hash=digest,
                definition=msgspec.json.encode(definition).decode(),
            )
        ).returning(SurveyVersion.id)
        version_id = inserted[0]["id"]
    await Survey.update({Survey.current_version_id: version_id}).where(Survey.id == survey_id)
    info = SurveyVersionInfo(
        survey_id=survey_id, version_id=version_id, version=version, definition=definition
    )
    return info, created


async def _load_version(version_id: int) -> SurveyVersionInfo | None:
    rows = await SurveyVersion.select(
        SurveyVersion.id, SurveyVersion.survey_id, SurveyVersion.version, SurveyVersion.definition
    ).where(SurveyVersion.id == version_id)
    if not rows:
        return None
    row = rows[0]
    return SurveyVersionInfo(
        survey_id=row["survey_id"],
        version_id=row["id"],
        version=row["version"],
        definition=msgspec.json.decode(row["definition"], type=SurveyDefinition),
    )


class Catalog:
    """Served surveys by slug, and every version by id (immutable, so cached forever)."""

    def __init__(self, current: list[SurveyVersionInfo]) -> None:
        self._by_slug = {info.slug: info for info in current}
        self._by_version = {info.version_id: info for info in current}

    def current(self, slug: str) -> SurveyVersionInfo | None:
        """The version new visitors of ``slug`` get, or None when it is not served."""
        return self._by_slug.get(slug)

    def slugs(self) -> list[str]:
        """Every served slug."""
        return sorted(self._by_slug)

    async def version(self, version_id: int) -> SurveyVersionInfo | None:
        """Any stored version, including ones no longer current."""
        info = self._by_version.get(version_id)
        if info is None:
            info = await _load_version(version_id)
            if info is not None:
                self._by_version[version_id] = info
        return info
