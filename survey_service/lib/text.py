"""Cleaning short single-line text that ends up in headers, links and exports (pure)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["has_line_break", "one_line"]

_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]|%0[ad]", re.IGNORECASE)
"""Every character that ends a line somewhere (email headers, CSV, Unicode line and paragraph
separators, NEL), and their URL-encoded forms."""


def has_line_break(text: str) -> bool:
    """Whether ``text`` contains anything that ends a line."""
    return _BREAKS.search(text) is not None


def one_line(text: str) -> str:
    """``text`` on one line: line breaks become spaces; control and format characters
    (NUL, escapes, bidirectional overrides such as U+202E) are removed; trimmed."""
    spaced = _BREAKS.sub(" ", text)
    return "".join(c for c in spaced if unicodedata.category(c) not in ("Cc", "Cf")).strip()
