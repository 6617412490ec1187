from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.storage.journal import QuestionJournal
from bot.storage.models import (
    FarmerProfile,
    Feedback,
    FeedbackKind,
    QuestionLog,
    QueueStatus,
    UnansweredQuestion,
)
from bot.storage.privacy import forget_user, purge_older_than
from bot.storage.questions import QuestionRecord

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=365)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=10)


def ask(session, chat: int, at: datetime, text: str = "ප්‍රශ්නය") -> QuestionLog:
    question = QuestionLog(
        chat_id=chat,
        user_id=chat,
        raw_text=text,
        normalized_text=text,
        decision="decline",
        asked_at=at,
    )
    session.add(question)
    session.flush()
    return question


def react(session, question: QuestionLog | None, at: datetime, chat: int = 0) -> Feedback:
    feedback = Feedback(
        question_id=question.id if question else None,
        chat_id=question.chat_id if question else chat,
        user_id=question.chat_id if question else chat,
        kind=FeedbackKind.HELPFUL,
        created_at=at,
    )
    session.add(feedback)
    session.flush()
    return feedback


def queue(session, question: QuestionLog | None, at: datetime, status: QueueStatus, chat: int = 0):
    item = UnansweredQuestion(
        question_id=question.id if question else None,
        chat_id=question.chat_id if question else chat,
        user_id=question.chat_id if question else chat,
        text="ප්‍රශ්නය",
        normalized_text="ප්‍රශ්නය",
        status=status,
        created_at=at,
    )
    session.add(item)
    session.flush()
    return item


def profile(session, chat: int, at: datetime) -> None:
    session.add(
        FarmerProfile(chat_id=chat, user_id=chat, district="colombo", zone="wet", updated_at=at)
    )
    session.flush()


def ids(session, model) -> set[int]:
    key = model.chat_id if model is FarmerProfile else model.id
    return set(session.scalars(select(key)))


def test_purge_deletes_what_is_older_than_the_cutoff_and_keeps_open_questions(session):
    # chat 1 stopped using the bot long ago
    q1 = ask(session, 1, OLD)
    react(session, q1, OLD)
    queue(session, q1, OLD, QueueStatus.ANSWERED)
    q2 = ask(session, 1, OLD)
    react(session, q2, RECENT)  # pressed late: goes with its question
    profile(session, 1, OLD)
    # chat 2's old question still waits for an officer
    q3 = ask(session, 2, OLD)
    f3, u3 = react(session, q3, OLD), queue(session, q3, OLD, QueueStatus.OPEN)
    profile(session, 2, OLD)
    # chat 3 is active
    q4 = ask(session, 3, RECENT)
    f4, u4 = react(session, q4, RECENT), queue(session, q4, RECENT, QueueStatus.DISMISSED)
    q5 = ask(session, 3, OLD)
    queue(session, q5, RECENT, QueueStatus.LINKED)  # queued late, closed: goes with q5
    q6 = ask(session, 3, CUTOFF + timedelta(minutes=1))
    profile(session, 3, OLD)  # set long ago, but the farmer asked since
    profile(session, 4, RECENT)
    # rows that point at no question
    react(session, None, OLD, chat=5)
    queue(session, None, OLD, QueueStatus.DISMISSED, chat=5)
    u8 = queue(session, None, OLD, QueueStatus.OPEN, chat=5)
    session.commit()

    counts = purge_older_than(session, CUTOFF)
    session.commit()

    assert counts == {"feedback": 3, "unanswered": 3, "questions": 3, "farmer_profiles": 2}
    assert ids(session, QuestionLog) == {q3.id, q4.id, q6.id}
    assert ids(session, Feedback) == {f3.id, f4.id}
    assert ids(session, UnansweredQuestion) == {u3.id, u4.id, u8.id}
    assert ids(session, FarmerProfile) == {3, 4}
    assert session.get(UnansweredQuestion, u3.id).question_id == q3.id  # still quotable
    assert purge_older_than(session, CUTOFF) == dict.fromkeys(counts, 0)


def test_forget_user_deletes_their_rows_in_every_table_once(session):
    mine = ask(session, 10, RECENT)
    react(session, mine, RECENT)
    queue(session, mine, RECENT, QueueStatus.OPEN)
    queue(session, ask(session, 10, OLD), OLD, QueueStatus.DISMISSED)
    profile(session, 10, RECENT)
    theirs = ask(session, 11, RECENT)
    react(session, theirs, RECENT)
    queue(session, theirs, RECENT, QueueStatus.OPEN)
    profile(session, 11, RECENT)
    session.commit()

    counts = forget_user(session, 10, 10)
    session.commit()

    assert counts == {"feedback": 1, "unanswered": 2, "questions": 2, "farmer_profiles": 1}
    for model in (QuestionLog, Feedback, UnansweredQuestion, FarmerProfile):
        assert set(session.scalars(select(model.chat_id))) == {11}, model
    assert forget_user(session, 10, 10) == dict.fromkeys(counts, 0)


def test_journal_drops_one_chats_records_and_dead_letters(tmp_path):
    journal = QuestionJournal(tmp_path / "pending-questions.jsonl")

    def record(chat: int) -> QuestionRecord:
        return QuestionRecord("q", "q", "decline", [], None, None, chat_id=chat, user_id=chat)

    for chat in (1, 2, 1):
        journal.append(record(chat))
    with journal.path.open("a", encoding="utf-8") as handle:
        handle.write('{"raw_text": "cut short\n')
    journal.dead_letters.write_text(
        json.dumps(record(1).to_json()) + "\n" + json.dumps(record(2).to_json()) + "\n",
        encoding="utf-8",
    )

    assert journal.drop_chat(1, 1) == 3
    assert [r.chat_id for r in journal.pending()] == [2]
    assert "cut short" in journal.path.read_text(encoding="utf-8")
    [dead] = journal.dead_letters.read_text(encoding="utf-8").splitlines()
    assert json.loads(dead)["chat_id"] == 2
    assert journal.drop_chat(1, 1) == 0
