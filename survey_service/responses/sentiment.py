"""Comment sentiment for the Customer Sentiment Score: offline, fast, customer-service aware.

:func:`analyse` is pure: text in, :class:`Sentiment` out. How it scores (version ``cs-1``):

1. **Clean**: HTML tags and entities, control characters and runs of whitespace go; only
   the first :data:`MAX_CHARS` characters are read (a longer comment has made its point).
2. **Language**: the form's language must be English, and the text must look English
   (:func:`looks_english`: script and function-word counts). Anything else gets no class
   (``None``) and is counted as unclassified, never guessed.
3. **Normalise** customer-service phrasing that lexicons miss: subject negators
   ("nobody cared", "no one listened" become "not cared", "not listened") and a few fixed
   phrases ("on hold", "above and beyond", "waste of time") become single scored tokens;
   customer emoji become scored tokens too.
4. **Score** with two rule-based analysers and average them: VADER (negation, intensifiers,
   "but", capitals and "!" emphasis, emoji) with :data:`CS_LEXICON` added and negation
   kept inside its clause (:func:`_clause_compound`), weight
   1 - :data:`PATTERN_WEIGHT`; and TextBlob's PatternAnalyzer engine (adjective lexicon with
   its own negation and intensifiers), weight :data:`PATTERN_WEIGHT`. On the human-rated
   development sets the blend beats either alone (``benchmarks/bench_sentiment.py``).
5. **Classify**: +1 above :data:`NEUTRAL_BAND`, -1 below minus it, else 0.

Empathy cues (:data:`CUES`) are found independently of the score, with negation: "did not
listen" is ``not_heard``, not ``felt_heard``.
"""

from __future__ import annotations

import html
import math
import re
from functools import lru_cache
from typing import Any, Literal

import msgspec

from survey_service.lib.structs import Struct

__all__ = [
    "ANALYSER_VERSION",
    "CLEAR_POLARITY",
    "CS_LEXICON",
    "CUES",
    "MAX_CHARS",
    "NEUTRAL_BAND",
    "PATTERN_WEIGHT",
    "Sentiment",
    "analyse",
    "looks_english",
    "score_text_mismatch",
    "warm_up",
]

ANALYSER_VERSION = "cs-1"
"""Stored with every score; bump whenever a change can move a score (then ``rescore``)."""

NEUTRAL_BAND = 0.05
"""|polarity| at or below this is neutral (class 0): the protocol's band, kept after tuning."""

PATTERN_WEIGHT = 0.2
"""Share of TextBlob's PatternAnalyzer in the blend (VADER + customer lexicon gets the rest)."""

CLEAR_POLARITY = 0.3
"""A comment is *clearly* positive or negative beyond this (score-text mismatch flag)."""

MAX_CHARS = 5000
"""Only this many characters of a comment are analysed."""

SentimentClass = Literal[-1, 0, 1]


class Sentiment(Struct):
    """A comment's polarity in [-1, 1], its class, and the empathy cues it mentions.

    ``polarity`` and ``sentiment_class`` are None when the comment is empty or not in a
    language the analyser handles.
    """

    polarity: float | None
    sentiment_class: SentimentClass | None = msgspec.field(name="class")
    cues: list[str]
    analyser: str = ANALYSER_VERSION


# --- lexicons -------------------------------------------------------------------------

CS_LEXICON: dict[str, float] = {
    # heard / understood
    "listened": 1.8,
    "listen": 1.2,
    "listens": 1.5,
    "listening": 1.2,
    "helped": 1.5,
    "understood": 1.6,
    "understanding": 1.5,
    "attentive": 2.0,
    "patient": 1.8,
    "patiently": 1.8,
    "polite": 1.8,
    "courteous": 2.0,
    "respectful": 1.8,
    "reassuring": 1.8,
    "reassured": 1.6,
    "knowledgeable": 1.8,
    "professional": 1.5,
    "prompt": 1.5,
    "promptly": 1.5,
    "quick": 1.0,
    "quickly": 1.0,
    "efficient": 1.8,
    "fixed": 1.2,
    "solved": 1.5,
    "sorted": 1.0,
    "resolved": 1.5,
    "caring": 2.2,
    "compassionate": 2.2,
    "thorough": 1.5,
    "aboveandbeyond": 2.8,
    "thank": 1.5,
    "thanks": 1.5,
    # not heard / not cared / friction
    "ignored": -2.2,
    "ignoring": -2.0,
    "dismissive": -2.2,
    "dismissed": -1.8,
    "condescending": -2.3,
    "patronizing": -2.2,
    "patronising": -2.2,
    "unhelpful": -2.0,
    "unprofessional": -2.2,
    "impolite": -2.0,
    "disrespectful": -2.3,
    "indifferent": -1.5,
    "unresolved": -1.8,
    "waited": -1.0,
    "waiting": -0.8,
    "wait": -0.5,
    "onhold": -1.2,
    "tookforever": -1.8,
    "slow": -1.2,
    "late": -1.0,
    "delayed": -1.3,
    "delay": -1.2,
    "cancelled": -1.0,
    "canceled": -1.0,
    "overcharged": -2.2,
    "wasteoftime": -2.2,
    "runaround": -2.0,
    "useless": -2.2,
    "incompetent": -2.5,
    "clueless": -2.0,
    "thanksfornothing": -2.2,
    "hung": -1.0,
    "transferred": -0.6,
    "nobody": -0.5,
    "noone": -0.5,
    # emoji tokens (see _EMOJI)
    "emojipositive": 2.0,
    "emojilove": 2.6,
    "emojinegative": -2.0,
    "emojiangry": -2.6,
}
"""Customer-service words added to VADER's lexicon (valence -4..+4, VADER's scale)."""

