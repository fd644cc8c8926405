"""Signed tokens: round trip, tampering, expiry, key rotation."""

from __future__ import annotations

import time
import uuid

import pytest

from survey_service.errors import TokenError
from survey_service.surveys.tokens import FormClaims, TokenSigner, new_nonce

KEY = "k" * 40
OLD = "o" * 40


def claims(expires_in: int = 60) -> FormClaims:
    now = int(time.time())
    return FormClaims(
        survey_version_id=3,
        nonce=new_nonce(),
        variant="warm",
        channel="qr",
        language="es",
        metadata={"agent": "17"},
        issued_at=now,
        expires_at=now + expires_in,
    )


def test_round_trip() -> None:
    signer = TokenSigner(KEY)
    original = claims()
    assert signer.verify(signer.sign(original)) == original
    assert len(original.nonce) == 16


def test_nonces_are_uuid7_in_time_order_with_74_random_bits() -> None:
    """Time first (the unique keys grow at their right edge), random after it."""
    before = time.time_ns() // 1_000_000
    nonces = [uuid.UUID(bytes=new_nonce()) for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert {n.version for n in nonces} == {7}
    assert {n.variant for n in nonces} == {uuid.RFC_4122}
    stamps = [int.from_bytes(n.bytes[:6], "big") for n in nonces]
    assert stamps == sorted(stamps)
    assert before <= stamps[0] <= stamps[-1] <= after
    assert len(set(nonces)) == len(nonces)
    # Every one of the 74 random bits takes both values across the nonces.
    random_bits = [(n.int >> 64 & 0xFFF) << 62 | n.int & (1 << 62) - 1 for n in nonces]
    assert all(0 < sum(b >> i & 1 for b in random_bits) < len(nonces) for i in range(74))


def reason(signer: TokenSigner, token: str) -> str:
    with pytest.raises(TokenError) as info:
        signer.verify(token)
    return info.value.reason


def test_any_changed_character_is_rejected() -> None:
    signer = TokenSigner(KEY)
    token = signer.sign(claims())
    for position in range(len(token)):
        if token[position] == ".":
            continue
        changed = (
            token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
        )
        assert reason(signer, changed) in {"signature", "malformed"}


def test_other_key_is_rejected() -> None:
    assert reason(TokenSigner(KEY), TokenSigner("z" * 40).sign(claims())) == "signature"


def test_expired() -> None:
    signer = TokenSigner(KEY)
    assert reason(signer, signer.sign(claims(expires_in=-1))) == "expired"


def test_previous_key_still_verifies_after_rotation() -> None:
    token = TokenSigner(OLD).sign(claims())
    assert TokenSigner(KEY, previous_secret=OLD).verify(token).variant == "warm"
    assert reason(TokenSigner(KEY), token) == "signature"


def test_tokens_signed_with_the_raw_secret_still_verify() -> None:
    """Links mailed before keys were derived per purpose keep working until they expire."""
    import base64
    import hashlib
    import hmac

    import msgspec

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    raw = KEY.encode()
    kid = b64(hashlib.sha256(b"kid:" + raw).digest()[:6])
    head = f"1.{kid}.{b64(msgspec.msgpack.encode(claims()))}"
    legacy = f"{head}.{b64(hmac.digest(raw, head.encode(), 'sha256'))}"
    assert TokenSigner(KEY).verify(legacy).variant == "warm"
    assert TokenSigner(KEY).sign(claims()) != legacy  # new tokens use the derived key
    assert reason(TokenSigner(OLD), legacy) == "signature"


@pytest.mark.parametrize("token", ["", "a.b.c", "2.x.y.z", "1.x.y.z", "1." + "a" * 3000])
def test_malformed(token: str) -> None:
    assert reason(TokenSigner(KEY), token) in {"malformed", "signature"}


def test_format_is_fixed_not_chosen_by_the_token() -> None:
    signer = TokenSigner(KEY)
    token = signer.sign(claims())
    assert reason(signer, "0" + token[1:]) == "malformed"
