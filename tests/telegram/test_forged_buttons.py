"""Forged button presses over the fake Bot API: each kind, on another chat's question and on
one's own, is refused with a note, changes nothing and writes no row."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from bot.storage.models import Feedback, FeedbackKind, Phrasing, QuestionLog, UnansweredQuestion
from bot.telegram import texts
from tests.telegram.conftest import ANSWERED, GREY, OFF_TOPIC, BotHarness, buttons


def state(bot: BotHarness) -> dict[str, Any]:
    """Everything a press could change: feedback, learned phrasings, the queue, the profiles."""
    with bot.services.session_factory() as session:
        return {
            "feedback": session.scalar(select(func.count()).select_from(Feedback)),
            "phrasings": session.scalar(select(func.count()).select_from(Phrasing)),
            "queue": sorted(session.scalars(select(UnansweredQuestion.question_id))),
        }


def question_id(bot: BotHarness, chat_id: int, text: str) -> int:
    with bot.services.session_factory() as session:
        asked = select(QuestionLog.id).where(QuestionLog.chat_id == chat_id)
        return session.scalar(asked.where(QuestionLog.raw_text == text))


async def press_refused(bot: BotHarness, chat_id: int, message: dict[str, Any], data: str) -> None:
    before_state, before_sent = state(bot), len(bot.fake.sent_messages(chat_id))
    before_edits = len(bot.fake.calls_to("editMessageText"))
    await bot.press(chat_id, message, data)
    refusal = bot.fake.calls_to("answerCallbackQuery")[-1].params
    assert refusal.get("text") == texts.BUTTON_NOT_VALID, data
    assert state(bot) == before_state, data
    assert len(bot.fake.sent_messages(chat_id)) == before_sent, data
    assert len(bot.fake.calls_to("editMessageText")) == before_edits, data


@pytest.fixture
async def asked(bot: BotHarness) -> dict[str, Any]:
    """Chat 401 has an answered question and a "did you mean" one; chat 402 a declined one."""
    [answer] = await bot.send(401, ANSWERED)
    [offer] = await bot.send(401, GREY)
    [declined] = await bot.send(402, OFF_TOPIC)
    return {"answer": answer, "offer": offer, "declined": declined}


async def test_every_button_kind_of_another_chats_question_is_refused(bot, asked):
    up, down = (data for _, data in buttons(asked["answer"]))
    choices = [data for _, data in buttons(asked["offer"])]
    answered_pair = up.rsplit(":", 1)[1]
    answered_ref = up.split(":")[2]
    for data in [up, down, *choices, f"dz:{answered_ref}:{answered_pair}:colombo"]:
        await press_refused(bot, 402, asked["declined"], data)
    with bot.services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0


async def test_buttons_forged_on_ones_own_question_are_refused(bot, asked):
    declined_id = question_id(bot, 402, OFF_TOPIC)
    offer_id = question_id(bot, 401, GREY)
    answered_id = question_id(bot, 401, ANSWERED)
    offered = [int(data.rsplit(":", 1)[1]) for _, data in buttons(asked["offer"])[:-1]]
    not_offered = next(pair for pair in range(1, 50) if pair not in offered)
    answered_pair = int(buttons(asked["answer"])[0][1].rsplit(":", 1)[1])
    other_pair = next(pair for pair in range(1, 50) if pair != answered_pair)

    # the attack the probe found: a declined question "chooses" any pair, or 👍s it
    for data in [
        f"sg:{declined_id}:1",
        f"fb:h:{declined_id}:1",
        f"sn:{declined_id}",
        f"dz:{declined_id}:1:colombo",
    ]:
        await press_refused(bot, 402, asked["declined"], data)
    # a suggestion that was never shown; 👍/👎 or a district for a pair that was not the answer
    for data in [
        f"sg:{offer_id}:{not_offered}",
        f"fb:h:{answered_id}:{other_pair}",
        f"fb:n:{answered_id}:-",
        f"fb:h:{offer_id}:{offered[0]}",  # nothing chosen yet, so nothing was answered
        f"dz:{answered_id}:{other_pair}:colombo",
        "fb:h:999999:1",
        "sg:r" + "0" * 32 + ":1",
    ]:
        await press_refused(bot, 401, asked["offer"], data)


async def test_a_choice_is_taken_once(bot, asked):
    offer_id = question_id(bot, 401, GREY)
    first, second = (data for _, data in buttons(asked["offer"])[:2])
    await bot.press(401, asked["offer"], first)
    await bot.fake.wait_for_messages(401, 3)
    [choice] = await _feedback(bot)
    assert choice.kind == FeedbackKind.CHOSE_SUGGESTION and choice.question_id == offer_id
    for data in [first, second, f"sn:{offer_id}"]:
        await press_refused(bot, 401, asked["offer"], data)
    chosen = first.rsplit(":", 1)[1]
    await bot.press(401, asked["offer"], f"fb:h:{offer_id}:{chosen}")  # 👍 on what it got
    assert [f.kind for f in await _feedback(bot)] == [
        FeedbackKind.CHOSE_SUGGESTION,
        FeedbackKind.HELPFUL,
    ]


async def test_presses_count_against_the_chats_limit(start_bot):
    bot = await start_bot(flood_limit=5)
    [answer] = await bot.send(403, ANSWERED)
    down = buttons(answer)[1][1]
    for _ in range(8):
        await bot.press(403, answer, down)
    notes = [call.params.get("text") for call in bot.fake.calls_to("answerCallbackQuery")]
    assert notes.count(texts.SLOW_DOWN) == 1
    assert [f.kind for f in await _feedback(bot)] == [FeedbackKind.NOT_HELPFUL]


async def _feedback(bot: BotHarness) -> list[Feedback]:
    with bot.services.session_factory() as session:
        return list(session.scalars(select(Feedback).order_by(Feedback.id)))
