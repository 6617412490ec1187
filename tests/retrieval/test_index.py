from __future__ import annotations

import numpy as np
import pytest

from bot.retrieval.index import Match, VectorIndex


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_search_returns_each_pair_once_with_its_best_row():
    vectors = unit(np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32))
    index = VectorIndex(vectors, np.array([1, 1, 2, 3]))
    matches = index.search(np.array([1, 0, 0], dtype=np.float32), k=3)
    assert [m.pair_id for m in matches] == [1, 2, 3]
    assert matches[0] == Match(1, 1.0)


def test_search_finds_k_distinct_pairs_when_one_pair_has_many_rows():
    rng = np.random.default_rng(0)
    query = unit(rng.normal(size=(1, 16)).astype(np.float32))[0]
    close = unit(query + 0.01 * rng.normal(size=(200, 16)).astype(np.float32))
    far = unit(rng.normal(size=(5, 16)).astype(np.float32))
    index = VectorIndex(np.vstack([close, far]), np.array([1] * 200 + [2, 3, 4, 5, 6]))
    matches = index.search(query, k=4)
    assert matches[0].pair_id == 1
    assert len({m.pair_id for m in matches}) == 4


def test_with_pairs_replaces_rows_and_leaves_the_old_index_untouched():
    index = VectorIndex(np.eye(3, dtype=np.float32), np.array([1, 2, 3]))
    updated = index.with_pairs(np.array([[0, 0, 1]], dtype=np.float32), np.array([1]))
    assert len(index) == 3 and len(updated) == 3
    assert updated.search(np.array([0, 0, 1], dtype=np.float32), k=2)[0].score == 1.0
    assert index.search(np.array([1, 0, 0], dtype=np.float32), k=1)[0].pair_id == 1
    assert updated.search(np.array([1, 0, 0], dtype=np.float32), k=1)[0].score < 0.5


def test_without_pair_and_empty_index():
    index = VectorIndex(np.eye(2, dtype=np.float32), np.array([1, 2])).without_pair(1)
    assert [m.pair_id for m in index.search(np.array([1, 0], dtype=np.float32), k=5)] == [2]
    assert VectorIndex.empty(4).search(np.ones(4, dtype=np.float32)) == []


def test_search_many_matches_single_searches():
    rng = np.random.default_rng(1)
    vectors = unit(rng.normal(size=(300, 8)).astype(np.float32))
    index = VectorIndex(vectors, np.arange(300) // 3)
    queries = unit(rng.normal(size=(4, 8)).astype(np.float32))
    for batched, query in zip(index.search_many(queries, k=5), queries, strict=True):
        single = index.search(query, k=5)
        assert [m.pair_id for m in batched] == [m.pair_id for m in single]
        assert [m.score for m in batched] == pytest.approx([m.score for m in single], abs=1e-5)
