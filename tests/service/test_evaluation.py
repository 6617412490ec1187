from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from bot.errors import ImportRejected
from bot.retrieval.decision import Thresholds
from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion
from bot.service.evaluation import evaluate, read_queries
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
    # added with the dev/test split
    "split",
    "chit_chat",
    "chit_chat_handled",
    "margin",
    "answer_weight",
    "lexical_weight",
    "slices",
    # added with the confidence model (None: the score alone decides)
    "confidence_threshold",
}
SLICE_KEYS = {
    "queries",
    "acc_at_1",
    "answered_precision",
    "coverage",
    "ood_rejection",
    "chit_chat_handled",
}
SPLIT_EVAL = DATA / "eval_split.jsonl"


def test_eval_report_has_exactly_the_contract_keys_and_consistent_figures(encoder):
    run = evaluate(encoder, SMALL_BANK, DATA / "eval_small.jsonl", Thresholds(0.9, 0.85))
    report = asdict(run.report)
    assert set(report) == EVAL_KEYS
    assert (report["queries"], report["in_domain"], report["ood"]) == (7, 4, 3)
    assert report["split"] == "all"  # the file has no splits: scored whole
    assert 0 <= report["coverage"] <= report["acc_at_1"] <= report["mrr_at_10"] <= 1
    assert report["model"] == encoder.model_id
    assert len(run.scored) == 7
    in_domain_right = sum(1 for q in run.scored if q.correct)
    assert report["acc_at_1"] == round(in_domain_right / 4, 4)


def test_thresholds_trade_coverage_for_ood_rejection(encoder):
    queries = DATA / "eval_small.jsonl"
    everything = evaluate(encoder, SMALL_BANK, queries, Thresholds(0.0, 0.0), other_crops=False)
    nothing = evaluate(encoder, SMALL_BANK, queries, Thresholds(1.01, 1.01), other_crops=False)
    assert everything.report.ood_rejection == 0.0
    assert everything.report.coverage == everything.report.acc_at_1
    assert nothing.report.ood_rejection == 1.0
    assert nothing.report.coverage == 0.0 and nothing.report.answered_precision == 0.0
    # the coconut question of the three is declined at any threshold
    declined = evaluate(encoder, SMALL_BANK, queries, Thresholds(0.0, 0.0))
    assert declined.report.ood_rejection == pytest.approx(1 / 3, abs=1e-4)
    assert declined.report.coverage == everything.report.coverage


def test_eval_line_with_an_unknown_answer_is_reported(encoder, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"query": "ප්‍රශ්නය", "answer": "බැංකුවේ නැති පිළිතුරක්"}, ensure_ascii=False)
        + "\nnot json\n"
        + "[" * 5000
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as caught:
        evaluate(encoder, SMALL_BANK, queries, Thresholds(0.9, 0.85))
    assert [e.line for e in caught.value.errors] == [2, 3]


def test_the_default_split_is_test_and_dev_is_scored_apart(encoder):
    dev = read_queries(SPLIT_EVAL, "dev")
    test = read_queries(SPLIT_EVAL, "test")
    assert {q.split for q in dev} == {"dev"} and {q.split for q in test} == {"test"}
    assert len(read_queries(SPLIT_EVAL, "all")) == len(dev) + len(test)
    run = evaluate(encoder, SMALL_BANK, SPLIT_EVAL, Thresholds(0.95, 0.9), fusion=QUESTIONS_ONLY)
    assert run.report.split == "test" and run.report.queries == len(test)


def test_slices_report_their_own_figures_and_null_where_they_do_not_apply(encoder):
    run = evaluate(
        encoder, SMALL_BANK, SPLIT_EVAL, Thresholds(0.95, 0.9), fusion=Fusion(0.1, 0.2), split="all"
    )
    slices = {name: asdict(s) for name, s in run.report.slices.items()}
    assert set(slices) == {"colloquial", "singlish", "short", "ood", "chit_chat"}
    assert all(set(s) == SLICE_KEYS for s in slices.values())
    assert slices["ood"]["acc_at_1"] is None and slices["ood"]["ood_rejection"] is not None
    assert slices["colloquial"]["ood_rejection"] is None
    assert slices["chit_chat"]["chit_chat_handled"] is not None
    assert sum(s["queries"] for s in slices.values()) == run.report.queries
    assert run.report.lexical_weight == 0.2


def test_an_answer_list_counts_either_answer_as_right(encoder, tmp_path):
    queries = tmp_path / "q.jsonl"
    soaking = "බීජ වී අවම වශයෙන් පැය 24 ක් පිරිසිදු වතුරේ පොඟවා, පසුව පැය 48 ක් පමණ උණුසුම් තැනක පැළ වීමට තබන්න."
    harvest = "කරලේ ඇට වලින් 80-85% ක් පිදුරු පැහැයට හැරුණු විට, මල් පිපී දින 30 ක් පමණ ගතවූ පසු අස්වනු නෙළන්න."
    line = {"query": "බිත්තර වී පොඟවන්නේ පැය කීයක්ද", "answer": [harvest, soaking]}
    queries.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    run = evaluate(encoder, SMALL_BANK, queries, Thresholds(0.9, 0.85))
    assert run.report.acc_at_1 == 1.0
