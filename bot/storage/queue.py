"""The unanswered queue: questions the bot declined, waiting for an agricultural officer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.orm import Session

from bot.errors import QueueItemNotFound
from bot.storage.models import (
    DismissReason,
    Officer,
    QueueKind,
    QueueStatus,
    UnansweredQuestion,
    utcnow,
)


def list_open(
    session: Session, *, limit: int | None = 10, offset: int = 0
) -> list[UnansweredQuestion]:
    """Open questions, oldest first (all of them with `limit` None)."""
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
    reason: str | None = None,
) -> UnansweredQuestion:
    item.status = status
    item.resolved_at = utcnow()
    item.resolved_by = by
    item.pair_id = pair_id
    item.reason = reason
    session.flush()
    return item


def _not_alerted() -> tuple[ColumnElement[bool], ...]:
    """Open items no officer was told about yet."""
    return UnansweredQuestion.status == QueueStatus.OPEN, UnansweredQuestion.alerted_at.is_(None)


def not_alerted(session: Session, limit: int) -> tuple[list[UnansweredQuestion], int]:
    """The newest open items no officer was told about yet, and how many there are."""
    waiting = _not_alerted()
    count = session.scalar(select(func.count()).select_from(UnansweredQuestion).where(*waiting))
    newest = session.scalars(
        select(UnansweredQuestion)
        .where(*waiting)
        .order_by(UnansweredQuestion.created_at.desc(), UnansweredQuestion.id.desc())
        .limit(limit)
    )
    return list(newest), count or 0


def claim_alerts(session: Session, before: datetime) -> int:
    """Mark every open item queued up to `before` as announced; returns how many this call
    claimed (another replica that claimed them first leaves none)."""
    statement = (
        update(UnansweredQuestion)
        .where(*_not_alerted(), UnansweredQuestion.created_at <= before)
        .values(alerted_at=utcnow())
    )
    result = cast("CursorResult[Any]", session.execute(statement))  # an UPDATE's result
    return result.rowcount or 0


def muted_officers(session: Session, user_ids: Sequence[int]) -> set[int]:
    return set(
        session.scalars(
            select(Officer.user_id).where(
                Officer.user_id.in_(list(user_ids)), Officer.alerts_muted.is_(True)
            )
        )
    )


def set_alerts_muted(session: Session, user_id: int, muted: bool) -> None:
    officer = session.get(Officer, user_id)
    if officer is None:
        officer = Officer(user_id=user_id)
        session.add(officer)
    officer.alerts_muted = muted
    officer.updated_at = utcnow()
    session.flush()


def withdraw_feedback(session: Session, question_id: int) -> None:
    """A 👎 turned into a 👍: its open feedback item leaves the queue."""
    item = session.scalar(
        select(UnansweredQuestion).where(
            UnansweredQuestion.question_id == question_id,
            UnansweredQuestion.kind == QueueKind.FEEDBACK,
            UnansweredQuestion.status == QueueStatus.OPEN,
        )
    )
    if item is not None:
        resolve(session, item, QueueStatus.DISMISSED, by=None, reason=DismissReason.WITHDRAWN)


def reopen_withdrawn(session: Session, item: UnansweredQuestion) -> None:
    """A 👎 again after it was withdrawn: the item is open (and news) once more."""
    if item.status == QueueStatus.DISMISSED and item.reason == DismissReason.WITHDRAWN:
        item.status, item.reason, item.resolved_at, item.alerted_at = (
            QueueStatus.OPEN,
            None,
            None,
            None,
        )
        session.flush()
