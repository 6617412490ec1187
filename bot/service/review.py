"""The unanswered queue as officers work it: answer, link or dismiss, and tell the farmer."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import AnswerWouldReplace
from bot.service.answering import Answerer
from bot.storage import bank, queue
from bot.storage.models import (
    DismissReason,
    QueueKind,
    QueueStatus,
    UnansweredQuestion,
)

FARMER_TOLD = (DismissReason.OFF_TOPIC, DismissReason.NOT_PADDY)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueItem:
    id: int
    text: str
    chat_id: int | None
    asked_at: datetime
    kind: str = QueueKind.QUESTION
    given_pair_id: int | None = None  # 👎 feedback: the pair whose answer it was about
    reply_to_message_id: int | None = None

    @property
    def is_feedback(self) -> bool:
        return self.kind == QueueKind.FEEDBACK


@dataclass(frozen=True)
class Alert:
    """What officers are told about new questions: how many, and the newest few."""

    new: int
    open: int
    newest: list[QueueItem]
    until: datetime  # the items queued up to here are announced by this alert


@dataclass(frozen=True)
class Notification:
    """An officer's answer on its way back to the farmer who asked."""

    chat_id: int | None
    question: str
    answer: str
    pair_id: int
    reply_to_message_id: int | None = None


def _item(row: UnansweredQuestion) -> QueueItem:
    return QueueItem(
        row.id,
        row.text,
        row.chat_id,
        row.created_at,
        row.kind or QueueKind.QUESTION,
        row.given_pair_id,
    )


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

    def answer(
        self, item_id: int, answer: str, *, admin_id: int | None, replace: bool = False
    ) -> Notification:
        """Make the farmer's question and the officer's answer a new pair, encoded at once.

        When the bank already asks this question, its curated answer is replaced only with
        `replace`; otherwise AnswerWouldReplace lets the officer choose (replace, or send
        that pair's answer with `link`).
        """
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            existing = bank.find_pair_by_question(session, item.text)
            if existing is not None and not replace:
                raise AnswerWouldReplace(existing.id, existing.question, existing.answer)
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
        """Add the farmer's wording to an existing pair and send them that pair's answer
        (a wording the pair already has, as a 👎 on its answer may be, is not added twice)."""
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            pair = bank.get_pair(session, pair_id)
            owner = bank.find_pair_by_question(session, item.text)
            if owner is None:
                bank.add_phrasing(session, pair_id, item.text, origin="linked")
                self.answerer.refresh_pairs(session, [pair])
            queue.resolve(session, item, QueueStatus.LINKED, by=admin_id, pair_id=pair_id)
            session.commit()
            return self._notification(session, item, pair.answer, pair.id)

    def dismiss(
        self,
        item_id: int,
        *,
        admin_id: int | None,
        reason: DismissReason = DismissReason.OFF_TOPIC,
    ) -> QueueItem:
        """Close an item without an answer; for off-topic and not-paddy questions the
        returned item carries what the telegram layer needs to tell the farmer kindly."""
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            queue.resolve(session, item, QueueStatus.DISMISSED, by=admin_id, reason=reason)
            session.commit()
            return replace(_item(item), reply_to_message_id=self._message_id(session, item))

    def pending_alert(self, newest: int = 3) -> Alert | None:
        """New open items no officer was told about, or None."""
        with self.session_factory() as session:
            rows, count = queue.not_alerted(session, newest)
            if not count:
                return None
            return Alert(
                count,
                queue.count_open(session),
                [_item(row) for row in rows],
                max(row.created_at for row in rows),
            )

    def claim_alert(self, alert: Alert) -> bool:
        """Mark the alert's items announced; False when another process did it first."""
        with self.session_factory() as session:
            claimed = queue.claim_alerts(session, alert.until)
            session.commit()
        return claimed > 0

    def set_alerts(self, user_id: int, *, muted: bool) -> None:
        with self.session_factory() as session:
            queue.set_alerts_muted(session, user_id, muted)
            session.commit()

    def alert_recipients(self, admin_ids: frozenset[int]) -> list[int]:
        with self.session_factory() as session:
            muted = queue.muted_officers(session, sorted(admin_ids))
        return sorted(admin_ids - muted)

    @staticmethod
    def _message_id(session: Session, item: UnansweredQuestion) -> int | None:
        if item.question_id is None:
            return None
        from bot.storage.questions import get_question

        log = get_question(session, item.question_id)
        return log.message_id if log is not None else None

    @classmethod
    def _notification(
        cls, session: Session, item: UnansweredQuestion, answer: str, pair_id: int
    ) -> Notification:
        message_id = cls._message_id(session, item)
        return Notification(item.chat_id, item.text, answer, pair_id, message_id)
