"""Survey definitions: the ``forms/*.toml`` files, decoded and checked into typed Structs.

Pure: reading files is the only I/O here (``load_forms``); syncing versions into the
database lives in :mod:`survey_service.surveys.catalog`.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from survey_service.alerts.rules import AlertRules
from survey_service.lib.i18n import accepted_languages
from survey_service.lib.structs import Struct

__all__ = [
    "CHANNELS",
    "EMPATHY_ROLES",
    "ROLE_TYPES",
    "Channel",
    "DefinitionError",
    "Experiment",
    "LoadedForm",
    "Metric",
    "Question",
    "QuestionType",
    "Role",
    "SurveyDefinition",
    "Variant",
    "content_hash",
    "decode_definition",
    "load_forms",
    "pick_language",
]

Language = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}$", description="ISO 639-1 code")]
Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
Identifier = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Localized = dict[Language, NonEmpty]
"""One text per language of the survey, e.g. ``{en = "Thanks", es = "Gracias"}``."""

Weight = Annotated[float, msgspec.Meta(gt=0, le=1000)]
MaxLength = Annotated[int, msgspec.Meta(ge=1, le=2000)]

Channel = Literal["link", "qr", "email", "kiosk", "api"]
CHANNELS: tuple[Channel, ...] = ("link", "qr", "email", "kiosk", "api")

Metric = Literal[
    "nps",
    "csat_top2",
    "csat_mean",
    "empathy_index",
    "css",
    "response_rate",
    "repeat_purchase_30d",
    "repeat_purchase_90d",
    "repeat_purchase_365d",
    "revenue_30d",
    "revenue_90d",
    "revenue_365d",
]
"""Survey metrics (from the responses), and outcome metrics: what subjects did within 30,
90 or 365 days of their assignment (repeat purchase in %, net revenue per subject)."""

# Query parameters with a meaning of their own cannot be metadata keys.
RESERVED_KEYS = frozenset({"lang", "channel", "variant", "token", "t", "v", "answers"})


class QuestionType(enum.StrEnum):
    """How a question is answered."""

    NPS = "nps"  # integer 0-10
    RATING = "rating"  # integer 1-5
    YES_NO = "yes_no"  # boolean
    TEXT = "text"  # free text up to max_length


class Role(enum.StrEnum):
    """What a question measures, so the KPI engine knows where its answer goes."""

    NPS = "nps"
    CSAT = "csat"
    EMPATHY_UNDERSTOOD = "empathy_understood"
    EMPATHY_CARED = "empathy_cared"
    EMPATHY_EMOTIONAL = "empathy_emotional"
    EMPATHY_INFLUENCE = "empathy_influence"
    COMMENT = "comment"


ROLE_TYPES: dict[Role, QuestionType] = {
    Role.NPS: QuestionType.NPS,
    Role.CSAT: QuestionType.RATING,
    Role.EMPATHY_UNDERSTOOD: QuestionType.RATING,
    Role.EMPATHY_CARED: QuestionType.YES_NO,
    Role.EMPATHY_EMOTIONAL: QuestionType.RATING,
    Role.EMPATHY_INFLUENCE: QuestionType.RATING,
    Role.COMMENT: QuestionType.TEXT,
}
"""The one question type each role accepts."""

EMPATHY_ROLES: tuple[Role, ...] = (
    Role.EMPATHY_UNDERSTOOD,
    Role.EMPATHY_CARED,
    Role.EMPATHY_EMOTIONAL,
)
"""Items averaged into the empathy index (empathy_influence is reported apart)."""

DEFAULT_TEXT_MAX_LENGTH = 500


class Question(Struct):
    """One question; ``id`` names its answer in requests and exports."""

    id: Identifier
    type: QuestionType
    role: Role
    text: Localized
    required: bool = True
    max_length: MaxLength | None = None
    low_label: Localized | None = None
    high_label: Localized | None = None

    @property
    def limit(self) -> int:
        """The longest accepted answer of a text question."""
        return self.max_length or DEFAULT_TEXT_MAX_LENGTH


class Variant(Struct):
    """An experiment arm: its share of traffic and the question texts it rewords."""

    name: Identifier
    weight: Weight = 1.0
    overrides: dict[Identifier, Localized] = {}


class Experiment(Struct):
    """An A/B test of the survey's wording or of the service script before it."""

    key: Slug
    control: Identifier
    variants: Annotated[list[Variant], msgspec.Meta(min_length=2, max_length=10)]
    hypothesis: str = ""
    primary_metric: Metric = "empathy_index"
    start: dt.date | None = None
    end: dt.date | None = None

    def variant(self, name: str) -> Variant | None:
        """The variant called ``name``, if any."""
        return next((v for v in self.variants if v.name == name), None)


