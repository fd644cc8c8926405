"""Sentiment accuracy and speed on the human-rated development sets.

Usage:

    .venv/bin/python benchmarks/bench_sentiment.py [--data ../shared/data/sentiment]

Protocol (the data folder's README): true class +1 where mean_rating > 0.5, -1 where
< -0.5, else 0. Ternary accuracy: predicted class (neutral band as each analyser uses it;
0.05 for the plain baselines) equals the true class. Binary accuracy: on snippets whose
true class is not 0, polarity > 0 predicts +1 and anything else -1 (this reproduces the
README's baseline figures exactly). Speed: comments per second and microseconds per
comment for plain TextBlob and this analyser over the same texts, measured in this run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textblob import TextBlob  # noqa: E402

from survey_service.responses.sentiment import NEUTRAL_BAND, analyse  # noqa: E402

FILES = {
    "tweets": "tweets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "editorials": "nytEditorialSnippets_GroundTruth.txt",
}


def load(path: Path) -> list[tuple[float, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.rstrip("\r").split("\t")
        if len(parts) >= 3:
            rows.append((float(parts[1]), parts[2]))
    return rows


def klass(value: float, band: float) -> int:
    return 1 if value > band else -1 if value < -band else 0


def accuracy(
    rows: list[tuple[float, str]], score: Callable[[str], float], band: float
) -> tuple[float, float]:
    ternary = binary = polar = 0
    for rating, text in rows:
        truth = klass(rating, 0.5)
        value = score(text)
        ternary += klass(value, band) == truth
        if truth:
            polar += 1
            binary += (1 if value > 0 else -1) == truth
    return ternary / len(rows), binary / polar


def ours(text: str) -> float:
    return analyse(text, "en").polarity or 0.0


def per_comment_us(texts: list[str], score: Callable[[str], object], repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            score(text)
        runs.append((time.perf_counter() - start) / len(texts) * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sentiment")
    parser.add_argument("--speed-sample", type=int, default=3000)
    args = parser.parse_args()
    data = {name: load(args.data / file) for name, file in FILES.items()}

    analysers: dict[str, tuple[Callable[[str], float], float]] = {
        "textblob": (lambda t: TextBlob(t).sentiment.polarity, 0.05),
        "survey_service": (ours, NEUTRAL_BAND),
    }
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        vader = SentimentIntensityAnalyzer()
        analysers["vader"] = (lambda t: vader.polarity_scores(t)["compound"], 0.05)
    except ImportError:
        print("(vaderSentiment not installed: no VADER column)")

    print("accuracy, ternary / binary")
    print(f"{'file':<11} {'n':>6} " + " ".join(f"{name:>16}" for name in analysers))
    for name, rows in data.items():
        cells = []
        for score, band in analysers.values():
            ternary, binary = accuracy(rows, score, band)
            cells.append(f"{ternary:.3f} / {binary:.3f}")
        print(f"{name:<11} {len(rows):>6} " + " ".join(f"{c:>16}" for c in cells))

    texts = [text for rows in data.values() for _, text in rows][: args.speed_sample]
    plain = per_comment_us(texts, lambda t: TextBlob(t).sentiment.polarity)
    mine = per_comment_us(texts, ours)
    print(f"\nspeed over {len(texts)} snippets (median of 3 runs)")
    print(f"{'analyser':<16} {'us/comment':>11} {'comments/s':>11}")
    print(f"{'textblob':<16} {plain:>11.1f} {1e6 / plain:>11.0f}")
    print(f"{'survey_service':<16} {mine:>11.1f} {1e6 / mine:>11.0f}")
    print(f"cost ratio survey_service / textblob: {mine / plain:.2f} (budget 2.00)")
    long_comment = " ".join(texts[:60])[:2000]
    worst = per_comment_us([long_comment] * 20, ours, repeat=1)
    print(f"a 2,000-character comment: {worst / 1000:.2f} ms (the write path moves it to a thread)")


if __name__ == "__main__":
    main()
