"""A durable, append-only file for questions the database could not take, replayed later."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from bot.storage.questions import QuestionRecord

logger = logging.getLogger(__name__)


class QuestionJournal:
    """Keeps `QuestionRecord`s on disk (fsynced) until `replay` writes them to the database.

    Example:
        >>> journal = QuestionJournal(Path("var/pending-questions.jsonl"))
        >>> journal.append(record)          # the database is down
        >>> journal.replay(write_record)    # later: returns how many were written
    """

    def __init__(self, path: Path) -> None:
        self.path = path
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
        records = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(QuestionRecord(**json.loads(line)))
            except (ValueError, TypeError):
                # A line cut short by a crash mid-write: skip it, keep the rest.
                logger.error("journal line %d is unreadable and was skipped", number)
        return records

    def replay(self, write: Callable[[QuestionRecord], object]) -> int:
        """Write every pending record; keep in the file those that fail again."""
        with self._lock:
            records = self.pending()
            if not records:
                return 0
            failed = []
            for record in records:
                try:
                    write(record)
                except Exception:
                    logger.exception("replaying question %s failed", record.client_ref)
                    failed.append(record)
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                for record in failed:
                    handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        written = len(records) - len(failed)
        if written:
            logger.info("replayed %d journaled question(s)", written)
        return written
