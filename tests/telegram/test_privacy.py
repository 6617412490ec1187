"""A farmer's /forget over the fake Bot API: everything of theirs goes, table by table and
file by file, others' rows stay; cancel and forged presses change nothing. Exports carry
no farmer's ids."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, or_, select, update

from bot.cli import cli
from bot.storage.models import Base, FarmerProfile, QuestionLog, utcnow
from bot.storage.questions import QuestionRecord
from bot.telegram import keyboards, texts
from tests.telegram.conftest import (
    ADMIN,
    ANSWERED,
    ANSWERED_TEXT,
    GREY,
    OFF_TOPIC,
    BotHarness,
    buttons,
)
from tests.telegram.test_zones import UREA, give_urea_zone_answers

FARMER, OTHER, STRANGER, JOURNALED = 701, 702, 703, 704
FARMER_TABLES = {"questions", "feedback", "unanswered", "farmer_profiles"}


def rows_naming(bot: BotHarness, person: int) -> dict[str, int]:
    """Every table with a chat_id or user_id column -> its rows naming `person` there."""
    counts = {}
    with bot.services.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [table.c[name] for name in ("chat_id", "user_id") if name in table.c]
            if columns:
                naming = or_(*(column == person for column in columns))
                counted = select(func.count()).select_from(table).where(naming)
                counts[table.name] = connection.scalar(counted)
    return counts


async def use_the_bot(bot: BotHarness, chat: int) -> None:
    """Answered (👍 then 👎), declined (queued), "none of these" (queued), a district."""
    [answer] = await bot.send(chat, ANSWERED)
    up, down = (data for _, data in buttons(answer))
    await bot.press(chat, answer, up)
    await bot.press(chat, answer, down)
    [declined] = await bot.send(chat, OFF_TOPIC)
    assert declined["text"] == texts.SENT_TO_OFFICER
    [offer] = await bot.send(chat, GREY)
    await bot.press(chat, offer, buttons(offer)[-1][1])
    await bot.fake.wait_until(
        lambda: bot.message(chat, offer["message_id"])["text"] == texts.REJECTED_SENT_TO_OFFICER
    )
    [menu] = await bot.send(chat, "/district")
    await bot.press(chat, menu, buttons(menu)[0][1])
    await bot.fake.wait_until(lambda: bot.message(chat, menu["message_id"])["text"][0] == "✅")


def journal_question(bot: BotHarness, chat: int) -> QuestionRecord:
    """A question the database could not take, waiting in the journal; and a dead letter."""
    record = QuestionRecord(
        OFF_TOPIC, OFF_TOPIC, "decline", [], None, None, chat_id=chat, user_id=chat
    )
    journal = bot.services.journal
    journal.append(record)
    with journal.dead_letters.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({**record.to_json(), "client_ref": f"dead{chat}"}) + "\n")
    return record


def journaled_chats(bot: BotHarness) -> list[int]:
    journal = bot.services.journal
    dead = journal.dead_letters.read_text(encoding="utf-8").splitlines()
    return [r.chat_id for r in journal.pending()] + [json.loads(line)["chat_id"] for line in dead]


async def ask_to_forget(bot: BotHarness, chat: int) -> tuple[dict[str, Any], str, str]:
    [ask] = await bot.send(chat, "/forget")
    assert ask["text"] == texts.FORGET_ASK
    [(yes_label, yes), (no_label, no)] = buttons(ask)
    assert (yes_label, no_label) == (texts.FORGET_YES, texts.FORGET_NO)
    return ask, yes, no


async def test_start_says_what_is_kept_for_how_long_and_how_to_forget(bot):
    [welcome] = await bot.send(FARMER, "/start")
    days = bot.services.settings.retention_days
    assert welcome["text"] == texts.welcome(days) and welcome["text"].startswith(texts.WELCOME)
    assert f"දවස් {days}ක්" in welcome["text"] and "/forget" in welcome["text"]


async def test_forget_deletes_every_row_and_record_of_the_farmer_and_no_one_elses(bot, tmp_path):
    await give_urea_zone_answers(bot, tmp_path)
    for chat in (FARMER, OTHER):
        await use_the_bot(bot, chat)
    # Another farmer's question waiting in the journal; the replay job may write it meanwhile.
    others_journaled = journal_question(bot, JOURNALED)
    journal_question(bot, FARMER)
    mine, others = rows_naming(bot, FARMER), rows_naming(bot, OTHER)
    assert all(mine[table] > 0 for table in FARMER_TABLES), mine
    assert mine == others

    ask, yes, _ = await ask_to_forget(bot, FARMER)
    assert yes == f"fg:y:{FARMER}"
    await bot.press(FARMER, ask, yes)
    await bot.fake.wait_until(
        lambda: bot.message(FARMER, ask["message_id"])["text"] == texts.FORGET_DONE
    )
    assert "reply_markup" not in bot.message(FARMER, ask["message_id"])

    assert set(rows_naming(bot, FARMER).values()) == {0}, rows_naming(bot, FARMER)
    assert rows_naming(bot, OTHER) == others
    assert FARMER not in journaled_chats(bot)
    with bot.services.session_factory() as session:  # replayed meanwhile, or still waiting
        replayed = select(QuestionLog.id).where(
            QuestionLog.client_ref == others_journaled.client_ref
        )
        assert session.scalar(replayed) or JOURNALED in journaled_chats(bot)
    inbox = [json.loads(line) for line in bot.app.bot_data.inbox.path.read_text().splitlines()]
    asked = [
        e["update"]["message"].get("text")
        for e in inbox
        if e.get("update", {}).get("message", {}).get("from", {}).get("id") == FARMER
    ]
    assert not {ANSWERED, OFF_TOPIC, GREY} & set(asked)

    # Nothing remembered in memory either: the same question is answered again at once,
    # and a zone answer asks the district again.
    [again] = await bot.send(FARMER, ANSWERED)
    assert again["text"].startswith(ANSWERED_TEXT)
    [district] = await bot.send(FARMER, UREA)
    assert district["text"] == texts.ASK_DISTRICT
    [others_urea] = await bot.send(OTHER, UREA)
    assert others_urea["text"] != texts.ASK_DISTRICT


async def test_cancel_keeps_everything(bot):
    await use_the_bot(bot, FARMER)
    before = rows_naming(bot, FARMER)
    ask, _, no = await ask_to_forget(bot, FARMER)
    await bot.press(FARMER, ask, no)
    await bot.fake.wait_until(
        lambda: bot.message(FARMER, ask["message_id"])["text"] == texts.FORGET_CANCELLED
    )
    assert rows_naming(bot, FARMER) == before


async def test_a_forged_or_repeated_confirm_changes_nothing(bot):
    await use_the_bot(bot, FARMER)
    before = rows_naming(bot, FARMER)
    ask, yes, _ = await ask_to_forget(bot, FARMER)
    forged = [
        (yes, STRANGER),  # someone else presses the farmer's button
        (f"fg:y:{STRANGER}", STRANGER),  # ... with their own id in it, on the farmer's chat
        (f"fg:y:{STRANGER}", FARMER),  # the farmer's press naming someone else
    ]
    for data, presser in forged:
        await bot.press(FARMER, ask, data, user_id=presser)
        assert bot.fake.calls_to("answerCallbackQuery")[-1].params["text"] == texts.BUTTON_NOT_VALID
    for data in ("fg:y:", "fg:x:701", f"fg:y:{FARMER}:1"):  # not a /forget button at all
        await bot.press(FARMER, ask, data)
        assert "text" not in bot.fake.calls_to("answerCallbackQuery")[-1].params
    assert rows_naming(bot, FARMER) == before
    assert bot.message(FARMER, ask["message_id"])["text"] == texts.FORGET_ASK

    await bot.press(FARMER, ask, yes)
    await bot.fake.wait_until(lambda: rows_naming(bot, FARMER)["questions"] == 0)
    edits = len(bot.fake.calls_to("editMessageText"))
    await bot.press(FARMER, ask, yes)  # pressed again (a replay): harmless, same answer
    assert "text" not in bot.fake.calls_to("answerCallbackQuery")[-1].params
    await bot.fake.wait_for_call("editMessageText", edits + 1)
    assert bot.message(FARMER, ask["message_id"])["text"] == texts.FORGET_DONE
    assert set(rows_naming(bot, FARMER).values()) == {0}


async def test_the_daily_job_purges_old_questions_and_districts(bot, tmp_path):
    await give_urea_zone_answers(bot, tmp_path)
    [menu] = await bot.send(FARMER, "/district")
    await bot.press(FARMER, menu, buttons(menu)[0][1])
    await bot.fake.wait_until(lambda: bot.message(FARMER, menu["message_id"])["text"][0] == "✅")
    await bot.send(OTHER, ANSWERED)
    long_ago = utcnow() - timedelta(days=bot.services.settings.retention_days + 1)
    with bot.services.session_factory() as session:
        session.execute(update(QuestionLog).values(asked_at=long_ago))
        session.execute(update(FarmerProfile).values(updated_at=long_ago))
        session.commit()

    [job] = bot.app.job_queue.get_jobs_by_name("purge-expired-data")
    await job.run(bot.app)

    assert rows_naming(bot, OTHER)["questions"] == 0
    assert rows_naming(bot, FARMER)["farmer_profiles"] == 0
    [district] = await bot.send(FARMER, UREA)  # the zone the bot remembered is gone too
    assert district["text"] == texts.ASK_DISTRICT


def test_forget_buttons_fit_and_parse_back():
    markup = keyboards.forget_keyboard(2**52)
    [[yes, no]] = markup.inline_keyboard
    assert all(len(b.callback_data.encode()) <= 64 for b in (yes, no))
    assert keyboards.parse_forget(yes.callback_data) == keyboards.ForgetPress(True, 2**52)
    assert keyboards.parse_forget(no.callback_data) == keyboards.ForgetPress(False, 2**52)
    assert keyboards.parse_forget("dz:-:-:colombo") is None


FARMER_WITH_A_LONG_ID = 5_550_001_234


async def test_officers_exports_carry_no_farmer_ids(bot, tmp_path, monkeypatch, base_model_dir):
    """/export, `agribot qa export` (CSV and JSONL) and `agribot export-training`: the
    farmer's wording may be there (a chosen suggestion, a 👍), their ids never."""
    farmer = FARMER_WITH_A_LONG_ID
    [offer] = await bot.send(farmer, GREY)
    await bot.press(farmer, offer, buttons(offer)[0][1])
    [answer] = (await bot.fake.wait_for_messages(farmer, 2))[1:]
    await bot.press(farmer, answer, buttons(answer)[0][1])
    [declined] = await bot.send(farmer, OFF_TOPIC)
    assert declined["text"] == texts.SENT_TO_OFFICER
    [waiting] = bot.services.bank.pending()  # an officer approves the learned wording
    bot.services.bank.review_phrasing(waiting.id, approve=True)

    [document] = await bot.send(ADMIN, "/export")
    exports = {"/export": bot.fake.uploaded(document)[1].decode("utf-8-sig")}
    settings = bot.services.settings
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AGRIBOT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("AGRIBOT_MODEL", str(base_model_dir))
    commands = [
        ("qa export", "bank.csv"),
        ("qa export", "bank.jsonl"),
        ("export-training", "training.csv"),
    ]
    for command, name in commands:
        path = tmp_path / name
        result = CliRunner().invoke(cli, [*command.split(), str(path)])
        assert result.exit_code == 0, result.output
        exports[f"{command} {name}"] = path.read_text(encoding="utf-8-sig")

    assert GREY in exports["/export"]  # the farmer's wording, learned from their choice
    for name, text in exports.items():
        assert str(farmer) not in text, name
        assert "chat_id" not in text and "user_id" not in text, name


@pytest.mark.parametrize("days", [1, 365])
def test_welcome_fits_one_message(days):
    assert len(texts.welcome(days).encode("utf-16-le")) // 2 <= texts.MAX_MESSAGE
