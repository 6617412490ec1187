"""Topics a farmer can tap instead of typing: each topic's most asked questions, and a tapped
question logged and answered like a typed one.

Sync functions for a worker thread. Button data comes from the client, so a topic and a
pair are checked before anything is written: a forged press raises PressRefused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.errors import PairNotFound, PressRefused
from bot.service.answering import Question, Reply
from bot.service.runtime import Services
from bot.storage import bank
from bot.storage.models import utcnow
from bot.storage.questions import most_asked_pairs

logger = logging.getLogger(__name__)

# Each button's key (in the callback data) and the bank topics it covers, in button order.
TOPICS: dict[str, tuple[str, ...]] = {
    "seasons": ("seasons", "weather"),
    "varieties": ("varieties",),
    "nursery": ("seed_nursery", "establishment", "land_preparation"),
    "fertilizer": ("fertilizer", "organic"),
    "pests": ("pests", "weeds", "pesticide_safety", "first_aid"),
    "diseases": ("diseases",),
    "water": ("water",),
    "harvest": ("harvest", "post_harvest", "machinery", "marketing"),
}
SHOWN = 6  # questions per topic: six buttons fit a phone screen
ASKED_WITHIN = timedelta(days=90)  # "most asked" counts this season's questions


@dataclass(frozen=True)
class TopicQuestion:
    pair_id: int
    question: str


def popular_questions(services: Services, key: str, limit: int = SHOWN) -> list[TopicQuestion]:
    """The topic's questions the bot answered most in the last 90 days, then bank order.

    Raises PressRefused for a topic that is not one of TOPICS.
    """
    topics = _bank_topics(key)
    with services.session_factory() as session:
        pairs = most_asked_pairs(session, topics, since=utcnow() - ASKED_WITHIN, limit=limit)
        return [TopicQuestion(pair.id, pair.question) for pair in pairs]


def ask_picked(
    services: Services,
    key: str,
    pair_id: int,
    *,
    chat_id: int,
    user_id: int | None,
    ref: str,
) -> Reply:
    """Log a question tapped under a topic as answered with its pair (`ref` names it, so
    handling the press twice logs it once); the reply carries the log reference.

    Raises PressRefused, writing nothing, unless the pair exists and belongs to the topic.
    """
    topics = _bank_topics(key)
    with services.session_factory() as session:
        try:
            pair = bank.get_pair(session, pair_id)
        except PairNotFound:
            raise PressRefused(f"chat {chat_id} pressed unknown pair {pair_id}") from None
        if pair.topic not in topics:
            raise PressRefused(f"pair {pair_id} is not under topic {key!r}")
        question = Question(pair.question, chat_id=chat_id, user_id=user_id, ref=ref)
    reply = services.answerer.log_picked(question, pair_id)
    logger.info("chat %s tapped pair %d under %s", chat_id, pair_id, key)
    return reply


def _bank_topics(key: str) -> tuple[str, ...]:
    if key not in TOPICS:
        raise PressRefused(f"no topic {key!r}")
    return TOPICS[key]
