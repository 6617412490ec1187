"""Tap instead of type: topic buttons under /start, each topic's most asked questions, and a
tapped question answered, logged and open to 👍/👎 like a typed one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.retrieval.decision import Decision
from bot.service.topics import TOPICS
from bot.storage.models import Feedback, FeedbackKind, QAPair, QuestionLog
from bot.telegram import texts
from tests.telegram.conftest import BotHarness, buttons


def harvest_pairs(bot: BotHarness) -> list[QAPair]:
    """The small bank's pairs under the harvest button, in bank order."""
    with bot.services.session_factory() as session:
        query = select(QAPair).where(QAPair.topic.in_(TOPICS["harvest"])).order_by(QAPair.id)
        return list(session.scalars(query))


def written(bot: BotHarness) -> tuple[int, int]:
    with bot.services.session_factory() as session:
        logged = session.scalar(select(func.count()).select_from(QuestionLog))
        return logged, session.scalar(select(func.count()).select_from(Feedback))


async def open_topic(bot: BotHarness, chat_id: int, key: str) -> dict[str, Any]:
    [welcome] = await bot.send(chat_id, "/start")
    before = len(bot.fake.sent_messages(chat_id))
    await bot.press(chat_id, welcome, f"tp:{key}")
    return (await bot.fake.wait_for_messages(chat_id, before + 1))[before]


async def test_start_offers_the_topic_buttons(bot):
    [welcome] = await bot.send(601, "/start")
    assert welcome["text"] == texts.welcome(bot.services.settings.retention_days)
    assert buttons(welcome) == [(texts.TOPIC_BUTTONS[key], f"tp:{key}") for key in TOPICS]
    assert len(buttons(welcome)) == 8


async def test_a_topic_lists_its_most_asked_questions_first(bot):
    first, second = harvest_pairs(bot)[:2]
    listed = await open_topic(bot, 602, "harvest")
    assert listed["text"] == texts.topic_questions(texts.TOPIC_BUTTONS["harvest"])
    shown = buttons(listed)
    assert shown[:2] == [
        (first.question, f"tq:harvest:{first.id}"),  # nothing asked yet: bank order
        (second.question, f"tq:harvest:{second.id}"),
    ]
    assert len(shown) == len(harvest_pairs(bot)) <= 6

    for chat_id in (603, 604, 605):  # the second is asked (and answered) three times
        [answer] = await bot.send(chat_id, second.question)
        assert buttons(answer)[0][1].endswith(f":{second.id}")
    shown = buttons(await open_topic(bot, 606, "harvest"))
    assert shown[:2] == [
        (second.question, f"tq:harvest:{second.id}"),
        (first.question, f"tq:harvest:{first.id}"),
    ]


async def test_no_more_than_six_questions_are_listed(bot):
    for n in range(8):
        bot.services.bank.add(f"වතුර ප්‍රශ්නය අංක {n} මොකක්ද?", f"උත්තරය {n}.", topic="water")
    shown = buttons(await open_topic(bot, 607, "water"))
    assert len(shown) == 6 and all(data.startswith("tq:water:") for _, data in shown)


async def test_a_tapped_question_is_answered_and_logged_like_a_typed_one(bot):
    pair = harvest_pairs(bot)[0]
    [typed] = await bot.send(608, pair.question)  # what typing it gives, for comparison
    listed = await open_topic(bot, 609, "harvest")
    await bot.press(609, listed, f"tq:harvest:{pair.id}")
    answer = (await bot.fake.wait_for_messages(609, 3))[2]
    assert answer["text"] == typed["text"]
    [(up_label, up), (_, down)] = buttons(answer)
    assert up_label == texts.HELPFUL_BUTTON and down.startswith("fb:n:")
    with bot.services.session_factory() as session:
        [log] = session.scalars(select(QuestionLog).where(QuestionLog.chat_id == 609))
    assert (log.decision, log.top_pair_id, log.channel, log.raw_text) == (
        Decision.ANSWER,
        pair.id,
        "telegram",
        pair.question,
    )
    assert up == f"fb:h:{log.id}:{pair.id}"

    await bot.press(609, answer, up)
    note = bot.fake.calls_to("answerCallbackQuery")[-1].params
    assert note.get("text") == texts.THANKS_FOR_FEEDBACK
    with bot.services.session_factory() as session:
        [feedback] = session.scalars(select(Feedback).where(Feedback.chat_id == 609))
    assert (feedback.kind, feedback.question_id, feedback.pair_id) == (
        FeedbackKind.HELPFUL,
        log.id,
        pair.id,
    )


async def test_forged_topic_and_question_presses_are_refused_and_write_nothing(bot):
    harvest = harvest_pairs(bot)[0]
    listed = await open_topic(bot, 610, "harvest")
    before_written, before_sent = written(bot), len(bot.fake.sent_messages(610))
    for data in [
        "tp:cricket",
        "tq:cricket:1",
        f"tq:pests:{harvest.id}",  # a real pair, but not under that topic
        "tq:harvest:999999",  # no such pair
    ]:
        await bot.press(610, listed, data)
        refusal = bot.fake.calls_to("answerCallbackQuery")[-1].params
        assert refusal.get("text") == texts.BUTTON_NOT_VALID, data
    assert written(bot) == before_written
    assert len(bot.fake.sent_messages(610)) == before_sent
