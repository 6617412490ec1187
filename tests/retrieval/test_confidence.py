"""The confidence model: its arithmetic, its fit, and the decision it drives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.retrieval.confidence import (
    FEATURES,
    Confidence,
    feature_matrix,
    features,
    fit_weights,
    probabilities,
)
from bot.retrieval.decision import Decision, Thresholds, decide
from bot.retrieval.index import Match

# roughly the shipped model's weights: score and lead over the runner-up count most
MODEL = Confidence(-11.0, (12.8, 16.0, 1.1, 0.9), threshold=0.88)
LONG = "ආයුබෝවන් මහත්තයා මම අනුරාධපුරේ ගොවියෙක් මේ පාර යල කන්නෙට වී වවන්න ඉන්නේ බිත්තර වී පොඟවන්නේ කොච්චර වෙලාවක්ද"


def test_features_are_the_score_the_lead_the_length_and_the_latin_share():
    score, margin, words, latin = features(0.8, 0.7, "yuriya දාන්නේ කවදද")
    assert (score, round(margin, 6), words) == (0.8, 0.1, math.log1p(3))
    assert latin == pytest.approx(6 / (6 + 7))  # 7 Sinhala letters; vowel signs are marks
    assert features(0.5, 0.0, "")[2:] == (0.0, 0.0)
    assert feature_matrix([0.8], [0.7], ["x"]).shape == (1, len(FEATURES))


def test_the_chance_rises_with_the_score_and_the_lead():
    text = "යූරියා දාන්නේ කවදද"
    assert MODEL.probability(0.80, 0.70, text) > MODEL.probability(0.75, 0.65, text)
    assert MODEL.probability(0.80, 0.60, text) > MODEL.probability(0.80, 0.75, text)
    assert 0.0 < MODEL.probability(-5.0, 5.0, text) < MODEL.probability(5.0, -5.0, text) <= 1.0
    got = MODEL.probability(0.8, 0.7, text)
    x = feature_matrix([0.8], [0.7], [text])
    assert probabilities(MODEL.intercept, MODEL.weights, x)[0] == pytest.approx(got)


def test_a_stored_model_reads_back_the_same_and_bad_ones_are_refused():
    assert Confidence.from_dict(MODEL.to_dict()) == MODEL
    assert Confidence.from_dict(None) is None and Confidence.from_dict({}) is None
    with pytest.raises(ValueError, match="4 weights"):
        Confidence(0.0, (1.0, 2.0), 0.5)
    with pytest.raises(ValueError, match="probability"):
        Confidence(0.0, (1.0, 1.0, 1.0, 1.0), 1.5)
    with pytest.raises(KeyError):
        Confidence.from_dict({"intercept": 1.0, "threshold": 0.5})


def test_the_fit_recovers_known_weights_on_the_raw_features_scale():
    rng = np.random.default_rng(0)
    x = np.column_stack(
        [
            rng.uniform(0.5, 0.95, 6000),
            rng.uniform(0, 0.2, 6000),
            rng.uniform(0, 3, 6000),
            rng.uniform(0, 1, 6000),
        ]
    )
    truth = (-9.0, (10.0, 20.0, 1.0, -0.5))
    chance = probabilities(*truth, x)
    right = rng.uniform(size=len(x)) < chance
    intercept, weights = fit_weights(x, right)
    assert intercept == pytest.approx(truth[0], abs=1.5)
    assert np.allclose(weights, truth[1], atol=[2.0, 4.0, 0.3, 0.3])
    # weighting the wrong rows makes the model warier of the same scores
    heavier = np.where(right, 1.0, 3.0)
    warier, _ = fit_weights(x, right, heavier)
    assert warier < intercept


def test_with_a_confidence_model_the_chance_decides_not_the_score():
    thresholds = Thresholds(answer=0.80, suggest=0.60, confidence=MODEL)
    alone = [Match(1, 0.78), Match(2, 0.62)]
    assert MODEL.probability(0.78, 0.62, LONG) >= MODEL.threshold
    assert decide(alone, thresholds, LONG) is Decision.ANSWER  # below 0.80, but sure
    assert decide(alone, Thresholds(0.80, 0.60), LONG) is Decision.SUGGEST  # score alone
    close = [Match(1, 0.85), Match(2, 0.84)]
    assert decide(close, Thresholds(0.80, 0.60), "යූරියා කවදද") is Decision.ANSWER
    assert decide(close, thresholds, "යූරියා කවදද") is Decision.SUGGEST  # too close to call
    assert decide([Match(1, 0.5), Match(2, 0.2)], thresholds, "යූරියා") is Decision.DECLINE
    assert decide([], thresholds, "යූරියා") is Decision.DECLINE
    sure_but_close = Thresholds(0.80, 0.60, margin=0.2, confidence=MODEL)
    assert decide(alone, sure_but_close, LONG) is Decision.SUGGEST  # the margin rule still holds


def test_the_desk_words_a_score_as_the_bot_would_act_on_it():
    from bot.web.labels import score_words

    by_score = Thresholds(answer=0.80, suggest=0.60)
    by_chance = Thresholds(answer=0.80, suggest=0.60, confidence=MODEL)
    assert score_words(0.78, by_score).startswith("සමීපයි")  # close: "did you mean"
    assert score_words(0.78, by_chance, runner_up=0.62, text=LONG).startswith("ඉතා සමීපයි")
    # the same score behind a better pair: the bot would not answer with it
    assert score_words(0.78, by_chance, runner_up=0.85, text=LONG).startswith("සමීපයි")
    assert score_words(0.40, by_chance, runner_up=0.30, text="යූරියා").startswith("දුරස්")
    # two answers within the margin: offered as "did you mean", not answered
    with_margin = Thresholds(answer=0.80, suggest=0.60, margin=0.05)
    assert score_words(0.85, with_margin, runner_up=0.83).startswith("සමීපයි")
    assert score_words(0.85, with_margin, runner_up=0.70).startswith("ඉතා සමීපයි")
