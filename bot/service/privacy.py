"""A farmer's /forget and the retention purge, over the database, the journal and caches.

Sync functions for a worker thread, like the rest of `service/`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from bot.service import media
from bot.storage import privacy
from bot.storage.models import utcnow

if TYPE_CHECKING:
    from bot.service.runtime import Services

logger = logging.getLogger(__name__)


def forget_farmer(services: Services, chat_id: int, user_id: int | None) -> dict[str, int]:
    """Delete everything the bot keeps of this chat and user; counts per table.

    The journal goes first: a question waiting there (the database was down as it was
    asked) is then never written, and one replayed just before is in the database,
    where the delete that follows finds it. The chat's cached zone is dropped last.
    A question still being answered as this runs can be logged after it; /forget again
    removes it.

    The counts are keyed journal, feedback, unanswered, questions and farmer_profiles.
    """
    counts = {"journal": services.journal.drop_chat(chat_id, user_id)}
    with services.session_factory() as session:
        files = privacy.their_media(session, chat_id, user_id)
        counts.update(privacy.forget_user(session, chat_id, user_id))
        session.commit()
    counts["media"] = media.delete_files(files)  # their voice notes and photos
    services.advisor.forget(chat_id)
    logger.info("forgot chat %s: %s", chat_id, counts)
    return counts


def purge_expired(
    session_factory: sessionmaker[Session],
    retention_days: int,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Delete what is older than `retention_days` (see `storage.privacy.purge_older_than`);
    with `dry_run`, count it and roll back."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with session_factory() as session:
        files = privacy.expired_media(session, cutoff)
        counts = privacy.purge_older_than(session, cutoff)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    counts["media"] = len(files) if dry_run else media.delete_files(files)
    logger.info(
        "%s data older than %d days (before %s): %s",
        "would purge" if dry_run else "purged",
        retention_days,
        cutoff.isoformat(timespec="seconds"),
        counts,
    )
    return counts
