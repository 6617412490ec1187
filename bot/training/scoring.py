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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.retrieval.decision import Thresholds
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion
from bot.service.evaluation import EvalReport, evaluate
from bot.service.tuning import tune_and_report
from bot.training.pairs import TO_QUESTION, TrainingSplit

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
    """One model's figures: held out, and on the eval file at its tuning.

    `eval` is the dev split, what promotion is judged on; `test` is reported beside it
    and never used to choose anything.
    """

    model: str
    heldout: HeldOutReport | None
    eval: EvalReport | None
    thresholds: Thresholds
    fusion: Fusion = QUESTIONS_ONLY
    test: EvalReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "heldout": asdict(self.heldout) if self.heldout else None,
            "eval": _figures(self.eval),
            "test": _figures(self.test),
            "thresholds": asdict(self.thresholds),
            "fusion": asdict(self.fusion),
        }


def _figures(report: EvalReport | None) -> dict[str, Any] | None:
    return {k: getattr(report, k) for k in EVAL_FIGURES} if report else None


# Rows whose anchor no person wrote as a phrasing of its pair: made-up Singlish and
# farmer variants, and Q->Q rows (their anchors are phrasings already asked).
WRITTEN_ELSEWHERE = ("romanized", "variant", "alternate")


@dataclass(frozen=True)
class HeldOutTask:
    """Held-out queries, the corpus they search and which documents are right.

    With alternate phrasings, held-out phrasings search every pair's question, as the
    bot matches. A bank of plain question/answer rows (like the seed card's) has none:
    then held-out questions search every pair's answer, as that data's own pairs are built.
    """

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    corpus_is_answers: bool


def heldout_task(split: TrainingSplit) -> HeldOutTask:
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for row in split.heldout:
        if row.kind != TO_QUESTION or row.source in WRITTEN_ELSEWHERE:
            continue
        if row.anchor in queries.values():
            continue
        qid = f"q{len(queries)}"
        queries[qid] = row.anchor
        relevant[qid] = {f"p{row.pair_id}"}
    if queries or not split.answers:
        corpus = {f"p{pair_id}": text for pair_id, text in split.questions.items()}
        return HeldOutTask(queries, corpus, relevant, False)
    for pair_id in split.heldout_pair_ids:
        qid = f"q{len(queries)}"
        queries[qid] = split.questions[pair_id]
        relevant[qid] = {f"p{pair_id}"}
    corpus = {f"p{pair_id}": text for pair_id, text in split.answers.items()}
    return HeldOutTask(queries, corpus, relevant, True)


def score_heldout(encoder: Encoder, split: TrainingSplit) -> HeldOutReport | None:
    """accuracy@1, MRR@10 and NDCG@10 on the held-out pairs; None when there are none."""
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )
    from sentence_transformers.util import cos_sim

    task = heldout_task(split)
    if not task.queries:
        return None
    evaluator = InformationRetrievalEvaluator(
        dict(task.queries),  # copies typed as the evaluator's wider dicts
        dict(task.corpus),
        task.relevant,
        mrr_at_k=[10],
        ndcg_at_k=[10],
        accuracy_at_k=[1],
        precision_recall_at_k=[1],
        map_at_k=[10],
        name="",
        write_csv=False,
        score_functions={"cosine": cos_sim},
        # The bot matches question to question, both with the query prompt; answers
        # take the passage prompt.
        query_prompt=encoder.query_prompt or None,
        corpus_prompt=(encoder.passage_prompt if task.corpus_is_answers else encoder.query_prompt)
        or None,
    )
    metrics = evaluator(encoder.sentence_transformer)
    return HeldOutReport(
        queries=len(task.queries),
        corpus=len(task.corpus),
        accuracy_at_1=round(metrics["cosine_accuracy@1"], 4),
        mrr_at_10=round(metrics["cosine_mrr@10"], 4),
        ndcg_at_10=round(metrics["cosine_ndcg@10"], 4),
    )


def score_eval(
    encoder: Encoder,
    bank_path: Path,
    queries_path: Path,
    thresholds: Thresholds,
    fusion: Fusion,
    *,
    cache: sessionmaker[Session] | None,
    target_precision: float | None = None,
) -> ModelScores:
    """Dev and test figures; with `target_precision`, at a tuning chosen on dev for it."""
    if not (bank_path.exists() and queries_path.exists()):
        logger.warning("no eval file at %s (or bank at %s); skipping", queries_path, bank_path)
        return ModelScores(encoder.model_id, None, None, thresholds, fusion)
    if target_precision is not None:
        tuning, test = tune_and_report(
            encoder, bank_path, queries_path, target_precision=target_precision, cache=cache
        )
        return ModelScores(
            encoder.model_id, None, tuning.dev, tuning.thresholds, tuning.fusion, test
        )
    dev, test = (
        evaluate(
            encoder, bank_path, queries_path, thresholds, fusion=fusion, split=split, cache=cache
        ).report
        for split in ("dev", "test")
    )
    return ModelScores(encoder.model_id, None, dev, thresholds, fusion, test)


def score_model(
    encoder: Encoder,
    split: TrainingSplit,
    bank_path: Path,
    queries_path: Path,
    thresholds: Thresholds,
    fusion: Fusion,
    *,
    cache: sessionmaker[Session] | None,
    target_precision: float | None = None,
) -> ModelScores:
    scores = score_eval(
        encoder,
        bank_path,
        queries_path,
        thresholds,
        fusion,
        cache=cache,
        target_precision=target_precision,
    )
    return replace(scores, heldout=score_heldout(encoder, split))


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
    for label, old, new in (("dev", before.eval, after.eval), ("test", before.test, after.test)):
        if old or new:
            for field in EVAL_FIGURES:
                add(f"{label} {field}", getattr(old, field, None), getattr(new, field, None))
    add("answer threshold", before.thresholds.answer, after.thresholds.answer)
    add("suggest threshold", before.thresholds.suggest, after.thresholds.suggest)
    bars = (before.thresholds.confidence_threshold, after.thresholds.confidence_threshold)
    if bars != (None, None):
        add("confidence threshold", *bars)
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
