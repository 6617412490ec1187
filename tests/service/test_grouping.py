from __future__ import annotations

import numpy as np

from bot.retrieval.tuned_model import TUNED_MODEL_NAME
from bot.service.grouping import NEVER, group_indices, threshold_for

SAME_QUESTION = threshold_for(TUNED_MODEL_NAME)


def unit(*rows: list[float]) -> np.ndarray:
    vectors = np.asarray(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_same_key_or_close_vectors_group_under_the_first_asker():
    vectors = unit([1, 0, 0], [0, 1, 0], [1, 0.05, 0], [0, 0, 1], [0, 0, 1])
    keys = ["a", "b", "c", "d", "d"]
    assert group_indices(keys, vectors, SAME_QUESTION) == [[0, 2], [1], [3, 4]]


def test_a_question_joins_only_a_groups_first_member():
    # 1 is close to 0 and 2 is close to 1, but 2 is not close enough to 0: chains do not form
    angle = np.arccos(SAME_QUESTION) * 0.9
    vectors = unit([1, 0], [np.cos(angle), np.sin(angle)], [np.cos(2 * angle), np.sin(2 * angle)])
    assert group_indices(["x", "y", "z"], vectors, SAME_QUESTION) == [[0, 1], [2]]


def test_questions_without_a_key_stay_alone():
    vectors = unit([1, 0], [1, 0], [1, 0])
    assert group_indices(["", "", "q"], vectors, SAME_QUESTION) == [[0], [1], [2]]


def test_a_model_not_measured_groups_only_the_same_words():
    vectors = unit([1, 0], [1, 0.01], [1, 0])
    assert threshold_for("some-other-model") == NEVER
    assert group_indices(["a", "b", "a"], vectors, NEVER) == [[0, 2], [1]]
