"""Farmers' reactions to replies: 👍/👎, a chosen "did you mean" suggestion, or none of them.

Sync functions for a worker thread. A question is referred to by its log id or, when the
database was down as it was asked, by the journal's `client_ref`; such a question is
replayed from the journal first, so a press on its buttons still lands on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.service.answering import Reply
from bot.service.bank_admin import PairView
from bot.service.runtime import Services
from bot.storage import bank
from bot.storage.models import Feedback, FeedbackKind, QAPair, QuestionLog
from bot.storage.questions import enqueue, get_question, record_feedback

logger = logging.getLogger(__name__)

SUGGESTION_ORIGIN = "suggestion"


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


def find_question(
    services: Services, ref: QuestionRef, chat_id: int | None = None
) -> QuestionLog | None:
    """The logged question, replaying the journal once if it is still waiting there.

    With `chat_id`, a question asked in another chat counts as not found: button data
    comes from the client, and one farmer must not act on another's question.
    """
    with services.session_factory() as session:
        found = _lookup(session, ref)
    if found is None and ref.client_ref:
        services.answerer.replay_journal()
        with services.session_factory() as session:
            found = _lookup(session, ref)
    if found is not None and chat_id is not None and found.chat_id not in (None, chat_id):
        logger.warning("chat %s pressed a button of another chat's question %d", chat_id, found.id)
        return None
    return found


def record_answer_feedback(
    services: Services,
    ref: QuestionRef,
    pair_id: int | None,
    *,
    helpful: bool,
    chat_id: int | None,
    user_id: int | None,
) -> None:
    """Store a 👍 or 👎; a second press on the same answer replaces the first."""
    log = find_question(services, ref, chat_id)
    kind = FeedbackKind.HELPFUL if helpful else FeedbackKind.NOT_HELPFUL
    with services.session_factory() as session:
        record_feedback(
            session,
            kind,
            question_id=log.id if log else None,
            pair_id=_existing_pair(session, pair_id),
            chat_id=chat_id,
            user_id=user_id,
        )
        session.commit()
    logger.info("feedback %s on question %s, pair %s", kind, log.id if log else ref, pair_id)


def choose_suggestion(
    services: Services,
    ref: QuestionRef,
    pair_id: int,
    *,
    chat_id: int | None,
    user_id: int | None,
) -> PairView:
    """The chosen pair; the choice is stored and the farmer's wording becomes its phrasing.

    Raises PairNotFound if the pair was deleted since the suggestions were shown.
    """
    log = find_question(services, ref, chat_id)
    with services.session_factory() as session:
        pair = bank.get_pair(session, pair_id)
        if not _already(session, log, FeedbackKind.CHOSE_SUGGESTION):
            record_feedback(
                session,
                FeedbackKind.CHOSE_SUGGESTION,
                question_id=log.id if log else None,
                pair_id=pair.id,
                chat_id=chat_id,
                user_id=user_id,
            )
        session.commit()
    if log is None:
        return services.bank.get(pair_id)
    logger.info("question %d linked to pair %d by the farmer's choice", log.id, pair_id)
    return services.bank.add_phrasing(pair_id, log.raw_text, origin=SUGGESTION_ORIGIN)


def reject_suggestions(
    services: Services, ref: QuestionRef, *, chat_id: int | None, user_id: int | None
) -> int | None:
    """ "None of these": store the rejection and queue the question; returns the queue id."""
    log = find_question(services, ref, chat_id)
    with services.session_factory() as session:
        if not _already(session, log, FeedbackKind.REJECTED_SUGGESTIONS):
            record_feedback(
                session,
                FeedbackKind.REJECTED_SUGGESTIONS,
                question_id=log.id if log else None,
                pair_id=None,
                chat_id=chat_id,
                user_id=user_id,
            )
        queue_id = enqueue(session, session.merge(log)).id if log else None
        session.commit()
    if queue_id is None:
        logger.error("suggestions rejected for question %s, which is not logged", ref)
    return queue_id


def _lookup(session: Session, ref: QuestionRef) -> QuestionLog | None:
    if ref.question_id is not None:
        return get_question(session, ref.question_id)
    if ref.client_ref:
        return session.scalar(select(QuestionLog).where(QuestionLog.client_ref == ref.client_ref))
    return None


def _already(session: Session, log: QuestionLog | None, kind: FeedbackKind) -> bool:
    if log is None:
        return False
    found = session.scalar(
        select(Feedback.id).where(Feedback.question_id == log.id, Feedback.kind == kind).limit(1)
    )
    return found is not None


def _existing_pair(session: Session, pair_id: int | None) -> int | None:
    return pair_id if pair_id is not None and session.get(QAPair, pair_id) else None
