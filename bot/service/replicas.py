"""Several bot processes (replicas) on one PostgreSQL database: one handles each update."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.storage import update_claims
from bot.storage.models import utcnow

logger = logging.getLogger(__name__)

REPLICA_FILE = "replica-id"
# A replica that took an update and has not finished it after this long is presumed dead
# (answering takes well under a second); another may then take the update over.
STALE_AFTER = timedelta(minutes=2)
KEEP_CLAIMS = timedelta(days=2)  # Telegram gives up redelivering long before this
PRUNE_EVERY_S = 3600.0


def replica_id(data_dir: Path) -> str:
    """This replica's name, kept in its data directory so a restart is the same replica
    (its inbox replays what it had taken)."""
    path = data_dir / REPLICA_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    name = uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(name + "\n", encoding="utf-8")
    return name


class UpdateClaims:
    """Claims on Telegram updates, shared by the replicas through the database.

    A failing database never stops a farmer's update: it is handled (the replica's own
    inbox still keeps it from being handled twice there).
    """

    def __init__(self, session_factory: sessionmaker[Session], replica: str) -> None:
        self.session_factory = session_factory
        self.replica = replica

    def claim(self, update_id: int) -> bool:
        """True if this replica should handle the update."""
        try:
            with self.session_factory() as session:
                mine = update_claims.claim(
                    session, update_id, self.replica, stale_after=STALE_AFTER
                )
                session.commit()
        except SQLAlchemyError as error:
            logger.warning(
                "could not claim update %d (%s): handling it", update_id, type(error).__name__
            )
            return True
        if not mine:
            logger.info("update %d is another replica's", update_id)
        return mine

    def finish(self, update_id: int) -> None:
        try:
            with self.session_factory() as session:
                update_claims.finish(session, update_id, self.replica)
                session.commit()
        except SQLAlchemyError as error:
            logger.warning("could not mark update %d done (%s)", update_id, type(error).__name__)

    def prune(self) -> int:
        with self.session_factory() as session:
            count = update_claims.prune(session, utcnow() - KEEP_CLAIMS)
            session.commit()
        return count
