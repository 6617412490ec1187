"""The desk's audit log: each officer's change with what it was before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.models import AuditEntry


def record(
    session: Session,
    admin_id: int,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add a row to the log in the caller's transaction (it commits with the change)."""
    entry = AuditEntry(admin_id=admin_id, action=action, target=target, before=before, after=after)
    session.add(entry)
    session.flush()
    return entry


def recent(session: Session, *, target: str | None = None, limit: int = 50) -> list[AuditEntry]:
    """The newest entries first, optionally for one target ("pair:12")."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    return list(session.scalars(query))


def get_entry(session: Session, entry_id: int) -> AuditEntry | None:
    return session.get(AuditEntry, entry_id)


def was_undone(session: Session, entry: AuditEntry) -> bool:
    """Whether an "undo" row for the same target names this entry."""
    undos = select(AuditEntry.before).where(
        AuditEntry.target == entry.target, AuditEntry.action == "undo"
    )
    return any((before or {}).get("entry") == entry.id for before in session.scalars(undos))
