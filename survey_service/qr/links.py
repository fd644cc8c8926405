"""Short links: ``/q/<code>`` stands for a survey with its channel and signed metadata.

A QR code carries the short link rather than a long token, so it stays a low QR version
(version 3 for a typical host) and scans fast; the code is an HMAC of what it stands for,
so it cannot be forged or edited to claim another counter or agent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets
import uuid
from collections.abc import Mapping

import msgspec

from survey_service.lib.structs import Struct
from survey_service.db.tables import Response, ShortLink
from survey_service.surveys.serving import SurveyService, clean_metadata

__all__ = ["LinkService", "ResolvedLink", "answered"]


class ResolvedLink(Struct):
    """What a code stands for; kiosk codes also carry their fixed nonce and expiry."""

    slug: str
    survey_id: int
    channel: str
    metadata: dict[str, str]
    nonce: bytes | None = None
    expires_at: dt.datetime | None = None

    @property
    def expired(self) -> bool:
        """A kiosk code past its time (it no longer opens new forms)."""
        return self.expires_at is not None and self.expires_at <= dt.datetime.now(dt.UTC)


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
                # Explicit: Piccolo would fill a fresh UUID and "now" in otherwise.
                kiosk=None,
                token_nonce=None,
                expires_at=None,
            )
        ).on_conflict(action="DO NOTHING")
        if len(self._saved) > 100_000:
            self._saved.clear()
        self._saved.add(code)
        return f"{self.base_url}/q/{code}"

    async def resolve(self, code: str) -> ResolvedLink | None:
        """The link behind ``code``, if it exists and its survey is still served."""
        rows = await ShortLink.select(
            ShortLink.survey_id,
            ShortLink.channel,
            ShortLink.metadata,
            ShortLink.token_nonce,
            ShortLink.expires_at,
        ).where(ShortLink.code == code.upper()[:16])
        if not rows:
            return None
        row = rows[0]
        for slug in self.surveys.catalog.slugs():
            info = self.surveys.catalog.current(slug)
            if info is not None and info.survey_id == row["survey_id"]:
                return ResolvedLink(
                    slug=slug,
                    survey_id=info.survey_id,
                    channel=row["channel"],
                    metadata=msgspec.json.decode(row["metadata"]),
                    nonce=row["token_nonce"].bytes if row["token_nonce"] else None,
                    expires_at=row["expires_at"],
                )
        return None

    async def kiosk_url(self, slug: str, params: Mapping[str, str], rotate_seconds: int) -> str:
        """The kiosk's current single-use code: the same until someone answers with it or
        ``rotate_seconds`` pass, then a new one."""
        info = self.surveys.survey(slug)
        metadata = clean_metadata(info.definition.metadata_keys, params)
        payload = msgspec.json.encode([info.survey_id, sorted(metadata.items())])
        kiosk = base64.b32encode(hmac.digest(self._key, payload, "sha256")).decode()[:16]
        rows = (
            await ShortLink.select(ShortLink.code, ShortLink.token_nonce)
            .where((ShortLink.kiosk == kiosk) & (ShortLink.expires_at > dt.datetime.now(dt.UTC)))
            .order_by(ShortLink.created_at, ascending=False)
            .first()
        )
        if rows and not await answered(info.survey_id, rows["token_nonce"]):
            return f"{self.base_url}/q/{rows['code']}"
        code = base64.b32encode(secrets.token_bytes(10)).decode()[:12]
        await ShortLink.insert(
            ShortLink(
                code=code,
                survey_id=info.survey_id,
                channel="qr",
                metadata=msgspec.json.encode(metadata).decode(),
                kiosk=kiosk,
                token_nonce=uuid.uuid4(),
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=rotate_seconds),
            )
        )
        return f"{self.base_url}/q/{code}"


async def answered(survey_id: int, nonce: uuid.UUID | bytes) -> bool:
    """Whether a response with this token nonce exists."""
    value = nonce if isinstance(nonce, uuid.UUID) else uuid.UUID(bytes=nonce)
    return await Response.exists().where(
        (Response.survey_id == survey_id) & (Response.token_nonce == value)
    )
