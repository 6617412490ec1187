"""Vectors and their pair ids in memory, searched for the top-k distinct pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Match:
    """A QA pair and the best cosine score any of its phrasings got."""

    pair_id: int
    score: float


class VectorIndex:
    """An immutable matrix of L2-normalized rows, each belonging to a QA pair.

    Several rows (the question and its alternate phrasings) map to one pair; a search
    returns each pair once, with its best row's score. Changes return a new index, so
    a reader holding the old one is never disturbed mid-search.

    Example:
        >>> index = VectorIndex(np.eye(2, dtype=np.float32), np.array([7, 8]))
        >>> index.search(np.array([1.0, 0.0], dtype=np.float32), k=1)
        [Match(pair_id=7, score=1.0)]
    """

    def __init__(self, vectors: np.ndarray, pair_ids: np.ndarray) -> None:
        if len(vectors) != len(pair_ids):
            raise ValueError("vectors and pair_ids differ in length")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.pair_ids = np.asarray(pair_ids, dtype=np.int64)
        self.vectors.setflags(write=False)
        self.pair_ids.setflags(write=False)

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        return cls(np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.pair_ids)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def pair_count(self) -> int:
        return len(np.unique(self.pair_ids))

    def search(self, query: np.ndarray, k: int = 10) -> list[Match]:
        """Top-k distinct pairs for one L2-normalized query vector."""
        return self.search_many(query[None, :], k)[0]

    def search_many(self, queries: np.ndarray, k: int = 10) -> list[list[Match]]:
        """Top-k distinct pairs for each row of `queries`, in one matrix product."""
        if len(self) == 0:
            return [[] for _ in range(len(queries))]
        scores = np.asarray(queries, dtype=np.float32) @ self.vectors.T
        return [self._top_pairs(row, k) for row in scores]

    def _top_pairs(self, scores: np.ndarray, k: int) -> list[Match]:
        # Most pairs have a handful of rows, so the top 8k rows nearly always hold k pairs;
        # fall back to a full sort when they do not.
        wanted = min(len(scores), max(k * 8, 32))
        while True:
            if wanted < len(scores):
                top = np.argpartition(-scores, wanted - 1)[:wanted]
                top = top[np.argsort(-scores[top], kind="stable")]
            else:
                top = np.argsort(-scores, kind="stable")
            matches: list[Match] = []
            seen: set[int] = set()
            for row in top:
                pair_id = int(self.pair_ids[row])
                if pair_id not in seen:
                    seen.add(pair_id)
                    matches.append(Match(pair_id, float(scores[row])))
                    if len(matches) == k:
                        return matches
            if wanted >= len(scores):
                return matches
            wanted = min(len(scores), wanted * 4)

    def with_pairs(self, vectors: np.ndarray, pair_ids: np.ndarray) -> VectorIndex:
        """A new index where each pair in `pair_ids` has exactly the given rows."""
        pair_ids = np.asarray(pair_ids, dtype=np.int64)
        keep = ~np.isin(self.pair_ids, pair_ids)
        return VectorIndex(
            np.concatenate([self.vectors[keep], np.asarray(vectors, dtype=np.float32)]),
            np.concatenate([self.pair_ids[keep], pair_ids]),
        )

    def without_pair(self, pair_id: int) -> VectorIndex:
        keep = self.pair_ids != pair_id
        return VectorIndex(self.vectors[keep], self.pair_ids[keep])
