"""The bank's revision: how a change made by one process reaches every other one.

Every transaction that adds, edits or deletes a pair (its phrasings and zone answers
included) takes the next revision before its first write and records the ids of the
pairs it touched. The bump holds the `bank_revision` row's lock until the transaction
ends, so bank writers take revisions in commit order: a process that has applied
revision r and reads revision n may refresh the pairs changed in (r, n] and miss nothing.
The CLI, the bot and every replica write through sessions from `make_session_factory`,
which calls `track_bank_changes`. On PostgreSQL each revision is also announced with
NOTIFY when it commits, so followers listening need not wait for their next poll.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, insert, inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import AnswerVariant, BankChange, BankRevision, Phrasing, QAPair, utcnow

_REVISION = "bank_revision"  # session.info: (transaction, revision) taken in it
_RECORDED = "bank_changes"  # session.info: pair ids recorded in that transaction
_BANK = (QAPair, Phrasing, AnswerVariant)
# PostgreSQL: every revision is announced on this channel when its transaction commits
NOTIFY_CHANNEL = "agribot_bank"


def track_bank_changes(session_factory: sessionmaker[Session]) -> None:
    """Record a revision for every transaction of `session_factory` that changes the bank."""
    event.listen(session_factory, "before_flush", _take_revision)
    event.listen(session_factory, "after_flush", _record_changes)
    event.listen(session_factory, "after_transaction_end", _forget_revision)


def taken_revision(session: Session) -> int | None:
    """The revision the session's open transaction took (None: it changed no pair yet)."""
    taken = session.info.get(_REVISION)
    return taken[1] if taken is not None and taken[0] is session.get_transaction() else None


def current_revision(session: Session) -> int:
    return session.scalar(select(BankRevision.revision).where(BankRevision.id == 1)) or 0


def changed_pair_ids(session: Session, after: int, upto: int) -> list[int]:
    """Pairs touched by revisions after `after`, up to and including `upto`."""
    query = (
        select(BankChange.pair_id)
        .where(BankChange.revision > after, BankChange.revision <= upto)
        .distinct()
        .order_by(BankChange.pair_id)
    )
    return list(session.scalars(query))


def prune_changes(session: Session, before: Any) -> int:
    """Delete change records older than `before` (a datetime); the caller commits."""
    result = session.execute(delete(BankChange).where(BankChange.changed_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def _touched(session: Session) -> set[int | None]:
    """Ids of the pairs the session's pending objects belong to (None: not flushed yet)."""
    edited = (o for o in session.dirty if isinstance(o, _BANK) and session.is_modified(o))
    touched: set[int | None] = set()
    for obj in (*session.new, *session.deleted, *edited):
        if isinstance(obj, QAPair):
            touched.add(obj.id)
        elif isinstance(obj, AnswerVariant) or _indexed_wording(obj):
            touched.add(obj.pair_id)
    return touched


def _indexed_wording(obj: object) -> bool:
    """A phrasing that is, or was, approved: a wording waiting for an officer is not
    indexed anywhere, so adding or rejecting one changes no process's index."""
    if not isinstance(obj, Phrasing):
        return False
    history = inspect(obj).attrs.approved.history
    return bool(obj.approved) or any(history.deleted)


def _take_revision(session: Session, flush_context: Any, instances: Any) -> None:
    if not _touched(session):
        return
    transaction = session.get_transaction()
    taken = session.info.get(_REVISION)
    if taken is not None and taken[0] is transaction:
        return
    bumped = session.connection().execute(
        update(BankRevision)
        .where(BankRevision.id == 1)
        .values(revision=BankRevision.revision + 1)
        .returning(BankRevision.revision)
    )
    revision = bumped.scalar_one()
    session.info[_REVISION] = (transaction, revision)
    session.info[_RECORDED] = set()
    if session.get_bind().dialect.name == "postgresql":  # delivered at commit, or never
        session.connection().execute(
            text("SELECT pg_notify(:channel, :revision)"),
            {"channel": NOTIFY_CHANNEL, "revision": str(revision)},
        )


def _record_changes(session: Session, flush_context: Any) -> None:
    taken = session.info.get(_REVISION)
    if taken is None or taken[0] is not session.get_transaction():
        return
    recorded: set[int] = session.info[_RECORDED]
    fresh = sorted(
        pair_id for pair_id in _touched(session) if pair_id is not None and pair_id not in recorded
    )
    if not fresh:
        return
    now = utcnow()
    session.connection().execute(
        insert(BankChange),
        [{"revision": taken[1], "pair_id": pair_id, "changed_at": now} for pair_id in fresh],
    )
    recorded.update(fresh)


def _forget_revision(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_REVISION, None)
        session.info.pop(_RECORDED, None)
