"""Piccolo tables. The schema itself is created by the migrations in ``migrations/``.

Every hot table carries ``survey_id`` and every hot query filters by it, so the tables can
be distributed by survey on Citus later (DESIGN.md, scale-out).
"""

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigSerial,
    Boolean,
    ForeignKey,
    Integer,
    Real,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

__all__ = [
    "TABLES",
    "ApiKey",
    "Assignment",
    "ExperimentSubject",
    "Response",
    "ShortLink",
    "Survey",
    "SurveyVersion",
]


class Survey(Table, tablename="survey"):
    """One row per slug; ``current_version_id`` is the version served to new visitors."""

    id = Serial(primary_key=True)
    slug = Varchar(length=63, unique=True)
    current_version_id = Integer(null=True)
    created_at = Timestamptz()


class SurveyVersion(Table, tablename="survey_version"):
    """An immutable snapshot of a definition; responses point at the one they answered."""

    id = Serial(primary_key=True)
    survey_id = ForeignKey(Survey)
    version = Integer()
    content_hash = Varchar(length=64)
    definition = JSONB()
    created_at = Timestamptz()


class Assignment(Table, tablename="assignment"):
    """A served form: who was shown which variant, through which channel."""

    id = BigSerial(primary_key=True)
    survey_id = ForeignKey(Survey)
    survey_version_id = ForeignKey(SurveyVersion)
    token_nonce = UUID()
    variant = Varchar(length=40, null=True)
    channel = Varchar(length=10)
    language = Varchar(length=2)
    metadata = JSONB()
    created_at = Timestamptz()


class Response(Table, tablename="response"):
    """One submitted form. Answers by role are typed columns for the KPI queries."""

    id = BigSerial(primary_key=True)
    survey_id = ForeignKey(Survey)
    survey_version_id = ForeignKey(SurveyVersion)
    token_nonce = UUID()
    variant = Varchar(length=40, null=True)
    channel = Varchar(length=10)
    language = Varchar(length=2)
    metadata = JSONB()
    answers = JSONB()
    nps = SmallInt(null=True)
    csat = SmallInt(null=True)
    empathy_understood = SmallInt(null=True)
    empathy_cared = Boolean(null=True)
    empathy_emotional = SmallInt(null=True)
    empathy_influence = SmallInt(null=True)
    comment = Text(null=True)
    flags = Array(base_column=Text())
    client_hash = Varchar(length=32, null=True)
    sentiment_polarity = Real(null=True)
    sentiment_class = SmallInt(null=True)
    sentiment_cues = Array(base_column=Text())
    sentiment_version = Varchar(length=20, null=True)
    score_text_mismatch = Boolean()
    created_at = Timestamptz()


class ApiKey(Table, tablename="api_key"):
    """A bearer key for /api/v1: its hash, scopes and the surveys it may read (empty: all)."""

    id = Serial(primary_key=True)
    name = Varchar(length=100)
    prefix = Varchar(length=16, unique=True)
    secret_hash = Varchar(length=64)
    scopes = Array(base_column=Text())
    surveys = Array(base_column=Text())
    created_at = Timestamptz()
    revoked_at = Timestamptz(null=True)
    last_used_at = Timestamptz(null=True)


class ExperimentSubject(Table, tablename="experiment_subject"):
    """A subject's sticky variant in an experiment assigned before the survey."""

    id = BigSerial(primary_key=True)
    survey_id = ForeignKey(Survey)
    experiment_key = Varchar(length=63)
    subject = Varchar(length=200)
    variant = Varchar(length=40)
    cluster = Varchar(length=200, null=True)
    token_nonce = UUID()
    created_at = Timestamptz()


class ShortLink(Table, tablename="short_link"):
    """``/q/<code>``: a survey with its channel and metadata, for QR codes."""

    code = Varchar(length=16, primary_key=True)
    survey_id = ForeignKey(Survey)
    channel = Varchar(length=10)
    metadata = JSONB()
    kiosk = Varchar(length=32, null=True)
    token_nonce = UUID(null=True)
    expires_at = Timestamptz(null=True)
    created_at = Timestamptz()


TABLES: tuple[type[Table], ...] = (
    Survey,
    SurveyVersion,
    Assignment,
    Response,
    ApiKey,
    ExperimentSubject,
    ShortLink,
)
