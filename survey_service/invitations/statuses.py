"""The invitation statuses: one enum for the API, the sender and the docs."""

from __future__ import annotations

import enum

__all__ = ["InvitationStatus"]


class InvitationStatus(enum.StrEnum):
    """Where an invitation stands. Stored in ``invitation.status``, except ``expired``,
    which is reported for queued, sent or opened invitations whose link has lapsed."""

    QUEUED = "queued"
    """Waiting for its ``send_at`` (or for a retry after a temporary failure)."""
    SENDING = "sending"
    """Claimed by a sender; back to queued after the lease if the sender died."""
    SENT = "sent"
    """Accepted by the SMTP server."""
    FAILED = "failed"
    """Refused for good (5xx) or given up after the last attempt; ``last_error`` says why."""
    BOUNCED = "bounced"
    """Reported undeliverable by the mail provider after it was sent."""
    OPENED_FORM = "opened-form"
    """Its personal link was opened."""
    RESPONDED = "responded"
    """Its personal link was answered."""
    EXPIRED = "expired"
    """Its link lapsed before it was answered."""
    UNSUBSCRIBED = "unsubscribed"
    """The address unsubscribed before this invitation was answered."""
