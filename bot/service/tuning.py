"""Choosing a model's fusion weights, margin and thresholds on the eval's dev split.

Everything here looks at `dev` only: the `test` split is for reporting, and a figure
tuned on the data it is reported on is not a result. The answer threshold is set so
that the lower end of a 90% interval around dev's answered precision reaches the target,
so the precision holds on queries the tuning never saw. The confidence model
(`bot.retrieval.confidence`) is fitted on dev too, and its threshold is chosen on
probabilities each dev query got from a model fitted without it (cross-validation), so
the threshold does not lean on the fit's own optimism.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ModelVersionNotFound
from bot.retrieval.confidence import Confidence, feature_matrix, fit_weights, probabilities
from bot.retrieval.decision import (
    DEFAULT_THRESHOLDS,
    MARGINS,
    ScoredQuery,
    Thresholds,
    calibrate,
    calibrate_with_margin,
    coverage,
)
from bot.retrieval.encoder import PRECISIONS, Encoder
from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion, PairScores
from bot.retrieval.int8 import with_recipe
from bot.service.answering import RetrievalState, encode_as_asked, query_views
from bot.service.evaluation import (
    EvalQuery,
    EvalReport,
    evaluate,
    indexed_bank,
    read_queries,
)
from bot.storage import registry
from bot.text.normalize import normalize, normalize_key
from bot.text.other_crops import names_another_crop

logger = logging.getLogger(__name__)

ANSWER_WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
LEXICAL_WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
CONFIDENCE_Z = 1.28  # one-sided 90%
OOD_REJECTION = 0.97  # the floor on dev's out-of-domain queries left unanswered (same interval)
# The confidence model's threshold: dev's out-of-domain queries left unanswered, as counted
# (its probabilities are cross-validated, so no interval on top); they weigh 3 paddy
# questions each in its fit. Both chosen on dev by cross-validation.
CONFIDENCE_OOD_REJECTION = 0.98
CONFIDENCE_OOD_WEIGHT = 3.0
CONFIDENCE_FOLDS = 5
MIN_CONFIDENCE_QUERIES = 50  # fewer dev queries than this: thresholds on the score alone


@dataclass(frozen=True)
class Grid:
    """The choices `tune` searches; narrower grids switch parts off (the ablation table)."""

    answer_weights: tuple[float, ...] = ANSWER_WEIGHTS
    lexical_weights: tuple[float, ...] = LEXICAL_WEIGHTS
    margins: tuple[float, ...] = MARGINS
    romanized: bool = True  # Singlish spellings of the bank in the lexical index
    english_terms: bool = True  # English terms in a message also searched as Sinhala
    other_crops: bool = True  # questions naming another crop and no paddy are declined
    ood_rejection: float = OOD_REJECTION  # 0: precision alone sets the answer threshold
    confidence: bool = True  # answer by the confidence model, not the score alone


FULL = Grid()
CHIT_CHAT_FALSE_RATE = 0.005  # at most this share of paddy questions taken for small talk


@dataclass(frozen=True)
class Tuning:
    """What `tune` chose, with the dev figures it was chosen on."""

    thresholds: Thresholds
    fusion: Fusion
    dev: EvalReport | None

    def to_registry(self, with_thresholds: bool = False) -> dict[str, Any]:
        """The registry's `tuning` column (the float32 thresholds have columns of their
        own; another precision's tuning holds them: `with_thresholds`)."""
        thresholds = (
            {"answer": self.thresholds.answer, "suggest": self.thresholds.suggest}
            if with_thresholds
            else {}
        )
        confidence = self.thresholds.confidence
        return {
            **thresholds,
            "margin": self.thresholds.margin,
            "chit_chat": self.thresholds.chit_chat,
            "answer_weight": self.fusion.answer_weight,
            "lexical_weight": self.fusion.lexical_weight,
            **({"confidence": confidence.to_dict()} if confidence is not None else {}),
        }


@dataclass(frozen=True)
class DevScores:
    """Every dev query's scores for every pair, to re-rank under any weights at once."""

    queries: list[EvalQuery]
    pairs: PairScores
    answer_keys: np.ndarray  # per pair column: an id of its answer text
    expected: list[set[int]]  # per query: the answer ids that are right
    chit_chat: PairScores
    declined: list[bool]  # per query: names another crop, so never answered


