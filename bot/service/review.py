"""The unanswered queue as officers work it: answer, link or dismiss, and tell the farmer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.service.answering import Answerer
from bot.storage import bank, queue
from bot.storage.models import QueueStatus, UnansweredQuestion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueItem:
    id: int
    text: str
    chat_id: int | None
    asked_at: datetime


@dataclass(frozen=True)
class Notification:
    """An officer's answer on its way back to the farmer who asked."""

    chat_id: int | None
    question: str
    answer: str
    pair_id: int
    reply_to_message_id: int | None = None


def _item(row: UnansweredQuestion) -> QueueItem:
    return QueueItem(row.id, row.text, row.chat_id, row.created_at)


class Reviewer:
    """Turns officers' work on the queue into bank changes and notifications.

    Example:
        >>> note = reviewer.answer(7, "කොළ පාළුවට ...", admin_id=1234)
        >>> note.chat_id, note.answer
    """

    def __init__(self, session_factory: sessionmaker[Session], answerer: Answerer) -> None:
        self.session_factory = session_factory
        self.answerer = answerer

    def open_items(self, *, limit: int = 5, offset: int = 0) -> tuple[list[QueueItem], int]:
        """A page of open questions, oldest first, and how many are open in all."""
        with self.session_factory() as session:
            rows = queue.list_open(session, limit=limit, offset=offset)
            return [_item(row) for row in rows], queue.count_open(session)

    def get(self, item_id: int) -> QueueItem:
        with self.session_factory() as session:
            return _item(queue.get_item(session, item_id))

    def answer(self, item_id: int, answer: str, *, admin_id: int | None) -> Notification:
        """Make the farmer's question and the officer's answer a new pair, encoded at once."""
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            existing = bank.find_pair_by_question(session, item.text)
            if existing is not None:
                pair = bank.update_pair(
                    session, existing.id, answer=answer, updated_by=f"admin:{admin_id}"
                )
            else:
                pair = bank.add_pair(
                    session, item.text, answer, created_by=f"admin:{admin_id}", origin="admin"
                )
            self.answerer.refresh_pairs(session, [pair])
            queue.resolve(session, item, QueueStatus.ANSWERED, by=admin_id, pair_id=pair.id)
            session.commit()
            return self._notification(session, item, pair.answer, pair.id)

    def link(self, item_id: int, pair_id: int, *, admin_id: int | None) -> Notification:
        """Add the farmer's wording to an existing pair and send them that pair's answer."""
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            pair = bank.get_pair(session, pair_id)
            bank.add_phrasing(session, pair_id, item.text, origin="linked")
            self.answerer.refresh_pairs(session, [pair])
            queue.resolve(session, item, QueueStatus.LINKED, by=admin_id, pair_id=pair_id)
            session.commit()
            return self._notification(session, item, pair.answer, pair.id)

    def dismiss(self, item_id: int, *, admin_id: int | None) -> QueueItem:
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            queue.resolve(session, item, QueueStatus.DISMISSED, by=admin_id)
            session.commit()
            return _item(item)

    @staticmethod
    def _notification(
        session: Session, item: UnansweredQuestion, answer: str, pair_id: int
    ) -> Notification:
        message_id = None
        if item.question_id is not None:
            from bot.storage.questions import get_question

            log = get_question(session, item.question_id)
            message_id = log.message_id if log is not None else None
        return Notification(item.chat_id, item.text, answer, pair_id, message_id)
