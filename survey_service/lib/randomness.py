"""Random bytes from the operating system's generator, fetched a block at a time.

``os.urandom`` (and so ``secrets`` and ``random.SystemRandom``) releases the GIL on every
call. On the event loop, which shares the GIL with the server's own threads, each release
can hand the GIL away for the rest of a switch interval; a form page needs four random
values (the token's nonce, the variant's draw, the CSRF token, the request id). So the
bytes come from the same generator 4 KiB at a time and each is handed out once. A forked
child starts with an empty block: it never hands out its parent's bytes.
"""

from __future__ import annotations

import os
import threading

__all__ = ["token_bytes", "token_hex", "uniform"]

_BLOCK = 4096


class _Pool:
    """Bytes from ``os.urandom``, each handed out once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = b""
        self._at = 0

    def take(self, size: int) -> bytes:
        with self._lock:
            if self._at + size > len(self._data):
                self._data = os.urandom(max(_BLOCK, size))
                self._at = 0
            start = self._at
            self._at += size
            return self._data[start : self._at]


_pool = _Pool()


def _new_pool() -> None:
    """In a forked child: a pool of its own (and not a lock another thread held)."""
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_new_pool)


def token_bytes(size: int) -> bytes:
    """``size`` random bytes (as ``secrets.token_bytes``)."""
    return _pool.take(size)


def token_hex(size: int) -> str:
    """``size`` random bytes in hex (as ``secrets.token_hex``)."""
    return _pool.take(size).hex()


def uniform() -> float:
    """A random float in [0, 1), with 53 random bits (as ``random.SystemRandom.random``)."""
    return (int.from_bytes(_pool.take(7), "big") >> 3) * 2.0**-53
