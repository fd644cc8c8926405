"""Small helpers shared by the HTTP-level tests."""

from __future__ import annotations

import html
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMS = ROOT / "forms"
TEST_KEY = "test-signing-key-" + "x" * 32


def hidden(page: str, name: str) -> str:
    """The value of the hidden input ``name`` in an HTML page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


SPLIT_FORM = """\
slug = "{slug}"
languages = ["en"]
reminder_days = 3
title.en = "Split"

[[questions]]
id = "score"
type = "nps"
role = "nps"
text.en = "Recommend?"

[experiment]
key = "{slug}"
control = "a"
primary_metric = "nps"
{variants}
"""


def split_form(slug: str, weights: dict[str, int]) -> str:
    """A one-question survey whose experiment has the given variant weights."""
    variants = "".join(
        f'\n[[experiment.variants]]\nname = "{name}"\nweight = {weight}\n'
        for name, weight in weights.items()
    )
    return SPLIT_FORM.format(slug=slug, variants=variants)


SPLITS = {"split-50-50": {"a": 50, "b": 50}, "split-20-30-50": {"a": 20, "b": 30, "c": 50}}
