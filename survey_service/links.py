"""Short links: ``/q/<code>`` stands for a survey with its channel and signed metadata.

A QR code carries the short link rather than a long token, so it stays a low QR version
(version 3 for a typical host) and scans fast; the code is an HMAC of what it stands for,
so it cannot be forged or edited to claim another counter or agent.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping

import msgspec

from survey_service.base import Struct
from survey_service.db.tables import ShortLink
from survey_service.serving import SurveyService, clean_metadata

__all__ = ["LinkService", "ResolvedLink"]


class ResolvedLink(Struct):
    """What a code stands for."""

    slug: str
    channel: str
    metadata: dict[str, str]


class LinkService:
    """Makes and resolves short links."""

    def __init__(self, surveys: SurveyService, secret: str, base_url: str) -> None:
        self.surveys = surveys
        self._key = hmac.digest(secret.encode(), b"short-links", "sha256")
        self.base_url = base_url
        self._saved: set[str] = set()  # codes known to be stored: no write per image request

    async def short_url(self, slug: str, params: Mapping[str, str], channel: str = "qr") -> str:
        """The short URL for the survey with the allow-listed metadata in ``params``."""
        info = self.surveys.survey(slug)
        metadata = clean_metadata(info.definition.metadata_keys, params)
        payload = msgspec.json.encode([info.survey_id, channel, sorted(metadata.items())])
        digest = hmac.digest(self._key, payload, "sha256")
        code = base64.b32encode(digest).decode()[:12]
        if code in self._saved:
            return f"{self.base_url}/q/{code}"
        await ShortLink.insert(
            ShortLink(
                code=code,
                survey_id=info.survey_id,
                channel=channel,
                metadata=msgspec.json.encode(metadata).decode(),
            )
        ).on_conflict(action="DO NOTHING")
        if len(self._saved) > 100_000:
            self._saved.clear()
        self._saved.add(code)
        return f"{self.base_url}/q/{code}"

    async def resolve(self, code: str) -> ResolvedLink | None:
        """The link behind ``code``, if it exists and its survey is still served."""
        rows = await ShortLink.select(
            ShortLink.survey_id, ShortLink.channel, ShortLink.metadata
        ).where(ShortLink.code == code.upper()[:16])
        if not rows:
            return None
        row = rows[0]
        for slug in self.surveys.catalog.slugs():
            info = self.surveys.catalog.current(slug)
            if info is not None and info.survey_id == row["survey_id"]:
                return ResolvedLink(
                    slug=slug, channel=row["channel"], metadata=msgspec.json.decode(row["metadata"])
                )
        return None
