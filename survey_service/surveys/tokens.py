"""Signed form tokens.

Format: ``1.<key id>.<claims>.<signature>``, every part base64url without padding.
``claims`` is the msgpack encoding of :class:`FormClaims` (array-like, so field names cost
nothing); ``signature`` is HMAC-SHA256 over everything before it. The algorithm is fixed by
the leading format version: nothing in a token can choose it. The key id lets a rotated-out
key keep verifying the tokens it signed until they expire.

The signing key is ``derive_key(secret, "form-token")``. Tokens signed before keys were
derived per purpose (with the secret itself) still verify until they expire, so links in
emails already sent keep working across the upgrade; none are signed that way any more.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

import msgspec

from survey_service.errors import TokenError
from survey_service.lib import randomness
from survey_service.lib.keys import derive_key, mac
from survey_service.lib.structs import Struct

__all__ = ["MAX_TOKEN_LENGTH", "FormClaims", "TokenSigner", "new_nonce", "uuid7"]

_FORMAT = "1"
MAX_TOKEN_LENGTH = 2048


class FormClaims(Struct, array_like=True):
    """What the server asserted when it served a form; the only attribution it trusts."""

    survey_version_id: int
    nonce: bytes  # 128 bits; one response per nonce
    variant: str | None
    channel: str
    language: str
    metadata: dict[str, str]
    issued_at: int
    expires_at: int
    single_use: bool = False  # a kiosk code: a second answer is told the code was used


def new_nonce() -> bytes:
    """A served form's nonce: a UUID version 7 (RFC 9562), the Unix time in milliseconds
    then 74 random bits from the operating system's generator.

    The nonce names a served form; it is no secret (the token carrying it is signed, and
    says when it was issued anyway). Time first, so the unique (survey, nonce) keys of
    ``assignment`` and ``response`` grow at their right edge as their ids do, instead of
    touching a random page of a large index each (and writing that whole page to the WAL
    again after every checkpoint): COPY into a 1.7 million-row ``assignment`` cost 13 µs a
    row against 19-22 with random nonces, in alternating runs.
    """
    return uuid7(time.time_ns() // 1_000_000, randomness.token_bytes(10))


def uuid7(milliseconds: int, random: bytes) -> bytes:
    """The 16 bytes of the UUID version 7 made of a Unix time in milliseconds and 10
    random bytes (6 of their bits give way to the version and the variant)."""
    tail = bytearray(random)
    tail[0] = 0x70 | (tail[0] & 0x0F)  # version 7
    tail[2] = 0x80 | (tail[2] & 0x3F)  # the RFC 9562 variant
    return milliseconds.to_bytes(6, "big") + bytes(tail)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_id(key: bytes) -> str:
    return _b64(hashlib.sha256(b"kid:" + key).digest()[:6])


class TokenSigner:
    """Issues tokens with the current key; verifies with the current or previous one."""

    def __init__(self, secret: str, previous_secret: str | None = None) -> None:
        current = derive_key(secret, "form-token")
        self._current = (_key_id(current), current)
        secrets_ = [secret] + ([previous_secret] if previous_secret else [])
        verifying = [derive_key(s, "form-token") for s in secrets_]
        verifying += [s.encode() for s in secrets_]  # tokens signed before derivation
        self._keys = {_key_id(key): key for key in verifying}

    def sign(self, claims: FormClaims) -> str:
        """The token for ``claims``."""
        kid, key = self._current
        head = f"{_FORMAT}.{kid}.{_b64(msgspec.msgpack.encode(claims))}"
        return f"{head}.{_b64(mac(key, head))}"

    def verify(self, token: str, now: float | None = None) -> FormClaims:
        """The claims of a genuine, unexpired token; raise :class:`TokenError` otherwise."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("malformed", "token is missing or too long")
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != _FORMAT:
            raise TokenError("malformed", "token is not in a known format")
        head, _, signature = token.rpartition(".")
        key = self._keys.get(parts[1])
        # The one canonical spelling of the right MAC (no malleable padding bits); only a
        # token that is not it is decoded, to say what is wrong with it.
        if key is None or not hmac.compare_digest(_b64(mac(key, head)), signature):
            try:
                given = _unb64(signature)
            except (binascii.Error, ValueError):
                raise TokenError("malformed", "token signature is not base64url") from None
            if _b64(given) != signature:
                raise TokenError("malformed", "token signature is not canonical base64url")
            raise TokenError("signature", "token signature is invalid")
        try:
            claims = msgspec.msgpack.decode(_unb64(parts[2]), type=FormClaims)
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise TokenError("malformed", "token claims cannot be read") from None
        if claims.expires_at <= (time.time() if now is None else now):
            raise TokenError("expired", "token has expired")
        return claims
