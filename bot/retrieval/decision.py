"""Scores to a decision: answer, offer suggestions, or decline; and picking the thresholds."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.retrieval.confidence import Confidence
from bot.retrieval.index import Match

SUGGESTION_COUNT = 3


class Decision(enum.StrEnum):
    """What the bot did with a question."""

    ANSWER = "answer"
    SUGGEST = "suggest"
    DECLINE = "decline"
    CHIT_CHAT = "chit_chat"  # greetings, thanks, emoji: a short reply, never queued


@dataclass(frozen=True)
class Thresholds:
    """When to answer, suggest or decline, and when small talk is small talk.

    Answer at or above `answer`, unless the runner-up (a pair with another answer) is
    within `margin`: two answers that close are offered as "did you mean" instead.
    Suggest from `suggest` up to `answer`; below, decline. A message whose best small-talk
    match reaches `chit_chat` and beats every pair is answered as small talk.

    With a `confidence` model the bot answers when the chance that the best pair is right
    reaches its threshold, whatever the score (`answer` is then only reported): a long
    message or a Singlish one is judged by what its scores mean for it.
    """

    answer: float
    suggest: float
    margin: float = 0.0
    chit_chat: float = 0.95
    confidence: Confidence | None = None

    def __post_init__(self) -> None:
        if self.suggest > self.answer:
            raise ValueError("suggest threshold must not exceed the answer threshold")
        if self.margin < 0:
            raise ValueError("margin must not be negative")

    @property
    def confidence_threshold(self) -> float | None:
        """The confidence model's threshold, or None where the score alone decides."""
        return self.confidence.threshold if self.confidence is not None else None

    def sure(self, score: float, runner_up: float, text: str = "") -> bool:
        """Whether a best pair scoring `score` is sure enough to answer with, ahead of a
        runner-up at `runner_up`, for the (normalized) message `text`; the margin rule
        is the caller's."""
        if self.confidence is not None:
            return self.confidence.confident(score, runner_up, text)
        return score >= self.answer


# multilingual-e5 scores crowd into 0.7-1.0; these suit the zero-shot base model
# (`agribot calibrate` derives a model's own from the eval's dev split).
DEFAULT_THRESHOLDS = Thresholds(answer=0.90, suggest=0.86)


def decide(matches: Sequence[Match], thresholds: Thresholds, text: str = "") -> Decision:
    """Answer, suggest or decline, from matches ranked best first, one per answer, for the
    (normalized) message `text`."""
    if not matches:
        return Decision.DECLINE
    best = matches[0].score
    runner_up = matches[1].score if len(matches) > 1 else 0.0
    if thresholds.sure(best, runner_up, text):
        if best - runner_up < thresholds.margin:
            return Decision.SUGGEST
        return Decision.ANSWER
    if best >= thresholds.suggest:
        return Decision.SUGGEST
    return Decision.DECLINE


@dataclass(frozen=True)
class ScoredQuery:
    """One eval query's best score, the runner-up's, and whether the best pair was right
    (None: out of domain, so any answer is wrong)."""

    score: float
    correct: bool | None
    runner_up: float = 0.0
    small_talk: bool = False  # out of domain, but caught as small talk before this score
    text: str = ""  # the (normalized) query, for a confidence model's features

    @property
    def out_of_domain(self) -> bool:
        """A question about something else (small talk has its own check)."""
        return self.correct is None and not self.small_talk

    def passes_margin(self, margin: float) -> bool:
        return self.score - self.runner_up >= margin


def wilson_lower_bound(hits: int, total: int, z: float) -> float:
    """The lower end of the Wilson score interval for hits / total (z = 0: the ratio)."""
    if total == 0:
        return 0.0
    p = hits / total
    if z == 0:
        return p
    denominator = 1 + z * z / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre - spread) / denominator


def calibrate(
    scored: Sequence[ScoredQuery],
    target_precision: float = 0.95,
    suggest_recall: float = 0.9,
    *,
    margin: float = 0.0,
    confidence_z: float = 0.0,
    ood_rejection: float = 0.0,
    ood_confidence_z: float | None = None,
) -> Thresholds:
    """Lowest answer threshold whose answered precision reaches `target_precision`.

    Out-of-domain queries count as wrong when answered; queries whose runner-up is within
    `margin` are not answered at any threshold. With `confidence_z` > 0 the precision
    that must reach the target is the lower end of its Wilson interval, so a threshold
    picked on one sample holds on another (z = 1.28: 90% one-sided). `ood_rejection`
    is a floor on the share of out-of-domain queries left unanswered (the same interval's
    lower end, or of its own `ood_confidence_z`): precision alone lets a few coconut
    questions through when the paddy questions around them are right often enough. With
    too few out-of-domain queries to reach the floor even if none were answered,
    precision alone decides. The suggest
    threshold is the score that still covers `suggest_recall` of the in-domain queries
    whose best pair was right, so most fixable misses reach "did you mean".
    """
    ranked = sorted(scored, key=lambda item: item.score, reverse=True)
    if not ranked:
        return DEFAULT_THRESHOLDS
    answer = ranked[0].score + 1e-6
    correct = answered = ood_answered = 0
    ood = sum(item.out_of_domain for item in scored)
    ood_z = confidence_z if ood_confidence_z is None else ood_confidence_z
    if wilson_lower_bound(ood, ood, ood_z) < ood_rejection:
        ood_rejection = 0.0  # too few off-topic queries to show the floor even if none passed
    for position, item in enumerate(ranked):
        if item.passes_margin(margin):
            answered += 1
            correct += bool(item.correct)
            ood_answered += item.out_of_domain
        if ood and wilson_lower_bound(ood - ood_answered, ood, ood_z) < ood_rejection:
            break  # lower thresholds only answer more of them
        next_score = ranked[position + 1].score if position + 1 < len(ranked) else None
        if next_score == item.score or not answered:
            continue
        if wilson_lower_bound(correct, answered, confidence_z) >= target_precision:
            answer = item.score
    right = sorted(item.score for item in scored if item.correct)
    if right:
        cut = right[int((1 - suggest_recall) * (len(right) - 1))]
        suggest = min(answer, cut)
    else:
        suggest = answer
    return Thresholds(
        answer=round(answer, 4), suggest=round(min(suggest, answer), 4), margin=round(margin, 4)
    )


def coverage(scored: Sequence[ScoredQuery], thresholds: Thresholds) -> float:
    """Share of in-domain queries answered rightly at `thresholds`."""
    in_domain = [item for item in scored if item.correct is not None]
    if not in_domain:
        return 0.0
    hits = sum(
        bool(item.correct)
        and item.score >= thresholds.answer
        and item.passes_margin(thresholds.margin)
        for item in in_domain
    )
    return hits / len(in_domain)


MARGINS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15)


def calibrate_with_margin(
    scored: Sequence[ScoredQuery],
    target_precision: float = 0.95,
    *,
    margins: Sequence[float] = MARGINS,
    confidence_z: float = 0.0,
    ood_rejection: float = 0.0,
) -> Thresholds:
    """The margin (and its thresholds) that answers the most queries rightly at the target."""
    best: tuple[float, float, Thresholds] | None = None
    for margin in margins:
        chosen = calibrate(
            scored,
            target_precision,
            margin=margin,
            confidence_z=confidence_z,
            ood_rejection=ood_rejection,
        )
        key = (coverage(scored, chosen), -margin)
        if best is None or key > best[:2]:
            best = (*key, chosen)
    assert best is not None
    return best[2]
