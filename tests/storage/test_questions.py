from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.retrieval.decision import Decision
from bot.storage import bank, queue
from bot.storage.journal import QuestionJournal
from bot.storage.models import FeedbackKind, UnansweredQuestion, utcnow
from bot.storage.questions import QuestionRecord, record_feedback, record_question
from bot.storage.stats import compute_stats, top_unanswered


def record(decision: Decision, text: str = "ප්‍රශ්නය", **kwargs) -> QuestionRecord:
    return QuestionRecord(
        raw_text=text,
        normalized_text=text,
        decision=decision.value,
        candidates=kwargs.pop("candidates", []),
        latency_ms=12.5,
        model_id="test-model",
        chat_id=kwargs.pop("chat_id", 42),
        user_id=7,
        **kwargs,
    )


def test_declined_question_is_logged_and_queued(session):
    done = record_question(session, record(Decision.DECLINE, "පොල් ගස් වලට පොහොර"))
    session.commit()
    assert done.queue_id is not None
    [item] = queue.list_open(session)
    assert (item.id, item.text, item.chat_id) == (done.queue_id, "පොල් ගස් වලට පොහොර", 42)


def test_answered_question_is_logged_with_its_top_pair_but_not_queued(session):
    pair = bank.add_pair(session, "ප්‍රශ්නය", "පිළිතුර")
    done = record_question(
        session, record(Decision.ANSWER, candidates=[{"pair_id": pair.id, "score": 0.95}])
    )
    session.commit()
    assert done.queue_id is None
    from bot.storage.questions import get_question

    log = get_question(session, done.question_id)
    assert (log.top_pair_id, log.top_score, log.decision) == (pair.id, 0.95, "answer")


def test_recording_the_same_record_twice_writes_it_once(session):
    rec = record(Decision.DECLINE)
    first = record_question(session, rec)
    second = record_question(session, rec)
    session.commit()
    assert first == second
    assert queue.count_open(session) == 1


def test_a_second_feedback_press_replaces_the_first(session):
    done = record_question(session, record(Decision.ANSWER))
    record_feedback(session, FeedbackKind.HELPFUL, question_id=done.question_id, pair_id=None)
    record_feedback(session, FeedbackKind.NOT_HELPFUL, question_id=done.question_id, pair_id=None)
    session.commit()
    stats = compute_stats(session)
    assert (stats.helpful, stats.not_helpful) == (0, 1)


def test_stats_count_decisions_and_frequent_unanswered(session):
    for decision in (Decision.ANSWER, Decision.ANSWER, Decision.SUGGEST):
        record_question(session, record(decision))
    for _ in range(3):
        record_question(session, record(Decision.DECLINE, "තේ වගාව"))
    record_question(session, record(Decision.DECLINE, "පොල් වගාව"))
    old = record(Decision.ANSWER, asked_at=(utcnow() - timedelta(days=9)).isoformat())
    record_question(session, old)
    session.commit()
    stats = compute_stats(session)
    assert stats.week == 7
    assert stats.decisions == {"answer": 2, "suggest": 1, "decline": 4}
    assert stats.top_unanswered[0] == ("තේ වගාව", 3)
    assert round(stats.share(Decision.DECLINE), 3) == round(4 / 7, 3)

    # The desk's 7/30/90-day views count only what was queued in that time.
    earlier = session.scalars(
        select(UnansweredQuestion).where(UnansweredQuestion.text == "තේ වගාව")
    ).first()
    earlier.created_at = utcnow() - timedelta(days=40)
    session.commit()
    assert top_unanswered(session)[0] == ("තේ වගාව", 3)
    month = top_unanswered(session, since=utcnow() - timedelta(days=30))
    assert month == [("තේ වගාව", 2), ("පොල් වගාව", 1)]


def test_journal_keeps_records_until_replayed(session_factory, tmp_path):
    journal = QuestionJournal(tmp_path / "pending.jsonl")
    first, second = record(Decision.DECLINE, "අ"), record(Decision.ANSWER, "ආ")
    journal.append(first)
    journal.append(second)
    with journal.path.open("a", encoding="utf-8") as handle:
        handle.write('{"raw_text": "cut short')  # a crash mid-write
    assert [r.raw_text for r in journal.pending()] == ["අ", "ආ"]

    def write(rec: QuestionRecord):
        with session_factory() as session:
            done = record_question(session, rec)
            session.commit()
            return done

    assert journal.replay(write) == 2
    assert journal.pending() == []
    assert journal.replay(write) == 0
    with session_factory() as session:
        assert queue.count_open(session) == 1


def test_stats_flag_pairs_whose_review_date_has_passed(session):
    from datetime import date

    from bot.storage.importer import VariantRow
    from bot.telegram.texts import stats_report

    fresh = bank.add_pair(session, "සහනාධාරය කීයද?", "රු. 25,000", review_by=date(2099, 1, 1))
    stale = bank.add_pair(session, "සහතික මිල කීයද?", "රු. 120", review_by=date(2026, 4, 30))
    zoned = bank.add_pair(
        session,
        "යූරියා කීයද?",
        "කලාපය අනුව.",
        variants=[VariantRow(0, "dry", "AI අහන්න.", review_by=date(2026, 3, 31))],
    )
    session.commit()
    stats = compute_stats(session, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert stats.stale_pairs == [stale.id, zoned.id] and fresh.id not in stats.stale_pairs
    assert f"#{stale.id}, #{zoned.id}" in stats_report(stats)
