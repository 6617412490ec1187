"""The officers' web desk as a library: bank and queue work with an audit row for each change.

Every change goes through the same services the Telegram commands use (`BankAdmin`,
`Reviewer`), so it is committed, then indexed in the live answerer at once. A bank change's
audit row (who, what, before and after) commits in the change's own transaction, as does
a queue action's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import NothingToUndo
from bot.service.answering import Candidate
from bot.service.bank_admin import BankAdmin, PairView
from bot.service.pair_history import UNDOABLE, AuditView, snapshot, variant_rows
from bot.service.review import Notification, QueueItem, Reviewer
from bot.storage import audit, bank
from bot.storage.models import DismissReason, QAPair, UnansweredQuestion, utcnow
from bot.storage.stats import (
    DayStats,
    DislikedPair,
    daily_series,
    day_start,
    local_date,
    most_disliked_pairs,
    questions_by_district,
    questions_by_topic,
    stale_pair_ids,
    thumbs_down_by_pair,
    top_unanswered,
)

logger = logging.getLogger(__name__)


# A queue action's "before": the item was open. The farmer's words stay out of the log, so
# /forget and the retention purge, which delete their questions, leave none behind here.
OPEN = {"status": "open"}


@dataclass(frozen=True)
class BankRow:
    """A pair in the bank page's list: how close it is to the search, and its 👎."""

    pair: PairView
    score: float | None  # by meaning: the bot's own retrieval score
    thumbs_down: int
    stale: bool


@dataclass(frozen=True)
class DeskStats:
    """The stats page for a period of Colombo days ending today."""

    days: list[DayStats]
    top_unanswered: list[tuple[str, int]]
    most_disliked: list[DislikedPair]
    by_topic: list[tuple[str, int]]
    by_district: list[tuple[str, int]]


