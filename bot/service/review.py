"""The unanswered queue as officers work it: answer, link or dismiss, and tell the farmer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import AnswerWouldReplace
from bot.service.answering import Answerer
from bot.service.bank_admin import commit_then_index
from bot.service.grouping import group_indices, threshold_for
from bot.service.indexing import encode_cached
from bot.service.media import MEDIA_KINDS
from bot.storage import bank, queue
from bot.storage.models import (
    DismissReason,
    QueueKind,
    QueueStatus,
    UnansweredQuestion,
)
from bot.text.normalize import normalize, normalize_key

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
    file_id: str | None = None  # voice and photos: Telegram's id, to show officers
    media_path: str | None = None  # ... and the bot's own copy
    captioned: bool = True  # False: a voice note or photo without words (text is a placeholder)
    others: tuple[QueueItem, ...] = ()  # the same question from other farmers, grouped here

    @property
    def is_feedback(self) -> bool:
        return self.kind == QueueKind.FEEDBACK

    @property
    def is_media(self) -> bool:
        return self.kind in MEDIA_KINDS

    @property
    def sent_as(self) -> str | None:
        """How to show it again: "photo", "voice", or "audio" (a recording sent as a music
        file, stored as audio-*: Telegram refuses its id as a voice note)."""
        if self.kind == QueueKind.PHOTO:
            return "photo"
        if self.kind == QueueKind.VOICE:
            audio = Path(self.media_path or "").name.startswith("audio-")
            return "audio" if audio else "voice"
        return None


@dataclass(frozen=True)
class AnswerDraft:
    """What an officer's answer will do, shown before it goes out: the farmer gets
    `answer` quoting their words; the bank gets a pair asking `question` (the public
    wording; the farmer's own words become a hidden alternate). No pair for a voice note
    or a photo (`question` None)."""

    item_id: int
    answer: str
    question: str | None
    farmer_text: str
    others: int  # farmers grouped with this one, answered too
    # False: a new pair beside one that already asks the farmer's words (which stay there)
    keep_words: bool = True


def public_question(text: str) -> str:
    """The default public wording of a farmer's question: normalized (spelling quirks,
    spacing, old fonts fixed), ending with a question mark."""
    cleaned = normalize(text) or text.strip()
    return cleaned if cleaned.endswith(("?", ".", "!")) else cleaned + "?"


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
    pair_id: int | None  # None: a voice note or photo answered by an officer (no pair)
    reply_to_message_id: int | None = None
    question_id: int | None = None  # the farmer's logged question, for 👍/👎 on the answer
    also: tuple[Notification, ...] = ()  # the other farmers of a grouped question


def _item(row: UnansweredQuestion) -> QueueItem:
    kind = row.kind or QueueKind.QUESTION
    return QueueItem(
        row.id,
        row.text,
        row.chat_id,
        row.created_at,
        kind,
        row.given_pair_id,
        file_id=row.file_id,
        media_path=row.media_path,
        captioned=kind not in MEDIA_KINDS or bool(row.normalized_text),
    )


class Reviewer:
    """Turns officers' work on the queue into bank changes and notifications."""

    def __init__(self, session_factory: sessionmaker[Session], answerer: Answerer) -> None:
        self.session_factory = session_factory
        self.answerer = answerer

    def open_items(self, *, limit: int = 5, offset: int = 0) -> tuple[list[QueueItem], int]:
        """A page of open questions, oldest first, the same question from several farmers
        as one item (its `others`), and how many such items are open in all."""
        groups = self.groups()
        return groups[offset : offset + limit], len(groups)

    def groups(self) -> list[QueueItem]:
        """Every open question, grouped (`bot.service.grouping`), oldest first."""
        with self.session_factory() as session:
            rows = queue.list_open(session, limit=None)
            items = [_item(row) for row in rows]
            keys = [_group_key(row) for row in rows]
            keyed = [n for n, key in enumerate(keys) if key]
            encoder = self.answerer.state.encoder
            vectors = np.zeros((len(rows), encoder.dim), dtype=np.float32)
            if keyed:
                texts = [rows[n].normalized_text for n in keyed]
                vectors[keyed] = encode_cached(session, encoder, texts)
                session.commit()  # the cache keeps the new vectors
        return [
            replace(items[group[0]], others=tuple(items[n] for n in group[1:]))
            for group in group_indices(keys, vectors, threshold_for(encoder.model_id))
        ]

    def _others(self, item_id: int) -> list[int]:
        """The ids grouped with `item_id` (it first if it leads its group, else its lead)."""
        for group in self.groups():
            ids = [group.id, *(other.id for other in group.others)]
            if item_id in ids:
                return [i for i in ids if i != item_id]
        return []

    def _open(self, session: Session, ids: list[int]) -> list[UnansweredQuestion]:
        found = (session.get(UnansweredQuestion, i) for i in ids)
        return [item for item in found if item is not None and item.status == QueueStatus.OPEN]

    def get(self, item_id: int) -> QueueItem:
        with self.session_factory() as session:
            return _item(queue.get_item(session, item_id))

    def draft(
        self,
        item_id: int,
        answer: str,
        question: str | None = None,
        *,
        keep_words: bool = True,
    ) -> AnswerDraft:
        """What `answer` would do (nothing is written); AnswerWouldReplace when the bank
        already asks `question` or (with `keep_words`) the farmer's words."""
        others = self._others(item_id)
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            if item.kind in MEDIA_KINDS:
                return AnswerDraft(item_id, answer, None, item.text, len(others))
            question = (question or "").strip() or public_question(item.text)
            self._check_new(session, *((item.text, question) if keep_words else (question,)))
            return AnswerDraft(item_id, answer, question, item.text, len(others), keep_words)

    @staticmethod
    def _check_new(session: Session, *texts: str) -> None:
        for text in texts:
            existing = bank.find_pair_by_question(session, text)
            if existing is not None:
                raise AnswerWouldReplace(existing.id, existing.question, existing.answer)

    def answer(
        self,
        item_id: int,
        answer: str,
        *,
        admin_id: int | None,
        replace: bool = False,
        question: str | None = None,
        keep_words: bool = True,
        before_commit: Callable[[Session, Notification], None] | None = None,
    ) -> Notification:
        """Make the farmer's question and the officer's answer a new pair, encoded at once.

        When the bank already asks this question, its curated answer is replaced only with
        `replace`; otherwise AnswerWouldReplace lets the officer choose (replace, or send
        that pair's answer with `link`). A voice note or photo never becomes a pair (its
        text is a caption or a placeholder): the answer goes to the farmer only. The same
        question from other farmers (its group) is answered with it, their wordings
        joining the pair. `question` is the pair's public wording (default: the farmer's
        words); the farmer's own words then join as an alternate, unless `keep_words` is
        False (a new pair beside the one that already asks them). `before_commit` writes
        beside the change, in its transaction (the desk's audit row).
        """
        others = self._others(item_id)
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            if item.kind in MEDIA_KINDS:
                queue.resolve(session, item, QueueStatus.ANSWERED, by=admin_id)
                note = self._notification(session, item, answer, None)
                if before_commit is not None:
                    before_commit(session, note)
                session.commit()
                return note
            existing = (bank.find_pair_by_question(session, item.text) if keep_words else None) or (
                bank.find_pair_by_question(session, question) if question else None
            )
            if existing is not None and not replace:
                raise AnswerWouldReplace(existing.id, existing.question, existing.answer)
            if existing is not None:
                pair = bank.update_pair(
                    session, existing.id, answer=answer, updated_by=f"admin:{admin_id}"
                )
            else:
                pair = bank.add_pair(
                    session,
                    question or item.text,
                    answer,
                    [item.text] if question and keep_words else (),
                    created_by=f"admin:{admin_id}",
                    origin="admin",
                )
            queue.resolve(session, item, QueueStatus.ANSWERED, by=admin_id, pair_id=pair.id)
            members = self._open(session, others)
            self._join(session, members, pair.id, QueueStatus.ANSWERED, admin_id)
            note = self._notification(session, item, pair.answer, pair.id, members)
            if before_commit is not None:
                before_commit(session, note)
            commit_then_index(session, self.answerer, [bank.get_pair(session, pair.id)])
            return note

    def link(
        self,
        item_id: int,
        pair_id: int,
        *,
        admin_id: int | None,
        before_commit: Callable[[Session, Notification], None] | None = None,
    ) -> Notification:
        """Add the farmer's wording to an existing pair and send them that pair's answer
        (a wording the pair already has, as a 👎 on its answer may be, is not added twice;
        a voice note's or photo's text is never added)."""
        others = self._others(item_id)
        with self.session_factory() as session:
            item = queue.get_open_item(session, item_id)
            pair = bank.get_pair(session, pair_id)
            members = self._open(session, others)
            self._join(session, [item, *members], pair_id, QueueStatus.LINKED, admin_id)
            note = self._notification(session, item, pair.answer, pair.id, members)
            if before_commit is not None:
                before_commit(session, note)
            commit_then_index(session, self.answerer, [bank.get_pair(session, pair_id)])
            return note

    @staticmethod
    def _join(
        session: Session,
        items: list[UnansweredQuestion],
        pair_id: int,
        status: QueueStatus,
        admin_id: int | None,
    ) -> None:
        """Resolve queued questions with a pair, their wordings (not a voice note's or a
        photo's, nor one the bank has already) becoming its phrasings."""
        for item in items:
            words = item.kind not in MEDIA_KINDS
            if words and bank.find_pair_by_question(session, item.text) is None:
                bank.add_phrasing(session, pair_id, item.text, origin="linked")
            queue.resolve(session, item, status, by=admin_id, pair_id=pair_id)

    def dismiss(
        self,
        item_id: int,
        *,
        admin_id: int | None,
        reason: DismissReason = DismissReason.OFF_TOPIC,
        before_commit: Callable[[Session, list[UnansweredQuestion]], None] | None = None,
    ) -> list[QueueItem]:
        """Close an item and its group without an answer; the returned items (it first)
        carry what the telegram layer needs to tell each farmer kindly, for off-topic and
        not-paddy questions."""
        others = self._others(item_id)
        with self.session_factory() as session:
            items = [queue.get_open_item(session, item_id), *self._open(session, others)]
            for item in items:
                queue.resolve(session, item, QueueStatus.DISMISSED, by=admin_id, reason=reason)
            if before_commit is not None:
                before_commit(session, items)
            session.commit()
            return [
                replace(_item(item), reply_to_message_id=self._message_id(session, item))
                for item in items
            ]

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
        cls,
        session: Session,
        item: UnansweredQuestion,
        answer: str,
        pair_id: int | None,
        members: Sequence[UnansweredQuestion] = (),
    ) -> Notification:
        message_id = cls._message_id(session, item)
        also = tuple(cls._notification(session, m, answer, pair_id) for m in members)
        return Notification(
            item.chat_id, item.text, answer, pair_id, message_id, item.question_id, also
        )


def _group_key(row: UnansweredQuestion) -> str:
    """What groups a queued question: its normalized words; none for a voice note, a photo
    or a 👎 (each about its own answer)."""
    if row.kind not in (None, QueueKind.QUESTION):
        return ""
    return normalize_key(row.normalized_text or row.text)
