from __future__ import annotations

import dataclasses

import pytest

from bot.retrieval.decision import Thresholds
from bot.service.evaluation import EvalReport
from bot.training.promotion import judge
from bot.training.scoring import HeldOutReport, ModelScores, side_by_side


def scores(mrr: float, acc: float = 0.8, precision: float = 0.95, ood: float = 0.95):
    report = EvalReport(
        queries=100,
        in_domain=80,
        ood=20,
        acc_at_1=acc,
        mrr_at_10=0.9,
        answered_precision=precision,
        coverage=0.5,
        ood_rejection=ood,
        answer_threshold=0.9,
        suggest_threshold=0.85,
        model="m",
        seconds=1.0,
    )
    heldout = HeldOutReport(queries=10, corpus=40, accuracy_at_1=0.7, mrr_at_10=mrr, ndcg_at_10=0.8)
    return ModelScores("m", heldout, report, Thresholds(0.9, 0.85))


def test_better_heldout_mrr_with_steady_eval_figures_is_promoted():
    judgement = judge(scores(0.80), scores(0.85, acc=0.795, precision=0.941, ood=0.95))
    assert judgement.promote, judgement.reasons


def test_unchanged_heldout_mrr_is_refused():
    judgement = judge(scores(0.80), scores(0.80))
    assert not judgement.promote
    assert "held-out MRR@10 did not improve" in judgement.reasons[0]


@pytest.mark.parametrize("figure", ["acc_at_1", "answered_precision", "ood_rejection"])
def test_an_eval_figure_dropping_more_than_a_point_is_refused(figure):
    after = scores(0.9)
    worse = dataclasses.replace(after.eval, **{figure: getattr(after.eval, figure) - 0.011})
    judgement = judge(scores(0.8), dataclasses.replace(after, eval=worse))
    assert not judgement.promote
    assert judgement.reasons == [
        f"eval {figure} dropped 1.1 points: "
        f"{getattr(after.eval, figure)} → {getattr(worse, figure)}"
    ]


def test_no_heldout_queries_means_no_promotion():
    judgement = judge(dataclasses.replace(scores(0.8), heldout=None), scores(0.9))
    assert not judgement.promote and "no held-out queries" in judgement.reasons[0]


def test_side_by_side_shows_each_figure_and_its_change():
    table = side_by_side(scores(0.8), scores(0.85, acc=0.9))
    assert "held-out mrr_at_10" in table and "+5.0" in table
    assert "dev acc_at_1" in table and "+10.0" in table
