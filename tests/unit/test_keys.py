"""The MAC and the random bytes the hot paths use: the same values as the standard library,
without releasing the GIL."""

from __future__ import annotations

import hmac
import os

import pytest

from survey_service.lib import randomness
from survey_service.lib.keys import derive_key, mac


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("message_size", [0, 1, 100, 4000])
def test_mac_is_hmac_sha256(key_size: int, message_size: int) -> None:
    key, message = os.urandom(key_size), os.urandom(message_size)
    assert mac(key, message) == hmac.digest(key, message, "sha256")


def test_mac_of_text_is_the_mac_of_its_utf8() -> None:
    key = derive_key("s" * 40, "purpose")
    assert mac(key, "ünïcode") == hmac.digest(key, "ünïcode".encode(), "sha256")
    assert mac(key, "a") != mac(derive_key("s" * 40, "other"), "a")


def test_mac_never_calls_the_one_shot_hmac(monkeypatch: pytest.MonkeyPatch) -> None:
    # hmac.digest releases the GIL on every call: on the event loop each release can hand
    # the GIL to a server thread (a page took about 20% longer; see lib/keys.py).
    key = derive_key("s" * 40, "another purpose")
    expected = hmac.digest(key, b"m" * 100, "sha256")

    def refuse(*_: object) -> bytes:
        raise AssertionError("the one-shot HMAC was called")

    monkeypatch.setattr(hmac, "digest", refuse)
    monkeypatch.setattr(hmac, "new", refuse)
    assert mac(key, b"m" * 100) == expected


def test_random_bytes_come_from_the_os_a_block_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    urandom = os.urandom

    def counted(size: int) -> bytes:
        calls.append(size)
        return urandom(size)

    monkeypatch.setattr(os, "urandom", counted)
    values = [randomness.token_bytes(16) for _ in range(1024)]  # 16 KiB: four blocks
    assert len(set(values)) == len(values)
    assert 4 <= len(calls) <= 5  # a block the pool held already may serve the first ones
    assert all(size == 4096 for size in calls)


def test_random_bytes_are_never_handed_out_twice() -> None:
    taken = [randomness.token_bytes(16) for _ in range(2000)]  # several blocks
    assert all(len(value) == 16 for value in taken)
    assert len(set(taken)) == len(taken)
    assert len(randomness.token_hex(32)) == 64
    assert len(randomness.token_bytes(10_000)) == 10_000  # more than a block at once


def test_uniform_is_in_the_unit_interval_and_spread() -> None:
    values = [randomness.uniform() for _ in range(20_000)]
    assert all(0.0 <= v < 1.0 for v in values)
    below = sum(v < 0.5 for v in values)
    assert 9_500 < below < 10_500  # about 7 standard deviations of room


def test_a_forked_child_never_reuses_its_parents_bytes() -> None:
    randomness.token_bytes(16)  # the parent holds a block, most of it unused
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send what it would hand out next, and leave
        os.write(write, randomness.token_bytes(64))
        os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 64
    assert child != randomness.token_bytes(64)
