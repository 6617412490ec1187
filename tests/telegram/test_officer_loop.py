"""Officers in the loop over Telegram: alerts, answering by reply, linking, dismissing with
a reason, 👎 reaching the queue, and an officer's answer never overwriting the bank's."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.service.review import public_question
from bot.storage.models import (
    Feedback,
    FeedbackKind,
    QAPair,
    QueueKind,
    QueueStatus,
    UnansweredQuestion,
)
from bot.telegram import texts
from tests.telegram.conftest import (
    ADMIN,
    ANSWERED,
    ANSWERED_TEXT,
    OFF_TOPIC,
    OFF_TOPIC_2,
    buttons,
    previewed_reply,
    send_previewed,
)

OTHER_ADMIN = 9002
ALERT_EVERY_S = 0.4
OFFICER_ANSWER = "ක්‍රිකට් ගැන මෙතනින් උත්තර දෙන්නේ නැහැ; වී ගැන අහන්න."


def queue_rows(services, *where):
    with services.session_factory() as session:
        return list(session.scalars(select(UnansweredQuestion).where(*where)))


def reply_to(message: dict) -> dict:
    """A message as it appears inside a reply to it."""
    return {key: value for key, value in message.items() if key != "reply_markup"}


async def officer_bot(start_bot):
    """A bot that alerts twice a second: only for the tests of alerts, since an alert can
    arrive between any two of an officer's messages."""
    return await start_bot(admin_ids=[ADMIN, OTHER_ADMIN], alert_every_s=ALERT_EVERY_S)


async def test_new_questions_are_announced_in_batches_to_officers_who_want_them(start_bot):
    bot = await officer_bot(start_bot)
    [muted] = await bot.send(OTHER_ADMIN, "/alerts off")
    assert muted["text"] == texts.ALERTS_OFF

    await asyncio.gather(bot.send(501, OFF_TOPIC), bot.send(502, OFF_TOPIC_2))
    await bot.fake.wait_until(
        lambda: any(m["text"].startswith("🔔") for m in bot.fake.sent_messages(ADMIN)),
        describe=lambda: "an alert",
    )
    [alert] = [m for m in bot.fake.sent_messages(ADMIN) if m["text"].startswith("🔔")]
    items = queue_rows(bot.services)
    assert alert["text"].startswith("🔔") and " 2ක් " in alert["text"]
    for item in items:
        assert texts.item_marker(item.id) in alert["text"]
        assert (f"{texts.ANSWER_BUTTON} #{item.id}", f"al:a:{item.id}") in buttons(alert)
        assert (f"{texts.OFF_TOPIC_BUTTON} #{item.id}", f"dq:{item.id}") in buttons(alert)
    assert any(data.startswith("al:l:") for _, data in buttons(alert))
    assert all(item.alerted_at is not None for item in items)

    await bot.send(503, f"{OFF_TOPIC} ද?")  # a third, within the window: waits for the next
    await asyncio.sleep(ALERT_EVERY_S * 3)
    alerts = [m for m in bot.fake.sent_messages(ADMIN) if m["text"].startswith("🔔")]
    assert len(alerts) == 2 and " 1ක් " in alerts[1]["text"]
    assert not [m for m in bot.fake.sent_messages(OTHER_ADMIN) if m["text"].startswith("🔔")]

    await asyncio.sleep(ALERT_EVERY_S * 3)  # nothing new: no alert
    assert len([m for m in bot.fake.sent_messages(ADMIN) if m["text"].startswith("🔔")]) == 2


async def test_an_officers_reply_to_an_alert_answers_the_farmer(start_bot):
    bot = await officer_bot(start_bot)
    [sent] = await bot.send(511, OFF_TOPIC)
    assert sent["text"] == texts.SENT_TO_OFFICER
    await bot.fake.wait_until(lambda: bot.fake.sent_messages(ADMIN), describe=lambda: "alert")
    alert = bot.fake.sent_messages(ADMIN)[-1]
    [item] = queue_rows(bot.services)

    done = await previewed_reply(bot, alert, OFFICER_ANSWER)
    to_farmer = (await bot.fake.wait_for_messages(511, 2))[1]
    assert to_farmer["text"] == texts.officer_answer(OFF_TOPIC, OFFICER_ANSWER)
    [item] = queue_rows(bot.services)
    assert item.status == QueueStatus.ANSWERED and done["text"] == texts.answered(
        item.id, item.pair_id
    )


