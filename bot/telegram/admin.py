"""Officers' handlers: bank edits, import and export, stats, retraining; the admin guard."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import Any

from telegram import LinkPreviewOptions, Message, Update

from bot.errors import (
    DuplicateQuestion,
    ImportRejected,
    ImportTooLarge,
    InvalidPair,
    PairNotFound,
)
from bot.service.charts import render_daily_chart
from bot.service.web_login import LINK_TTL, WebLogins, load_web_secret
from bot.storage.bank import PairChanges
from bot.storage.stats import Stats, compute_stats
from bot.telegram import keyboards, texts
from bot.telegram.context import CustomContext
from bot.telegram.updates import require_chat_id, require_message

logger = logging.getLogger(__name__)

Handler = Callable[[Update, CustomContext], Coroutine[Any, Any, None]]
IMPORT_SUFFIXES = (".csv", ".jsonl", ".ndjson")
MAX_DOWNLOAD = 20 * 1024 * 1024  # the Bot API's getFile limit


def admin_only(handler: Handler) -> Handler:
    """Run `handler` for admins; refuse anyone else politely and log who tried."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: CustomContext) -> None:
        user = update.effective_user
        if context.is_admin(user.id if user else None):
            await handler(update, context)
            return
        chat = update.effective_chat
        logger.warning(
            "refused %s from user %s in chat %s",
            handler.__name__,
            user.id if user else None,
            chat.id if chat else None,
        )
        if update.callback_query is not None:
            await update.callback_query.answer(texts.ADMINS_ONLY, show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(texts.ADMINS_ONLY)

    return guarded


def command_text(message: Message) -> str:
    """The text after the command itself."""
    parts = (message.text or "").split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


def split_id(text: str) -> tuple[str, str]:
    """`ID rest`, the ID followed by a space or a newline (officers type both).

    Example:
        >>> split_id("12\\nපළමු පේළිය\\nදෙවැනි පේළිය")
        ('12', 'පළමු පේළිය\\nදෙවැනි පේළිය')
    """
    parts = text.split(None, 1)
    return (parts[0] if parts else ""), (parts[1].strip() if len(parts) > 1 else "")


def _by(update: Update) -> str:
    return f"admin:{update.effective_user.id if update.effective_user else None}"


def parse_pair(text: str) -> tuple[str, str, list[str]] | None:
    """`question || answer || alt1 | alt2` → (question, answer, alternates); None if malformed."""
    parts = [part.strip() for part in text.split("||")]
    if len(parts) not in (2, 3):
        return None
    alternates = (
        [alt.strip() for alt in parts[2].split("|") if alt.strip()] if len(parts) == 3 else []
    )
    return parts[0], parts[1], alternates


async def reply(update: Update, text: str) -> None:
    message = require_message(update)
    for part in texts.split_message(text):
        await message.reply_text(part)


@admin_only
async def add_pair(update: Update, context: CustomContext) -> None:
    parsed = parse_pair(command_text(require_message(update)))
    if parsed is None or not parsed[0] or not parsed[1]:
        await reply(update, texts.USAGE_ADD)
        return
    question, answer, alternates = parsed
    try:
        view = await asyncio.to_thread(
            context.services.bank.add, question, answer, alternates, by=_by(update)
        )
    except DuplicateQuestion as error:
        await reply(update, texts.duplicate_question(error.existing_id))
        return
    except InvalidPair as error:
        await reply(update, texts.invalid_pair(str(error)))
        return
    await reply(update, texts.pair_added(view.id, view.question, len(view.alternates)))


@admin_only
async def edit_pair(update: Update, context: CustomContext) -> None:
    head, rest = split_id(command_text(require_message(update)))
    parsed = parse_pair(rest)
    if not head.isdigit() or parsed is None or not (parsed[0] or parsed[1] or parsed[2]):
        await reply(update, texts.USAGE_EDIT)
        return
    question, answer, alternates = parsed
    changes: PairChanges = {"question": question or None, "answer": answer or None}
    if alternates:
        changes["alternates"] = alternates
    try:
        view = await asyncio.to_thread(
            context.services.bank.update, int(head), by=_by(update), **changes
        )
    except PairNotFound:
        await reply(update, texts.pair_not_found(head))
        return
    except DuplicateQuestion as error:
        await reply(update, texts.duplicate_question(error.existing_id))
        return
    except InvalidPair as error:
        await reply(update, texts.invalid_pair(str(error)))
        return
    await reply(update, texts.pair_updated(view.id))


@admin_only
async def delete_pair(update: Update, context: CustomContext) -> None:
    body = command_text(require_message(update))
    if not body.isdigit():
        await reply(update, texts.USAGE_DELETE)
        return
    try:  # deleting takes a second tap on the confirmation below
        view = await asyncio.to_thread(context.services.bank.get, int(body))
    except PairNotFound:
        await reply(update, texts.pair_not_found(body))
        return
    await require_message(update).reply_text(
        texts.confirm_delete(view.id, view.question),
        reply_markup=keyboards.confirm_delete_keyboard(view.id),
    )


@admin_only
async def find_pairs(update: Update, context: CustomContext) -> None:
    body = command_text(require_message(update))
    if not body:
        await reply(update, texts.USAGE_FIND)
    elif body.isdigit():
        try:
            view = await asyncio.to_thread(context.services.bank.get, int(body))
        except PairNotFound:
            await reply(update, texts.pair_not_found(body))
            return
        await reply(
            update, texts.pair_details(view.id, view.question, view.answer, view.alternates)
        )
    else:
        found = await asyncio.to_thread(context.services.bank.find, body, 5)
        rows = [(c.pair_id, c.score, c.question) for c in found]
        await reply(update, texts.find_results(rows) if rows else texts.NOTHING_FOUND)


async def import_bank(update: Update, context: CustomContext) -> None:
    """A CSV or JSONL document from an admin (the filter lets only admins' through)."""
    message = update.effective_message
    assert message is not None and message.document is not None
    name = message.document.file_name or "bank.csv"
    if Path(name).suffix.lower() not in IMPORT_SUFFIXES:
        await reply(update, texts.IMPORT_WRONG_TYPE)
        return
    if (message.document.file_size or 0) > MAX_DOWNLOAD:
        await reply(update, texts.IMPORT_TOO_BIG)
        return
    file = await message.document.get_file()
    data = bytes(await file.download_as_bytearray())
    try:
        report = await asyncio.to_thread(
            context.services.bank.import_file,
            Path(name),
            data,
            by=_by(update),
            max_rows=context.services.settings.max_upload_rows,
        )
    except ImportTooLarge as error:
        await reply(update, texts.import_too_many(error.rows, error.limit))
        return
    except ImportRejected as error:
        logger.info("import of %s rejected: %d bad row(s)", name, len(error.errors))
        await reply(update, texts.import_rejected(error.errors))
        return
    await reply(update, texts.import_done(report.added, report.updated, report.duplicates))


@admin_only
async def export_bank(update: Update, context: CustomContext) -> None:
    data = await asyncio.to_thread(context.services.bank.export_csv_bytes)
    count = await asyncio.to_thread(context.services.bank.count)
    await require_message(update).reply_document(
        document=data,
        filename=f"agribot-bank-{date.today():%Y%m%d}.csv",
        caption=texts.export_caption(count),
    )


def read_stats(context: CustomContext) -> Stats:
    with context.services.session_factory() as session:
        return compute_stats(session)


@admin_only
async def show_stats(update: Update, context: CustomContext) -> None:
    """The report, then a chart of the last 30 days (none while no question was asked)."""
    stats = await asyncio.to_thread(read_stats, context)
    await reply(update, texts.stats_report(stats))
    if not any(day.questions for day in stats.days):
        return
    png = await asyncio.to_thread(render_daily_chart, stats.days)
    await require_message(update).reply_photo(
        photo=png, filename="agribot-stats.png", caption=texts.STATS_CHART_CAPTION
    )


@admin_only
async def retrain(update: Update, context: CustomContext) -> None:
    """Retrain in a background process; report to this chat; swap the model if promoted."""
    running = context.bot_data.retrain_task
    if running is not None and not running.done():
        await reply(update, texts.RETRAIN_BUSY)
        return
    try:
        from bot.training.background import retrain_in_background
    except ImportError:
        logger.exception("retraining is not available")
        await reply(update, texts.RETRAIN_UNAVAILABLE)
        return
    chat_id = require_chat_id(update)
    services, bot = context.services, context.bot

    async def report(text: str) -> None:
        await bot.send_message(chat_id, texts.retrain_progress(text))

    announced = asyncio.Event()

    async def run() -> None:
        await announced.wait()  # "started" goes out before any progress
        try:
            outcome = await retrain_in_background(services.settings, report)
            model_id = None
            if outcome.promoted:
                model_id = await asyncio.to_thread(services.reload_model)
            message = texts.retrain_finished(outcome.promoted, outcome.summary, model_id)
            for part in texts.split_message(message):
                await bot.send_message(chat_id, part)
        except Exception:
            logger.exception("retraining failed")
            await bot.send_message(chat_id, texts.RETRAIN_FAILED)

    # Not application.create_task: stopping the bot must not wait for a long training run.
    context.bot_data.retrain_task = asyncio.create_task(run(), name="agribot-retrain")
    try:
        await reply(update, texts.RETRAIN_STARTED)
    finally:
        announced.set()


@admin_only
async def web_link(update: Update, context: CustomContext) -> None:
    """/web: a one-time link (10 minutes, this admin only) that logs into the web desk."""
    services = context.services
    settings = services.settings
    user_id = update.effective_user.id if update.effective_user else None
    assert user_id is not None  # admin_only let an admin through

    def issue() -> str:
        logins = WebLogins(services.session_factory, load_web_secret(settings), settings.desk_url)
        return logins.issue_link(user_id)

    url = await asyncio.to_thread(issue)
    logger.info("desk login link issued to admin %s", user_id)
    await require_message(update).reply_text(
        texts.web_link(url, int(LINK_TTL.total_seconds() // 60)),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
