"""Farmers' reactions to replies: 👍/👎, a chosen "did you mean" suggestion, or none of them.

Sync functions for a worker thread. A question is referred to by its log id or, when the
database was down as it was asked, by the journal's `client_ref`; such a question is
replayed from the journal first, so a press on its buttons still lands on it.

Button data comes from the client, so every press is checked against what the question's
own chat was actually offered, and a choice is taken once: a forged or repeated press
raises PressRefused and writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import PressRefused
from bot.retrieval.decision import SUGGESTION_COUNT, Decision
from bot.service.answering import Reply
from bot.service.bank_admin import PairView
from bot.service.runtime import Services
from bot.storage import bank, queue
from bot.storage.models import (
    Feedback,
    FeedbackKind,
    QuestionLog,
    QueueKind,
    QueueStatus,
    UnansweredQuestion,
)
from bot.storage.questions import enqueue, get_question, record_feedback

logger = logging.getLogger(__name__)

SUGGESTION_ORIGIN = "suggestion"
SUGGESTION_OUTCOMES = (FeedbackKind.CHOSE_SUGGESTION, FeedbackKind.REJECTED_SUGGESTIONS)


@dataclass(frozen=True)
class QuestionRef:
    """Which logged question a button belongs to: its id, or its journal reference."""

    question_id: int | None = None
    client_ref: str | None = None

    @classmethod
    def of(cls, reply: Reply) -> QuestionRef:
        if reply.question_id is not None:
            return cls(question_id=reply.question_id)
        return cls(client_ref=reply.client_ref or None)


def find_question(services: Services, ref: QuestionRef, chat_id: int) -> QuestionLog:
    """The chat's own logged question, replaying the journal once if it is still there.

    Raises PressRefused for an unknown question or another chat's: one farmer must not
    act on another's question.
    """
    with services.session_factory() as session:
        found = _lookup(session, ref)
    if found is None and ref.client_ref:
        services.answerer.replay_journal()
        with services.session_factory() as session:
            found = _lookup(session, ref)
    if found is None:
        raise PressRefused(f"chat {chat_id} pressed a button of unknown question {ref}")
    if found.chat_id != chat_id:
        raise PressRefused(f"chat {chat_id} pressed a button of another chat's question {found.id}")
    return found


def answered_pair(session: Session, log: QuestionLog) -> int | None:
    """The pair whose answer this question got: the bot's own answer, or the farmer's
    "did you mean" choice."""
    if log.decision == Decision.ANSWER and log.candidates:
        return int(log.candidates[0]["pair_id"])
    if log.decision == Decision.SUGGEST:
        return session.scalar(
            select(Feedback.pair_id).where(
                Feedback.question_id == log.id, Feedback.kind == FeedbackKind.CHOSE_SUGGESTION
            )
        )
    return None


def officer_pair(session: Session, log: QuestionLog) -> int | None:
    """The pair an officer answered this question with (by /answer or /link), if any."""
    return session.scalar(
        select(UnansweredQuestion.pair_id).where(
            UnansweredQuestion.question_id == log.id,
            UnansweredQuestion.status.in_([QueueStatus.ANSWERED, QueueStatus.LINKED]),
        )
    )


def check_answered(services: Services, ref: QuestionRef, pair_id: int | None, chat_id: int) -> None:
    """Raise PressRefused unless this chat's question was answered with `pair_id`."""
    log = find_question(services, ref, chat_id)
    with services.session_factory() as session:
        _check_answered_with(session, log, pair_id)


