"""Small helpers shared by the HTTP-level tests."""

from __future__ import annotations

import html
import re


def hidden(page: str, name: str) -> str:
    """The value of the hidden input ``name`` in an HTML page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))
