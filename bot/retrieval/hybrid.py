"""Hybrid search: question vectors, answer vectors and spelling, fused per pair.

A pair's score is its best question-phrasing cosine, plus (weighted) how well the
farmer's words match its answer and how closely their spelling matches one of its
phrasings. The weights are chosen on the eval's dev split for each model (`Fusion`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.retrieval.index import Match, VectorIndex
from bot.retrieval.lexical import LexicalIndex


@dataclass(frozen=True)
class Fusion:
    """Weights of the answer and spelling scores beside the question score (weight 1).

    The sum is divided by the total weight, so a fused score stays on the cosine's scale.
    """

    answer_weight: float = 0.0
    lexical_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.answer_weight < 0 or self.lexical_weight < 0:
            raise ValueError("fusion weights must not be negative")

    @property
    def total(self) -> float:
        return 1.0 + self.answer_weight + self.lexical_weight


QUESTIONS_ONLY = Fusion()


@dataclass(frozen=True)
class PairScores:
    """Per-pair scores of a batch of queries, each part shaped (queries, pairs)."""

    pairs: np.ndarray
    question: np.ndarray
    answer: np.ndarray
    lexical: np.ndarray

    def fused(self, fusion: Fusion) -> np.ndarray:
        return (
            self.question
            + fusion.answer_weight * self.answer
            + fusion.lexical_weight * self.lexical
        ) / fusion.total


class HybridIndex:
    """Three aligned indexes over the same pairs: phrasings, answers and spelling.

    `questions` holds the vectors of each pair's question and alternates (and any
    romanized spellings); `answers` one vector per pair, encoded with the passage
    prompt (or none, for banks searched by question only); `lexical` the n-gram rows.
    Immutable: edits return a new index, so a search in flight is never disturbed.
    """

    def __init__(
        self, questions: VectorIndex, answers: VectorIndex | None, lexical: LexicalIndex
    ) -> None:
        if not np.array_equal(questions.pairs, lexical.pairs) or (
            answers is not None and not np.array_equal(questions.pairs, answers.pairs)
        ):
            raise ValueError("every pair needs question rows, lexical rows and (if any) answers")
        self.questions = questions
        self.answers = answers
        self.lexical = lexical

    @classmethod
    def empty(cls, dim: int) -> HybridIndex:
        return cls(VectorIndex.empty(dim), VectorIndex.empty(dim), LexicalIndex.build([], []))

    @property
    def pairs(self) -> np.ndarray:
        return self.questions.pairs

    @property
    def dim(self) -> int:
        return self.questions.dim

    def __len__(self) -> int:
        return len(self.questions)

    def scores(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        owners: Sequence[int] | None = None,
        *,
        parts: tuple[bool, bool] = (True, True),
        spelling: np.ndarray | None = None,
    ) -> PairScores:
        """Every pair's scores for each query; a query with several views (`owners` maps
        views to queries) keeps, per pair, its best view by question and spelling score.

        `parts` skips the (answer, lexical) products a zero weight makes useless.
        `spelling` is `self.lexical.pair_scores(texts)` where the caller has it already
        (the bot computes it while the question is encoded: it needs only the text).
        """
        question = self.questions.pair_scores(vectors)
        answer, lexical = self._other_parts(vectors, texts, parts, spelling)
        if owners is not None and len(owners) != len(set(owners)):
            question, answer, lexical = _best_view(question, answer, lexical, owners)
        return PairScores(self.pairs, question, answer, lexical)

    def _other_parts(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        parts: tuple[bool, bool],
        spelling: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The answer and spelling scores of every pair (zeros for a part left out)."""
        shape = (len(vectors), len(self.pairs))
        answer = (
            self.answers.pair_scores(vectors)
            if parts[0] and self.answers is not None
            else np.zeros(shape, dtype=np.float32)
        )
        if not parts[1]:
            lexical = np.zeros(shape, np.float32)
        else:
            lexical = self.lexical.pair_scores(texts) if spelling is None else spelling
        return answer, lexical

    def search_many(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        owners: Sequence[int] | None = None,
        *,
        k: int = 10,
        fusion: Fusion = QUESTIONS_ONLY,
        spelling: np.ndarray | None = None,
    ) -> list[list[Match]]:
        """Top-k pairs by fused score for each query (`spelling`: see `scores`).

        A big index is searched in two passes: the int8 copies of its phrasings and answers
        score every pair within a known error, and only the pairs that could still be
        among the top k are rescored in float; the matches are the one-pass search's.
        """
        parts = (fusion.answer_weight > 0, fusion.lexical_weight > 0)
        approximate = self.questions.approximate_pair_scores(vectors)
        if approximate is None:
            scored = self.scores(vectors, texts, owners, parts=parts, spelling=spelling)
            return top_matches(scored, fusion, k)
        return self._search_shortlisted(
            vectors, texts, owners, approximate, k=k, fusion=fusion, spelling=spelling
        )

    def _search_shortlisted(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        owners: Sequence[int] | None,
        approximate: tuple[np.ndarray, np.ndarray],
        *,
        k: int,
        fusion: Fusion,
        spelling: np.ndarray | None,
    ) -> list[list[Match]]:
        """`search_many` from the phrasings' int8 scores (`approximate`: the scores and
        their error bounds), rescoring in float the pairs that could be in the top k."""
        parts = (fusion.answer_weight > 0, fusion.lexical_weight > 0)
        question, question_error = approximate
        answers = self.answers if parts[0] else None
        by_answer = answers.approximate_pair_scores(vectors) if answers is not None else None
        if by_answer is not None:
            answer, answer_error = by_answer
            _, lexical = self._other_parts(vectors, texts, (False, parts[1]), spelling)
        else:
            answer, lexical = self._other_parts(vectors, texts, parts, spelling)
            answer_error = np.zeros_like(question_error)
        views = np.arange(len(vectors))  # the query each vector belongs to
        if owners is not None and len(owners) != len(set(owners)):
            views = np.asarray(owners)
            question, answer, lexical = _best_view(question, answer, lexical, views)
            # the best view's score is off by at most the largest of the views' bounds
            question_error, answer_error = _best_views([question_error, answer_error], views)
        # how far off each pair's fused score can be
        error = (question_error + fusion.answer_weight * answer_error) / fusion.total
        fused = PairScores(self.pairs, question, answer, lexical).fused(fusion)
        count = min(k, fused.shape[1])
        results: list[list[Match]] = []
        for query in range(fused.shape[0]):
            if count == 0:
                results.append([])
                continue
            # the k-th best score is at least `floor`; a pair that cannot reach it is out
            lowest = fused[query] - error[query]
            floor = np.partition(lowest, len(lowest) - count)[len(lowest) - count]
            columns = np.flatnonzero(fused[query] + error[query] >= floor)
            own = vectors[views == query]
            exact_answer = answer[query, columns]
            if by_answer is not None and answers is not None:
                exact_answer = answers.pair_scores_at(own, columns).max(axis=0)
            rescored = PairScores(
                self.pairs[columns],
                self.questions.pair_scores_at(own, columns).max(axis=0)[None, :],
                exact_answer[None, :],
                lexical[query, columns][None, :],
            )
            results.extend(top_matches(rescored, fusion, k))
        return results

    def with_pairs(
        self,
        pair_ids: Sequence[int],
        question_vectors: np.ndarray,
        question_owners: Sequence[int],
        answer_vectors: np.ndarray | None,
        lexical_texts: Sequence[str],
        lexical_owners: Sequence[int],
        question_texts: Sequence[str] | None = None,
    ) -> HybridIndex:
        """A new index where each of `pair_ids` has exactly the given rows."""
        owners = np.asarray(question_owners, dtype=np.int64)
        answers = self.answers
        if answers is not None and answer_vectors is not None:
            answers = answers.with_pairs(answer_vectors, np.asarray(pair_ids, dtype=np.int64))
        return HybridIndex(
            self.questions.with_pairs(question_vectors, owners, question_texts),
            answers,
            self.lexical.with_pairs(lexical_texts, lexical_owners),
        )

    def without_pair(self, pair_id: int) -> HybridIndex:
        return HybridIndex(
            self.questions.without_pair(pair_id),
            self.answers.without_pair(pair_id) if self.answers is not None else None,
            self.lexical.without_pair(pair_id),
        )