_EMOJI = {
    "emojipositive": "😀😃😄😁😊🙂☺😌👍👌🙏👏✅⭐🌟🎉",
    "emojilove": "😍🥰😘❤💕💖💙💚💛🧡💜🤩",
    "emojinegative": "🙁☹😞😔😟😕😢😥😭😩😫👎💔😒🙄😑😐",
    "emojiangry": "😠😡🤬😤",
}

_PHRASES = [
    (r"\b(?:nobody|no one|noone|no-one|not a single person|not one person)\b", "not"),
    (r"\bon hold\b", "onhold"),
    (r"\btook (?:forever|ages)\b", "tookforever"),
    (r"\babove and beyond\b", "aboveandbeyond"),
    (r"\bwaste of (?:my )?time\b", "wasteoftime"),
    (r"\brun ?around\b", "runaround"),
    (r"\bthanks? (?:you )?for nothing\b", "thanksfornothing"),
]

CUES: dict[str, tuple[str, ...]] = {
    "felt_heard": (
        "listened",
        "listen",
        "listens",
        "listening",
        "heard",
        "understood",
        "understand",
        "understanding",
        "attentive",
        "took the time",
    ),
    "cared": (
        "cared",
        "care",
        "caring",
        "compassionate",
        "empathetic",
        "empathy",
        "kind",
        "patient",
        "patiently",
        "genuinely",
        "reassured",
        "reassuring",
    ),
    "resolved": (
        "resolved",
        "fixed",
        "solved",
        "sorted",
        "sorted out",
        "taken care of",
        "problem solved",
    ),
    "waited": (
        "waited",
        "waiting",
        "wait",
        "on hold",
        "queue",
        "queued",
        "took forever",
        "took ages",
        "delay",
        "delayed",
        "minutes",
        "hours",
    ),
    "rude": (
        "rude",
        "rudely",
        "impolite",
        "disrespectful",
        "condescending",
        "arrogant",
        "unprofessional",
        "patronizing",
        "patronising",
        "snapped",
        "yelled",
    ),
    "not_heard": (
        "ignored",
        "ignoring",
        "dismissive",
        "dismissed",
        "brushed off",
        "talked over",
        "interrupted",
    ),
    "not_cared": ("indifferent", "couldn't care less", "could not care less"),
    "unresolved": (
        "unresolved",
        "still broken",
        "still not",
        "no solution",
        "runaround",
        "run around",
        "not fixed",
    ),
}
"""Empathy cues and the words that signal them. A negator within three words before a
felt_heard / cared / resolved word turns it into not_heard / not_cared / unresolved."""

_NEGATED_CUE = {"felt_heard": "not_heard", "cared": "not_cared", "resolved": "unresolved"}
_NEGATORS = frozenset(
    "not no never nobody noone none nothing without didnt didn't don't dont doesnt doesn't "
    "wasnt wasn't werent weren't isnt isn't cant can't cannot couldnt couldn't wont won't "
    "hardly barely".split()
)