class SurveyDefinition(Struct):
    """A whole survey as written in ``forms/<slug>.toml``; ``languages[0]`` is the default."""

    slug: Slug
    title: Localized
    languages: Annotated[list[Language], msgspec.Meta(min_length=1, max_length=20)]
    questions: Annotated[list[Question], msgspec.Meta(min_length=1, max_length=5)]
    metadata_keys: list[Identifier] = []
    intro: Localized | None = None
    thanks: Localized | None = None
    experiment: Experiment | None = None
    reminder_days: Annotated[int, msgspec.Meta(ge=1, le=30)] | None = None
    """Days after an invitation email to send its one reminder; unset: no reminders."""
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
    """Days responses keep their free text and customer metadata, and invitations their
    address (then redacted; scores stay); unset: ``SURVEY_RETENTION_DAYS``."""
    alerts: AlertRules | None = None
    """What the survey alerts on (``[alerts]``); unset: every response rule, SRM, email."""

    @property
    def default_language(self) -> str:
        """The language used when the customer's cannot be served."""
        return self.languages[0]

    def question(self, question_id: str) -> Question | None:
        """The question called ``question_id``, if any."""
        return next((q for q in self.questions if q.id == question_id), None)


@dataclass(frozen=True, slots=True)
class DefinitionError:
    """One problem in one form file, located as precisely as the file allows."""

    file: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


@dataclass(frozen=True, slots=True)
class LoadedForm:
    """A valid definition and the file it came from."""

    path: Path
    definition: SurveyDefinition


