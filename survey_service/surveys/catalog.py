"""Surveys and their immutable versions in the database, and the in-process catalog.

Syncing: each definition file's content hash is looked up among its survey's versions; an
unseen hash becomes version max+1, and the survey's current version follows the file.
Surveys whose file was removed keep their data but are no longer served.
"""

from __future__ import annotations

import msgspec

from survey_service.db import Database
from survey_service.errors import NotFound
from survey_service.lib.structs import Struct
from survey_service.surveys import queries
from survey_service.surveys.definitions import SurveyDefinition, content_hash

__all__ = ["Catalog", "SurveyVersionInfo", "SyncOutcome", "sync_definitions"]


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
    db: Database, definitions: list[SurveyDefinition]
) -> tuple[list[SyncOutcome], list[SurveyVersionInfo]]:
    """Store new versions and point each survey at its file's version."""
    outcomes: list[SyncOutcome] = []
    current: list[SurveyVersionInfo] = []
    async with db.transaction() as tx:
        await queries.lock_for_sync(tx)
        for definition in definitions:
            digest = content_hash(definition)
            survey_id = await queries.upsert_survey(tx, definition.slug)
            found = await queries.find_version(tx, survey_id, digest)
            if found is None:
                encoded = msgspec.json.encode(definition).decode()
                version_id, version = await queries.insert_version(tx, survey_id, digest, encoded)
            else:
                version_id, version = found
            await queries.point_at(tx, survey_id, version_id)
            info = SurveyVersionInfo(
                survey_id=survey_id, version_id=version_id, version=version, definition=definition
            )
            outcomes.append(SyncOutcome(slug=info.slug, version=version, created=found is None))
            current.append(info)
    return outcomes, current


class Catalog:
    """Served surveys by slug, and every version by id (immutable, so cached forever).

    Which version is current can change under a running instance: another instance that
    started with a newer definition points the survey at it. :meth:`refresh` (a periodic
    job) follows the pointer, so every instance serves the same version within
    ``catalog_refresh_seconds``; tokens of older versions stay valid, as versions never
    change. The set of served surveys is this instance's own forms folder.
    """

    def __init__(self, db: Database, current: list[SurveyVersionInfo]) -> None:
        self._db = db
        self._by_slug = {info.slug: info for info in current}
        self._by_id = {info.survey_id: info for info in current}
        self._by_version = {info.version_id: info for info in current}

    def current(self, slug: str) -> SurveyVersionInfo | None:
        """The version new visitors of ``slug`` get, or None when it is not served."""
        return self._by_slug.get(slug)

    def get(self, slug: str) -> SurveyVersionInfo:
        """The current version of a served survey; raise NotFound."""
        info = self._by_slug.get(slug)
        if info is None:
            raise NotFound("survey", slug)
        return info

    def by_id(self, survey_id: int) -> SurveyVersionInfo | None:
        """The current version of the served survey with this id."""
        return self._by_id.get(survey_id)

    def slugs(self) -> list[str]:
        """Every served slug."""
        return sorted(self._by_slug)

    def served(self) -> list[SurveyVersionInfo]:
        """Every served survey's current version, by slug."""
        return [self._by_slug[slug] for slug in self.slugs()]

    async def refresh(self) -> list[str]:
        """Serve each survey's current version as the database names it; return the slugs
        that changed."""
        pointers = await queries.current_version_ids(self._db, list(self._by_id))
        changed = []
        for survey_id, version_id in pointers.items():
            if self._by_id[survey_id].version_id == version_id:
                continue
            info = await self.version(version_id)
            if info is None:  # cannot happen: a version is never deleted
                continue
            self._by_id[survey_id] = self._by_slug[info.slug] = info
            changed.append(info.slug)
        return changed

    async def version(self, version_id: int) -> SurveyVersionInfo | None:
        """Any stored version, including ones no longer current."""
        info = self._by_version.get(version_id)
        if info is None:
            row = await queries.load_version(self._db, version_id)
            if row is None:
                return None
            survey_id, number, definition = row
            info = SurveyVersionInfo(
                survey_id=survey_id,
                version_id=version_id,
                version=number,
                definition=msgspec.json.decode(definition, type=SurveyDefinition),
            )
            self._by_version[version_id] = info
        return info

    async def version_id(self, survey_id: int, version: int) -> int | None:
        """The id of a survey's version by its number."""
        return await queries.version_id(self._db, survey_id, version)

    async def version_numbers(self, survey_ids: list[int]) -> dict[int, int]:
        """Version number by version id, for these surveys."""
        return await queries.version_numbers(self._db, survey_ids)
