"""Officers' handlers for the unanswered queue: page through it, answer, link, dismiss."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import BadRequest, Forbidden

from bot.errors import PairNotFound, QueueItemNotFound
from bot.service.review import Notification
from bot.telegram import keyboards, texts
from bot.telegram.admin import admin_only, command_text, reply, split_id
from bot.telegram.context import CustomContext

logger = logging.getLogger(__name__)

PAGE_SIZE = 5


@admin_only
async def list_unanswered(update: Update, context: CustomContext) -> None:
    body = command_text(update.effective_message)  # type: ignore[arg-type]
    offset = (int(body) - 1) * PAGE_SIZE if body.isdigit() and int(body) > 0 else 0
    text, markup = await _queue_page(context, offset)
    await update.effective_message.reply_text(text, reply_markup=markup)  # type: ignore[union-attr]


async def _queue_page(
    context: CustomContext, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    items, total = await asyncio.to_thread(
        context.services.reviewer.open_items, limit=PAGE_SIZE, offset=offset
    )
    if not items and offset:
        offset = max(total - PAGE_SIZE, 0)
        items, total = await asyncio.to_thread(
            context.services.reviewer.open_items, limit=PAGE_SIZE, offset=offset
        )
    if not items:
        return texts.QUEUE_EMPTY, None
    rows = [(item.id, item.asked_at, item.text) for item in items]
    markup = keyboards.queue_keyboard(items, offset, total, PAGE_SIZE)
    return texts.queue_page(rows, offset, total), markup


@admin_only
async def work_queue(update: Update, context: CustomContext) -> None:
    """Buttons under /unanswered: next page, pairs close to an item, dismiss an item."""
    query = update.callback_query
    assert query is not None
    press = keyboards.parse_queue(query.data)
    if press is None:
        await query.answer()
        return
    if press.action == "f":
        try:
            item = await asyncio.to_thread(context.services.reviewer.get, press.value)
        except QueueItemNotFound:
            await query.answer(texts.queue_item_not_found(press.value), show_alert=True)
            return
        found = await asyncio.to_thread(context.services.bank.find, item.text, 5)
        rows = [(c.pair_id, c.score, c.question) for c in found]
        await query.answer()
        for part in texts.split_message(texts.queue_candidates(item.id, item.text, rows)):
            await context.bot.send_message(query.message.chat.id, part)  # type: ignore[union-attr]
        return
    offset = press.value if press.action == "p" else press.offset
    if press.action == "d":
        with contextlib.suppress(QueueItemNotFound):  # already worked: just refresh the page
            await asyncio.to_thread(
                context.services.reviewer.dismiss, press.value, admin_id=query.from_user.id
            )
    await query.answer(texts.dismissed(press.value) if press.action == "d" else None)
    text, markup = await _queue_page(context, offset)
    await query.edit_message_text(text, reply_markup=markup)


@admin_only
async def answer_queued(update: Update, context: CustomContext) -> None:
    head, answer = split_id(command_text(update.effective_message))  # type: ignore[arg-type]
    if not head.isdigit() or not answer.strip():
        await reply(update, texts.USAGE_ANSWER)
        return
    admin_id = update.effective_user.id  # type: ignore[union-attr]
    try:
        note = await asyncio.to_thread(
            context.services.reviewer.answer, int(head), answer.strip(), admin_id=admin_id
        )
    except QueueItemNotFound:
        await reply(update, texts.queue_item_not_found(head))
        return
    reached = await notify_farmer(context.bot, note)
    await reply(update, texts.answered(int(head), note.pair_id))
    if not reached:
        await reply(update, texts.FARMER_UNREACHABLE)


@admin_only
async def link_queued(update: Update, context: CustomContext) -> None:
    args = command_text(update.effective_message).split()  # type: ignore[arg-type]
    if len(args) != 2 or not all(arg.isdigit() for arg in args):
        await reply(update, texts.USAGE_LINK)
        return
    item_id, pair_id = int(args[0]), int(args[1])
    admin_id = update.effective_user.id  # type: ignore[union-attr]
    try:
        note = await asyncio.to_thread(
            context.services.reviewer.link, item_id, pair_id, admin_id=admin_id
        )
    except QueueItemNotFound:
        await reply(update, texts.queue_item_not_found(item_id))
        return
    except PairNotFound:
        await reply(update, texts.pair_not_found(pair_id))
        return
    reached = await notify_farmer(context.bot, note)
    await reply(update, texts.linked(item_id, pair_id))
    if not reached:
        await reply(update, texts.FARMER_UNREACHABLE)


@admin_only
async def dismiss_queued(update: Update, context: CustomContext) -> None:
    body = command_text(update.effective_message)  # type: ignore[arg-type]
    if not body.isdigit():
        await reply(update, texts.USAGE_DISMISS)
        return
    admin_id = update.effective_user.id  # type: ignore[union-attr]
    try:
        await asyncio.to_thread(context.services.reviewer.dismiss, int(body), admin_id=admin_id)
    except QueueItemNotFound:
        await reply(update, texts.queue_item_not_found(body))
        return
    await reply(update, texts.dismissed(int(body)))


async def notify_farmer(bot: Bot, note: Notification) -> bool:
    """Send an officer's answer to the farmer, quoting their question; False if unreachable."""
    if note.chat_id is None:
        return False
    parts = texts.split_message(texts.officer_answer(note.question, note.answer))
    reply_to = (
        ReplyParameters(note.reply_to_message_id, allow_sending_without_reply=True)
        if note.reply_to_message_id
        else None
    )
    try:
        for number, part in enumerate(parts):
            await bot.send_message(
                note.chat_id, part, reply_parameters=reply_to if number == 0 else None
            )
    except (Forbidden, BadRequest) as error:
        logger.warning(
            "could not tell chat %s about pair %s: %s", note.chat_id, note.pair_id, error
        )
        return False
    return True
