"""Customer references: one name for a customer (or an order) across every part of the
service that can carry one.

A reference is whatever the business already uses (a loyalty number, an order number, a CRM
id). It reaches the service in a link's or an invitation's metadata (``customer_ref`` or
``order_ref``), as an experiment subject, on a staff interaction and on an outcome event.
Everything is linked by a *customer key*: a keyed hash (HMAC-SHA256 under a key derived
from the service's secret, 128 bits) of the trimmed reference, so a caller that asks for it
can have only the key stored and the plain reference never kept, and erasure finds every
record of a reference by its key.
"""

from __future__ import annotations

from collections.abc import Mapping

from survey_service.lib.keys import derive_key, mac

__all__ = ["MAX_REFERENCE", "REFERENCE_KEYS", "CustomerKeys", "reference_of"]

REFERENCE_KEYS = ("customer_ref", "order_ref")
"""Metadata keys that name a customer, in order of preference."""
MAX_REFERENCE = 200


def reference_of(metadata: Mapping[str, str]) -> str | None:
    """The customer reference a link's or invitation's metadata carries, if any."""
    for key in REFERENCE_KEYS:
        value = metadata.get(key, "").strip()
        if value:
            return value
    return None


class CustomerKeys:
    """Customer keys under the service's secret."""

    def __init__(self, secret: str) -> None:
        self._key = derive_key(secret, "customer-reference")

    def __call__(self, reference: str) -> str:
        """The customer key of ``reference`` (32 hex characters)."""
        return mac(self._key, reference.strip())[:16].hex()
