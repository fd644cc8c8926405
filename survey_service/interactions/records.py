"""An interaction as staff (or another system) send it, and as it is stored: Structs and
the checks msgspec's constraints cannot express (pure functions)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from survey_service.errors import FieldError
from survey_service.interactions.vocabulary import Action, Emotion, InteractionChannel, Reaction
from survey_service.lib.references import MAX_REFERENCE
from survey_service.lib.structs import Struct
from survey_service.lib.text import one_line

__all__ = [
    "MAX_NOTE",
    "MAX_PAST",
    "InteractionIn",
    "InteractionOut",
    "Label",
    "Reference",
    "check_interaction",
]

MAX_NOTE = 1000
MAX_PAST = dt.timedelta(days=366)
"""``occurred_at`` at most a year and a day back (a log, not an archive import)."""
MAX_FUTURE = dt.timedelta(minutes=5)
"""Clock skew allowed between the caller and the service."""

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
"""A touchpoint or agent: the same values links carry in their metadata."""
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REFERENCE)]
"""A customer or order reference (see :mod:`survey_service.lib.references`)."""


class InteractionIn(Struct):
    """One interaction to log. ``actions`` may be empty only when nothing was done."""

    emotion: Emotion
    actions: Annotated[list[Action], msgspec.Meta(max_length=8)]
    reaction: Reaction
    channel: InteractionChannel = "in_person"
    touchpoint: Label | None = None
    agent: Label | None = None
    duration_seconds: Annotated[int, msgspec.Meta(ge=0, le=86400)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE)] | None = None
    reference: Reference | None = None
    hash_reference: bool = False
    """Store only the keyed hash of ``reference`` (it still links and can be erased)."""
    occurred_at: dt.datetime | None = None
    """When it happened (with an offset); default: now."""


class InteractionOut(Struct):
    """An interaction as stored (``reference`` is null when only its hash was kept)."""

    id: int
    occurred_at: dt.datetime
    emotion: Emotion
    actions: list[Action]
    reaction: Reaction
    channel: InteractionChannel
    touchpoint: str | None
    agent: str | None
    duration_seconds: int | None
    note: str | None
    reference: str | None
    linked: bool
    """Whether a reference (plain or hashed) was given, so survey responses and outcome
    events can be linked to it."""
    recorded_by: str
    created_at: dt.datetime


def check_interaction(
    row: InteractionIn, now: dt.datetime
) -> tuple[InteractionIn, list[FieldError]]:
    """The interaction with its text fields cleaned (one line, trimmed, actions once each),
    and the problems msgspec's types cannot see, named by field."""
    errors = []
    cleaned = {}
    for name in ("touchpoint", "agent", "reference"):
        value = getattr(row, name)
        if value is not None:
            text = one_line(value)
            if not text:
                errors.append(FieldError(key=name, message="empty once trimmed", code="required"))
            cleaned[name] = text or None
    note = row.note.strip() if row.note is not None else None
    moment = row.occurred_at
    if moment is not None and moment.tzinfo is None:
        errors.append(FieldError(key="occurred_at", message="needs a time zone offset"))
    elif moment is not None and not now - MAX_PAST <= moment <= now + MAX_FUTURE:
        message = f"between {MAX_PAST.days} days ago and now"
        errors.append(FieldError(key="occurred_at", message=message, code="range"))
    if row.hash_reference and row.reference is None:
        message = "hash_reference needs a reference"
        errors.append(FieldError(key="hash_reference", message=message))
    return msgspec.structs.replace(
        row,
        **cleaned,
        note=note or None,
        actions=list(dict.fromkeys(row.actions)),
        occurred_at=moment or now,
    ), errors