def content_hash(definition: SurveyDefinition) -> str:
    """Hash of the decoded definition: formatting or comment edits make no new version."""
    canonical = msgspec.json.encode(definition, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def pick_language(definition: SurveyDefinition, requested: str | None, accept: str | None) -> str:
    """``?lang=`` if the survey has it, else the best Accept-Language match, else the default."""
    if requested and requested.lower()[:2] in definition.languages:
        return requested.lower()[:2]
    for tag in accepted_languages(accept):
        if tag in definition.languages:
            return tag
    return definition.default_language


def decode_definition(
    source: str, file: str = "<string>"
) -> SurveyDefinition | list[DefinitionError]:
    """Decode and check one TOML source; return the definition or every problem found."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        return [DefinitionError(file, "", f"TOML syntax: {exc}", int(match[1]) if match else None)]
    try:
        definition = msgspec.convert(data, SurveyDefinition)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path_match = re.search(r"at `\$(\S*)`$", message)
        path = _parse_path(path_match.group(1)) if path_match else ()
        reason = message[: path_match.start()].rstrip(" -") if path_match else message
        return [DefinitionError(file, _format_path(path), reason, _find_line(source, path))]
    problems = _check(definition)
    if problems:
        return [
            DefinitionError(file, _format_path(path), message, _find_line(source, path))
            for path, message in problems
        ]
    return definition


def load_forms(folder: Path) -> tuple[list[LoadedForm], list[DefinitionError]]:
    """Read every ``*.toml`` in ``folder``; slugs must be unique across files."""
    forms: list[LoadedForm] = []
    errors: list[DefinitionError] = []
    seen: dict[str, Path] = {}
    experiments: dict[str, Path] = {}
    if not folder.is_dir():
        return [], [DefinitionError(str(folder), "", "forms folder not found")]
    for path in sorted(folder.glob("*.toml")):
        result = decode_definition(path.read_text(encoding="utf-8"), str(path))
        if isinstance(result, list):
            errors.extend(result)
        elif result.slug in seen:
            errors.append(
                DefinitionError(
                    str(path), "slug", f"'{result.slug}' is also used by {seen[result.slug]}"
                )
            )
        elif result.experiment and result.experiment.key in experiments:
            other = experiments[result.experiment.key]
            message = f"'{result.experiment.key}' is also used by {other}"
            errors.append(DefinitionError(str(path), "experiment.key", message))
        else:
            if result.experiment:
                experiments[result.experiment.key] = path
            seen[result.slug] = path
            forms.append(LoadedForm(path, result))
    return forms, errors


# --- semantic checks -------------------------------------------------------------------

PathT = tuple[str | int, ...]
_Localizer = Callable[[PathT, dict[str, str] | None], None]


def _check(d: SurveyDefinition) -> list[tuple[PathT, str]]:
    problems: list[tuple[PathT, str]] = []
    languages = set(d.languages)
    if len(languages) != len(d.languages):
        problems.append((("languages",), "a language is listed twice"))

    def localized(path: PathT, texts: dict[str, str] | None) -> None:
        if texts is None:
            return
        missing = sorted(languages - texts.keys())
        extra = sorted(texts.keys() - languages)
        if missing:
            problems.append((path, f"missing text for language(s): {', '.join(missing)}"))
        if extra:
            problems.append((path, f"text for language(s) not in `languages`: {', '.join(extra)}"))

    localized(("title",), d.title)
    localized(("intro",), d.intro)
    localized(("thanks",), d.thanks)
    ids: set[str] = set()
    roles: set[Role] = set()
    for i, q in enumerate(d.questions):
        at: PathT = ("questions", i)
        if q.id in ids:
            problems.append(((*at, "id"), f"question id '{q.id}' is used twice"))
        ids.add(q.id)
        if q.role in roles:
            problems.append(((*at, "role"), f"role '{q.role}' is used by two questions"))
        roles.add(q.role)
        if ROLE_TYPES[q.role] is not q.type:
            problems.append(
                (
                    (*at, "type"),
                    f"role '{q.role}' needs type '{ROLE_TYPES[q.role]}', not '{q.type}'",
                )
            )
        if q.max_length is not None and q.type is not QuestionType.TEXT:
            problems.append(((*at, "max_length"), "only text questions take max_length"))
        if (q.low_label or q.high_label) and q.type not in (QuestionType.NPS, QuestionType.RATING):
            problems.append(((*at, "low_label"), "only nps and rating questions take labels"))
        localized((*at, "text"), q.text)
        localized((*at, "low_label"), q.low_label)
        localized((*at, "high_label"), q.high_label)
    for i, key in enumerate(d.metadata_keys):
        if key in RESERVED_KEYS:
            problems.append((("metadata_keys", i), f"'{key}' is reserved"))
    if len(set(d.metadata_keys)) != len(d.metadata_keys):
        problems.append((("metadata_keys",), "a key is listed twice"))
    if d.experiment is not None:
        problems.extend(_check_experiment(d.experiment, ids, localized))
    return problems


def _check_experiment(
    e: Experiment, question_ids: set[str], localized: _Localizer
) -> list[tuple[PathT, str]]:
    problems: list[tuple[PathT, str]] = []
    names = [v.name for v in e.variants]
    if len(set(names)) != len(names):
        problems.append((("experiment", "variants"), "a variant name is used twice"))
    if e.control not in names:
        problems.append((("experiment", "control"), f"'{e.control}' is not one of the variants"))
    if e.start and e.end and e.end < e.start:
        problems.append((("experiment", "end"), "ends before it starts"))
    for i, v in enumerate(e.variants):
        for qid, texts in v.overrides.items():
            at: PathT = ("experiment", "variants", i, "overrides", qid)
            if qid not in question_ids:
                problems.append((at, f"no question called '{qid}'"))
            localized(at, texts)
    return problems


# --- locating an error in the TOML source ----------------------------------------------


def _parse_path(text: str) -> PathT:
    parts: list[str | int] = []
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", text):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _format_path(path: PathT) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+(?:\s*\.\s*[A-Za-z0-9_\-\"']+)*)\s*=")


def _find_line(source: str, path: PathT) -> int | None:
    """Line of the deepest key or table header in ``source`` that ``path`` runs through."""
    if not path:
        return None
    arrays: dict[PathT, int] = {}
    table: PathT = ()
    best: tuple[int, int] | None = None  # (depth matched, line)
    for number, line in enumerate(source.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _resolve(header.group(2), arrays, is_array=header.group(1) == "[[")
            candidate = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            candidate = table + tuple(p.strip().strip("\"'") for p in key.group(1).split("."))
        depth = _prefix_depth(candidate, path)
        if depth and (best is None or depth > best[0]):
            best = (depth, number)
    return best[1] if best else None


def _resolve(dotted: str, arrays: dict[PathT, int], *, is_array: bool) -> PathT:
    resolved: list[str | int] = []
    parts = [p.strip().strip("\"'") for p in dotted.split(".")]
    for n, part in enumerate(parts):
        resolved.append(part)
        key = tuple(resolved)
        last = n == len(parts) - 1
        if last and is_array:
            arrays[key] = arrays.get(key, -1) + 1
            resolved.append(arrays[key])
        elif key in arrays:
            resolved.append(arrays[key])
    return tuple(resolved)


def _prefix_depth(candidate: PathT, path: PathT) -> int:
    # A key below the error's path (``text.en`` for an error on ``text``) matches it fully.
    shared = min(len(candidate), len(path))
    return shared if candidate[:shared] == path[:shared] else 0
