"""How likely the best pair is the right answer: a small logistic model over the search.

One score threshold treats every message alike, but scores mean different things for
different messages: a long, rambling message scores lower against the bank's short
questions even when its best pair is right, a Singlish one lower again, and a close
runner-up makes any score less sure. Four features of the search (the best score, its
lead over the runner-up, the message's length in words and its share of Latin letters)
give the chance that the best pair is right; the bot answers when that chance reaches a
threshold. Both the weights and the threshold are chosen on the eval's dev split
(`bot.service.tuning`); here is only the arithmetic, cheap enough for every message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FEATURES = ("score", "margin", "words", "latin")


def features(score: float, runner_up: float, text: str) -> tuple[float, float, float, float]:
    """The model's inputs for one message whose best pair scored `score`."""
    letters = [ch for ch in text if ch.isalpha()]
    latin = sum(ch.isascii() for ch in letters) / len(letters) if letters else 0.0
    return score, score - runner_up, math.log1p(len(text.split())), latin


@dataclass(frozen=True)
class Confidence:
    """Logistic weights over `FEATURES` and the chance at which the bot answers."""

    intercept: float
    weights: tuple[float, ...]
    threshold: float

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"a confidence model needs {len(FEATURES)} weights")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("the confidence threshold is a probability")

    def probability(self, score: float, runner_up: float, text: str) -> float:
        """The chance that the best pair is right."""
        values = features(score, runner_up, text)
        logit = self.intercept + sum(w * x for w, x in zip(self.weights, values, strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(logit, 60.0), -60.0)))

    def confident(self, score: float, runner_up: float, text: str) -> bool:
        return self.probability(score, runner_up, text) >= self.threshold

    def to_dict(self) -> dict[str, float]:
        return {
            "intercept": self.intercept,
            **dict(zip(FEATURES, self.weights, strict=True)),
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Confidence | None:
        """The model stored by `to_dict`, or None where none is stored (older tunings)."""
        if not data:
            return None
        return cls(
            float(data["intercept"]),
            tuple(float(data[name]) for name in FEATURES),
            float(data["threshold"]),
        )


def feature_matrix(
    scores: Sequence[float], runners_up: Sequence[float], texts: Sequence[str]
) -> np.ndarray:
    return np.array(
        [features(s, r, t) for s, r, t in zip(scores, runners_up, texts, strict=True)],
        dtype=np.float64,
    ).reshape(-1, len(FEATURES))


def fit_weights(
    x: np.ndarray, right: np.ndarray, sample_weight: np.ndarray | None = None
) -> tuple[float, tuple[float, ...]]:
    """Logistic regression of "the best pair was right" on the features (standardized for
    the fit, returned on the raw features' scale)."""
    from sklearn.linear_model import LogisticRegression  # training side only

    mean = x.mean(axis=0)
    spread = x.std(axis=0)
    spread[spread == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((x - mean) / spread, right.astype(int), sample_weight=sample_weight)
    weights = model.coef_[0] / spread
    intercept = float(model.intercept_[0] - (weights * mean).sum())
    return round(intercept, 6), tuple(round(float(w), 6) for w in weights)


def probabilities(intercept: float, weights: Sequence[float], x: np.ndarray) -> np.ndarray:
    logit = np.clip(intercept + x @ np.asarray(weights, dtype=np.float64), -60.0, 60.0)
    result: np.ndarray = 1.0 / (1.0 + np.exp(-logit))
    return result