async def test_the_answer_button_prompts_and_the_reply_to_the_prompt_answers(start_bot):
    bot = await officer_bot(start_bot)
    await bot.send(521, OFF_TOPIC_2)
    await bot.fake.wait_until(lambda: bot.fake.sent_messages(ADMIN), describe=lambda: "alert")
    alert = bot.fake.sent_messages(ADMIN)[-1]
    [item] = queue_rows(bot.services)

    await bot.press(521, alert, f"al:a:{item.id}", user_id=521)  # a forwarded button
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.ADMINS_ONLY
    assert len(bot.fake.sent_messages(ADMIN)) == 1

    await bot.press(ADMIN, alert, f"al:a:{item.id}")
    prompt = (await bot.fake.wait_for_messages(ADMIN, 2))[1]
    assert prompt["text"] == texts.answer_prompt(item.id, OFF_TOPIC_2)
    asked = bot.fake.calls_to("sendMessage")[-1].params["reply_markup"]
    assert "force_reply" in str(asked)

    vet = "එළදෙනට පශු වෛද්‍යවරයා"
    await previewed_reply(bot, prompt, vet)
    reply = (await bot.fake.wait_for_messages(521, 2))[1]
    assert reply["text"] == texts.officer_answer(OFF_TOPIC_2, vet)


async def test_a_farmers_reply_to_a_bot_message_is_a_question_not_an_answer(start_bot):
    bot = await officer_bot(start_bot)
    [sent] = await bot.send(531, OFF_TOPIC)
    bot.fake.push_message(531, 531, text=ANSWERED, reply_to_message=reply_to(sent))
    answer = (await bot.fake.wait_for_messages(531, 2))[1]
    assert answer["text"].startswith(ANSWERED_TEXT)
    [item] = queue_rows(bot.services)
    assert item.status == QueueStatus.OPEN


async def test_link_button_sends_the_closest_pairs_answer(start_bot):
    bot = await officer_bot(start_bot)
    await bot.send(541, OFF_TOPIC)
    await bot.fake.wait_until(lambda: bot.fake.sent_messages(ADMIN), describe=lambda: "alert")
    alert = bot.fake.sent_messages(ADMIN)[-1]
    [link] = [data for _, data in buttons(alert) if data.startswith("al:l:")]
    pair_id = int(link.rsplit(":", 1)[1])
    await bot.press(ADMIN, alert, link)
    reply = (await bot.fake.wait_for_messages(541, 2))[1]
    pair = bot.services.bank.get(pair_id)
    assert reply["text"] == texts.officer_answer(OFF_TOPIC, pair.answer)
    assert OFF_TOPIC in bot.services.bank.get(pair_id).alternates


async def test_a_thumbs_down_reaches_the_queue_and_a_thumbs_up_takes_it_back(bot):
    [answer] = await bot.send(551, ANSWERED)
    [(_, up), (_, down)] = buttons(answer)
    await bot.press(551, answer, down, user_id=551)
    [item] = queue_rows(bot.services)
    given = int(down.rsplit(":", 1)[1])
    assert (item.kind, item.given_pair_id, item.status) == (
        QueueKind.FEEDBACK,
        given,
        QueueStatus.OPEN,
    )
    [page] = await bot.send(ADMIN, "/unanswered")
    assert texts.feedback_mark(given) + ANSWERED in page["text"]

    await bot.press(551, answer, up, user_id=551)  # the farmer changed their mind
    [item] = queue_rows(bot.services)
    assert item.status == QueueStatus.DISMISSED and item.reason == "withdrawn"


