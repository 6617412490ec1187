"""The question log and farmers' feedback: what was asked, what the bot did, how it landed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from bot.retrieval.decision import Decision
from bot.storage.models import (
    Feedback,
    FeedbackKind,
    QAPair,
    QuestionLog,
    QueueKind,
    UnansweredQuestion,
    utcnow,
)


@dataclass
class QuestionRecord:
    """Everything logged about one question; plain data so it can wait in the journal.

    `client_ref` makes writing idempotent: a record replayed from the journal after a
    database outage is written once, however often the replay runs.
    """

    raw_text: str
    normalized_text: str
    decision: str
    candidates: list[dict[str, Any]]
    latency_ms: float | None
    model_id: str | None
    chat_id: int | None = None
    user_id: int | None = None
    message_id: int | None = None
    channel: str = "telegram"
    asked_at: str = field(default_factory=lambda: utcnow().isoformat())
    client_ref: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecordedQuestion:
    question_id: int
    queue_id: int | None


def record_question(
    session: Session,
    record: QuestionRecord,
    *,
    kind: QueueKind = QueueKind.QUESTION,
    file_id: str | None = None,
    media_path: str | None = None,
) -> RecordedQuestion:
    """Log the question and, when the bot declined it, put it in the unanswered queue
    (a voice note or photo: `kind` VOICE or PHOTO, with its Telegram file id and our copy).

    Written with Core statements, not ORM objects: it runs for every message, and the
    unit of work's flush (and the bank's revision hooks) and building each statement anew
    cost it 2-3 ms of the 15.
    """
    connection = session.connection()  # Core on the session's transaction
    already = connection.execute(_FIND_LOGGED, {"ref": record.client_ref}).scalar()
    if already is not None:
        queued = connection.execute(_FIND_QUEUED, {"question_id": already}).scalar()
        return RecordedQuestion(already, queued)
    top = record.candidates[0] if record.candidates else None
    question_id = connection.execute(
        _LOG_QUESTION,
        {
            "channel": record.channel,
            "chat_id": record.chat_id,
            "user_id": record.user_id,
            "message_id": record.message_id,
            "raw_text": record.raw_text,
            "normalized_text": record.normalized_text,
            "decision": record.decision,
            "top": top["pair_id"] if top else None,
            "top_score": top["score"] if top else None,
            "candidates": record.candidates,
            "latency_ms": record.latency_ms,
            "model_id": record.model_id,
            "asked_at": datetime.fromisoformat(record.asked_at),
            "client_ref": record.client_ref,
        },
    ).scalar_one()
    queue_id = None
    if record.decision == Decision.DECLINE:
        queue_id = connection.execute(
            _QUEUE_QUESTION,
            {
                "question_id": question_id,
                "chat_id": record.chat_id,
                "user_id": record.user_id,
                "text": record.raw_text,
                "normalized_text": record.normalized_text,
                "kind": kind,
                "file_id": file_id,
                "media_path": media_path,
            },
        ).scalar_one()
    return RecordedQuestion(question_id, queue_id)


_FIND_LOGGED = select(QuestionLog.id).where(QuestionLog.client_ref == bindparam("ref"))
_FIND_QUEUED = select(UnansweredQuestion.id).where(
    UnansweredQuestion.question_id == bindparam("question_id")
)
# The top pair may have been deleted since: the log row keeps a NULL then.
_LOG_QUESTION = (
    insert(QuestionLog)
    .values(top_pair_id=select(QAPair.id).where(QAPair.id == bindparam("top")).scalar_subquery())
    .returning(QuestionLog.id)
)
_QUEUE_QUESTION = insert(UnansweredQuestion).returning(UnansweredQuestion.id)


def enqueue(
    session: Session,
    log: QuestionLog,
    *,
    kind: QueueKind = QueueKind.QUESTION,
    given_pair_id: int | None = None,
    file_id: str | None = None,
    media_path: str | None = None,
) -> UnansweredQuestion:
    """Put a logged question in the unanswered queue (once); `kind` FEEDBACK with the pair
    whose answer the farmer gave a 👎."""
    existing = session.scalar(
        select(UnansweredQuestion).where(UnansweredQuestion.question_id == log.id)
    )
    if existing is not None:
        return existing
    item = UnansweredQuestion(
        question_id=log.id,
        chat_id=log.chat_id,
        user_id=log.user_id,
        text=log.raw_text,
        normalized_text=log.normalized_text,
        kind=kind,
        given_pair_id=given_pair_id,
        file_id=file_id,
        media_path=media_path,
    )
    session.add(item)
    session.flush()
    return item


def get_question(session: Session, question_id: int) -> QuestionLog | None:
    return session.get(QuestionLog, question_id)


def most_asked_pairs(
    session: Session, topics: Sequence[str], *, since: datetime, limit: int
) -> list[QAPair]:
    """The active pairs of these bank topics, the ones most often given as the bot's answer
    since `since` first; ties (and pairs never asked) in bank order."""
    asked = (
        select(QuestionLog.top_pair_id.label("pair_id"), func.count().label("times"))
        .where(
            QuestionLog.decision == Decision.ANSWER,
            QuestionLog.top_pair_id.is_not(None),
            QuestionLog.asked_at >= since,
        )
        .group_by(QuestionLog.top_pair_id)
        .subquery()
    )
    query = (
        select(QAPair)
        .outerjoin(asked, asked.c.pair_id == QAPair.id)
        .where(QAPair.active.is_(True), QAPair.topic.in_(list(topics)))
        .order_by(func.coalesce(asked.c.times, 0).desc(), QAPair.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def record_feedback(
    session: Session,
    kind: FeedbackKind,
    *,
    question_id: int | None,
    pair_id: int | None,
    chat_id: int | None = None,
    user_id: int | None = None,
) -> Feedback:
    """Store a 👍/👎 or a suggestion choice; a repeated press replaces the earlier one."""
    previous = None
    if question_id is not None and kind in (FeedbackKind.HELPFUL, FeedbackKind.NOT_HELPFUL):
        previous = session.scalar(
            select(Feedback).where(
                Feedback.question_id == question_id,
                Feedback.kind.in_([FeedbackKind.HELPFUL, FeedbackKind.NOT_HELPFUL]),
            )
        )
    if previous is not None:
        previous.kind = kind
        previous.created_at = utcnow()
        session.flush()
        return previous
    feedback = Feedback(
        question_id=question_id, pair_id=pair_id, chat_id=chat_id, user_id=user_id, kind=kind
    )
    session.add(feedback)
    session.flush()
    return feedback