def record_answer_feedback(
    services: Services,
    ref: QuestionRef,
    pair_id: int | None,
    *,
    helpful: bool,
    chat_id: int,
    user_id: int | None,
) -> None:
    """Store a 👍 or 👎 on the answer the question got; a second press replaces the first.
    A 👎 puts the question in the officers' queue; a 👍 after it takes it out again."""
    log = find_question(services, ref, chat_id)
    kind = FeedbackKind.HELPFUL if helpful else FeedbackKind.NOT_HELPFUL
    with services.session_factory() as session:
        pair_id = _check_answered_with(session, log, pair_id)
        record_feedback(
            session, kind, question_id=log.id, pair_id=pair_id, chat_id=chat_id, user_id=user_id
        )
        if helpful:
            queue.withdraw_feedback(session, log.id)
        else:  # officers see the answer that did not help, to fix the pair or link elsewhere
            item = enqueue(
                session, session.merge(log), kind=QueueKind.FEEDBACK, given_pair_id=pair_id
            )
            queue.reopen_withdrawn(session, item)
        session.commit()
    logger.info("feedback %s on question %d, pair %d", kind, log.id, pair_id)


def choose_suggestion(
    services: Services,
    ref: QuestionRef,
    pair_id: int,
    *,
    chat_id: int,
    user_id: int | None,
) -> PairView:
    """The chosen pair; the choice is stored and the farmer's wording waits for an officer's
    approval to become its phrasing.

    Raises PressRefused unless `pair_id` was among this question's suggestions and no
    choice was made yet; PairNotFound if the pair was deleted since they were shown.
    """
    log = find_question(services, ref, chat_id)
    with services.session_factory() as session:
        _check_open_offer(session, log)
        if pair_id not in offered_pairs(log):
            raise PressRefused(f"pair {pair_id} was not offered for question {log.id}")
        pair = bank.get_pair(session, pair_id)
        record_feedback(
            session,
            FeedbackKind.CHOSE_SUGGESTION,
            question_id=log.id,
            pair_id=pair.id,
            chat_id=chat_id,
            user_id=user_id,
        )
        session.commit()
    logger.info("question %d linked to pair %d by the farmer's choice", log.id, pair_id)
    # the wording waits for an officer (/pending) before it is indexed or trained on
    services.bank.add_pending_phrasing(pair_id, log.raw_text, origin=SUGGESTION_ORIGIN)
    return services.bank.get(pair_id)


def reject_suggestions(
    services: Services, ref: QuestionRef, *, chat_id: int, user_id: int | None
) -> int:
    """ "None of these": store the rejection and queue the question; returns the queue id."""
    log = find_question(services, ref, chat_id)
    with services.session_factory() as session:
        _check_open_offer(session, log)
        record_feedback(
            session,
            FeedbackKind.REJECTED_SUGGESTIONS,
            question_id=log.id,
            pair_id=None,
            chat_id=chat_id,
            user_id=user_id,
        )
        queue_id = enqueue(session, session.merge(log)).id
        session.commit()
    return queue_id


def offered_pairs(log: QuestionLog) -> list[int]:
    """The pairs a "did you mean" question showed, in order."""
    return [int(c["pair_id"]) for c in (log.candidates or [])[:SUGGESTION_COUNT]]


def _check_answered_with(session: Session, log: QuestionLog, pair_id: int | None) -> int:
    if pair_id is None or pair_id not in (answered_pair(session, log), officer_pair(session, log)):
        raise PressRefused(f"question {log.id} was not answered with pair {pair_id}")
    return pair_id


def _check_open_offer(session: Session, log: QuestionLog) -> None:
    if log.decision != Decision.SUGGEST:
        raise PressRefused(f"question {log.id} was not offered suggestions")
    taken = session.scalar(
        select(Feedback.kind)
        .where(Feedback.question_id == log.id, Feedback.kind.in_(SUGGESTION_OUTCOMES))
        .limit(1)
    )
    if taken is not None:
        raise PressRefused(f"question {log.id}'s suggestions were already answered ({taken})")


def _lookup(session: Session, ref: QuestionRef) -> QuestionLog | None:
    if ref.question_id is not None:
        return get_question(session, ref.question_id)
    if ref.client_ref:
        return session.scalar(select(QuestionLog).where(QuestionLog.client_ref == ref.client_ref))
    return None
