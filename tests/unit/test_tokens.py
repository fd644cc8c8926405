"""Signed tokens: round trip, tampering, expiry, key rotation."""

from __future__ import annotations

import time

import pytest

from survey_service.surveys.tokens import FormClaims, TokenError, TokenSigner, new_nonce

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
    assert TokenSigner(KEY, previous_key=OLD).verify(token).variant == "warm"
    assert reason(TokenSigner(KEY), token) == "signature"


@pytest.mark.parametrize("token", ["", "a.b.c", "2.x.y.z", "1.x.y.z", "1." + "a" * 3000])
def test_malformed(token: str) -> None:
    assert reason(TokenSigner(KEY), token) in {"malformed", "signature"}


def test_format_is_fixed_not_chosen_by_the_token() -> None:
    signer = TokenSigner(KEY)
    token = signer.sign(claims())
    assert reason(signer, "0" + token[1:]) == "malformed"
