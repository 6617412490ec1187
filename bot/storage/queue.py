"""The unanswered queue: questions the bot declined, waiting for an agricultural officer."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.errors import QueueItemNotFound
from bot.storage.models import QueueStatus, UnansweredQuestion, utcnow


def list_open(session: Session, *, limit: int = 10, offset: int = 0) -> list[UnansweredQuestion]:
    """Open questions, oldest first."""
    return list(
        session.scalars(
            select(UnansweredQuestion)
            .where(UnansweredQuestion.status == QueueStatus.OPEN)
            .order_by(UnansweredQuestion.created_at, UnansweredQuestion.id)
            .limit(limit)
            .offset(offset)
        )
    )


def count_open(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(UnansweredQuestion)
            .where(UnansweredQuestion.status == QueueStatus.OPEN)
        )
        or 0
    )


def get_item(session: Session, item_id: int) -> UnansweredQuestion:
    item = session.get(UnansweredQuestion, item_id)
    if item is None:
        raise QueueItemNotFound(f"no unanswered question with id {item_id}")
    return item


def get_open_item(session: Session, item_id: int) -> UnansweredQuestion:
    item = get_item(session, item_id)
    if item.status != QueueStatus.OPEN:
        raise QueueItemNotFound(f"question {item_id} is already {item.status}")
    return item


def resolve(
    session: Session,
    item: UnansweredQuestion,
    status: QueueStatus,
    *,
    by: int | None,
    pair_id: int | None = None,
) -> UnansweredQuestion:
    item.status = status
    item.resolved_at = utcnow()
    item.resolved_by = by
    item.pair_id = pair_id
    session.flush()
    return item
