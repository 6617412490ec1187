from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from bot.storage import bank
from bot.storage.models import Feedback, FeedbackKind, Phrasing, QuestionLog, UnansweredQuestion
from bot.storage.sources import read_sources, source_line
from bot.telegram import texts
from tests.telegram.conftest import (
    ADMIN,
    ANSWERED,
    ANSWERED_TEXT,
    GREY,
    HARVEST,
    OFF_TOPIC,
    buttons,
    send_previewed,
)


def rows(services, model, *where):
    with services.session_factory() as session:
        return list(session.scalars(select(model).where(*where)))


def count_questions(services) -> int:
    with services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(QuestionLog))


async def test_start_and_help_speak_sinhala_and_point_to_more_help(bot):
    [welcome] = await bot.send(101, "/start")
    assert welcome["text"] == texts.welcome(bot.services.settings.retention_days)
    assert texts.OFFICER in welcome["text"] and "1920" in welcome["text"]
    [farmer_help] = await bot.send(101, "/help")
    assert "/add" not in farmer_help["text"]
    admin_help = await bot.send(ADMIN, "/help")
    assert "/add ප්‍රශ්නය || උත්තරය || වෙනත් විදිහ 1 | වෙනත් විදිහ 2" in admin_help[-1]["text"]


async def test_answered_question_gets_feedback_buttons_and_the_press_is_stored(bot):
    [answer] = await bot.send(102, ANSWERED)
    assert answer["text"].startswith(ANSWERED_TEXT)
    [(up_label, up), (_, down)] = buttons(answer)
    assert up_label == texts.HELPFUL_BUTTON and up.startswith("fb:h:") and down.startswith("fb:n:")

    await bot.press(102, answer, up)
    await bot.fake.wait_until(lambda: buttons(bot.message(102, answer["message_id"]))[0][1] == "ok")
    assert buttons(bot.message(102, answer["message_id"])) == [(texts.THANKS_BUTTON, "ok")]
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.THANKS_FOR_FEEDBACK
    [question] = rows(bot.services, QuestionLog)
    [feedback] = rows(bot.services, Feedback)
    assert (feedback.kind, feedback.question_id, feedback.chat_id) == (
        FeedbackKind.HELPFUL,
        question.id,
        102,
    )
    assert feedback.pair_id == question.top_pair_id is not None

    await bot.press(102, answer, down)  # changing one's mind replaces the first press
    await bot.fake.wait_until(
        lambda: [f.kind for f in rows(bot.services, Feedback)] == [FeedbackKind.NOT_HELPFUL]
    )


async def test_grey_zone_offers_did_you_mean_and_a_choice_sends_that_answer(bot):
    [offer] = await bot.send(103, GREY)
    assert offer["text"].startswith(texts.DID_YOU_MEAN)
    assert f"\n\n1. {HARVEST}" in offer["text"]
    choices = buttons(offer)
    assert 2 <= len(choices) <= 4 and choices[-1][0] == texts.NONE_OF_THESE
    assert choices[0][0] == "1"
    assert all(len(data.encode()) <= 64 for _, data in choices)

    await bot.press(103, offer, choices[0][1])
    [answer] = (await bot.fake.wait_for_messages(103, 2))[1:]
    assert bot.message(103, offer["message_id"])["text"] == texts.you_chose(HARVEST)
    assert "reply_markup" not in bot.message(103, offer["message_id"])
    with bot.services.session_factory() as session:
        harvest = bank.find_pair_by_question(session, HARVEST)
    sourced = texts.answer_text(harvest.answer, source_line(harvest.source, read_sources()))
    assert answer["text"] == sourced and buttons(answer)[0][1].startswith("fb:h:")
    [choice] = rows(bot.services, Feedback)
    assert (choice.kind, choice.pair_id) == (FeedbackKind.CHOSE_SUGGESTION, harvest.id)
    [learned] = rows(bot.services, Phrasing, Phrasing.origin == "suggestion")
    assert (learned.text, learned.pair_id, learned.approved) == (GREY, harvest.id, False)
    [again] = await bot.send(104, GREY)  # waiting for an officer: not in the index yet
    assert again["text"] != sourced


