from __future__ import annotations

import asyncio
import csv
import io
import json
import logging

from bot.service.answering import Question
from bot.telegram import texts
from bot.telegram.app import set_commands
from tests.telegram.conftest import (
    ADMIN,
    OFF_TOPIC,
    OFF_TOPIC_2,
    buttons,
    edited_to,
    send_previewed,
)

FARMER = 301
RAT_QUESTION = "කුඹුරේ මීයන් පාලනය කරන්නේ කොහොමද?"
RAT_ANSWER = "අසල්වැසි ගොවීන් සමඟ එක්ව, වගාවට පෙර සිට සති 3 ක් යනතුරු මී පාලනය කරන්න."


async def test_someone_else_is_refused_politely_and_the_attempt_is_logged(bot, caplog):
    before = bot.services.bank.count()
    with caplog.at_level(logging.WARNING, logger="bot.telegram.admin"):
        for command in (f"/add {RAT_QUESTION} || {RAT_ANSWER}", "/stats", "/retrain", "/export"):
            [refusal] = await bot.send(FARMER, command)
            assert refusal["text"] == texts.ADMINS_ONLY
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 4 and all(f"user {FARMER}" in line for line in refused)
    assert any("retrain" in line for line in refused)
    assert bot.services.bank.count() == before
    assert bot.fake.calls_to("sendDocument") == []


async def test_add_find_edit_and_delete_a_pair(bot):
    [added] = await bot.send(ADMIN, f"/add {RAT_QUESTION} || {RAT_ANSWER} || මීයෝ වැඩියි | මී උවදුර")
    [view] = bot.services.bank.list(search="මීයන්")
    assert added["text"] == texts.pair_added(view.id, RAT_QUESTION, 2)
    assert view.alternates == ["මීයෝ වැඩියි", "මී උවදුර"]
    [answer] = await bot.send(FARMER, "මී උවදුර")  # encoded at once: answered straight away
    assert answer["text"] == RAT_ANSWER

    [found] = await bot.send(ADMIN, "/find කුඹුරේ මීයෝ")
    assert found["text"].startswith("🔎") and f"#{view.id} " in found["text"]
    [duplicate] = await bot.send(ADMIN, f"/add {RAT_QUESTION} || වෙනත් උත්තරයක්")
    assert duplicate["text"] == texts.duplicate_question(view.id)
    [usage] = await bot.send(ADMIN, "/add උත්තරයක් නැති ප්‍රශ්නය")
    assert usage["text"] == texts.USAGE_ADD

    [edited] = await bot.send(ADMIN, f"/edit {view.id} || අලුත් උත්තරය.")
    assert edited["text"] == texts.pair_updated(view.id)
    assert bot.services.bank.get(view.id).answer == "අලුත් උත්තරය."
    [details] = await bot.send(ADMIN, f"/find {view.id}")
    assert "අලුත් උත්තරය." in details["text"]

    [confirm] = await bot.send(ADMIN, f"/delete {view.id}")
    assert confirm["text"] == texts.confirm_delete(view.id, RAT_QUESTION)
    await bot.press(ADMIN, confirm, f"pd:{view.id}:x")  # cancel: nothing is deleted
    await edited_to(bot, ADMIN, confirm, texts.CANCELLED)
    assert bot.services.bank.get(view.id).question == RAT_QUESTION
    [confirm] = await bot.send(ADMIN, f"/delete {view.id}")
    await bot.press(ADMIN, confirm, f"pd:{view.id}:y")
    await edited_to(bot, ADMIN, confirm, texts.pair_deleted(view.id))
    [missing] = await bot.send(ADMIN, f"/delete {view.id}")
    assert missing["text"] == texts.pair_not_found(view.id)


async def test_an_import_with_a_bad_row_keeps_nothing_and_a_good_one_is_answered(bot):
    before = bot.services.bank.count()
    bad = (f"question,answer\n{RAT_QUESTION},{RAT_ANSWER}\nඋත්තරය නැති ප්‍රශ්නය,\n").encode()
    bot.fake.push_document(ADMIN, "bank.csv", bad, user_id=ADMIN)
    [rejected] = await bot.fake.wait_for_messages(ADMIN, 1)
    assert rejected["text"].startswith("❌") and "පේළිය 3:" in rejected["text"]
    assert bot.services.bank.count() == before

    row = {"question": RAT_QUESTION, "answer": RAT_ANSWER, "alternates": ["මී උවදුර"]}
    good = (json.dumps(row, ensure_ascii=False) + "\n").encode()
    bot.fake.push_document(ADMIN, "more.jsonl", good, user_id=ADMIN, mime_type="application/json")
    done = (await bot.fake.wait_for_messages(ADMIN, 2))[1]
    assert done["text"].startswith(texts.import_done(1, 0, [])[:20])
    assert bot.services.bank.count() == before + 1
    [answer] = await bot.send(FARMER, "මී උවදුර")
    assert answer["text"] == RAT_ANSWER


