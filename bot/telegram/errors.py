"""The error handler: log every failure by ids, still answer the person, then tell the admins."""

from __future__ import annotations

import contextlib
import logging
import time

from telegram import Update
from telegram.error import Forbidden, NetworkError, TelegramError

from bot.telegram import texts
from bot.telegram.context import CustomContext

logger = logging.getLogger(__name__)

ALERT_EVERY_S = 60.0


def describe(update: object) -> str:
    """Ids only: never the farmer's text."""
    if not isinstance(update, Update):
        return "no update"
    chat = update.effective_chat
    user = update.effective_user
    message = update.effective_message
    return (
        f"update {update.update_id}, chat {chat.id if chat else None}, "
        f"user {user.id if user else None}, message {message.message_id if message else None}"
    )


async def handle_error(update: object, context: CustomContext) -> None:
    """Log with the traceback first; then a kind reply, then (at most once a minute) admins."""
    error = context.error
    where = describe(update)
    if isinstance(error, Forbidden):
        logger.info("cannot reach the user (%s): %s", where, error)
        return
    if isinstance(error, NetworkError) and not isinstance(update, Update):
        logger.warning("network trouble talking to Telegram: %s", error)
        return
    logger.error("handling %s failed", where, exc_info=error)
    if isinstance(update, Update):
        await _reply_kindly(update, context)
    await _alert_admins(context, f"{type(error).__name__}", where)


async def _reply_kindly(update: Update, context: CustomContext) -> None:
    with contextlib.suppress(TelegramError):
        if update.callback_query is not None:
            await update.callback_query.answer(texts.SOMETHING_WENT_WRONG, show_alert=True)
            return
        if update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, texts.SOMETHING_WENT_WRONG)


async def _alert_admins(context: CustomContext, error: str, where: str) -> None:
    now = time.monotonic()
    if now - context.bot_data.last_alert < ALERT_EVERY_S:
        return
    context.bot_data.last_alert = now
    for admin_id in context.bot_data.admin_ids:
        with contextlib.suppress(TelegramError):
            await context.bot.send_message(admin_id, texts.error_alert(error, where))
