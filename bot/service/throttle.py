"""Guarding the answerer: a chat's repeated question is not re-processed; floods are capped."""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable

from bot.text.normalize import normalize_key

PRUNE_EVERY = 1000


class Verdict(enum.Enum):
    """What to do with an incoming message."""

    ANSWER = "answer"
    REPEAT = "repeat"  # the same question from this chat moments ago, answered above
    REPEAT_QUEUED = "repeat_queued"  # the same, and it is waiting for an officer
    FLOODED = "flooded"  # over the limit: tell the user once
    IGNORE = "ignore"  # still over the limit, already told


class ChatGuard:
    """Remembers recent questions per chat and message times per user.

    Everything happens on the event loop (no awaits inside), so with concurrent
    updates a double-tapped question is still caught: the second copy sees the first.

    Example:
        >>> guard = ChatGuard(repeat_window_s=30, flood_limit=20, flood_window_s=60)
        >>> guard.check(chat_id=42, user_id=42, text="වී මිල කීයද?")
        <Verdict.ANSWER: 'answer'>
    """

    def __init__(
        self,
        repeat_window_s: float,
        flood_limit: int,
        flood_window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repeat_window_s = repeat_window_s
        self.flood_limit = flood_limit
        self.flood_window_s = flood_window_s
        self.clock = clock
        self._asked: dict[int, dict[str, float]] = {}
        self._queued: dict[int, set[str]] = {}  # asked keys that went to an officer
        self._sent: dict[int, deque[float]] = {}
        self._told: set[int] = set()
        self._checks = 0

    def check(self, chat_id: int, user_id: int | None, text: str | None = None) -> Verdict:
        """Count the message and say whether to answer it; `text` None skips the repeat test."""
        now = self.clock()
        self._checks += 1
        if self._checks % PRUNE_EVERY == 0:
            self._prune(now)
        if user_id is not None and self._over_limit(user_id, now):
            if user_id in self._told:
                return Verdict.IGNORE
            self._told.add(user_id)
            return Verdict.FLOODED
        if text is None:
            return Verdict.ANSWER
        key = self._key(text)
        asked = self._asked.setdefault(chat_id, {})
        last = asked.get(key)
        if last is not None and now - last < self.repeat_window_s:
            queued = key in self._queued.get(chat_id, ())
            return Verdict.REPEAT_QUEUED if queued else Verdict.REPEAT
        asked[key] = now
        self._queued.get(chat_id, set()).discard(key)
        return Verdict.ANSWER

    def forget(self, chat_id: int, text: str) -> None:
        """Let this chat ask `text` again at once (its first asking failed)."""
        self._asked.get(chat_id, {}).pop(self._key(text), None)

    def mark_queued(self, chat_id: int, text: str) -> None:
        """`text` went to an officer: a repeat is told so, not "the answer is above"."""
        self._queued.setdefault(chat_id, set()).add(self._key(text))

    @staticmethod
    def _key(text: str) -> str:
        return normalize_key(text) or text.strip()

    def forget_chat(self, chat_id: int) -> None:
        """Drop the chat's recent questions (a farmer's /forget). The user's message times
        stay: they hold no words and are gone within the flood window anyway, and keeping
        them means /forget cannot be used to slip past the flood limit."""
        self._asked.pop(chat_id, None)
        self._queued.pop(chat_id, None)

    def _over_limit(self, user_id: int, now: float) -> bool:
        times = self._sent.setdefault(user_id, deque(maxlen=self.flood_limit + 1))
        while times and now - times[0] >= self.flood_window_s:
            times.popleft()
        times.append(now)
        if len(times) <= self.flood_limit:
            self._told.discard(user_id)
            return False
        return True

    def _prune(self, now: float) -> None:
        for chat_id in list(self._asked):
            asked = self._asked[chat_id]
            for key in [k for k, at in asked.items() if now - at >= self.repeat_window_s]:
                del asked[key]
            queued = self._queued.get(chat_id)
            if queued:
                queued.intersection_update(asked)
            if not asked:
                del self._asked[chat_id]
                self._queued.pop(chat_id, None)
        for user_id in list(self._sent):
            times = self._sent[user_id]
            if not times or now - times[-1] >= self.flood_window_s:
                del self._sent[user_id]
                self._told.discard(user_id)