async def test_export_sends_the_bank_as_a_csv_document(bot):
    [document] = await bot.send(ADMIN, "/export")
    name, data = bot.fake.uploaded(document)
    assert name.startswith("agribot-bank-") and name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == bot.services.bank.count() == 12
    assert document["caption"] == texts.export_caption(12)


async def test_unanswered_pages_and_its_buttons(bot):
    different = [  # different questions: the same one from several farmers is one item
        OFF_TOPIC,
        "මට හිසරදයක් තියෙනවා",
        "මගේ දුරකථනයේ බැටරිය ඉක්මනට බහිනවා",
        "ලංකාවේ අගමැති කවුද?",
        "හොඳ සිංදුවක් ගයන්න",
        "ළමයින්ට ශිෂ්‍යත්ව විභාගය ගැන උපදෙස් ඕන",
    ]
    asked = [Question(text, chat_id=400 + n) for n, text in enumerate(different)]
    bot.services.answerer.answer_many([*asked, Question(OFF_TOPIC_2, chat_id=406)])
    items, total = bot.services.reviewer.open_items(limit=10)
    assert total == 7 and not any(item.others for item in items)

    [page] = await bot.send(ADMIN, "/unanswered")
    assert "1-5 / 7" in page["text"]
    assert buttons(page)[-1] == (texts.NEXT_PAGE, "uq:p:5")
    await bot.press(ADMIN, page, "uq:p:5")
    await bot.fake.wait_until(lambda: "6-7 / 7" in bot.message(ADMIN, page["message_id"])["text"])
    assert buttons(bot.message(ADMIN, page["message_id"]))[-1] == (texts.PREVIOUS_PAGE, "uq:p:0")

    last = items[-1]  # 🗑 asks why first; the reason is the confirmation
    await bot.press(ADMIN, bot.message(ADMIN, page["message_id"]), f"uq:d:{last.id}:5")
    reasons = (await bot.fake.wait_for_messages(ADMIN, 2))[1]
    assert (texts.DISMISS_REASONS["spam"], f"dm:{last.id}:spam") in buttons(reasons)
    assert bot.services.reviewer.open_items()[1] == 7
    await bot.press(ADMIN, reasons, f"dm:{last.id}:spam")
    await edited_to(bot, ADMIN, reasons, texts.dismissed_because(last.id, "spam"))
    assert bot.services.reviewer.open_items()[1] == 6
    assert not bot.fake.sent_messages(last.chat_id)  # spam: the sender is not told

    await bot.press(ADMIN, page, f"uq:f:{items[0].id}")
    close = (await bot.fake.wait_for_messages(ADMIN, 3))[2]
    assert close["text"].startswith(texts.item_marker(items[0].id))
    assert f"/link {items[0].id}" in close["text"]

    [dismissed] = await bot.send(ADMIN, f"/dismiss {items[0].id} off_topic")
    assert dismissed["text"] == texts.dismissed_because(items[0].id, "off_topic")
    assert bot.services.reviewer.open_items()[1] == 5
    assert bot.fake.sent_messages(items[0].chat_id)[-1]["text"] == texts.FARMER_OFF_TOPIC
    [why] = await bot.send(ADMIN, f"/dismiss {items[1].id}")
    assert buttons(why)[-1] == (texts.CANCEL_BUTTON, f"dm:{items[1].id}:x")
    await bot.press(ADMIN, why, f"dm:{items[1].id}:x")
    await edited_to(bot, ADMIN, why, texts.CANCELLED)
    assert bot.services.reviewer.open_items()[1] == 5

    await bot.press(FARMER, page, "uq:p:0", user_id=FARMER)  # a forwarded button is refused
    assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.ADMINS_ONLY


async def test_stats_report_volumes_shares_and_open_questions(bot):
    await bot.send(FARMER, OFF_TOPIC)
    await bot.send(FARMER + 1, OFF_TOPIC)
    [stats] = await bot.send(ADMIN, "/stats")
    text = stats["text"]
    assert "අද ප්‍රශ්න: 2" in text and "උත්තර නොදුන්: 100%" in text
    assert f"1. {OFF_TOPIC} (2)" in text


async def test_admin_commands_are_listed_only_for_admins(bot):
    await set_commands(bot.app)
    default = [c["command"] for c in bot.fake.commands["default"]]
    admin = [c["command"] for c in bot.fake.commands[f"chat:{ADMIN}"]]
    assert default == ["start", "help", "district", "forget"]
    assert {"add", "edit", "delete", "find", "export", "unanswered", "answer", "link",
            "dismiss", "alerts", "stats", "retrain"} <= set(admin)  # fmt: skip


async def test_retrain_reports_progress_and_swaps_the_model_when_promoted(bot, monkeypatch):
    from bot.training import background

    async def stand_in(settings, report):
        await report("epoch 1/1")
        return background.RetrainOutcome(True, "MRR 0.80 → 0.86", "v2")

    swapped = []
    monkeypatch.setattr(background, "retrain_in_background", stand_in)
    monkeypatch.setattr(bot.services, "reload_model", lambda: swapped.append(1) or "v2")
    started = (await bot.send(ADMIN, "/retrain"))[0]  # the stand-in may finish at once
    assert started["text"] == texts.RETRAIN_STARTED
    progress, finished = (await bot.fake.wait_for_messages(ADMIN, 3))[1:]
    assert progress["text"] == texts.retrain_progress("epoch 1/1")
    assert finished["text"] == texts.retrain_finished(True, "MRR 0.80 → 0.86", "v2")
    assert swapped == [1]