def tune(
    encoder: Encoder,
    bank_path: Path,
    queries_path: Path,
    *,
    target_precision: float = 0.95,
    fusion: Fusion | None = None,
    grid: Grid = FULL,
    cache: sessionmaker[Session] | None = None,
    show_progress: bool = False,
) -> Tuning:
    """Fusion weights (unless given), margin, thresholds and the small-talk threshold."""
    queries = read_queries(queries_path, "dev")
    if not any(q.split for q in read_queries(queries_path)):
        logger.warning("%s has no dev/test split: tuning on all of it", queries_path)
    with indexed_bank(
        encoder,
        bank_path,
        DEFAULT_THRESHOLDS,
        QUESTIONS_ONLY,
        cache,
        show_progress,
        romanized=grid.romanized,
        english_terms=grid.english_terms,
        other_crops=grid.other_crops,
    ) as bank:
        scores = dev_scores(bank.state, queries)
    chosen_fusion = fusion or choose_fusion(scores, target_precision, grid)
    scored = scored_queries(scores, chosen_fusion)
    thresholds = calibrate_with_margin(
        scored,
        target_precision,
        margins=grid.margins,
        confidence_z=CONFIDENCE_Z,
        ood_rejection=grid.ood_rejection,
    )
    confidence = (
        choose_confidence(scores, chosen_fusion, target_precision) if grid.confidence else None
    )
    if confidence is not None and confidence_coverage(scores, chosen_fusion, confidence) < (
        coverage(scored, thresholds)
    ):
        logger.info("the confidence model answers less of dev than the score alone: not used")
        confidence = None
    if confidence is not None:  # the runner-up's margin is one of its features
        thresholds = replace(thresholds, margin=0.0)
    thresholds = replace(
        thresholds, chit_chat=choose_chit_chat(scores, chosen_fusion), confidence=confidence
    )
    dev = evaluate(
        encoder,
        bank_path,
        queries_path,
        thresholds,
        fusion=chosen_fusion,
        split="dev",
        cache=cache,
        romanized=grid.romanized,
        english_terms=grid.english_terms,
        other_crops=grid.other_crops,
    ).report
    return Tuning(thresholds, chosen_fusion, dev)


def dev_scores(state: RetrievalState, queries: Sequence[EvalQuery]) -> DevScores:
    raw = [q.query for q in queries]
    normalized = [normalize(text) for text in raw]
    texts, owners = query_views(normalized, raw, english_terms=state.english_terms)
    vectors = encode_as_asked(state.encoder, texts, owners)
    pairs = state.index.scores(vectors, texts, owners)
    keys: dict[str, int] = {}
    answer_keys = np.array(
        [
            keys.setdefault(normalize_key(state.pairs[int(pair)].answer), len(keys))
            for pair in pairs.pairs
        ]
    )
    expected = [{keys.get(normalize_key(a), -1) for a in q.answers} for q in queries]
    assert state.chit_chat is not None
    chit_chat = state.chit_chat.index.scores(vectors, texts, owners)
    declined = [state.other_crops and names_another_crop(text) for text in normalized]
    return DevScores(list(queries), pairs, answer_keys, expected, chit_chat, declined)


@dataclass(frozen=True)
class Ranked:
    """One query's best answer, its score, the runner-up's and the right answer's rank."""

    top: int
    score: float
    runner_up: float
    rank: int | None


def rank_answers(scores: DevScores, fusion: Fusion, depth: int = 10) -> list[Ranked]:
    fused = scores.pairs.fused(fusion)
    ranked = []
    for row, expected in zip(fused, scores.expected, strict=True):
        order = np.argsort(-row, kind="stable")[: depth * 4]
        seen: list[int] = []
        best: list[float] = []
        rank = None
        for column in order:
            key = int(scores.answer_keys[column])
            if key in seen:
                continue
            seen.append(key)
            best.append(float(row[column]))
            if rank is None and key in expected:
                rank = len(seen)
            if len(seen) == depth:
                break
        ranked.append(
            Ranked(seen[0], best[0], best[1] if len(best) > 1 else 0.0, rank)
            if seen
            else Ranked(-1, 0.0, 0.0, None)
        )
    return ranked


