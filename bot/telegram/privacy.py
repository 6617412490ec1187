"""Farmers' /forget with its confirm button, and the daily job that purges old data."""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Update
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot.service import privacy
from bot.service.throttle import Verdict
from bot.telegram import keyboards, texts
from bot.telegram.context import CustomContext

logger = logging.getLogger(__name__)

PURGE_EVERY_S = 24 * 60 * 60.0
PURGE_FIRST_S = 5 * 60.0  # soon after a start, so frequent restarts do not skip it


async def forget_command(update: Update, context: CustomContext) -> None:
    """/forget: say what will be deleted, with a confirm and a cancel button."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    markup = keyboards.forget_keyboard(user.id)
    await message.reply_text(texts.FORGET_ASK, reply_markup=markup)


async def confirm_forget(update: Update, context: CustomContext) -> None:
    """The /forget buttons: delete everything of this chat and user, or keep it.

    Only the farmer who sent /forget, in their own private chat, can press: a press from
    anyone else (or with another user's id in its data) is refused and deletes nothing.
    Pressing confirm again deletes nothing more and says the same.
    """
    query = update.callback_query
    assert query is not None
    press = keyboards.parse_forget(query.data)
    message = query.message
    if press is None or message is None:
        await query.answer()
        return
    chat_id, user_id = message.chat.id, query.from_user.id
    if press.user_id != user_id or chat_id != user_id or message.chat.type != ChatType.PRIVATE:
        logger.warning("chat %s: user %s pressed a /forget button not theirs", chat_id, user_id)
        await query.answer(texts.BUTTON_NOT_VALID, show_alert=True)
        return
    verdict = context.guard.check(chat_id, user_id)
    if verdict is not Verdict.ANSWER:
        await query.answer(texts.SLOW_DOWN if verdict is Verdict.FLOODED else None)
        return
    if not press.confirmed:
        await query.answer()
        await _edit(query, texts.FORGET_CANCELLED)
        return
    await asyncio.to_thread(privacy.forget_farmer, context.services, chat_id, user_id)
    context.guard.forget_chat(chat_id)
    inbox = context.bot_data.inbox
    if inbox is not None:  # handled updates (the farmer's messages) leave the file now
        await asyncio.to_thread(inbox.compact)
    await query.answer()
    await _edit(query, texts.FORGET_DONE)


async def _edit(query: CallbackQuery, text: str) -> None:
    """Edit the /forget message; a double tap's second edit finds it already so, which
    Telegram refuses as "message is not modified": nothing is wrong then."""
    try:
        await query.edit_message_text(text)
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            raise


async def purge_expired_data(context: CustomContext) -> None:
    """Job: delete what is older than AGRIBOT_RETENTION_DAYS (counts logged at INFO)."""
    services = context.bot_data.services
    counts = await asyncio.to_thread(
        privacy.purge_expired, services.session_factory, services.settings.retention_days
    )
    if counts.get("farmer_profiles"):
        services.advisor.forget_all()