async def test_did_you_mean_writes_each_option_in_full_under_numbered_buttons(bot):
    [offer] = await bot.send(115, GREY)
    *numbered, (none_label, none_data) = buttons(offer)
    assert [label for label, _ in numbered] == [str(n) for n in range(1, len(numbered) + 1)]
    assert 2 <= len(numbered) <= 3 and none_label == texts.NONE_OF_THESE
    assert none_data.startswith("sn:")
    offered = [bot.services.bank.get(int(data.rsplit(":", 1)[1])) for _, data in numbered]
    assert [data.split(":")[0] for _, data in numbered] == ["sg"] * len(numbered)
    assert offer["text"] == texts.did_you_mean([pair.question for pair in offered])
    for number, pair in enumerate(offered, 1):
        assert f"{number}. {pair.question}" in offer["text"]  # in full, not cut at 60


async def test_none_of_these_puts_the_question_in_the_queue(bot):
    [offer] = await bot.send(105, GREY)
    await bot.press(105, offer, buttons(offer)[-1][1])
    await bot.fake.wait_until(
        lambda: bot.message(105, offer["message_id"])["text"] == texts.REJECTED_SENT_TO_OFFICER
    )
    [rejected] = rows(bot.services, Feedback)
    assert rejected.kind == FeedbackKind.REJECTED_SUGGESTIONS
    [item] = rows(bot.services, UnansweredQuestion)
    assert (item.text, item.chat_id, item.status) == (GREY, 105, "open")


async def test_a_question_about_another_crop_is_sent_to_an_officer_saying_why(bot):
    coconut = "පොල් ගහට පොහොර දාන්නේ අවුරුද්දට කී පාරක්ද"
    [reply] = await bot.send(107, coconut)
    assert reply["text"] == texts.OTHER_CROP_SENT_TO_OFFICER
    [item] = rows(bot.services, UnansweredQuestion)
    assert (item.text, item.chat_id, item.status) == (coconut, 107, "open")


async def test_unanswered_question_is_queued_and_the_officers_answer_reaches_the_farmer(bot):
    [reply] = await bot.send(106, OFF_TOPIC)
    assert reply["text"] == texts.SENT_TO_OFFICER
    [item] = rows(bot.services, UnansweredQuestion)
    [page] = await bot.send(ADMIN, "/unanswered")
    assert f"#{item.id}" in page["text"] and OFF_TOPIC in page["text"]
    assert (texts.queue_dismiss_button(item.id), f"uq:d:{item.id}:0") in buttons(page)

    officer = "මෙය වී වගාවට අදාළ ප්‍රශ්නයක් නොවේ. ක්‍රීඩා පුවත් සඳහා පුවත්පත් බලන්න."
    [preview] = await bot.send(ADMIN, f"/answer {item.id} {officer}")
    assert texts.officer_answer(OFF_TOPIC, officer) in preview["text"]
    assert not bot.fake.sent_messages(106)[1:]  # nothing goes out before ✅
    confirmation = await send_previewed(bot, preview)
    delivered = (await bot.fake.wait_for_messages(106, 2))[1]
    assert delivered["text"] == texts.officer_answer(OFF_TOPIC, officer)
    farmer_message_id = rows(bot.services, QuestionLog)[0].message_id
    assert delivered["reply_to_message"]["message_id"] == farmer_message_id
    assert confirmation["text"].startswith("✅")
    [again] = await bot.send(107, OFF_TOPIC)
    assert again["text"] == officer