# Function words: a comment with more of another language's than of English's is not English.
_ENGLISH = frozenset(
    "the and to of a i is was it in that for you my with not but they we this very be have "
    "had are me so at on were no all your our just would an they them he she did do".split()
)
_OTHER = frozenset(
    "el la los las que de y en un una es por con para muy pero lo mi se del al le nos "  # es
    "et le les des est pas je une dans pour avec très mais vous ne il elle nous "  # fr
    "der die das und ist nicht ich sie mit sehr aber ein eine zu den wir "  # de
    "o os um uma não com para muito mas você eu ela "  # pt
    "il che di non è per con molto ma sono della "  # it
    "gracias bueno buena excelente amable amables servicio atención rápido nada "
    "merci bien bon accueil danke gut freundlich obrigado ótimo grazie ottimo".split()
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_TAG = re.compile(r"<[^>]{0,500}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    text = html.unescape(_TAG.sub(" ", text[: MAX_CHARS * 2]))
    return " ".join(_CONTROL.sub(" ", text).split())[:MAX_CHARS]


def looks_english(text: str) -> bool:
    """Cheap check: Latin script, and English function words at least as common as those
    of Spanish, French, German, Portuguese or Italian. Too short to tell counts as English."""
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isascii() or "\u00c0" <= c <= "\u024f" for c in letters) < 0.8 * len(
        letters
    ):
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    english = sum(w in _ENGLISH for w in words)
    other = sum(w in _OTHER for w in words)
    accents = sum(c in "ñ¿¡ãõçœßàâêîôûäöü" for c in text.lower())
    foreign = other + accents
    return not (foreign > english and (foreign >= 2 or english == 0))


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyser = SentimentIntensityAnalyzer()
    analyser.lexicon.update(CS_LEXICON)  # this instance's own lexicon; the module is untouched
    return analyser


def _normalise(text: str) -> str:
    lowered = text
    for pattern, replacement in _PHRASES:
        lowered = re.sub(pattern, replacement, lowered, flags=re.IGNORECASE)
    for token, chars in _EMOJI.items():
        for char in chars:
            if char in lowered:
                lowered = lowered.replace(char, f" {token} ")
    return lowered


_CLAUSE = re.compile(r"(?<=[,;:.!?])\s+")
_ALPHA = 15.0  # VADER's normalisation constant: compound = x / sqrt(x^2 + alpha)


def _clause_compound(text: str) -> float:
    """VADER's compound with negation kept inside its clause.

    VADER lets "not" reach three words back across commas ("Not resolved, still broken"
    would make "broken" positive). Each clause is scored alone; their raw valence sums are
    recovered from the compounds, added, and normalised again as VADER does.
    """
    vader = _vader()
    clauses = [c for c in _CLAUSE.split(text) if c.strip()]
    if len(clauses) <= 1:
        return float(vader.polarity_scores(text)["compound"])
    total = 0.0
    for clause in clauses:
        c = max(-0.9999, min(0.9999, float(vader.polarity_scores(clause)["compound"])))
        total += c * math.sqrt(_ALPHA) / math.sqrt(1 - c * c)
    return total / math.sqrt(total * total + _ALPHA)


def _cues(text: str) -> list[str]:
    lowered = text.lower()
    words = _WORD.findall(lowered)
    found: set[str] = set()
    for cue, signals in CUES.items():
        for signal in signals:
            if " " in signal:
                if signal in lowered:
                    found.add(cue)
                continue
            for i, word in enumerate(words):
                if word != signal:
                    continue
                negated = any(w in _NEGATORS for w in words[max(0, i - 3) : i])
                found.add(_NEGATED_CUE[cue] if negated and cue in _NEGATED_CUE else cue)
    if {"felt_heard", "not_heard"} <= found and "ignored" in words:
        found.discard("felt_heard")
    return sorted(found)


def warm_up() -> None:
    """Load both analysers now: TextBlob's first use imports NLTK, NumPy and SciPy (about
    three seconds), which must not fall on the first customer's answer."""
    analyse("Thank you, that was kind.", "en")


def analyse(text: str, language: str | None = "en") -> Sentiment:
    """Polarity, class and empathy cues of one comment (see the module docstring)."""
    from textblob.en import sentiment as pattern_sentiment  # TextBlob's PatternAnalyzer engine

    cleaned = _clean(text)
    if not cleaned or not any(c.isalpha() or ord(c) > 0x2000 for c in cleaned):
        return Sentiment(polarity=None, sentiment_class=None, cues=[])
    if (language or "en")[:2].lower() != "en" or not looks_english(cleaned):
        return Sentiment(polarity=None, sentiment_class=None, cues=[])
    normalised = _normalise(cleaned)
    vader = _clause_compound(normalised)
    pattern = float(pattern_sentiment(normalised)[0])
    polarity = max(-1.0, min(1.0, (1 - PATTERN_WEIGHT) * vader + PATTERN_WEIGHT * pattern))
    label: SentimentClass = 1 if polarity > NEUTRAL_BAND else -1 if polarity < -NEUTRAL_BAND else 0
    return Sentiment(polarity=round(polarity, 6), sentiment_class=label, cues=_cues(cleaned))


def score_text_mismatch(
    polarity: float | None, *, nps: int | None = None, csat: int | None = None
) -> bool:
    """A top score with a clearly negative comment, or a bottom score with a clearly
    positive one (NPS 9-10 / CSAT 5 against <= -CLEAR_POLARITY; NPS 0-3 / CSAT 1 against
    >= +CLEAR_POLARITY): worth a human look."""
    if polarity is None:
        return False
    high = (nps is not None and nps >= 9) or csat == 5
    low = (nps is not None and nps <= 3) or csat == 1
    return (high and polarity <= -CLEAR_POLARITY) or (low and polarity >= CLEAR_POLARITY)