def choose_fusion(scores: DevScores, target_precision: float = 0.95, grid: Grid = FULL) -> Fusion:
    """The weights that do best on dev: accuracy@1 plus the share answered rightly at the
    target precision (margin and thresholds calibrated for each), then MRR, then the
    lighter weights."""
    in_domain = [i for i, q in enumerate(scores.queries) if q.in_domain]
    best: tuple[tuple[float, float, float], Fusion] | None = None
    for answer_weight in grid.answer_weights:
        for lexical_weight in grid.lexical_weights:
            fusion = Fusion(answer_weight, lexical_weight)
            ranked = rank_answers(scores, fusion)
            ranks = [ranked[i].rank for i in in_domain]
            accuracy = sum(rank == 1 for rank in ranks) / max(len(in_domain), 1)
            mrr = sum(1 / rank for rank in ranks if rank)
            scored = _scored(scores, ranked)
            chosen = calibrate_with_margin(
                scored,
                target_precision,
                margins=grid.margins,
                confidence_z=CONFIDENCE_Z,
                ood_rejection=grid.ood_rejection,
            )
            key = (
                round(accuracy + coverage(scored, chosen), 6),
                round(mrr, 6),
                -(answer_weight + lexical_weight),
            )
            if best is None or key > best[0]:
                best = (key, fusion)
    assert best is not None
    logger.info("fusion chosen on dev: %s (accuracy + coverage %.3f)", best[1], best[0][0])
    return best[1]


def _scored(scores: DevScores, ranked: Sequence[Ranked]) -> list[ScoredQuery]:
    return [
        ScoredQuery(
            0.0 if declined else r.score,
            (r.rank == 1) if q.in_domain else None,
            r.runner_up,
            q.is_chit_chat,
        )
        for q, r, declined in zip(scores.queries, ranked, scores.declined, strict=True)
    ]


def scored_queries(scores: DevScores, fusion: Fusion) -> list[ScoredQuery]:
    """Each dev query's best score, runner-up and correctness (small talk: must not answer)."""
    return _scored(scores, rank_answers(scores, fusion))


def choose_chit_chat(scores: DevScores, fusion: Fusion) -> float:
    """The lowest small-talk threshold that takes almost no paddy question for small talk.

    A message is small talk when its best small-talk score reaches the threshold and beats
    its best pair; below `CHIT_CHAT_FALSE_RATE` of dev's in-domain queries may pass.
    """
    spelling = Fusion(0.0, fusion.lexical_weight)
    chit = scores.chit_chat.fused(spelling).max(axis=1, initial=0.0)
    paddy = scores.pairs.fused(fusion).max(axis=1, initial=0.0)
    in_domain = np.array([q.in_domain for q in scores.queries], dtype=bool)
    small_talk = np.array([q.is_chit_chat for q in scores.queries], dtype=bool)
    if not small_talk.any() or not in_domain.any():
        return DEFAULT_THRESHOLDS.chit_chat
    allowed = int(CHIT_CHAT_FALSE_RATE * in_domain.sum())
    contenders = np.sort(np.unique(chit[small_talk]))
    for threshold in contenders:
        taken = in_domain & (chit >= threshold) & (chit > paddy)
        if taken.sum() <= allowed:
            return round(float(threshold), 4)
    return DEFAULT_THRESHOLDS.chit_chat


