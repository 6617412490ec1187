"""Scoring a model before and after training: held-out retrieval and the bundled eval file.

Two views that answer different questions:

- held out (sentence-transformers' InformationRetrievalEvaluator): do phrasings of QA
  pairs the model never trained on find their pair's question among all the bank's
  questions? This is the promotion gate, since nothing in it was trained on;
- the eval file (`bot.service.evaluation.evaluate`, i.e. `agribot eval`): farmers'
  wordings against the whole bank with answer/suggest/decline thresholds, the figures a
  farmer feels: accuracy, answered precision, out-of-domain rejection.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from bot.retrieval.decision import Thresholds
from bot.retrieval.encoder import Encoder
from bot.service.evaluation import EvalReport, evaluate, evaluate_calibrated
from bot.training.pairs import TO_QUESTION, TrainingSplit

if TYPE_CHECKING:
    from bot.config import Settings

logger = logging.getLogger(__name__)

EVAL_FIGURES = ("acc_at_1", "mrr_at_10", "answered_precision", "coverage", "ood_rejection")


@dataclass(frozen=True)
class HeldOutReport:
    """Held-out phrasings → their pair's question, among every question in the bank."""

    queries: int
    corpus: int
    accuracy_at_1: float
    mrr_at_10: float
    ndcg_at_10: float


@dataclass(frozen=True)
class ModelScores:
    """One model's figures: held out, and on the eval file with `thresholds`."""

    model: str
    heldout: HeldOutReport | None
    eval: EvalReport | None
    thresholds: Thresholds

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "heldout": asdict(self.heldout) if self.heldout else None,
            "eval": {k: getattr(self.eval, k) for k in EVAL_FIGURES} if self.eval else None,
            "thresholds": asdict(self.thresholds),
        }


def open_eval_cache(settings: Settings) -> sessionmaker[Session]:
    """The embedding cache `agribot eval` uses, so each model encodes the eval bank once."""
    from bot.storage.db import make_engine, make_session_factory, upgrade

    settings.ensure_dirs()
    engine = make_engine(f"sqlite:///{settings.data_dir / 'eval-cache.db'}")
    upgrade(engine)
    return make_session_factory(engine)


def heldout_task(
    split: TrainingSplit,
) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Queries, corpus and relevant docs: held-out phrasings against every pair's question."""
    corpus = {f"p{pair_id}": text for pair_id, text in split.questions.items()}
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for row in split.heldout:
        if row.kind != TO_QUESTION or row.anchor in queries.values():
            continue
        qid = f"q{len(queries)}"
        queries[qid] = row.anchor
        relevant[qid] = {f"p{row.pair_id}"}
    return queries, corpus, relevant


def score_heldout(encoder: Encoder, split: TrainingSplit) -> HeldOutReport | None:
    """accuracy@1, MRR@10 and NDCG@10 on the held-out pairs; None when there are none."""
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )
    from sentence_transformers.util import cos_sim

    queries, corpus, relevant = heldout_task(split)
    if not queries:
        return None
    evaluator = InformationRetrievalEvaluator(
        queries,
        corpus,
        relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1],
        precision_recall_at_k=[1],
        map_at_k=[10],
        name="",
        write_csv=False,
        score_functions={"cosine": cos_sim},
        # The bot matches question to question, both with the query prompt.
        query_prompt=encoder.query_prompt or None,
        corpus_prompt=encoder.query_prompt or None,
    )
    metrics = evaluator(encoder.model)
    return HeldOutReport(
        queries=len(queries),
        corpus=len(corpus),
        accuracy_at_1=round(metrics["cosine_accuracy@1"], 4),
        mrr_at_10=round(metrics["cosine_mrr@10"], 4),
        ndcg_at_10=round(metrics["cosine_ndcg@10"], 4),
    )


def score_eval(
    encoder: Encoder,
    bank_path: Path,
    queries_path: Path,
    thresholds: Thresholds,
    *,
    cache: sessionmaker[Session] | None,
    target_precision: float | None = None,
) -> tuple[EvalReport | None, Thresholds]:
    """The eval file's report; with `target_precision`, at thresholds calibrated for it."""
    if not (bank_path.exists() and queries_path.exists()):
        logger.warning("no eval file at %s (or bank at %s); skipping", queries_path, bank_path)
        return None, thresholds
    if target_precision is None:
        run = evaluate(encoder, bank_path, queries_path, thresholds, cache=cache)
        return run.report, thresholds
    return evaluate_calibrated(
        encoder, bank_path, queries_path, thresholds, target_precision, cache=cache
    )


def score_model(
    encoder: Encoder,
    split: TrainingSplit,
    bank_path: Path,
    queries_path: Path,
    thresholds: Thresholds,
    *,
    cache: sessionmaker[Session] | None,
    target_precision: float | None = None,
) -> ModelScores:
    heldout = score_heldout(encoder, split)
    report, chosen = score_eval(
        encoder,
        bank_path,
        queries_path,
        thresholds,
        cache=cache,
        target_precision=target_precision,
    )
    return ModelScores(encoder.model_id, heldout, report, chosen)


def side_by_side(before: ModelScores, after: ModelScores) -> str:
    """A small table: each figure before and after, with the change in points."""
    rows = [("", "before", "after", "change")]

    def add(label: str, old: float | None, new: float | None) -> None:
        change = f"{(new - old) * 100:+.1f}" if old is not None and new is not None else ""
        rows.append((label, _fmt(old), _fmt(new), change))

    if before.heldout or after.heldout:
        b, a = before.heldout, after.heldout
        for field in ("accuracy_at_1", "mrr_at_10", "ndcg_at_10"):
            add(f"held-out {field}", getattr(b, field, None), getattr(a, field, None))
    if before.eval or after.eval:
        for field in EVAL_FIGURES:
            add(
                f"eval {field}", getattr(before.eval, field, None), getattr(after.eval, field, None)
            )
    add("answer threshold", before.thresholds.answer, after.thresholds.answer)
    add("suggest threshold", before.thresholds.suggest, after.thresholds.suggest)
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(
            cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        )
        for row in rows
    ]
    title = f"before: {before.model}   after: {after.model}"
    return "\n".join([title, *lines])


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
