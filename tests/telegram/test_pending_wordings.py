"""A farmer's "did you mean" choice teaches the bot only after an officer approves it."""

from __future__ import annotations

from sqlalchemy import select

from bot.storage import bank
from bot.storage.models import Phrasing
from bot.storage.sources import read_sources, source_line
from bot.telegram import texts
from tests.telegram.conftest import ADMIN, GREY, HARVEST, buttons, edited_to


def wordings(services) -> list[Phrasing]:
    with services.session_factory() as session:
        return list(session.scalars(select(Phrasing).where(Phrasing.origin == "suggestion")))


async def choose_harvest(bot, chat_id: int) -> None:
    [offer] = await bot.send(chat_id, GREY)
    choice = next(data for _, data in buttons(offer) if data.startswith("sg:"))
    await bot.press(chat_id, offer, choice)
    await bot.fake.wait_for_messages(chat_id, 2)


def harvest_answer(bot) -> str:
    with bot.services.session_factory() as session:
        harvest = bank.find_pair_by_question(session, HARVEST)
        return texts.answer_text(harvest.answer, source_line(harvest.source, read_sources()))


async def test_an_approved_wording_answers_at_once_and_a_rejected_one_is_gone(bot):
    await choose_harvest(bot, 601)
    [waiting] = wordings(bot.services)
    assert not waiting.approved
    [again] = await bot.send(602, GREY)
    assert again["text"] != harvest_answer(bot)  # not in the index while it waits

    [listed] = await bot.send(ADMIN, "/pending")
    assert f'"{GREY}"' in listed["text"] and HARVEST in listed["text"]
    assert buttons(listed) == [("✅ 1", f"pw:{waiting.id}:a"), ("❌ 1", f"pw:{waiting.id}:r")]
    await bot.press(602, listed, f"pw:{waiting.id}:a", user_id=602)  # not an officer
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.ADMINS_ONLY
    assert not wordings(bot.services)[0].approved

    await bot.press(ADMIN, listed, f"pw:{waiting.id}:a")
    await edited_to(bot, ADMIN, listed, texts.PENDING_EMPTY)
    assert wordings(bot.services)[0].approved
    [answered] = await bot.send(603, GREY)
    assert answered["text"] == harvest_answer(bot)


async def test_a_rejected_wording_is_deleted_and_a_second_press_is_refused(bot):
    await choose_harvest(bot, 611)
    [waiting] = wordings(bot.services)
    [listed] = await bot.send(ADMIN, "/pending")
    await bot.press(ADMIN, listed, f"pw:{waiting.id}:r")
    await edited_to(bot, ADMIN, listed, texts.PENDING_EMPTY)
    assert wordings(bot.services) == []
    await bot.press(ADMIN, listed, f"pw:{waiting.id}:a")  # gone: refused, nothing written
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.BUTTON_NOT_VALID
    assert wordings(bot.services) == []
    [again] = await bot.send(612, GREY)
    assert again["text"] != harvest_answer(bot)
