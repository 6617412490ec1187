"""Voice notes and photos over the fake Bot API: kept under data_dir/media, queued for
officers, shown to them again by file id, answered by a reply, and never made a QA pair."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from bot.bench.fake_bot_api import SAMPLE_JPEG, SAMPLE_OGG
from bot.retrieval.decision import Decision
from bot.service.privacy import purge_expired
from bot.storage import bank
from bot.storage.models import (
    QAPair,
    QuestionLog,
    QueueKind,
    QueueStatus,
    UnansweredQuestion,
    utcnow,
)
from bot.telegram import texts
from tests.telegram.conftest import ADMIN, HARVEST, buttons

MB = 1024 * 1024
ALERT_EVERY_S = 0.4
CAPTION = "කොළවල දුඹුරු ලප වැටිලා, මේ මොකක්ද?"
OFFICER_ANSWER = "මේ කොළ පාළුව වගේ. ප්‍රදේශයේ කෘෂිකර්ම උපදේශකට පෙන්නන්න."


def rows(services, model, *where):
    with services.session_factory() as session:
        return list(session.scalars(select(model).where(*where)))


def count(services, model) -> int:
    with services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def stored_files(bot) -> list:
    folder = bot.services.settings.media_dir
    return sorted(folder.iterdir()) if folder.exists() else []


def reply_to(message: dict) -> dict:
    """A message as it appears inside a reply to it."""
    return {key: value for key, value in message.items() if key != "reply_markup"}


async def reply_of(bot, chat_id: int, before: int) -> dict:
    return (await bot.fake.wait_for_messages(chat_id, before + 1))[before]


async def test_a_voice_note_is_kept_queued_shown_in_the_alert_and_answered_by_reply(start_bot):
    bot = await start_bot(alert_every_s=ALERT_EVERY_S)
    pairs = count(bot.services, QAPair)
    data = SAMPLE_OGG + b"a farmer speaking"
    update = bot.fake.push_voice(601, data)
    asked = update["message"]

    told = await reply_of(bot, 601, 0)
    assert told["text"] == texts.VOICE_QUEUED
    [item] = rows(bot.services, UnansweredQuestion)
    assert item.kind == QueueKind.VOICE and item.status == QueueStatus.OPEN
    assert item.file_id == asked["voice"]["file_id"] and item.text == texts.VOICE_PLACEHOLDER
    [kept] = stored_files(bot)
    assert str(kept) == item.media_path and kept.read_bytes() == data
    assert kept.name.startswith("voice-") and kept.suffix == ".ogg"
    [log] = rows(bot.services, QuestionLog)
    assert log.decision == Decision.DECLINE and log.message_id == asked["message_id"]

    # the alert: one text with the buttons, then the voice note again, named by its marker
    [resent] = await bot.fake.wait_for_call("sendVoice")
    assert resent.params["chat_id"] == ADMIN and resent.params["voice"] == item.file_id
    assert texts.item_marker(item.id) in resent.params["caption"]
    alert, voice = bot.fake.sent_messages(ADMIN)
    assert alert["text"].startswith("🔔") and texts.VOICE_PLACEHOLDER in alert["text"]
    assert (f"{texts.ANSWER_BUTTON} #{item.id}", f"al:a:{item.id}") in buttons(alert)
    assert not any(data.startswith("al:l:") for _, data in buttons(alert))  # nothing to link
    assert voice["voice"]["file_id"] == item.file_id

    bot.fake.push_message(ADMIN, ADMIN, text=OFFICER_ANSWER, reply_to_message=reply_to(voice))
    answer = await reply_of(bot, 601, 1)
    assert answer["text"] == texts.officer_answer(texts.VOICE_PLACEHOLDER, OFFICER_ANSWER)
    assert answer["reply_to_message"]["message_id"] == asked["message_id"]
    assert "reply_markup" not in answer  # no pair: nothing to give 👍/👎 on
    done = await reply_of(bot, ADMIN, 2)
    assert done["text"] == texts.answered(item.id, None)
    [item] = rows(bot.services, UnansweredQuestion)
    assert item.status == QueueStatus.ANSWERED and item.pair_id is None
    assert count(bot.services, QAPair) == pairs  # a placeholder never becomes a question


async def test_a_photo_with_a_caption_keeps_the_largest_size_within_the_cap(start_bot):
    bot = await start_bot(max_media_mb=3000 / MB)
    pairs = count(bot.services, QAPair)
    small, medium, large = (SAMPLE_JPEG + bytes(n) for n in (10, 2000, 5000))
    asked = bot.fake.push_photo(602, small, medium, large, caption=CAPTION)["message"]

    assert (await reply_of(bot, 602, 0))["text"] == texts.PHOTO_QUEUED
    [item] = rows(bot.services, UnansweredQuestion)
    assert item.kind == QueueKind.PHOTO and item.text == CAPTION
    assert item.file_id == asked["photo"][1]["file_id"]  # the large one is over the cap
    [kept] = stored_files(bot)
    assert kept.read_bytes() == medium and kept.suffix == ".jpg"
    assert bot.fake.calls_to("getFile")[0].params["file_id"] == item.file_id

    [page] = await bot.send(ADMIN, "/unanswered")
    assert f"📷 {CAPTION}" in page["text"] and texts.QUEUE_MEDIA_HINT in page["text"]
    await bot.press(ADMIN, page, f"uq:f:{item.id}")  # 🔎: the photo again, then close pairs
    shown, candidates = (await bot.fake.wait_for_messages(ADMIN, 3))[1:]
    assert shown["photo"][0]["file_id"] == item.file_id
    assert shown["caption"] == texts.media_caption(item.id, f"📷 {CAPTION}")
    assert candidates["text"].startswith(texts.item_marker(item.id))

    await bot.press(ADMIN, page, f"al:a:{item.id}")  # ✍️: the prompt is the photo itself
    prompt = await reply_of(bot, ADMIN, 3)
    assert prompt["photo"][0]["file_id"] == item.file_id
    assert "force_reply" in str(bot.fake.calls_to("sendPhoto")[-1].params["reply_markup"])
    bot.fake.push_message(ADMIN, ADMIN, text=OFFICER_ANSWER, reply_to_message=reply_to(prompt))
    answer = await reply_of(bot, 602, 1)
    assert answer["text"] == texts.officer_answer(CAPTION, OFFICER_ANSWER)
    assert (await reply_of(bot, ADMIN, 4))["text"] == texts.answered(item.id, None)
    assert count(bot.services, QAPair) == pairs
    assert rows(bot.services, QAPair, QAPair.question == CAPTION) == []


async def test_link_sends_the_pairs_answer_and_adds_no_phrasing(bot):
    bot.fake.push_voice(603)
    await reply_of(bot, 603, 0)
    [item] = rows(bot.services, UnansweredQuestion)
    with bot.services.session_factory() as session:
        harvest = bank.find_pair_by_question(session, HARVEST)
    alternates = bot.services.bank.get(harvest.id).alternates
    [confirmation] = await bot.send(ADMIN, f"/link {item.id} {harvest.id}")
    assert confirmation["text"] == texts.linked(item.id, harvest.id)
    answer = await reply_of(bot, 603, 1)
    assert answer["text"] == texts.officer_answer(texts.VOICE_PLACEHOLDER, harvest.answer)
    assert bot.services.bank.get(harvest.id).alternates == alternates


async def test_an_audio_file_is_shown_again_as_audio(bot):
    data = b"ID3\x04\x00" + bytes(40)
    asked = bot.fake.push_audio(604, data)["message"]
    assert (await reply_of(bot, 604, 0))["text"] == texts.VOICE_QUEUED
    [item] = rows(bot.services, UnansweredQuestion)
    [kept] = stored_files(bot)
    assert kept.name.startswith("audio-") and kept.read_bytes() == data
    [page] = await bot.send(ADMIN, "/unanswered")
    await bot.press(ADMIN, page, f"uq:f:{item.id}")
    shown = await reply_of(bot, ADMIN, 1)  # Telegram refuses an audio's id as a voice note
    assert shown["audio"]["file_id"] == asked["audio"]["file_id"]


async def test_too_big_is_refused_before_any_download(start_bot):
    bot = await start_bot(max_media_mb=1)
    bot.fake.push_voice(605, file_size=2 * MB)
    assert (await reply_of(bot, 605, 0))["text"] == texts.media_too_big(1)
    bot.fake.push_photo(605, SAMPLE_JPEG, file_sizes=[3 * MB])
    assert (await reply_of(bot, 605, 1))["text"] == texts.media_too_big(1)
    assert bot.fake.calls_to("getFile") == [] and bot.fake.downloads == []
    assert stored_files(bot) == []
    assert rows(bot.services, UnansweredQuestion) == [] and rows(bot.services, QuestionLog) == []


async def test_wrong_bytes_or_types_are_refused_and_nothing_is_kept(bot):
    bot.fake.push_photo(606, b"GIF89a" + bytes(40))  # not a JPEG, PNG or WebP
    assert (await reply_of(bot, 606, 0))["text"] == texts.PHOTO_WRONG_TYPE
    assert len(bot.fake.downloads) == 1  # looked at, then dropped
    bot.fake.push_voice(606, b"<html>not audio</html>")
    assert (await reply_of(bot, 606, 1))["text"] == texts.VOICE_WRONG_TYPE
    bot.fake.push_voice(606, mime_type="application/x-msdownload")
    assert (await reply_of(bot, 606, 2))["text"] == texts.VOICE_WRONG_TYPE
    assert len(bot.fake.downloads) == 2  # a type not allowed is not even fetched
    assert stored_files(bot) == []
    assert rows(bot.services, UnansweredQuestion) == [] and rows(bot.services, QuestionLog) == []


async def test_voice_notes_count_against_the_flood_limit(start_bot):
    bot = await start_bot(flood_limit=2)
    for _ in range(3):
        bot.fake.push_voice(607)
    replies = [m["text"] for m in await bot.fake.wait_for_messages(607, 3)]
    assert sorted(replies) == sorted([texts.VOICE_QUEUED] * 2 + [texts.SLOW_DOWN])
    await asyncio.sleep(0.2)
    assert len(rows(bot.services, UnansweredQuestion)) == 2 and len(stored_files(bot)) == 2


async def test_an_officer_answering_with_a_voice_note_is_asked_to_write(bot):
    bot.fake.push_voice(608)
    await reply_of(bot, 608, 0)
    [item] = rows(bot.services, UnansweredQuestion)
    [page] = await bot.send(ADMIN, "/unanswered")
    await bot.press(ADMIN, page, f"uq:f:{item.id}")
    shown = await reply_of(bot, ADMIN, 1)
    bot.fake.push_voice(ADMIN, user_id=ADMIN, reply_to_message=reply_to(shown))
    assert (await reply_of(bot, ADMIN, 2))["text"] == texts.ANSWER_AS_TEXT
    assert len(rows(bot.services, UnansweredQuestion)) == 1


async def test_the_fake_refuses_file_ids_telegram_would_refuse(fake_api):
    voice = fake_api.add_file(SAMPLE_OGG, "voice/x.oga", "voice")["file_id"]
    photo = fake_api.add_file(SAMPLE_JPEG, "photos/x.jpg", "photo")["file_id"]
    url = f"{fake_api.base_url}{fake_api.token}"
    async with httpx.AsyncClient() as client:
        results = [
            await client.post(f"{url}/sendVoice", data={"chat_id": "1", "voice": photo}),
            await client.post(f"{url}/sendPhoto", data={"chat_id": "1", "photo": voice}),
            await client.post(f"{url}/sendVoice", data={"chat_id": "1", "voice": "nope"}),
            await client.post(f"{url}/getFile", data={"file_id": "nope"}),
            await client.post(f"{url}/sendVoice", data={"chat_id": "1"}),
        ]
        sent = await client.post(f"{url}/sendVoice", data={"chat_id": "1", "voice": voice})
    assert [r.json()["description"] for r in results] == [
        "Bad Request: type of file mismatch",
        "Bad Request: type of file mismatch",
        "Bad Request: wrong file identifier/HTTP URL specified",
        "Bad Request: invalid file_id",
        "Bad Request: there is no voice in the request",
    ]
    assert sent.json()["result"]["voice"]["file_id"] == voice
    assert len(fake_api.rejected) == 5
    fake_api.rejected.clear()  # refused on purpose: the fixture's check is for the bot


async def test_forget_and_the_retention_purge_delete_the_stored_files(bot):
    bot.fake.push_voice(609)
    bot.fake.push_photo(610)
    await reply_of(bot, 609, 0)
    await reply_of(bot, 610, 0)
    kept = {item.chat_id: item for item in rows(bot.services, UnansweredQuestion)}
    assert len(stored_files(bot)) == 2

    [ask] = await bot.send(609, "/forget")
    await bot.press(609, ask, "fg:y:609")
    await bot.fake.wait_until(lambda: len(stored_files(bot)) == 1, describe=lambda: "a deletion")
    assert [str(path) for path in stored_files(bot)] == [kept[610].media_path]

    [dismissed] = await bot.send(ADMIN, f"/dismiss {kept[610].id} spam")
    assert dismissed["text"] == texts.dismissed_because(kept[610].id, "spam")
    counts = purge_expired(
        bot.services.session_factory, 30, now=utcnow() + timedelta(days=31), dry_run=True
    )
    assert counts["media"] == 1 and len(stored_files(bot)) == 1  # a dry run deletes nothing
    purge_expired(bot.services.session_factory, 30, now=utcnow() + timedelta(days=31))
    assert stored_files(bot) == []


async def test_a_file_id_telegram_forgot_is_replaced_by_the_stored_copy(bot):
    data = SAMPLE_OGG + b"kept here"
    bot.fake.push_voice(611, data)
    await reply_of(bot, 611, 0)
    [item] = rows(bot.services, UnansweredQuestion)
    bot.fake._files.pop(item.file_id)  # as after a change of bot token
    [page] = await bot.send(ADMIN, "/unanswered")
    await bot.press(ADMIN, page, f"uq:f:{item.id}")
    shown = await reply_of(bot, ADMIN, 1)
    assert bot.fake.uploaded(shown)[1] == data
    assert texts.item_marker(item.id) in shown["caption"]
    assert [call.params["voice"] for call in bot.fake.rejected] == [item.file_id]
    bot.fake.rejected.clear()  # refused on purpose
