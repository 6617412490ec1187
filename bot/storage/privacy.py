"""What the bot keeps about farmers, deleted on request (/forget) or when it grows old.

Four tables name a farmer: the question log, feedback, the unanswered queue and farmer
profiles (`chat_id` / `user_id` columns). Officers' tables name officers, not farmers.
Both functions delete with plain DELETE statements (no rows loaded) and leave the commit
to the caller, so a dry run is the same statements rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, delete, or_, select
from sqlalchemy.orm import Session

from bot.storage.models import (
    FarmerProfile,
    Feedback,
    QuestionLog,
    QueueStatus,
    UnansweredQuestion,
)


def forget_user(session: Session, chat_id: int, user_id: int | None) -> dict[str, int]:
    """Delete every row of this chat or user in every farmer table; the caller commits.

    Rows that point at one of their questions go too, whoever's ids they carry. Forgetting
    someone already forgotten deletes nothing and returns zeros.

    The counts are keyed feedback, unanswered, questions and farmer_profiles.
    """
    return {
        "feedback": _delete(session, Feedback, _of_theirs(Feedback, chat_id, user_id)),
        "unanswered": _delete(
            session, UnansweredQuestion, _of_theirs(UnansweredQuestion, chat_id, user_id)
        ),
        "questions": _delete(session, QuestionLog, _owned(QuestionLog, chat_id, user_id)),
        "farmer_profiles": _delete(session, FarmerProfile, _owned(FarmerProfile, chat_id, user_id)),
    }


def purge_older_than(session: Session, cutoff: datetime) -> dict[str, int]:
    """Delete what was collected before `cutoff`; the caller commits.

    - questions asked before the cutoff, and the feedback and closed queue items that
      point at them;
    - feedback given before the cutoff, and queue items answered, linked or dismissed
      that were queued before it;
    - the district of a farmer who has neither set it nor asked anything since.

    Open queue items are kept, however old, with their question and its feedback: an
    officer may still answer, and the answer can only reach the farmer (quoting their
    message) while the item and its question exist. Purging them would drop a question
    nobody has answered without telling anyone; the officer's answer or dismissal closes
    the item, and the next purge after that removes it.
    """
    cutoff = _utc(cutoff)
    waiting = _waiting()
    old = _old_questions(cutoff)
    active = select(QuestionLog.chat_id).where(
        QuestionLog.asked_at >= cutoff, QuestionLog.chat_id.is_not(None)
    )
    old_feedback = (Feedback.created_at < cutoff) & (
        Feedback.question_id.is_(None) | Feedback.question_id.not_in(waiting)
    )
    return {
        "feedback": _delete(session, Feedback, old_feedback | Feedback.question_id.in_(old)),
        "unanswered": _delete(session, UnansweredQuestion, _closed_items(cutoff)),
        "questions": _delete(session, QuestionLog, QuestionLog.id.in_(old)),
        "farmer_profiles": _delete(
            session,
            FarmerProfile,
            (FarmerProfile.updated_at < cutoff) & FarmerProfile.chat_id.not_in(active),
        ),
    }


def their_media(session: Session, chat_id: int, user_id: int | None) -> list[str]:
    """Where the voice notes and photos `forget_user` is about to delete are kept (call it
    first; the files are the caller's to delete once the rows are gone)."""
    return _media(session, _of_theirs(UnansweredQuestion, chat_id, user_id))


def expired_media(session: Session, cutoff: datetime) -> list[str]:
    """Where the voice notes and photos `purge_older_than` is about to delete are kept."""
    return _media(session, _closed_items(_utc(cutoff)))


def _media(session: Session, where: ColumnElement[bool]) -> list[str]:
    paths = select(UnansweredQuestion.media_path).where(
        where, UnansweredQuestion.media_path.is_not(None)
    )
    return [path for path in session.scalars(paths) if path]


def _of_theirs(model: Any, chat_id: int, user_id: int | None) -> ColumnElement[bool]:
    """Their rows, and rows that point at one of their questions, whoever's ids they carry."""
    theirs = select(QuestionLog.id).where(_owned(QuestionLog, chat_id, user_id))
    return or_(_owned(model, chat_id, user_id), model.question_id.in_(theirs))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _waiting() -> Select[int | None]:
    """The questions an open queue item still needs."""
    return select(UnansweredQuestion.question_id).where(
        UnansweredQuestion.status == QueueStatus.OPEN, UnansweredQuestion.question_id.is_not(None)
    )


def _old_questions(cutoff: datetime) -> Select[int]:
    return select(QuestionLog.id).where(
        QuestionLog.asked_at < cutoff, QuestionLog.id.not_in(_waiting())
    )


def _closed_items(cutoff: datetime) -> ColumnElement[bool]:
    """Queue items answered, linked or dismissed, queued before `cutoff` or asking an old
    question."""
    return (UnansweredQuestion.status != QueueStatus.OPEN) & (
        (UnansweredQuestion.created_at < cutoff)
        | UnansweredQuestion.question_id.in_(_old_questions(cutoff))
    )


def _owned(model: Any, chat_id: int, user_id: int | None) -> ColumnElement[bool]:
    by_chat: ColumnElement[bool] = model.chat_id == chat_id  # `model` is one of four tables
    if user_id is None:
        return by_chat
    return or_(by_chat, model.user_id == user_id)


def _delete(session: Session, model: Any, where: ColumnElement[bool]) -> int:
    statement = delete(model).where(where).execution_options(synchronize_session=False)
    return cast("CursorResult[Any]", session.execute(statement)).rowcount or 0