def choose_confidence(
    scores: DevScores, fusion: Fusion, target_precision: float = 0.95
) -> Confidence | None:
    """The confidence model fitted on dev, with the lowest threshold whose answered
    precision (lower end of its interval) reaches the target while dev's out-of-domain
    questions stay unanswered; None where dev is too small to fit one."""
    from sklearn.model_selection import StratifiedKFold

    ranked = rank_answers(scores, fusion)
    texts = [normalize(q.query) for q in scores.queries]
    x = feature_matrix([r.score for r in ranked], [r.runner_up for r in ranked], texts)
    right = np.array(
        [q.in_domain and r.rank == 1 for q, r in zip(scores.queries, ranked, strict=True)]
    )
    off_topic = np.array([not q.in_domain and not q.is_chit_chat for q in scores.queries])
    weight = np.where(off_topic, CONFIDENCE_OOD_WEIGHT, 1.0)
    if len(x) < MIN_CONFIDENCE_QUERIES or min(right.sum(), (~right).sum()) < CONFIDENCE_FOLDS:
        return None
    strata = np.array(
        [f"{q.slice or '-'}:{int(ok)}" for q, ok in zip(scores.queries, right, strict=True)]
    )
    _, counts = np.unique(strata, return_counts=True)
    if counts.min() < CONFIDENCE_FOLDS:
        strata = right.astype(int).astype(str)  # slices too small to spread over the folds
    held_out = np.zeros(len(x))
    folds = StratifiedKFold(CONFIDENCE_FOLDS, shuffle=True, random_state=0)
    for fit_rows, held_rows in folds.split(x, strata):
        intercept, weights = fit_weights(x[fit_rows], right[fit_rows], weight[fit_rows])
        held_out[held_rows] = probabilities(intercept, weights, x[held_rows])
    chosen = calibrate(
        [
            ScoredQuery(
                0.0 if declined else float(p),
                bool(ok) if q.in_domain else None,
                0.0,
                q.is_chit_chat,
            )
            for q, p, ok, declined in zip(
                scores.queries, held_out, right, scores.declined, strict=True
            )
        ],
        target_precision,
        confidence_z=CONFIDENCE_Z,
        ood_rejection=CONFIDENCE_OOD_REJECTION,
        ood_confidence_z=0.0,
    )
    intercept, weights = fit_weights(x, right, weight)
    logger.info(
        "confidence model chosen on dev: weights %s, threshold %.4f", weights, chosen.answer
    )
    return Confidence(intercept, weights, min(chosen.answer, 1.0))


def confidence_coverage(scores: DevScores, fusion: Fusion, confidence: Confidence) -> float:
    """Share of dev's in-domain queries the confidence model answers rightly."""
    ranked = rank_answers(scores, fusion)
    hits = [
        q.in_domain
        and r.rank == 1
        and not declined
        and confidence.confident(r.score, r.runner_up, normalize(q.query))
        for q, r, declined in zip(scores.queries, ranked, scores.declined, strict=True)
    ]
    return sum(hits) / max(sum(q.in_domain for q in scores.queries), 1)


def tune_and_report(
    encoder: Encoder,
    bank_path: Path,
    queries_path: Path,
    *,
    target_precision: float = 0.95,
    fusion: Fusion | None = None,
    grid: Grid = FULL,
    cache: sessionmaker[Session] | None = None,
    show_progress: bool = False,
) -> tuple[Tuning, EvalReport]:
    """`tune` on dev, then the test figures at what it chose (reported, never chosen on)."""
    tuning = tune(
        encoder,
        bank_path,
        queries_path,
        target_precision=target_precision,
        fusion=fusion,
        grid=grid,
        cache=cache,
        show_progress=show_progress,
    )
    test = evaluate(
        encoder,
        bank_path,
        queries_path,
        tuning.thresholds,
        fusion=tuning.fusion,
        split="test",
        cache=cache,
        romanized=grid.romanized,
        english_terms=grid.english_terms,
        other_crops=grid.other_crops,
    ).report
    return tuning, test


def other_precisions(tuning: dict[str, Any] | None) -> dict[str, Any]:
    """The entries of a registry or delta `tuning` that hold another precision's tuning."""
    return {key: value for key, value in (tuning or {}).items() if key in PRECISIONS}


def save_tuning(
    session_factory: sessionmaker[Session],
    model_id: str,
    tuning: Tuning,
    precision: str = "float32",
) -> None:
    """Store `tuning` as the registered version `model_id`'s thresholds and weights (for
    `precision` int8: beside the float32 ones, in the tuning's "int8" entry).

    Raises `ModelVersionNotFound` if no version of that name is registered (a model
    directory given by path has no row to keep its tuning in).
    """
    with session_factory() as session:
        version = registry.find_version(session, model_id)
        if version is None:
            raise ModelVersionNotFound(f"{model_id} is not registered; nothing saved")
        if precision == "float32":
            version.answer_threshold = tuning.thresholds.answer
            version.suggest_threshold = tuning.thresholds.suggest
            # a fresh calibration drops the re-calibrated thresholds; int8's stays
            version.tuning = {**tuning.to_registry(), **other_precisions(version.tuning)}
        else:
            entry = with_recipe(tuning.to_registry(True))
            version.tuning = {**(version.tuning or {}), precision: entry}
        session.commit()
