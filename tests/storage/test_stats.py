"""Stats count Sri Lankan days: today, the week and the 30-day series start at midnight in
Colombo (18:30 UTC), and the most-👎 pairs come from farmers' presses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.retrieval.decision import Decision
from bot.storage import bank
from bot.storage.models import Feedback, FeedbackKind, QuestionLog
from bot.storage.stats import SERIES_DAYS, compute_stats, local_date
from bot.telegram.texts import stats_report

# 01:30 on 3 December in Colombo; Colombo midnight was 18:30 UTC on 2 December.
NOW = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)
TODAY = date(2026, 12, 3)


def utc(day: int, hour: int, minute: int, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def ask(session, at: datetime, decision: Decision = Decision.ANSWER) -> None:
    session.add(
        QuestionLog(raw_text="ප්‍රශ්නය", normalized_text="ප්‍රශ්නය", decision=decision, asked_at=at)
    )


def press(session, at: datetime, kind: FeedbackKind, pair_id: int | None = None) -> None:
    session.add(Feedback(pair_id=pair_id, kind=kind, created_at=at))


def test_a_naive_timestamp_is_read_as_utc():
    assert local_date(datetime(2026, 12, 2, 18, 29)) == date(2026, 12, 2)
    assert local_date(datetime(2026, 12, 2, 18, 31)) == date(2026, 12, 3)
    assert local_date(utc(2, 18, 31)) == date(2026, 12, 3)


def test_days_turn_at_colombo_midnight_not_utc_midnight(session):
    ask(session, utc(2, 18, 29))  # 23:59 on 2 December in Colombo
    ask(session, utc(2, 18, 31))  # 00:01 on 3 December: today
    ask(session, utc(2, 19, 59))
    ask(session, utc(26, 18, 29, month=11))  # 23:59 on 26 November: before the 7 days
    ask(session, utc(26, 18, 31, month=11))  # 00:01 on 27 November: the first of the 7
    ask(session, utc(3, 18, 29, month=11))  # 3 November in Colombo: before the 30 days
    ask(session, utc(3, 18, 31, month=11))  # 4 November: the first of the 30
    press(session, utc(2, 18, 29), FeedbackKind.HELPFUL)
    press(session, utc(2, 18, 31), FeedbackKind.NOT_HELPFUL)
    stale = bank.add_pair(session, "සහතික මිල කීයද?", "රු. 120", review_by=date(2026, 12, 2))
    session.commit()

    stats = compute_stats(session, now=NOW)
    assert (stats.today, stats.week) == (2, 4)  # by UTC days: 3 today, and 5 in 7 days
    assert stats.stale_pairs == [stale.id]  # 2 December has passed in Colombo already
    assert [day.day for day in stats.days] == [
        TODAY - timedelta(days=n) for n in range(SERIES_DAYS - 1, -1, -1)
    ]
    by_day = {day.day: day for day in stats.days}
    assert by_day[TODAY].questions == 2 and by_day[date(2026, 12, 2)].questions == 1
    assert by_day[date(2026, 11, 27)].questions == 1
    assert by_day[date(2026, 11, 26)].questions == 1
    assert stats.days[0].day == date(2026, 11, 4) and stats.days[0].questions == 1
    assert sum(day.questions for day in stats.days) == 6  # the 3 November one is left out
    assert (by_day[TODAY].helpful, by_day[TODAY].not_helpful) == (0, 1)
    assert (by_day[date(2026, 12, 2)].helpful, by_day[date(2026, 12, 2)].not_helpful) == (1, 0)


def test_the_daily_series_counts_decisions_answer_rate_and_thumbs(session):
    day = TODAY - timedelta(days=2)
    noon = datetime(day.year, day.month, day.day, 6, 30, tzinfo=UTC)  # 12:00 in Colombo
    for decision, times in (
        (Decision.ANSWER, 3),
        (Decision.SUGGEST, 1),
        (Decision.DECLINE, 2),
        (Decision.CHIT_CHAT, 4),
    ):
        for n in range(times):
            ask(session, noon + timedelta(minutes=n), decision)
    ask(session, noon - timedelta(days=1), Decision.CHIT_CHAT)  # small talk only
    for kind in (FeedbackKind.HELPFUL,) * 3 + (FeedbackKind.NOT_HELPFUL,):
        press(session, noon, kind)
    press(session, noon, FeedbackKind.CHOSE_SUGGESTION)  # not a 👍 or 👎
    session.commit()

    days = {d.day: d for d in compute_stats(session, now=NOW).days}
    busy, chatty, quiet = days[day], days[day - timedelta(days=1)], days[TODAY]
    assert busy.decisions == {"answer": 3, "suggest": 1, "decline": 2, "chit_chat": 4}
    assert busy.answer_rate == 3 / 6  # greetings and thanks left out
    assert (busy.helpful, busy.not_helpful, busy.helpful_ratio) == (3, 1, 0.75)
    assert chatty.questions == 1 and chatty.answer_rate is None
    assert quiet.decisions == {} and quiet.answer_rate is None and quiet.helpful_ratio is None


def test_pairs_with_the_most_thumbs_down_over_30_days(session):
    pairs = {
        name: bank.add_pair(session, f"ප්‍රශ්නය {name}?", f"උත්තරය {name}.")
        for name in ("a", "b", "c", "d", "e", "f", "g", "h", "i")
    }
    session.flush()
    recent, old = NOW - timedelta(days=3), NOW - timedelta(days=31)
    presses = {  # name: (👎, 👍)
        "a": (3, 1),
        "b": (3, 0),
        "c": (1, 5),
        "d": (0, 4),  # no 👎: not listed
        "g": (2, 0),
        "h": (1, 0),
        "i": (1, 0),
    }
    for name, (down, up) in presses.items():
        for _ in range(down):
            press(session, recent, FeedbackKind.NOT_HELPFUL, pairs[name].id)
        for _ in range(up):
            press(session, recent, FeedbackKind.HELPFUL, pairs[name].id)
    for _ in range(5):
        press(session, old, FeedbackKind.NOT_HELPFUL, pairs["e"].id)  # over 30 days ago
        press(session, recent, FeedbackKind.NOT_HELPFUL, pairs["f"].id)
    pairs["f"].active = False  # retired pairs are not listed
    session.commit()

    stats = compute_stats(session, now=NOW)
    listed = [(p.pair_id, p.not_helpful, p.helpful) for p in stats.most_disliked]
    ids = {name: pair.id for name, pair in pairs.items()}
    assert listed == [  # most 👎 first; on a tie, fewer 👍, then the older pair
        (ids["b"], 3, 0),
        (ids["a"], 3, 1),
        (ids["g"], 2, 0),
        (ids["h"], 1, 0),
        (ids["i"], 1, 0),
    ]
    assert stats.most_disliked[0].question == "ප්‍රශ්නය b?"
    assert f"#{ids['b']} ප්‍රශ්නය b? — 👎 3 / 👍 0" in stats_report(stats)