async def test_an_officers_answer_never_overwrites_a_bank_answer_without_a_choice(bot):
    [answer] = await bot.send(561, ANSWERED)
    down = buttons(answer)[1][1]
    await bot.press(561, answer, down, user_id=561)
    [item] = queue_rows(bot.services)
    with bot.services.session_factory() as session:
        pair = session.get(QAPair, item.given_pair_id)
        original = pair.answer

    [choice] = await bot.send(ADMIN, f"/answer {item.id} වෙනස් උත්තරයක්")
    assert choice["text"].startswith("⚠️") and f"rw:{item.id}:r" in str(buttons(choice))
    assert bot.services.bank.get(pair.id).answer == original  # nothing changed yet
    [cancel] = await bot.send(ADMIN, f"/answer {item.id} තවත් උත්තරයක්")
    await bot.press(ADMIN, cancel, f"rw:{item.id}:x")
    assert bot.services.bank.get(pair.id).answer == original

    [choice] = await bot.send(ADMIN, f"/answer {item.id} වෙනස් උත්තරයක්")
    await bot.press(ADMIN, choice, f"rw:{item.id}:r")
    reply = (await bot.fake.wait_for_messages(561, 2))[1]
    assert reply["text"] == texts.officer_answer(ANSWERED, "වෙනස් උත්තරයක්")
    assert bot.services.bank.get(pair.id).answer == "වෙනස් උත්තරයක්"


async def test_the_farmer_can_rate_an_officers_answer(bot):
    await bot.send(581, OFF_TOPIC)
    [item] = queue_rows(bot.services)
    [preview] = await bot.send(ADMIN, f"/answer {item.id} {OFFICER_ANSWER}")
    await send_previewed(bot, preview)
    to_farmer = (await bot.fake.wait_for_messages(581, 2))[1]
    assert to_farmer["text"] == texts.officer_answer(OFF_TOPIC, OFFICER_ANSWER)
    [item] = queue_rows(bot.services)
    [(up_label, up), (down_label, down)] = buttons(to_farmer)
    assert (up_label, down_label) == (texts.HELPFUL_BUTTON, texts.NOT_HELPFUL_BUTTON)
    assert (up, down) == (
        f"fb:h:{item.question_id}:{item.pair_id}",
        f"fb:n:{item.question_id}:{item.pair_id}",
    )

    [elsewhere] = await bot.send(582, "/start")
    await bot.press(582, elsewhere, up)  # the same data pressed in another chat: refused
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.BUTTON_NOT_VALID
    await bot.press(581, to_farmer, up)
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == (
        texts.THANKS_FOR_FEEDBACK
    )
    with bot.services.session_factory() as session:
        [feedback] = session.scalars(select(Feedback))
    assert (feedback.kind, feedback.question_id, feedback.pair_id) == (
        FeedbackKind.HELPFUL,
        item.question_id,
        item.pair_id,
    )


async def test_a_repeat_of_a_queued_question_says_it_is_with_an_officer(bot):
    [first] = await bot.send(571, OFF_TOPIC)
    assert first["text"] == texts.SENT_TO_OFFICER
    [again] = await bot.send(571, OFF_TOPIC)
    assert again["text"] == texts.ALREADY_WITH_OFFICER
    [answered] = await bot.send(572, ANSWERED)
    [again] = await bot.send(572, ANSWERED)
    assert answered["text"].startswith(ANSWERED_TEXT) and again["text"] == texts.ALREADY_ASKED
    assert len(queue_rows(bot.services)) == 1


async def test_one_answer_reaches_every_farmer_who_asked_the_same(bot):
    await bot.send(581, OFF_TOPIC)
    await bot.send(582, OFF_TOPIC.rstrip("?"))  # the same question, without the "?"
    [page] = await bot.send(ADMIN, "/unanswered")
    assert "1-1 / 1" in page["text"] and "👥" in page["text"]
    [lead] = queue_rows(bot.services, UnansweredQuestion.chat_id == 581)

    [preview] = await bot.send(ADMIN, f"/answer {lead.id} {OFFICER_ANSWER}")
    assert "1 දෙනෙකුටත්" in preview["text"]
    done = await send_previewed(bot, preview)
    assert done["text"].endswith(texts.also_sent(1))
    first = (await bot.fake.wait_for_messages(581, 2))[1]
    second = (await bot.fake.wait_for_messages(582, 2))[1]
    assert first["text"] == texts.officer_answer(OFF_TOPIC, OFFICER_ANSWER)
    assert second["text"] == texts.officer_answer(OFF_TOPIC.rstrip("?"), OFFICER_ANSWER)
    assert {row.status for row in queue_rows(bot.services)} == {QueueStatus.ANSWERED}


