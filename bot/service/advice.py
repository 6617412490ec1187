"""The answer a farmer receives: their zone's version of it, and where it comes from.

Most answers hold everywhere; a few (fertilizer doses above all) differ by zone. For those
the farmer's district is asked once and remembered, and the answer for its zone is sent,
with the publisher of its source on the last line.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import PairNotFound
from bot.service.answering import Answerer
from bot.service.districts import District, district
from bot.storage import profiles
from bot.storage.sources import Source, read_sources, source_line


@dataclass(frozen=True)
class Advice:
    """One pair's answer as this farmer should get it."""

    pair_id: int
    question: str
    answer: str
    source: str | None  # "මූලාශ්‍රය: ..." or None
    zone: str | None  # the zone the answer is for, when the pair has zone answers
    needs_district: bool  # zone answers exist but the farmer's district is not known yet


class Advisor:
    """Looks up a chat's zone (cached) and composes the answer for it."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        answerer: Answerer,
        sources: dict[str, Source] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.answerer = answerer
        self.sources = read_sources() if sources is None else sources
        self._zones: dict[int, str | None] = {}
        self._lock = threading.Lock()

    def zone_of(self, chat_id: int | None) -> str | None:
        """The chat's zone, read from the database once and then kept in memory."""
        if chat_id is None:
            return None
        with self._lock:
            if chat_id in self._zones:
                return self._zones[chat_id]
        with self.session_factory() as session:
            profile = profiles.get_profile(session, chat_id)
            zone = profile.zone if profile is not None else None
        with self._lock:
            self._zones[chat_id] = zone
        return zone

    def set_district(self, chat_id: int, user_id: int | None, code: str) -> District:
        chosen = district(code)
        if chosen is None:
            raise ValueError(f"unknown district {code!r}")
        with self.session_factory() as session:
            profiles.set_district(session, chat_id, user_id, chosen.code, chosen.zone)
            session.commit()
        with self._lock:
            self._zones[chat_id] = chosen.zone
        return chosen

    def forget(self, chat_id: int) -> None:
        with self._lock:
            self._zones.pop(chat_id, None)

    def forget_all(self) -> None:
        """Drop every cached zone (after a purge deleted profiles); each is read again."""
        with self._lock:
            self._zones.clear()

    def advice(self, pair_id: int, chat_id: int | None) -> Advice:
        """The pair's answer for this chat's zone; raises PairNotFound if it is gone."""
        summary = self.answerer.state.pairs.get(pair_id)
        if summary is None:
            raise PairNotFound(f"no QA pair with id {pair_id}")
        if not summary.variants:
            return Advice(
                pair_id,
                summary.question,
                summary.answer,
                source_line(summary.source, self.sources),
                None,
                False,
            )
        zone = self.zone_of(chat_id)
        answer, source = summary.variants.get(zone or "", (summary.answer, summary.source))
        return Advice(
            pair_id,
            summary.question,
            answer,
            source_line(source or summary.source, self.sources),
            zone,
            zone is None and chat_id is not None,
        )
