"""Re-calibrating after the bank changed a lot, from the bank's own phrasings.

Thresholds are chosen on the eval's dev split for a model and a bank; after an import or
edits that touch more than a tenth of the pairs, the scores a bank produces can shift (more
neighbours, closer calls). Each alternate phrasing is then asked as a question against
the bank without that phrasing (leave one out), out-of-domain questions beside them, and
thresholds are calibrated on that. The result can only make the bot more careful: the
dev-calibrated thresholds stay the floor, since the bank's own phrasings are easier than
farmers' wordings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from bot.retrieval.decision import ScoredQuery, Thresholds, calibrate, calibrate_with_margin
from bot.retrieval.hybrid import HybridIndex
from bot.service.answering import RetrievalState, encode_as_asked, query_views
from bot.text.normalize import normalize, normalize_key
from bot.text.other_crops import names_another_crop

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

logger = logging.getLogger(__name__)

CHANGED_SHARE = 0.1  # re-calibrate once this share of the bank's pairs changed
MAX_PHRASINGS = 2000  # leave-one-out queries sampled at most (every other one beyond)
SEARCH_DEPTH = 10  # pairs searched a question, as the bot's `Answerer` searches


def held_out_phrasings(state: RetrievalState) -> list[ScoredQuery]:
    """Each alternate phrasing, asked against the bank without itself: best, runner-up, right.

    The pair's other phrasings stay, as a farmer's new wording would meet them.
    """
    index = state.index
    questions = index.questions
    rows = np.arange(len(questions))
    owners = questions.pair_ids
    # a pair's first row is its question: the rest are the phrasings to hold out
    is_first = np.r_[True, owners[1:] != owners[:-1]] if len(owners) else np.zeros(0, bool)
    held = rows[~is_first]
    if len(held) > MAX_PHRASINGS:
        held = held[:: int(np.ceil(len(held) / MAX_PHRASINGS))]
    if not len(held):
        return []
    vectors = questions.vectors[held]
    scores = vectors @ questions.vectors.T
    scores[np.arange(len(held)), held] = -1.0  # the phrasing does not find itself
    question = np.maximum.reduceat(scores, _starts(owners), axis=1)
    answer = (
        index.answers.pair_scores(vectors) if index.answers is not None else np.zeros_like(question)
    )
    lexical = _lexical_without_self(index, held)
    fused = (
        question + state.fusion.answer_weight * answer + state.fusion.lexical_weight * lexical
    ) / state.fusion.total
    keys = [normalize_key(state.pairs[int(p)].answer) for p in index.pairs]
    texts = questions.texts
    scored = []
    for row, own, held_row in zip(fused, owners[held], held, strict=True):
        order = np.argsort(-row)
        top = int(order[0])
        runner_up = next((float(row[c]) for c in order[1:20] if keys[c] != keys[top]), 0.0)
        right = keys[top] == keys[int(np.searchsorted(index.pairs, own))]
        text = str(texts[held_row]) if texts is not None else ""
        scored.append(ScoredQuery(float(row[top]), right, runner_up, text=text))
    return scored


def out_of_domain_scores(state: RetrievalState, texts: Sequence[str]) -> list[ScoredQuery]:
    """Questions that must not be answered, scored as the bot scores them: normalized, with
    their other spellings (`query_views`), best and runner-up one per answer; a question
    naming another crop is declined before any score counts, so it scores 0."""
    if not texts:
        return []
    normalized = [normalize(text) for text in texts]
    views, owners = query_views(normalized, list(texts), english_terms=state.english_terms)
    vectors = encode_as_asked(state.encoder, views, owners)
    found = state.index.search_many(vectors, views, owners, k=SEARCH_DEPTH, fusion=state.fusion)
    scored = []
    for text, matches in zip(normalized, found, strict=True):
        ranked = [c.score for c in state.candidates(matches)] + [0.0, 0.0]
        declined = state.other_crops and names_another_crop(text)
        scored.append(ScoredQuery(0.0 if declined else ranked[0], None, ranked[1], text=text))
    return scored


def recalibrate(
    state: RetrievalState,
    out_of_domain: Sequence[str],
    target_precision: float = 0.95,
) -> Thresholds:
    """Thresholds for the bank as it is now, never laxer than the current ones."""
    scored = held_out_phrasings(state) + out_of_domain_scores(state, out_of_domain)
    if not scored:
        return state.thresholds
    found = calibrate_with_margin(scored, target_precision, confidence_z=1.28)
    current = state.thresholds
    confidence = current.confidence
    if confidence is not None:
        judged = [
            replace(q, score=confidence.probability(q.score, q.runner_up, q.text), runner_up=0.0)
            for q in scored
        ]
        floor = min(calibrate(judged, target_precision, confidence_z=1.28).answer, 1.0)
        confidence = replace(confidence, threshold=max(confidence.threshold, floor))
    chosen = replace(
        current,
        answer=max(current.answer, found.answer),
        suggest=max(current.suggest, min(found.suggest, max(current.answer, found.answer))),
        margin=max(current.margin, found.margin),
        confidence=confidence,
    )
    logger.info(
        "re-calibrated on %d held-out phrasings and %d other questions: %s -> %s",
        sum(q.correct is not None for q in scored),
        sum(q.correct is None for q in scored),
        current,
        chosen,
    )
    return chosen


def _starts(owners: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])


def _lexical_without_self(index: HybridIndex, held: np.ndarray) -> np.ndarray:
    """Spelling scores of the held-out phrasings against every pair, minus their own row."""
    lexical = index.lexical
    texts_vectors = _question_row_texts(index, held)
    if texts_vectors is None:
        return np.zeros((len(held), len(index.pairs)), dtype=np.float32)
    scores = (texts_vectors @ lexical.columns).toarray()
    scores[scores >= 0.9999] = 0.0  # the phrasing's own spelling row
    return np.maximum.reduceat(scores, _starts(lexical.pair_ids), axis=1).astype(np.float32)


def _question_row_texts(index: HybridIndex, held: np.ndarray) -> csr_matrix | None:
    texts = index.questions.texts
    if texts is None:
        return None
    rows: csr_matrix = index.lexical.vectorizer.transform([str(texts[i]) for i in held])
    return rows


def changed_enough(changed: int, total: int) -> bool:
    return total > 0 and changed / total > CHANGED_SHARE
