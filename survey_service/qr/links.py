"""Short links: ``/q/<code>`` stands for a survey with its channel and signed metadata.

A QR code carries the short link rather than a long token, so it stays a low QR version
(version 3 for a typical host) and scans fast; the code is an HMAC of what it stands for,
so it cannot be forged or edited to claim another counter or agent.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import uuid
from collections.abc import Mapping

import msgspec

from survey_service.errors import TooBusy
from survey_service.lib.keys import derive_key, mac
from survey_service.lib.structs import Struct
from survey_service.qr import queries
from survey_service.surveys.serving import SurveyService, clean_metadata
from survey_service.surveys.tokens import new_nonce

__all__ = ["LinkService", "ResolvedLink"]

NEW_LINKS_PER_MINUTE = 30
"""New short links one client address may create a minute (each is a stored row)."""
_CODE = re.compile(r"[A-Za-z2-7]{1,16}")  # base32, as codes are made


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

    def __init__(self, surveys: SurveyService, secret: str) -> None:
        self.surveys = surveys
        self.db = surveys.db
        self._key = derive_key(secret, "short-links")
        self._saved: set[str] = set()  # codes known to be stored: no write per image request

    def forget(self) -> None:
        """Forget which codes are known to be stored (after rows were deleted)."""
        self._saved.clear()

    def _code(self, payload: object, length: int) -> str:
        return base64.b32encode(mac(self._key, msgspec.json.encode(payload))).decode()[:length]

    async def short_url(
        self,
        slug: str,
        params: Mapping[str, str],
        channel: str = "qr",
        *,
        client: str | None = None,
    ) -> str:
        """The short URL for the survey with the allow-listed metadata in ``params``. A
        ``client`` (an anonymous caller) may create at most :data:`NEW_LINKS_PER_MINUTE`
        new codes a minute (TooBusy past it); known codes always answer."""
        info = self.surveys.survey(slug)
        metadata = clean_metadata(info.definition.metadata_keys, params)
        code = self._code([info.survey_id, channel, sorted(metadata.items())], 12)
        if code not in self._saved:
            wait = None
            if client is not None:
                wait = await self.surveys.limits.hit("links", client, NEW_LINKS_PER_MINUTE)
            if wait is not None:
                raise TooBusy("too many new QR codes from this address", retry_after=wait)
            encoded = msgspec.json.encode(metadata).decode()
            await queries.insert_link(self.db, code, info.survey_id, channel, encoded)
            if len(self._saved) > 100_000:
                self._saved.clear()
            self._saved.add(code)
        return f"{self.surveys.base_url}/q/{code}"

    async def resolve(self, code: str) -> ResolvedLink | None:
        """The link behind ``code``, if it exists and its survey is still served."""
        if _CODE.fullmatch(code) is None:
            return None
        row = await queries.link(self.db, code.upper())
        info = self.surveys.catalog.by_id(row["survey_id"]) if row else None
        if row is None or info is None:
            return None
        return ResolvedLink(
            slug=info.slug,
            survey_id=info.survey_id,
            channel=row["channel"],
            metadata=msgspec.json.decode(row["metadata"]),
            nonce=row["token_nonce"].bytes if row["token_nonce"] else None,
            expires_at=row["expires_at"],
        )

    async def kiosk_url(self, slug: str, params: Mapping[str, str], rotate_seconds: int) -> str:
        """The kiosk's current single-use code: the same until someone answers with it or
        ``rotate_seconds`` pass, then a new one."""
        info = self.surveys.survey(slug)
        metadata = clean_metadata(info.definition.metadata_keys, params)
        kiosk = self._code([info.survey_id, sorted(metadata.items())], 16)
        now = dt.datetime.now(dt.UTC)
        current = await queries.current_kiosk_code(self.db, kiosk, now)
        if current and not await self.surveys.has_response(current[2], current[1].bytes):
            return f"{self.surveys.base_url}/q/{current[0]}"
        code = base64.b32encode(secrets.token_bytes(10)).decode()[:12]
        await queries.insert_link(
            self.db,
            code,
            info.survey_id,
            "qr",
            msgspec.json.encode(metadata).decode(),
            kiosk=kiosk,
            nonce=uuid.UUID(bytes=new_nonce()),
            expires_at=now + dt.timedelta(seconds=rotate_seconds),
        )
        return f"{self.surveys.base_url}/q/{code}"
