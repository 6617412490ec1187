"""A durable, append-only file for questions the database could not take, replayed later.

A record the database refuses for what it holds, not for being unreachable, would fail
every replay: it goes to a dead-letter file beside the journal, with an error in the log.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from bot.storage.questions import QuestionRecord

logger = logging.getLogger(__name__)


class QuestionJournal:
    """Keeps `QuestionRecord`s on disk (fsynced) until `replay` writes them to the database.

    `append(record)` while the database is down; later `replay(write_record)` writes them
    and returns how many it wrote.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dead_letters = path.with_name(path.stem + ".dead.jsonl")
        self._lock = threading.Lock()

    def append(self, record: QuestionRecord) -> None:
        line = json.dumps(record.to_json(), ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        logger.warning("question %s kept in the journal", record.client_ref)

    def pending(self) -> list[QuestionRecord]:
        if not self.path.exists():
            return []
        records: dict[str, QuestionRecord] = {}  # by client_ref: a record is written once
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = QuestionRecord(**json.loads(line))
            except (ValueError, TypeError):
                # A line cut short by a crash mid-write: skip it, keep the rest.
                logger.error("journal line %d is unreadable and was skipped", number)
                continue
            records.setdefault(record.client_ref, record)
        return list(records.values())

    def replay(self, write: Callable[[QuestionRecord], object]) -> int:
        """Write every pending record; keep in the file those that fail again."""
        with self._lock:
            records = self.pending()
            if not records:
                return 0
            failed, dead = [], []
            for record in records:
                try:
                    write(record)
                except Exception as error:
                    if is_transient(error):
                        logger.warning("replaying question %s failed: %s", record.client_ref, error)
                        failed.append(record)
                    else:
                        logger.error(
                            "question %s cannot be written (%s); moved to %s",
                            record.client_ref,
                            error,
                            self.dead_letters,
                        )
                        dead.append(record)
            if dead:
                with self.dead_letters.open("a", encoding="utf-8") as handle:
                    for record in dead:
                        handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                for record in failed:
                    handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        written = len(records) - len(failed) - len(dead)
        if written:
            logger.info("replayed %d journaled question(s)", written)
        return written

    def drop_chat(self, chat_id: int, user_id: int | None) -> int:
        """Remove this chat's or user's records from the journal and the dead letters
        (a farmer's /forget); returns how many were removed.

        Safe against `replay`: both hold the lock, so a record is either written before
        (and then deleted from the database by the caller, who calls this first) or never.
        An unreadable line is kept as it is: it names nobody that can be read back.
        """
        removed = 0
        with self._lock:
            for path in (self.path, self.dead_letters):
                if not path.exists():
                    continue
                lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
                kept = [line for line in lines if not _names(line, chat_id, user_id)]
                if len(kept) == len(lines):
                    continue
                removed += len(lines) - len(kept)
                tmp = path.with_suffix(".tmp")
                with tmp.open("w", encoding="utf-8") as handle:
                    handle.write("".join(kept))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
        if removed:
            logger.info("dropped %d journaled question(s) of chat %s", removed, chat_id)
        return removed


def _names(line: str, chat_id: int, user_id: int | None) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    if not isinstance(record, dict):
        return False
    return record.get("chat_id") == chat_id or (
        user_id is not None and record.get("user_id") == user_id
    )


def is_transient(error: BaseException) -> bool:
    """Whether a failed write may succeed later: the database was unreachable or busy
    (PostgreSQL down, SQLite locked), not refusing what the record holds."""
    if isinstance(error, (OperationalError, InterfaceError, DisconnectionError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated
