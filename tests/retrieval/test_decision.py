from __future__ import annotations

import pytest

from bot.retrieval.decision import Decision, ScoredQuery, Thresholds, calibrate, decide
from bot.retrieval.index import Match

THRESHOLDS = Thresholds(answer=0.9, suggest=0.8)


@pytest.mark.parametrize(
    ("score", "decision"),
    [
        (0.95, Decision.ANSWER),
        (0.9, Decision.ANSWER),
        (0.85, Decision.SUGGEST),
        (0.8, Decision.SUGGEST),
        (0.79, Decision.DECLINE),
    ],
)
def test_thresholds_split_answer_suggest_decline(score, decision):
    assert decide([Match(1, score), Match(2, 0.1)], THRESHOLDS) is decision


def test_no_matches_is_declined():
    assert decide([], THRESHOLDS) is Decision.DECLINE


def test_suggest_above_answer_is_refused():
    with pytest.raises(ValueError):
        Thresholds(answer=0.8, suggest=0.9)


def test_calibrate_picks_the_lowest_threshold_meeting_the_precision():
    scored = [ScoredQuery(s, True) for s in (0.99, 0.97, 0.95, 0.93)]
    scored += [ScoredQuery(0.92, None), ScoredQuery(0.91, False), ScoredQuery(0.90, True)]
    scored += [ScoredQuery(0.85, None), ScoredQuery(0.80, True)]
    thresholds = calibrate(scored, target_precision=0.85)
    # down to 0.92 answers an out-of-domain query: 4 right of 5 (0.8); 0.93 gives 4 of 4.
    assert thresholds.answer == 0.93
    assert thresholds.suggest <= thresholds.answer
    answered = [q for q in scored if q.score >= thresholds.answer]
    assert sum(bool(q.correct) for q in answered) / len(answered) >= 0.85


def test_a_close_runner_up_turns_an_answer_into_did_you_mean():
    thresholds = Thresholds(answer=0.9, suggest=0.8, margin=0.03)
    assert decide([Match(1, 0.95), Match(2, 0.93)], thresholds) is Decision.SUGGEST
    assert decide([Match(1, 0.95), Match(2, 0.91)], thresholds) is Decision.ANSWER
    assert decide([Match(1, 0.95)], thresholds) is Decision.ANSWER


def test_the_wilson_bound_is_stricter_on_fewer_queries():
    from bot.retrieval.decision import wilson_lower_bound

    assert wilson_lower_bound(19, 20, 0) == 0.95
    assert wilson_lower_bound(19, 20, 1.28) < wilson_lower_bound(190, 200, 1.28) < 0.95
    assert wilson_lower_bound(0, 0, 1.28) == 0.0


def test_calibrating_with_a_margin_answers_more_at_the_same_precision():
    from bot.retrieval.decision import calibrate_with_margin, coverage

    # right answers win clearly; wrong ones are close calls at the same scores
    scored = [ScoredQuery(0.9 - i * 0.002, True, runner_up=0.7) for i in range(40)]
    scored += [ScoredQuery(0.89 - i * 0.01, False, runner_up=0.88 - i * 0.01) for i in range(10)]
    plain = calibrate(scored, 0.95)
    chosen = calibrate_with_margin(scored, 0.95)
    assert chosen.margin > 0
    assert coverage(scored, chosen) > coverage(scored, plain)
    answered = [q for q in scored if q.score >= chosen.answer and q.passes_margin(chosen.margin)]
    assert sum(bool(q.correct) for q in answered) / len(answered) >= 0.95


def test_the_out_of_domain_floor_keeps_neighbouring_crops_unanswered():
    # 300 paddy questions right from 0.95 down to 0.65; 200 coconut and tea questions,
    # five of them scoring 0.80-0.84 like paddy ones: too few to spoil the precision.
    scored = [ScoredQuery(0.95 - i * 0.001, True) for i in range(300)]
    scored += [ScoredQuery(0.84 - i * 0.01, None) for i in range(5)]
    scored += [ScoredQuery(0.5, None) for _ in range(195)]
    plain = calibrate(scored, 0.95, confidence_z=1.28)
    floored = calibrate(scored, 0.95, confidence_z=1.28, ood_rejection=0.97)

    def rejected(thresholds: Thresholds) -> float:
        ood = [q for q in scored if q.correct is None]
        return sum(q.score < thresholds.answer for q in ood) / len(ood)

    assert plain.answer < 0.80  # precision alone answers all five
    assert rejected(plain) < 0.98
    assert floored.answer > plain.answer
    assert rejected(floored) >= 0.99  # the interval's lower end reaches 0.97
    assert floored.suggest <= floored.answer


def test_a_floor_of_one_keeps_every_off_topic_query_unanswered():
    scored = [ScoredQuery(0.95 - i * 0.01, True) for i in range(20)] + [ScoredQuery(0.9, None)]
    assert calibrate(scored, 0.9).answer < 0.9  # 19 of 20 is precision enough
    assert calibrate(scored, 0.9, ood_rejection=1.0).answer > 0.9


def test_small_talk_does_not_count_towards_the_out_of_domain_floor():
    # "thanks" scoring 0.85 against a pair is caught as small talk before it is answered
    scored = [ScoredQuery(0.95 - i * 0.001, True) for i in range(300)]
    scored += [ScoredQuery(0.85 - i * 0.01, None, small_talk=True) for i in range(5)]
    scored += [ScoredQuery(0.5, None) for _ in range(195)]
    floored = calibrate(scored, 0.95, confidence_z=1.28, ood_rejection=0.97)
    assert floored.answer < 0.80
    assert floored == calibrate(scored, 0.95, confidence_z=1.28)


def test_too_few_off_topic_queries_to_judge_leave_the_threshold_to_precision():
    # 20 off-topic queries cannot show 0.97 at 90% confidence even all unanswered (0.92):
    # a small eval file must not make a model answer nothing.
    scored = [ScoredQuery(0.95 - i * 0.005, True) for i in range(60)]
    scored += [ScoredQuery(0.96, None)] + [ScoredQuery(0.3, None) for _ in range(19)]
    floored = calibrate(scored, 0.9, confidence_z=1.28, ood_rejection=0.97)
    assert floored == calibrate(scored, 0.9, confidence_z=1.28)
    assert floored.answer < 0.95
