"""Outcome events as other systems send them: one JSON object, a JSON list, or CSV;
checked row by row (pure functions).

An event says what a customer did: ``purchase``, ``repeat_purchase``, ``referral``,
``refund``, ``complaint`` or ``churn``, with the customer reference, when, and for money
events an amount with its ISO 4217 currency. ``event_id`` is the caller's own id for the
event: sending it again stores nothing new (a replayed batch is safe), and the first event
stored under an id wins.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
from typing import Annotated, Any, Literal, get_args

import msgspec

from survey_service.errors import FieldError, RowError
from survey_service.lib.references import MAX_REFERENCE
from survey_service.lib.structs import Struct
from survey_service.lib.text import one_line

__all__ = [
    "CURRENCIES",
    "MAX_BATCH",
    "MONEY_KINDS",
    "OUTCOME_KINDS",
    "OutcomeBatchResult",
    "OutcomeIn",
    "OutcomeKind",
    "check_outcome",
    "parse_csv",
]

MAX_BATCH = 10_000
MAX_AMOUNT = decimal.Decimal("1000000000")
OutcomeKind = Literal["purchase", "repeat_purchase", "referral", "refund", "complaint", "churn"]
OUTCOME_KINDS: tuple[OutcomeKind, ...] = get_args(OutcomeKind)
MONEY_KINDS: frozenset[str] = frozenset({"purchase", "repeat_purchase", "refund"})
"""Events that carry an amount (and only these may)."""
PURCHASES: frozenset[str] = frozenset({"purchase", "repeat_purchase"})

CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG""".split()
)
"""ISO 4217 codes of currencies in circulation (no funds, metals or test codes)."""


class OutcomeIn(Struct):
    """One event. ``amount`` (a decimal string or number, at most 4 decimals) and
    ``currency`` for purchases, repeat purchases and refunds only."""

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: OutcomeKind
    customer: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REFERENCE)]
    """The customer reference, as links, invitations, subjects and interactions carry it."""
    occurred_at: dt.datetime
    amount: decimal.Decimal | None = None
    currency: str | None = None
    hash_customer: bool = False
    """Store only the keyed hash of ``customer`` (it still links and can be erased)."""


class OutcomeBatchResult(Struct):
    """How a batch went: events stored, event ids already stored, and rejected rows."""

    created: int
    duplicates: list[str]
    rejected: list[RowError]


def check_outcome(row: OutcomeIn, now: dt.datetime) -> tuple[OutcomeIn, list[FieldError]]:
    """The event with its ids trimmed to one line, and its problems named by field."""
    errors = []
    event_id, customer = one_line(row.event_id), one_line(row.customer)
    if not event_id:
        errors.append(FieldError(key="event_id", message="empty once trimmed", code="required"))
    if not customer:
        errors.append(FieldError(key="customer", message="empty once trimmed", code="required"))
    if row.occurred_at.tzinfo is None:
        errors.append(FieldError(key="occurred_at", message="needs a time zone offset"))
    elif (
        not dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        <= row.occurred_at
        <= now + dt.timedelta(minutes=5)
    ):
        message = "between 1970 and now (outcomes are things that happened)"
        errors.append(FieldError(key="occurred_at", message=message, code="range"))
    if row.kind in MONEY_KINDS:
        errors += _money_errors(row.amount, row.currency)
    elif row.amount is not None or row.currency is not None:
        message = f"only {', '.join(sorted(MONEY_KINDS))} carry an amount"
        errors.append(FieldError(key="amount", message=message))
    return msgspec.structs.replace(row, event_id=event_id, customer=customer), errors


def _money_errors(amount: decimal.Decimal | None, currency: str | None) -> list[FieldError]:
    errors = []
    if amount is None:
        errors.append(
            FieldError(key="amount", message="required for money events", code="required")
        )
    elif not amount.is_finite() or not 0 <= amount <= MAX_AMOUNT:
        message = f"a number from 0 to {MAX_AMOUNT}"
        errors.append(FieldError(key="amount", message=message, code="range"))
    elif amount.as_tuple().exponent < -4:  # type: ignore[operator]  # finite: an int
        errors.append(FieldError(key="amount", message="at most 4 decimals", code="range"))
    if currency is None:
        errors.append(
            FieldError(key="currency", message="required with an amount", code="required")
        )
    elif currency not in CURRENCIES:
        errors.append(FieldError(key="currency", message="an ISO 4217 code such as EUR or USD"))
    return errors


def parse_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows with the header event_id, kind, customer, occurred_at, amount, currency
    and optionally hash_customer (true / false); empty cells are absent fields."""
    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = {k: v for k, v in record.items() if k and v not in (None, "")}
        if "hash_customer" in row:
            row["hash_customer"] = row["hash_customer"].strip().lower() in ("true", "1", "yes")
        rows.append(row)
    return rows