def top_matches(scored: PairScores, fusion: Fusion, k: int) -> list[list[Match]]:
    """The k best pairs of each query by fused score, with their parts."""
    fused = scored.fused(fusion)
    results: list[list[Match]] = []
    for row in range(fused.shape[0]):
        count = min(k, fused.shape[1])
        if count == 0:
            results.append([])
            continue
        top = np.argpartition(-fused[row], count - 1)[:count]
        top = top[np.argsort(-fused[row, top], kind="stable")]
        results.append(
            [
                Match(
                    int(scored.pairs[col]),
                    float(fused[row, col]),
                    float(scored.question[row, col]),
                    float(scored.answer[row, col]),
                    float(scored.lexical[row, col]),
                )
                for col in top
            ]
        )
    return results


def _best_view(
    question: np.ndarray,
    answer: np.ndarray,
    lexical: np.ndarray,
    owners: Sequence[int] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse views to queries: per pair, the best question, answer and lexical score."""
    question, answer, lexical = _best_views([question, answer, lexical], owners)
    return question, answer, lexical


def _best_views(parts: list[np.ndarray], owners: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """Each array's rows collapsed to their owners' rows by the largest value per column.

    The views are taken a rank at a time (every owner's first view, then every second
    one ...), a few whole-row maxima: `np.maximum.at` does the same row by row and took
    18 ms for a batch of 16 questions on a 5,000-pair bank, against 2 ms.
    """
    rows = np.asarray(owners, dtype=np.int64)
    queries = int(rows.max()) + 1
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    rank = np.empty(len(rows), dtype=np.int64)  # each view's place among its owner's
    rank[order] = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    levels = [np.flatnonzero(rank == level) for level in range(int(rank.max()) + 1)]
    out = []
    for part in parts:
        result = np.full((queries, part.shape[1]), -1.0, dtype=np.float32)
        for views in levels:
            mine = rows[views]
            result[mine] = np.maximum(result[mine], part[views])
        out.append(result)
    return out