async def test_link_gives_the_farmer_an_existing_answer_and_learns_the_wording(bot):
    await bot.send(108, OFF_TOPIC)
    [item] = rows(bot.services, UnansweredQuestion)
    with bot.services.session_factory() as session:
        harvest = bank.find_pair_by_question(session, HARVEST)
    [confirmation] = await bot.send(ADMIN, f"/link {item.id} {harvest.id}")
    assert confirmation["text"] == texts.linked(item.id, harvest.id)
    delivered = (await bot.fake.wait_for_messages(108, 2))[1]
    assert delivered["text"] == texts.officer_answer(OFF_TOPIC, harvest.answer)
    assert OFF_TOPIC in bot.services.bank.get(harvest.id).alternates
    [bad] = await bot.send(ADMIN, f"/link {item.id} {harvest.id}")  # already resolved
    assert bad["text"] == texts.queue_item_not_found(item.id)


VIDEO = {"file_id": "v1", "file_unique_id": "uv1", "width": 90, "height": 90, "duration": 2}


async def test_non_text_messages_get_a_kind_reply(bot):
    """Voice notes and photos go to officers (tests/telegram/test_media.py); the rest get
    a note on what the bot reads."""
    fake = bot.fake
    pushes = [
        (lambda chat: fake.push_message(chat, video=VIDEO), texts.VIDEO_NOT_YET),
        (fake.push_sticker, texts.STICKER_REPLY),
        (fake.push_location, texts.LOCATION_NOT_YET),
        (lambda chat: fake.push_document(chat, "a.pdf", b"%PDF"), texts.DOCUMENT_NOT_YET),
    ]
    for number, (push, expected) in enumerate(pushes, 1):
        push(110)
        messages = await fake.wait_for_messages(110, number)
        assert messages[-1]["text"] == expected
    assert count_questions(bot.services) == 0


async def test_a_long_answer_is_split_at_sentence_ends(bot):
    sentence = "කුඹුරට පොහොර යොදන්න කලින් පස පරීක්ෂා කර ප්‍රමාණය තීරණය කරන්න. "
    long_answer = (sentence * 90).strip()
    assert len(long_answer) > texts.MAX_MESSAGE
    bot.services.bank.add("දිගු උත්තරයක් ඇති ප්‍රශ්නය කුමක්ද?", long_answer)
    parts = await bot.send(111, "දිගු උත්තරයක් ඇති ප්‍රශ්නය කුමක්ද?", expect=2)
    assert all(texts.utf16_len(p["text"]) <= texts.MAX_MESSAGE for p in parts)
    assert all(p["text"].endswith(".") for p in parts)
    assert " ".join(p["text"] for p in parts) == long_answer
    assert "reply_markup" not in parts[0] and buttons(parts[1])


async def test_a_repeated_question_is_not_processed_again(bot):
    bot.fake.push_text(112, ANSWERED)
    bot.fake.push_text(112, ANSWERED)  # a double tap
    seen = [m["text"] for m in await bot.fake.wait_for_messages(112, 2)]
    assert texts.ALREADY_ASKED in seen
    assert next(t for t in seen if t != texts.ALREADY_ASKED).startswith(ANSWERED_TEXT)
    assert count_questions(bot.services) == 1


async def test_flood_limit_tells_once_then_stays_quiet(start_bot):
    bot = await start_bot(flood_limit=3)
    for n in range(5):
        bot.fake.push_text(113, f"{OFF_TOPIC} {n}")
    messages = await bot.fake.wait_for_messages(113, 4)
    await asyncio.sleep(0.3)
    texts_seen = [m["text"] for m in bot.fake.sent_messages(113)]
    assert texts_seen.count(texts.SLOW_DOWN) == 1 and len(texts_seen) == 4 == len(messages)
    assert count_questions(bot.services) == 3


async def test_a_429_from_telegram_is_waited_out_and_the_message_still_arrives(bot):
    bot.fake.fail_next("sendMessage", 429, retry_after=1)
    started = time.monotonic()
    [answer] = await bot.send(114, ANSWERED)
    assert answer["text"].startswith(ANSWERED_TEXT)
    assert time.monotonic() - started >= 1.0
    assert len(bot.fake.calls_to("sendMessage")) == 2