async def test_the_preview_shows_what_goes_out_and_the_public_question_can_be_edited(bot):
    raw = "අනේ සර් ලංකාවේ ක්‍රිකට් කණ්ඩායමේ නායකයා කවුද"
    await bot.send(591, raw)
    [item] = queue_rows(bot.services)

    [preview] = await bot.send(ADMIN, f"/answer {item.id} {OFFICER_ANSWER}")
    await bot.press(ADMIN, preview, f"pv:{item.id}:x")  # cancelled: nothing goes out
    await bot.fake.wait_for_messages(ADMIN, 2)
    assert len(bot.fake.sent_messages(591)) == 1
    assert queue_rows(bot.services)[0].status == QueueStatus.OPEN

    [preview] = await bot.send(ADMIN, f"/answer {item.id} {OFFICER_ANSWER}")
    assert texts.officer_answer(raw, OFFICER_ANSWER) in preview["text"]
    default = public_question(raw)  # normalized, not the farmer's raw words
    assert f'"{default}"' in preview["text"]
    await bot.press(ADMIN, preview, f"pv:{item.id}:e")
    prompt = bot.fake.sent_messages(ADMIN)[-1]
    await bot.fake.wait_until(lambda: bot.fake.sent_messages(ADMIN)[-1]["text"].startswith("✏️"))
    prompt = bot.fake.sent_messages(ADMIN)[-1]
    assert prompt["text"] == texts.question_prompt(item.id, default)

    public = "ලංකා ක්‍රිකට් කණ්ඩායමේ නායකයා කවුද?"
    bot.fake.push_message(ADMIN, ADMIN, text=public, reply_to_message=reply_to(prompt))
    await bot.fake.wait_until(lambda: bot.fake.sent_messages(ADMIN)[-1]["text"].startswith("👀"))
    preview = bot.fake.sent_messages(ADMIN)[-1]
    assert f'"{public}"' in preview["text"]
    await send_previewed(bot, preview)

    delivered = (await bot.fake.wait_for_messages(591, 2))[1]
    assert delivered["text"] == texts.officer_answer(raw, OFFICER_ANSWER)
    [item] = queue_rows(bot.services)
    view = bot.services.bank.get(item.pair_id)
    assert view.question == public and view.alternates == [raw]  # the farmer's words: hidden


async def test_an_answer_can_become_a_new_pair_beside_the_one_asking_the_same_words(bot):
    [answer] = await bot.send(562, ANSWERED)
    await bot.press(562, answer, buttons(answer)[1][1], user_id=562)  # 👎: queued
    [item] = queue_rows(bot.services)
    before = bot.services.bank.count()

    [choice] = await bot.send(ADMIN, f"/answer {item.id} කලාපයට අනුව වෙනස් වෙනවා.")
    await bot.press(ADMIN, choice, f"rw:{item.id}:n")
    await bot.fake.wait_until(lambda: bot.fake.sent_messages(ADMIN)[-1]["text"].startswith("✏️"))
    prompt = bot.fake.sent_messages(ADMIN)[-1]
    public = "බිත්තර වී පොඟවන කාලය කලාපයෙන් කලාපයට වෙනස්ද?"
    bot.fake.push_message(ADMIN, ADMIN, text=public, reply_to_message=reply_to(prompt))
    await bot.fake.wait_until(lambda: bot.fake.sent_messages(ADMIN)[-1]["text"].startswith("👀"))
    await send_previewed(bot, bot.fake.sent_messages(ADMIN)[-1])

    reply = (await bot.fake.wait_for_messages(562, 2))[1]
    assert reply["text"] == texts.officer_answer(ANSWERED, "කලාපයට අනුව වෙනස් වෙනවා.")
    [item] = queue_rows(bot.services)
    created = bot.services.bank.get(item.pair_id)
    assert bot.services.bank.count() == before + 1 and item.pair_id != item.given_pair_id
    assert created.question == public and ANSWERED not in created.alternates
