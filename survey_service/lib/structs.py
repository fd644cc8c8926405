"""The one base Struct every boundary type derives from."""

from __future__ import annotations

import msgspec

__all__ = ["Backlog", "Struct"]


class Struct(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base for definitions, requests, responses and tokens.

    - ``kw_only``: fields are always named at construction, so adding one breaks nobody.
    - ``forbid_unknown_fields``: a misspelt key in a TOML file or a request body is an error
      that names the key, not a silently ignored setting.
    """


class Backlog(Struct):
    """Work waiting in a queue table: how many rows, and how long the oldest has waited."""

    rows: int
    oldest_seconds: float
