"""The one Jinja environment: every page and email is rendered from ``templates/``.

HTML templates are autoescaped (customer text and link metadata can never become markup);
plain-text email templates are not. ``page_css`` (the inline stylesheet, allowed by its
hash in the CSP) is a global of every page.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

__all__ = ["DASHBOARD_CSS", "PAGE_CSS", "environment", "number"]

_PACKAGE = Path(__file__).resolve().parents[1]
PAGE_CSS = (_PACKAGE / "static" / "survey.css").read_text(encoding="utf-8")
"""The pages' stylesheet, inlined (one round trip less on a weak signal)."""
DASHBOARD_CSS = (_PACKAGE / "static" / "dashboard.css").read_text(encoding="utf-8")
"""The dashboard's own rules, inlined after PAGE_CSS on dashboard pages only."""


def number(value: float | None, places: int = 1, sign: bool = False) -> str:
    """A figure as the pages print it: fixed places, a dash for no value."""
    if value is None:
        return "–"
    return f"{value:+.{places}f}" if sign else f"{value:.{places}f}"


@cache
def environment() -> jinja2.Environment:
    """The environment (built once per process)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_PACKAGE / "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.globals["page_css"] = PAGE_CSS
    env.globals["dashboard_css"] = DASHBOARD_CSS
    env.filters["num"] = number
    return env
