"""One bad question, one refused record, a hostile text: each costs only itself, and every
question is logged exactly once (in the database, or the journal, or the dead letters)."""

from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy import event, exc, func, select

from bot.retrieval.decision import Decision
from bot.service.answering import Question
from bot.storage import queue
from bot.storage.models import QuestionLog
from tests.service.test_answering import SOAKING

BAD = "මේක කේතයට අමාරුයි"
GOOD = [SOAKING, "වී අස්වනු නෙළන්නේ කවදාද?", "පොල් ගස් වලට පොහොර දාන්නේ කොහොමද?"]


def logged(services) -> list[QuestionLog]:
    with services.session_factory() as session:
        return list(session.scalars(select(QuestionLog).order_by(QuestionLog.id)))


def test_one_bad_text_costs_only_its_own_answer(services):
    state = services.answerer.state
    encoder = state.encoder

    class Fussy(type(encoder)):  # type: ignore[misc]
        def encode_queries(self, texts, *args, **kwargs):  # type: ignore[no-untyped-def]
            if any(BAD in text for text in texts):
                raise RuntimeError("the encoder chokes on this text")
            return super().encode_queries(texts, *args, **kwargs)

    fussy = Fussy.__new__(Fussy)
    fussy.__dict__.update(encoder.__dict__)
    services.answerer.swap(replace(state, encoder=fussy))
    alone = [services.answerer.answer(Question(text)) for text in GOOD]
    before = len(logged(services))

    questions = [Question(text, chat_id=n) for n, text in enumerate(GOOD)]
    replies = services.answerer.answer_many([*questions, Question(BAD, chat_id=9)])
    assert [r.decision for r in replies[:3]] == [r.decision for r in alone]
    pairs = [r.candidates[0].pair_id for r in replies[:3]]
    assert pairs == [a.candidates[0].pair_id for a in alone]
    assert replies[3].failed and replies[3].decision is Decision.DECLINE
    assert replies[3].queue_id is not None and not replies[3].journaled
    rows = [(r.chat_id, r.raw_text) for r in logged(services)[before:]]
    assert rows == [(0, GOOD[0]), (1, GOOD[1]), (2, GOOD[2]), (9, BAD)]
    assert services.journal.pending() == []


def test_a_record_the_database_refuses_is_journaled_once_then_dead_lettered(services):
    def refuse_one(conn, cursor, statement, parameters, *args):  # type: ignore[no-untyped-def]
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        if statement.startswith("INSERT INTO questions") and any(
            isinstance(v, str) and BAD in v for v in values
        ):
            raise exc.DataError(statement, parameters, Exception("invalid byte sequence"))

    event.listen(services.engine, "before_cursor_execute", refuse_one)
    try:
        questions = [Question(text, chat_id=n) for n, text in enumerate([*GOOD, BAD])]
        replies = services.answerer.answer_many(questions)
        assert [r.journaled for r in replies] == [False, False, False, True]
        assert [r.question_id is not None for r in replies] == [True, True, True, False]
        [waiting] = services.journal.pending()
        assert waiting.client_ref == questions[3].ref

        assert services.answerer.replay_journal() == 0  # refused for its content: not retried
    finally:
        event.remove(services.engine, "before_cursor_execute", refuse_one)
    assert services.journal.pending() == []
    [dead] = services.journal.dead_letters.read_text(encoding="utf-8").splitlines()
    assert json.loads(dead)["raw_text"] == BAD
    assert len(logged(services)) == 3


def test_a_question_journaled_twice_is_written_once(services):
    question = Question("පොල් ගස් වලට පොහොර දාන්නේ කොහොමද?", chat_id=7)
    services.journal.append(question.record())
    services.journal.append(question.record())  # a retry after a half-done failure
    assert len(services.journal.pending()) == 1
    assert services.answerer.replay_journal() == 1
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(QuestionLog)) == 1
        assert len(queue.list_open(session)) == 1


def test_hostile_text_is_cleaned_at_the_door_and_logs_on_every_database(services):
    """NUL failed PostgreSQL's log (and was replayed forever); lone surrogates cannot be
    written as UTF-8; anything past Telegram's 4,096 characters is not processed."""
    question = Question("වී\x00 බීජ \ud800 " + "අ" * 5000, chat_id=8)
    assert "\x00" not in question.text and "\ufffd" in question.text
    assert len(question.text) == 4096
    reply = services.answerer.answer(question)
    assert reply.question_id is not None and not reply.journaled
    [row] = logged(services)
    assert row.raw_text == question.text


def test_an_officer_answers_a_question_longer_than_the_key_columns(services):
    """Keys are 1,000 characters; /answer on a 1,600-character question failed on PostgreSQL."""
    long_question = ("මගේ කුඹුරේ ගොයම කහ පාට වෙලා, " * 80)[:1600]
    reply = services.answerer.answer(Question(long_question, chat_id=11))
    assert reply.queue_id is not None
    note = services.reviewer.answer(reply.queue_id, "ප්‍රාදේශීය කෘෂිකර්ම උපදේශකට කතා කරන්න.", admin_id=1)
    assert note.chat_id == 11 and services.bank.get(note.pair_id).question == long_question