class Desk:
    """What an officer does in the browser, each change audited under their Telegram id."""

    def __init__(
        self, session_factory: sessionmaker[Session], bank_admin: BankAdmin, reviewer: Reviewer
    ) -> None:
        self.session_factory = session_factory
        self.bank = bank_admin
        self.reviewer = reviewer

    # --- the bank ---------------------------------------------------------------------

    def search(
        self,
        text: str = "",
        *,
        meaning: bool = False,
        topic: str | None = None,
        zone: str | None = None,
        source: str | None = None,
        stale_only: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[BankRow], int]:
        """Pairs by words (a substring of question or answer) or by meaning (the bot's
        retrieval, closest first), filtered by topic, by a zone answer of their own, by
        source and by a passed review date; returns a page of them and how many matched."""
        scores: dict[int, float] = {}
        with self.session_factory() as session:
            if meaning and text.strip():
                found = self.bank.find(text, limit)
                scores = {c.pair_id: c.score for c in found}
                pairs = bank.get_pairs(session, list(scores))
            else:
                pairs = bank.list_pairs(session, search=text or None, topic=topic, limit=None)
            if topic:
                pairs = [p for p in pairs if p.topic == topic]
            if zone:
                pairs = [p for p in pairs if any(v.zone == zone for v in p.variants)]
            if source:
                wanted = source.casefold()
                pairs = [p for p in pairs if wanted in (p.source or "").casefold()]
            stale = set(stale_pair_ids(session, local_date(utcnow())))
            if stale_only:
                pairs = [p for p in pairs if p.id in stale]
            matched = len(pairs)
            pairs = pairs[offset : offset + limit]
            down = thumbs_down_by_pair(session, [p.id for p in pairs])
            rows = [
                BankRow(PairView.of(p), scores.get(p.id), down.get(p.id, 0), p.id in stale)
                for p in pairs
            ]
            return rows, matched

    def topics(self) -> list[str]:
        with self.session_factory() as session:
            return bank.topics(session)

    def near_duplicates(
        self, question: str, *, exclude: int | None = None, limit: int = 3
    ) -> list[tuple[Candidate, bool]]:
        """Bank pairs close in meaning to a question being typed, each with whether the
        bot would take one for the other (score at or above its suggest threshold)."""
        if len(question.strip()) < 3:
            return []
        suggest = self.bank.answerer.state.thresholds.suggest
        found = [c for c in self.bank.find(question, limit + 1) if c.pair_id != exclude]
        return [(c, c.score >= suggest) for c in found[:limit]]

    def pair_snapshot(self, pair_id: int) -> dict[str, Any]:
        with self.session_factory() as session:
            return snapshot(bank.get_pair(session, pair_id))

    def add_pair(self, admin_id: int, fields: dict[str, Any]) -> int:
        review_by = fields.get("review_by")

        def log(session: Session, pair: QAPair) -> None:
            audit.record(session, admin_id, "add", f"pair:{pair.id}", None, snapshot(pair))

        view = self.bank.add(
            fields["question"],
            fields["answer"],
            fields.get("alternates") or (),
            topic=fields.get("topic") or None,
            source=fields.get("source") or None,
            by=f"web:{admin_id}",
            review_by=date.fromisoformat(review_by) if review_by else None,
            variants=variant_rows(fields.get("variants")) or (),
            before_commit=log,
        )
        self._logged(admin_id, "add", f"pair:{view.id}")
        return view.id

    def edit_pair(self, admin_id: int, pair_id: int, fields: dict[str, Any]) -> None:
        before = self.pair_snapshot(pair_id)
        review_by = fields.get("review_by")

        def log(session: Session, pair: QAPair) -> None:
            after = snapshot(pair)
            if after != before:
                audit.record(session, admin_id, "edit", f"pair:{pair_id}", before, after)

        self.bank.update(
            pair_id,
            by=f"web:{admin_id}",
            before_commit=log,
            question=fields["question"],
            answer=fields["answer"],
            alternates=fields.get("alternates") or [],
            topic=fields.get("topic") or "",
            source=fields.get("source") or "",
            review_by=date.fromisoformat(review_by) if review_by else None,
            variants=variant_rows(fields.get("variants")),
        )
        self._logged(admin_id, "edit", f"pair:{pair_id}")

    def delete_pair(self, admin_id: int, pair_id: int) -> None:
        def log(session: Session, pair: QAPair) -> None:
            audit.record(session, admin_id, "delete", f"pair:{pair_id}", snapshot(pair), None)

        self.bank.delete(pair_id, before_commit=log)
        self._logged(admin_id, "delete", f"pair:{pair_id}")

    def undo(self, admin_id: int, entry_id: int) -> str:
        """Reverse a bank change from the log (itself logged); returns the target changed."""
        with self.session_factory() as session:
            entry = audit.get_entry(session, entry_id)
            if entry is None or entry.action not in UNDOABLE or audit.was_undone(session, entry):
                raise NothingToUndo(f"audit entry {entry_id} cannot be undone")
            view = AuditView.of(entry)
        pair_id = int(view.target.split(":", 1)[1])
        if view.action == "add":
            self.delete_pair(admin_id, pair_id)
            target = view.target
        elif view.action == "edit":
            assert view.before is not None
            self.edit_pair(admin_id, pair_id, view.before)
            target = view.target
        else:
            assert view.before is not None
            target = f"pair:{self.add_pair(admin_id, view.before)}"
        self.record(admin_id, "undo", view.target, {"entry": entry_id}, {"target": target})
        return target

    def history(self, pair_id: int) -> list[AuditView]:
        with self.session_factory() as session:
            return [AuditView.of(e) for e in audit.recent(session, target=f"pair:{pair_id}")]

    def recent(self, limit: int = 30) -> list[AuditView]:
        with self.session_factory() as session:
            return [AuditView.of(e) for e in audit.recent(session, limit=limit)]

    # --- stats ------------------------------------------------------------------------

    def stats(self, days: int) -> DeskStats:
        with self.session_factory() as session:
            today = local_date(utcnow())
            since = day_start(today - timedelta(days=days - 1))
            return DeskStats(
                daily_series(session, today, days),
                top_unanswered(session, since, limit=10),
                most_disliked_pairs(session, since, limit=10),
                questions_by_topic(session, since),
                questions_by_district(session, since),
            )

    # --- the queue --------------------------------------------------------------------

    def answer(
        self, admin_id: int, item_id: int, answer: str, *, question: str | None, replace: bool
    ) -> Notification:
        target = f"queue:{item_id}"

        def log(session: Session, note: Notification) -> None:
            after = {"answer": answer, "pair_id": note.pair_id, "farmers": 1 + len(note.also)}
            audit.record(session, admin_id, "answer", target, dict(OPEN), after)

        note = self.reviewer.answer(
            item_id,
            answer,
            admin_id=admin_id,
            question=question or None,
            replace=replace,
            before_commit=log,
        )
        self._logged(admin_id, "answer", target)
        return note

    def link(self, admin_id: int, item_id: int, pair_id: int) -> Notification:
        target = f"queue:{item_id}"

        def log(session: Session, note: Notification) -> None:
            after = {"pair_id": pair_id, "farmers": 1 + len(note.also)}
            audit.record(session, admin_id, "link", target, dict(OPEN), after)

        note = self.reviewer.link(item_id, pair_id, admin_id=admin_id, before_commit=log)
        self._logged(admin_id, "link", target)
        return note

    def dismiss(self, admin_id: int, item_id: int, reason: DismissReason) -> list[QueueItem]:
        target = f"queue:{item_id}"

        def log(session: Session, items: list[UnansweredQuestion]) -> None:
            after = {"reason": reason.value, "farmers": len(items)}
            audit.record(session, admin_id, "dismiss", target, dict(OPEN), after)

        items = self.reviewer.dismiss(item_id, admin_id=admin_id, reason=reason, before_commit=log)
        self._logged(admin_id, "dismiss", target)
        return items

    def record(
        self,
        admin_id: int,
        action: str,
        target: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Log a change in a transaction of its own (an undo, an import, a model switch)."""
        with self.session_factory() as session:
            audit.record(session, admin_id, action, target, before, after)
            session.commit()
        self._logged(admin_id, action, target)

    @staticmethod
    def _logged(admin_id: int, action: str, target: str) -> None:
        logger.info("desk: admin %s %s %s", admin_id, action, target)
