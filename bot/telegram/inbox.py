"""Updates kept on disk from arrival until handled, so a crash (kill -9) loses none.

With long polling, Telegram forgets an update once the next `getUpdates` asks for a
higher offset, and python-telegram-bot asks while the handlers of the last batch are still
running. `RecordingBot.get_updates` writes each batch to the inbox (fsynced) before
returning it, so the confirming request can only follow the record; webhook mode records
an update before answering 200. A handler in the last group marks it done; on start,
updates recorded but not done are handled again. A farmer's question is named after its
update (`question_ref`), so handling it again logs it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ExtBot

logger = logging.getLogger(__name__)

COMPACT_AFTER = 2000  # lines; the replay job compacts the file past this


class UpdateInbox:
    """An append-only JSONL file: {"update": {...}} on arrival, {"done": id} when handled.

    `record([update])` before Telegram is told the update arrived, `done(update_id)` after
    the reply went out, and on start `unfinished()`: what a crash left.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._claimed: set[int] = set()
        self._lines = 0
        self.highest = -1
        for entry in self._entries():
            self._lines += 1
            seen = entry.get("update", {}).get("update_id", entry.get("highest", -1))
            self.highest = max(self.highest, int(seen))
        # Only updates recorded before this start can be met twice (replayed, then
        # redelivered by Telegram); later ones need no remembering.
        self._replay_ceiling = self.highest

    def record(self, updates: list[dict[str, Any]]) -> None:
        """Append the updates not recorded yet, and fsync."""
        with self._lock:
            fresh = [u for u in updates if int(u["update_id"]) > self.highest]
            if not fresh:
                return
            lines = "".join(
                json.dumps({"update": u}, ensure_ascii=True) + "\n" for u in fresh
            )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
            self.highest = max(self.highest, *(int(u["update_id"]) for u in fresh))
            self._lines += len(fresh)

    def done(self, update_id: int) -> None:
        """Mark an update handled (not fsynced: a lost mark only means handling it again)."""
        with self._lock:
            if not self.path.exists():
                return
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"done": update_id}) + "\n")
            self._lines += 1

    def claim(self, update_id: int) -> bool:
        """True the first time this process meets `update_id`: a replayed update and
        Telegram's redelivery of it are handled once."""
        if update_id > self._replay_ceiling:
            return True
        with self._lock:
            if update_id in self._claimed:
                return False
            self._claimed.add(update_id)
            return True

    def unfinished(self) -> list[dict[str, Any]]:
        """Updates recorded but never marked done, oldest first."""
        with self._lock:
            return self._unfinished()

    def _unfinished(self) -> list[dict[str, Any]]:
        arrived: dict[int, dict[str, Any]] = {}
        for entry in self._entries():
            if "update" in entry:
                arrived[int(entry["update"]["update_id"])] = entry["update"]
            elif "done" in entry:
                arrived.pop(int(entry["done"]), None)
        return [arrived[key] for key in sorted(arrived)]

    def compact(self) -> None:
        """Rewrite the file with only what is unfinished (and the highest id seen).

        Read and rewrite under one lock, so an update recorded meanwhile is not lost.
        """
        with self._lock:
            if not self.path.exists():
                return
            pending = self._unfinished()
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write(json.dumps({"highest": self.highest}) + "\n")
                for update in pending:
                    handle.write(json.dumps({"update": update}, ensure_ascii=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            self._lines = len(pending) + 1

    @property
    def needs_compacting(self) -> bool:
        return self._lines > COMPACT_AFTER

    def _entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash mid-write
            if isinstance(entry, dict):
                entries.append(entry)
        return entries


class RecordingBot(ExtBot[int]):  # int: AIORateLimiter's rate_limit_args (max_retries)
    """ExtBot whose `get_updates` records each batch in the inbox before returning it."""

    def set_inbox(self, inbox: UpdateInbox) -> None:
        with self._unfrozen():
            self.inbox = inbox

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        updates = await super().get_updates(*args, **kwargs)
        inbox: UpdateInbox | None = getattr(self, "inbox", None)
        if updates and inbox is not None:
            await asyncio.to_thread(inbox.record, [u.to_dict() for u in updates])
        return updates


def question_ref(bot_id: int, update_id: int) -> str:
    """The question's log reference, the same each time its update is handled."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"telegram:{bot_id}:{update_id}").hex


async def claim_update(update: object, context: Any) -> None:
    """Group -1: an update this process has met already, or another replica took, is not
    handled twice."""
    if not isinstance(update, Update):
        return
    inbox: UpdateInbox | None = context.bot_data.inbox
    if inbox is not None and not inbox.claim(update.update_id):
        logger.info("update %d was handled already (replayed after a restart)", update.update_id)
        raise ApplicationHandlerStop
    claims = context.bot_data.claims
    if claims is not None and not await asyncio.to_thread(claims.claim, update.update_id):
        raise ApplicationHandlerStop


async def mark_done(update: object, context: Any) -> None:
    """Last group: the update's handlers have finished."""
    if not isinstance(update, Update):
        return
    inbox: UpdateInbox | None = context.bot_data.inbox
    if inbox is not None:
        await asyncio.to_thread(inbox.done, update.update_id)
    if context.bot_data.claims is not None:
        await asyncio.to_thread(context.bot_data.claims.finish, update.update_id)