async def test_the_bot_follows_a_model_activated_from_the_shell(bot, monkeypatch):
    from types import SimpleNamespace

    from bot.telegram.app import follow_model_registry

    swapped = []
    changed = iter([False, True])
    monkeypatch.setattr(bot.services, "active_model_changed", lambda: next(changed))
    monkeypatch.setattr(bot.services, "reload_model", lambda: swapped.append(1) or "v2")
    context = SimpleNamespace(bot_data=bot.app.bot_data)
    await follow_model_registry(context)
    assert swapped == []
    await follow_model_registry(context)
    assert swapped == [1]


async def test_long_questions_keep_the_queue_readable(bot):
    """Three 1,600-character questions once made a page Telegram refused (the fake refuses
    what Telegram does): previews on the page, the whole question from 🔎, in parts."""
    long_question = " ".join([OFF_TOPIC] * 45)[:1600]
    asked = [Question(f"{n} {long_question}", chat_id=420 + n) for n in range(3)]
    bot.services.answerer.answer_many(asked)
    items, total = bot.services.reviewer.open_items(limit=10)
    assert total == 3

    [page] = await bot.send(ADMIN, "/unanswered")
    assert "1-3 / 3" in page["text"] and "…" in page["text"]
    assert len(page["text"].encode("utf-16-le")) // 2 <= 4096
    await bot.press(ADMIN, page, f"uq:f:{items[0].id}")
    parts = (await bot.fake.wait_for_messages(ADMIN, 2))[1:]
    assert parts[0]["text"].startswith(f'{texts.item_marker(items[0].id)} "{items[0].text[:200]}')


async def test_admin_commands_act_only_on_new_messages_in_private_chats(bot):
    """Editing /add added a second pair; /export and /stats in a group posted the bank and
    the open questions to everyone in it."""
    before = bot.services.bank.count()
    await bot.send(ADMIN, f"/add {RAT_QUESTION} || {RAT_ANSWER}")
    assert bot.services.bank.count() == before + 1
    sent = bot.fake.calls_to("sendMessage")
    original = next(m for m in bot.fake._messages.values() if m.get("text", "").startswith("/add"))
    bot.fake.push_text(ADMIN, f"/add {RAT_QUESTION} අලුත් || {RAT_ANSWER}", edited=original)
    for command in ("/export", "/stats", "/unanswered", f"/add {RAT_QUESTION} 2 || {RAT_ANSWER}"):
        bot.fake.push_text(-1001, command, user_id=ADMIN, chat_type="group")
    await bot.send(FARMER, OFF_TOPIC)  # pushed last: the updates above have been handled
    await asyncio.sleep(0.5)
    assert bot.services.bank.count() == before + 1
    assert bot.fake.sent_messages(-1001) == [] and bot.fake.calls_to("sendDocument") == []
    assert len(bot.fake.calls_to("sendMessage")) == len(sent) + 1  # the farmer's reply only


async def test_an_upload_over_the_row_cap_gets_a_clear_message(start_bot):
    bot = await start_bot(max_upload_rows=2)
    before = bot.services.bank.count()
    rows = "".join(f"ප්‍රශ්නය {n} මොකක්ද?,උත්තරය {n}.\n" for n in range(3))
    bot.fake.push_document(ADMIN, "bank.csv", f"question,answer\n{rows}".encode(), user_id=ADMIN)
    [refused] = await bot.fake.wait_for_messages(ADMIN, 1)
    assert refused["text"] == texts.import_too_many(3, 2)
    assert bot.services.bank.count() == before


async def test_answer_and_edit_take_a_newline_after_the_id(bot):
    """Officers type `/answer 12` and the answer on the next line; that gave the usage."""
    bot.services.answerer.answer(Question(OFF_TOPIC, chat_id=430))
    [item], _ = bot.services.reviewer.open_items()
    officer = "පළමු පේළිය.\nදෙවැනි පේළිය."
    [preview] = await bot.send(ADMIN, f"/answer {item.id}\n{officer}")
    confirmation = await send_previewed(bot, preview)
    assert confirmation["text"].startswith("✅")
    [note] = bot.fake.sent_messages(430)
    assert officer in note["text"]
    [view] = bot.services.bank.list(search="පළමු පේළිය")
    [edited] = await bot.send(ADMIN, f"/edit {view.id}\n|| අලුත් උත්තරය.\nදෙවැනි පේළිය.")
    assert edited["text"] == texts.pair_updated(view.id)
    assert bot.services.bank.get(view.id).answer == "අලුත් උත්තරය.\nදෙවැනි පේළිය."
    for usage in ("/answer", "/edit", "/answer 12"):
        [reply] = await bot.send(ADMIN, usage)
        assert reply["text"] in (texts.USAGE_ANSWER, texts.USAGE_EDIT)
