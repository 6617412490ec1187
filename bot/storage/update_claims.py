"""Which replica took which Telegram update: one row per update id, unique.

Telegram retries a webhook delivery it did not see answered, and behind a load balancer
the retry may reach another replica. The first replica to insert the update's row handles
it; a replica meeting its own row again (its inbox replaying after a crash) goes on; a
row left unfinished for `stale_after` by a replica that died may be taken over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from bot.storage.db import insert_or_skip
from bot.storage.models import UpdateClaim, utcnow


def claim(
    session: Session,
    update_id: int,
    replica: str,
    *,
    stale_after: timedelta,
    now: datetime | None = None,
) -> bool:
    """True if `replica` may handle the update; the caller commits."""
    now = now or utcnow()
    values = {"update_id": update_id, "replica": replica, "claimed_at": now}
    statement = insert_or_skip(session, UpdateClaim).values(values)
    inserted = cast(CursorResult[tuple[()]], session.execute(statement))
    if inserted.rowcount == 1:
        return True
    holder = session.execute(
        select(UpdateClaim.replica, UpdateClaim.done_at).where(UpdateClaim.update_id == update_id)
    ).one()
    if holder.replica == replica:
        return True
    if holder.done_at is not None:
        return False
    taken = cast(
        CursorResult[tuple[()]],
        session.execute(
            update(UpdateClaim)
            .where(
                UpdateClaim.update_id == update_id,
                UpdateClaim.replica == holder.replica,
                UpdateClaim.done_at.is_(None),
                UpdateClaim.claimed_at < now - stale_after,
            )
            .values(replica=replica, claimed_at=now)
        ),
    )
    return taken.rowcount == 1


def finish(session: Session, update_id: int, replica: str, now: datetime | None = None) -> None:
    """Mark the update handled by `replica`; the caller commits."""
    session.execute(
        update(UpdateClaim)
        .where(UpdateClaim.update_id == update_id, UpdateClaim.replica == replica)
        .values(done_at=now or utcnow())
    )


def prune(session: Session, before: datetime) -> int:
    """Forget claims older than `before` (Telegram redelivers for hours, not days)."""
    result = cast(
        CursorResult[tuple[()]],
        session.execute(delete(UpdateClaim).where(UpdateClaim.claimed_at < before)),
    )
    return result.rowcount
