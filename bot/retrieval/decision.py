"""Scores to a decision: answer, offer suggestions, or decline; and picking the thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.retrieval.index import Match
from bot.storage.models import Decision

SUGGESTION_COUNT = 3


@dataclass(frozen=True)
class Thresholds:
    """Answer at or above `answer`; suggest from `suggest` up to `answer`; else decline."""

    answer: float
    suggest: float

    def __post_init__(self) -> None:
        if self.suggest > self.answer:
            raise ValueError("suggest threshold must not exceed the answer threshold")


# multilingual-e5 scores crowd into 0.7-1.0; these are calibrated on the bundled eval file
# for the zero-shot base model (`agribot calibrate` re-derives them for any model).
DEFAULT_THRESHOLDS = Thresholds(answer=0.90, suggest=0.86)


def decide(matches: Sequence[Match], thresholds: Thresholds) -> Decision:
    if not matches:
        return Decision.DECLINE
    best = matches[0].score
    if best >= thresholds.answer:
        return Decision.ANSWER
    if best >= thresholds.suggest:
        return Decision.SUGGEST
    return Decision.DECLINE


@dataclass(frozen=True)
class ScoredQuery:
    """One eval query's best score and whether its best pair was right (None: out of domain)."""

    score: float
    correct: bool | None


def calibrate(
    scored: Sequence[ScoredQuery], target_precision: float = 0.95, suggest_recall: float = 0.9
) -> Thresholds:
    """Lowest answer threshold whose answered precision reaches `target_precision`.

    Out-of-domain queries count as wrong when answered. The suggest threshold is the
    score that still covers `suggest_recall` of the in-domain queries whose best pair
    was right, so most fixable misses reach "did you mean".
    """
    ranked = sorted(scored, key=lambda item: item.score, reverse=True)
    if not ranked:
        return DEFAULT_THRESHOLDS
    answer = ranked[0].score + 1e-6
    correct = 0
    for answered, item in enumerate(ranked, start=1):
        correct += bool(item.correct)
        next_score = ranked[answered].score if answered < len(ranked) else None
        if next_score == item.score:
            continue
        if correct / answered >= target_precision:
            answer = item.score
    right = sorted(item.score for item in scored if item.correct)
    if right:
        cut = right[int((1 - suggest_recall) * (len(right) - 1))]
        suggest = min(answer, cut)
    else:
        suggest = answer
    return Thresholds(answer=round(answer, 4), suggest=round(min(suggest, answer), 4))
