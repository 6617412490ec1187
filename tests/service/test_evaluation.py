from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from bot.errors import ImportRejected
from bot.retrieval.decision import Thresholds
from bot.service.evaluation import evaluate
from tests.conftest import DATA, SMALL_BANK

EVAL_KEYS = {
    "queries",
    "in_domain",
    "ood",
    "acc_at_1",
    "mrr_at_10",
    "answered_precision",
    "coverage",
    "ood_rejection",
    "answer_threshold",
    "suggest_threshold",
    "model",
    "seconds",
}


def test_eval_report_has_exactly_the_contract_keys_and_consistent_figures(encoder):
    run = evaluate(encoder, SMALL_BANK, DATA / "eval_small.jsonl", Thresholds(0.9, 0.85))
    report = asdict(run.report)
    assert set(report) == EVAL_KEYS
    assert (report["queries"], report["in_domain"], report["ood"]) == (7, 4, 3)
    assert 0 <= report["coverage"] <= report["acc_at_1"] <= report["mrr_at_10"] <= 1
    assert report["model"] == encoder.model_id
    assert len(run.scored) == 7
    in_domain_right = sum(1 for q in run.scored if q.correct)
    assert report["acc_at_1"] == round(in_domain_right / 4, 4)


def test_thresholds_trade_coverage_for_ood_rejection(encoder):
    everything = evaluate(encoder, SMALL_BANK, DATA / "eval_small.jsonl", Thresholds(0.0, 0.0))
    nothing = evaluate(encoder, SMALL_BANK, DATA / "eval_small.jsonl", Thresholds(1.01, 1.01))
    assert everything.report.ood_rejection == 0.0
    assert everything.report.coverage == everything.report.acc_at_1
    assert nothing.report.ood_rejection == 1.0
    assert nothing.report.coverage == 0.0 and nothing.report.answered_precision == 0.0


def test_eval_line_with_an_unknown_answer_is_reported(encoder, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"query": "ප්‍රශ්නය", "answer": "බැංකුවේ නැති පිළිතුරක්"}, ensure_ascii=False)
        + "\nnot json\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as caught:
        evaluate(encoder, SMALL_BANK, queries, Thresholds(0.9, 0.85))
    assert [e.line for e in caught.value.errors] == [2]
