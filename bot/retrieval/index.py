"""Vectors and their pair ids in memory, searched for the top-k distinct pairs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.retrieval.int8_rows import Int8Rows

logger = logging.getLogger(__name__)

# From this many rows on, a search starts from the rows' int8 copy (`Int8Rows`) and
# rescores in float only the pairs it cannot rule out: at 4,096 rows the float product
# takes ~0.4 ms, about what the int8 pass and the rescoring cost together.
SHORTLIST_ROWS = 4096


@dataclass(frozen=True)
class Match:
    """A QA pair and its score: the best cosine any of its phrasings got, or, from a
    `HybridIndex`, that cosine fused with the answer's and the spelling match's.

    The parts are kept so a score can be explained ("the wording is close, the spelling
    matches") and tuned; a plain vector search leaves them at 0.
    """

    pair_id: int
    score: float
    question: float = 0.0
    answer: float = 0.0
    lexical: float = 0.0


class VectorIndex:
    """An immutable matrix of L2-normalized rows, each belonging to a QA pair.

    Several rows (the question and its alternate phrasings) map to one pair; a search
    returns each pair once, with its best row's score. Changes return a new index, so
    a reader holding the old one is never disturbed mid-search.

    Example:
        >>> index = VectorIndex(np.eye(2, dtype=np.float32), np.array([7, 8]))
        >>> index.search(np.array([1.0, 0.0], dtype=np.float32), k=1)
        [Match(pair_id=7, score=1.0, question=0.0, answer=0.0, lexical=0.0)]
    """

    def __init__(
        self, vectors: np.ndarray, pair_ids: np.ndarray, texts: Sequence[str] | None = None
    ) -> None:
        if len(vectors) != len(pair_ids) or (texts is not None and len(texts) != len(pair_ids)):
            raise ValueError("vectors, pair_ids and texts differ in length")
        pair_ids = np.asarray(pair_ids, dtype=np.int64)
        order = np.argsort(pair_ids, kind="stable")  # a pair's rows side by side
        self.vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32)[order])
        self.pair_ids = pair_ids[order]
        # the text each row encodes, when known (re-calibration asks them again)
        self.texts = None if texts is None else np.asarray(texts, dtype=object)[order]
        self.pairs, self._starts = np.unique(self.pair_ids, return_index=True)
        for array in (self.vectors, self.pair_ids, self.pairs, self._starts):
            array.setflags(write=False)
        self._int8: Int8Rows | None = None
        self._int8_failed = False
        self._pair_scales = np.zeros(0, dtype=np.float32)  # each pair's largest row scale
        self._int8_lock = threading.Lock()
        if len(self) >= SHORTLIST_ROWS:
            # made with the index (where an edit or a start builds it: 0.1 s at 21,000
            # rows), not by the first farmer's question that searches it
            self._current_int8()

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        return cls(np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.pair_ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def pair_scores(self, queries: np.ndarray) -> np.ndarray:
        """Each query's best row score for every pair: shape (queries, len(self.pairs))."""
        if len(self) == 0:
            return np.zeros((len(queries), 0), dtype=np.float32)
        scores = np.asarray(queries, dtype=np.float32) @ self.vectors.T
        return np.maximum.reduceat(scores, self._starts, axis=1)

    def approximate_pair_scores(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """`pair_scores` from the rows' int8 copy, and how far off each can be (same
        shape); None for an index under `SHORTLIST_ROWS` rows (search it in float: as
        fast). The copy is made with the index."""
        if len(self) < SHORTLIST_ROWS:
            return None
        int8 = self._current_int8()
        if int8 is None:
            return None
        try:
            scores, error = int8.scores(queries)
        except Exception:  # a shortcut only: the float search gives the same matches
            logger.exception("the int8 first pass failed; this index is searched in float")
            self._int8_failed = True
            return None
        # a pair's score is its best row's: off by at most its coarsest row's bound
        return np.maximum.reduceat(scores, self._starts, axis=1), error.at(self._pair_scales)

    def _current_int8(self) -> Int8Rows | None:
        """The rows' int8 copy with its session ready, made once; None if it failed."""
        if self._int8 is None and not self._int8_failed:
            with self._int8_lock:
                if self._int8 is None and not self._int8_failed:
                    try:
                        int8 = Int8Rows(self.vectors)
                        int8.prepare()
                        self._pair_scales = np.maximum.reduceat(int8.scales, self._starts)
                        self._int8 = int8
                    except Exception:  # a shortcut only, as above
                        logger.exception("no int8 first pass; this index is searched in float")
                        self._int8_failed = True
        return self._int8

    def pair_scores_at(self, queries: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """`pair_scores` for the pairs `self.pairs[columns]` only: shape (queries, columns)."""
        if len(columns) == 0:
            return np.zeros((len(queries), 0), dtype=np.float32)
        ends = np.append(self._starts[1:], len(self))
        counts = ends[columns] - self._starts[columns]
        offsets = np.cumsum(counts) - counts  # where each pair's rows begin in the gather
        rows = np.repeat(self._starts[columns] - offsets, counts) + np.arange(counts.sum())
        scores = np.asarray(queries, dtype=np.float32) @ self.vectors[rows].T
        return np.maximum.reduceat(scores, offsets, axis=1)

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

    def with_pairs(
        self, vectors: np.ndarray, pair_ids: np.ndarray, texts: Sequence[str] | None = None
    ) -> VectorIndex:
        """A new index where each pair in `pair_ids` has exactly the given rows."""
        pair_ids = np.asarray(pair_ids, dtype=np.int64)
        keep = ~np.isin(self.pair_ids, pair_ids)
        kept_texts = None
        if self.texts is not None and texts is not None:
            kept_texts = [*self.texts[keep], *texts]
        return VectorIndex(
            np.concatenate([self.vectors[keep], np.asarray(vectors, dtype=np.float32)]),
            np.concatenate([self.pair_ids[keep], pair_ids]),
            kept_texts,
        )

    def without_pair(self, pair_id: int) -> VectorIndex:
        keep = self.pair_ids != pair_id
        texts = None if self.texts is None else list(self.texts[keep])
        return VectorIndex(self.vectors[keep], self.pair_ids[keep], texts)
