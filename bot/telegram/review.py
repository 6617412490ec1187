"""Officers' handlers for the unanswered queue: alerts, paging, answering (by command or by
reply), linking and dismissing with a reason."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from telegram import Bot, ForceReply, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.error import BadRequest, Forbidden

from bot.errors import AnswerWouldReplace, PairNotFound, PhrasingNotFound, QueueItemNotFound
from bot.service.feedback import QuestionRef
from bot.service.review import FARMER_TOLD, AnswerDraft, Notification, QueueItem
from bot.storage.models import DismissReason
from bot.telegram import keyboards, texts
from bot.telegram.admin import admin_only, command_text, reply, split_id
from bot.telegram.context import CustomContext
from bot.telegram.updates import (
    require_accessible,
    require_chat_id,
    require_message,
    require_user_id,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 5
ALERT_NEWEST = 3  # questions shown, each with its buttons, in one alert
ALERT_CHECK_S = 15.0  # how often the queue is looked at for news


@admin_only
async def list_unanswered(update: Update, context: CustomContext) -> None:
    body = command_text(require_message(update))
    offset = (int(body) - 1) * PAGE_SIZE if body.isdigit() and int(body) > 0 else 0
    text, markup = await _queue_page(context, offset)
    await require_message(update).reply_text(text, reply_markup=markup)


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
    rows = [(item.id, item.asked_at, _shown(item)) for item in items]
    markup = keyboards.queue_keyboard(items, offset, total, PAGE_SIZE)
    hint = f"\n{texts.QUEUE_MEDIA_HINT}" if any(item.is_media for item in items) else ""
    return texts.queue_page(rows, offset, total) + hint, markup


@admin_only
async def work_queue(update: Update, context: CustomContext) -> None:
    """Buttons under /unanswered: next page, pairs close to an item, dismiss an item."""
    query = update.callback_query
    assert query is not None and query.message is not None
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
        if item.is_media:  # hear or see it again; replying to it answers it
            await query.answer()
            caption = texts.media_caption(item.id, _shown(item))
            await send_item_media(context.bot, query.message.chat.id, item, caption)
            if not item.captioned:
                return  # no words to look up in the bank
        found = await asyncio.to_thread(context.services.bank.find, item.text, 5)
        rows = [(c.pair_id, c.score, c.question) for c in found]
        await query.answer()
        for part in texts.split_message(texts.queue_candidates(item.id, item.text, rows)):
            await context.bot.send_message(query.message.chat.id, part)
        return
    if press.action == "d":  # the reasons are the confirmation step
        await query.answer()
        await _ask_dismiss_reason(context, query.message.chat.id, press.value)
        return
    await query.answer()
    text, markup = await _queue_page(context, press.value)
    await query.edit_message_text(text, reply_markup=markup)


@admin_only
async def answer_queued(update: Update, context: CustomContext) -> None:
    head, answer = split_id(command_text(require_message(update)))
    if not head.isdigit() or not answer.strip():
        await reply(update, texts.USAGE_ANSWER)
        return
    await _answer_item(update, context, int(head), answer.strip())


@admin_only
async def answer_by_reply(update: Update, context: CustomContext) -> None:
    """An officer's reply to an alert, an answer prompt or a queue item answers it; any
    other message from an officer is a question like a farmer's."""
    message = update.effective_message
    assert message is not None
    edited = replied_item(message, context.bot.id, texts.QUESTION_MARKER)
    admin_id = require_user_id(update)
    draft = context.bot_data.drafts.get((admin_id, edited)) if edited is not None else None
    if draft is not None and (message.text or "").strip():
        await _answer_item(
            update, context, draft.item_id, draft.answer, message.text, draft.keep_words
        )
        return
    item_id = replied_item(message, context.bot.id)
    if item_id is None or not (message.text or "").strip():
        from bot.telegram.farmer import answer_question

        await answer_question(update, context)
        return
    await _answer_item(update, context, item_id, (message.text or "").strip())


def replied_item(
    message: Message, bot_id: int, marker: re.Pattern[str] = texts.ITEM_MARKER
) -> int | None:
    """The queue item a message replies to: the one item named (by `marker`) in a message
    of the bot's (its text, or the caption of a voice note or photo shown again)."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot_id:
        return None
    found = set(marker.findall(replied.text or replied.caption or ""))
    return int(found.pop()) if len(found) == 1 else None


async def _answer_item(
    update: Update,
    context: CustomContext,
    item_id: int,
    answer: str,
    question: str | None = None,
    keep_words: bool = True,
) -> None:
    """Show what the answer will do (the preview, ✅ to send), or, when the bank already
    asks the question, offer replace / send the bank's answer. A voice note or photo
    changes nothing in the bank: its answer goes out at once."""
    message = update.effective_message
    assert message is not None
    admin_id = require_user_id(update)
    reviewer = context.services.reviewer
    try:
        draft = await asyncio.to_thread(
            reviewer.draft, item_id, answer, question, keep_words=keep_words
        )
        if draft.question is None:
            note = await asyncio.to_thread(reviewer.answer, item_id, answer, admin_id=admin_id)
            await _tell_farmer(message, context, note, texts.answered(item_id, note.pair_id))
            return
    except QueueItemNotFound:
        await message.reply_text(texts.queue_item_not_found(item_id))
        return
    except AnswerWouldReplace as existing:
        await _offer_replace(message, context, admin_id, item_id, answer, existing)
        return
    context.bot_data.drafts[(admin_id, item_id)] = draft
    await message.reply_text(
        texts.answer_preview(
            item_id, draft.farmer_text, answer, draft.question, draft.others, draft.keep_words
        ),
        reply_markup=keyboards.preview_keyboard(item_id),
    )


async def _offer_replace(
    message: Message,
    context: CustomContext,
    admin_id: int,
    item_id: int,
    answer: str,
    existing: AnswerWouldReplace,
) -> None:
    context.bot_data.pending_answers[(admin_id, item_id)] = (answer, existing.pair_id)
    await message.reply_text(
        texts.answer_would_replace(item_id, existing.pair_id, existing.question, existing.answer),
        reply_markup=keyboards.replace_keyboard(item_id),
    )


async def _work_preview(
    message: Message, context: CustomContext, item_id: int, choice: str, admin_id: int
) -> None:
    """✅ sends the previewed answer, ✏️ asks for the public question, ✖️ drops it."""
    drafts = context.bot_data.drafts
    draft = drafts.get((admin_id, item_id))
    if draft is None:
        await message.edit_reply_markup(None)
        await message.reply_text(texts.ANSWER_EXPIRED)
        return
    if choice == "e":
        await message.reply_text(
            texts.question_prompt(item_id, draft.question or ""),
            reply_markup=ForceReply(input_field_placeholder="ප්‍රශ්නය"),
        )
        return
    del drafts[(admin_id, item_id)]
    await message.edit_reply_markup(None)
    if choice == "x":
        await message.reply_text(texts.CANCELLED)
        return
    try:
        note = await asyncio.to_thread(
            context.services.reviewer.answer,
            item_id,
            draft.answer,
            admin_id=admin_id,
            question=draft.question,
            keep_words=draft.keep_words,
        )
    except QueueItemNotFound:
        await message.reply_text(texts.queue_item_not_found(item_id))
        return
    except AnswerWouldReplace as existing:  # someone added that question meanwhile
        await _offer_replace(message, context, admin_id, item_id, draft.answer, existing)
        return
    await _tell_farmer(message, context, note, texts.answered(item_id, note.pair_id))


async def _tell_farmer(
    message: Message, context: CustomContext, note: Notification, done: str
) -> None:
    reached = await notify_farmer(context.bot, note)
    await message.reply_text(done + (texts.also_sent(len(note.also)) if note.also else ""))
    if not reached:
        await message.reply_text(texts.FARMER_UNREACHABLE)


@admin_only
async def link_queued(update: Update, context: CustomContext) -> None:
    args = command_text(require_message(update)).split()
    if len(args) != 2 or not all(arg.isdigit() for arg in args):
        await reply(update, texts.USAGE_LINK)
        return
    item_id, pair_id = int(args[0]), int(args[1])
    admin_id = require_user_id(update)
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
    """/dismiss ID REASON dismisses; /dismiss ID asks for the reason first."""
    args = command_text(require_message(update)).split()
    if not args or not args[0].isdigit() or len(args) > 2:
        await reply(update, texts.USAGE_DISMISS)
        return
    item_id = int(args[0])
    reason = _reason(args[1]) if len(args) == 2 else None
    if reason is None:
        await _ask_dismiss_reason(context, require_chat_id(update), item_id)
        return
    text = await _dismiss(context, item_id, reason, require_user_id(update))
    await reply(update, text)


def _reason(text: str) -> DismissReason | None:
    wanted = text.strip().lower().replace("-", "_")
    for reason in DismissReason:
        if reason is not DismissReason.WITHDRAWN and wanted in (reason.value, reason.value[:3]):
            return reason
    return None


async def _ask_dismiss_reason(context: CustomContext, chat_id: int, item_id: int) -> None:
    try:
        item = await asyncio.to_thread(context.services.reviewer.get, item_id)
    except QueueItemNotFound:
        await context.bot.send_message(chat_id, texts.queue_item_not_found(item_id))
        return
    text = f"{texts.item_marker(item.id)} {texts.preview(_shown(item), 500)}\n\n"
    await context.bot.send_message(
        chat_id,
        text + texts.CHOOSE_DISMISS_REASON,
        reply_markup=keyboards.dismiss_reasons_keyboard(item_id),
    )


async def _dismiss(
    context: CustomContext, item_id: int, reason: DismissReason, admin_id: int
) -> str:
    """Dismiss an item and its group and, for off-topic and not-paddy questions, tell each
    farmer kindly."""
    try:
        items = await asyncio.to_thread(
            context.services.reviewer.dismiss, item_id, admin_id=admin_id, reason=reason
        )
    except QueueItemNotFound:
        return texts.queue_item_not_found(item_id)
    await tell_dismissed(context.bot, items, reason)
    return texts.dismissed_because(item_id, reason, len(items) - 1)


async def tell_dismissed(bot: Bot, items: list[QueueItem], reason: DismissReason) -> None:
    """For off-topic and not-paddy questions, tell each farmer of a dismissed group kindly."""
    if reason not in FARMER_TOLD:
        return
    off_topic = reason is DismissReason.OFF_TOPIC
    note = texts.FARMER_OFF_TOPIC if off_topic else texts.FARMER_NOT_PADDY
    for item in items:
        if item.chat_id is None:
            continue
        try:
            await bot.send_message(
                item.chat_id, note, reply_parameters=quoting(item.reply_to_message_id)
            )
        except (Forbidden, BadRequest) as error:
            logger.warning("could not tell chat %s about dismissal: %s", item.chat_id, error)


def quoting(message_id: int | None) -> ReplyParameters | None:
    """Reply to the farmer's own message when it is known (and still there)."""
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


@admin_only
async def work_officer_buttons(update: Update, context: CustomContext) -> None:
    """Alert buttons, dismiss reasons, the replace-or-not choice and delete confirmations."""
    query = update.callback_query
    assert query is not None and query.message is not None
    press = keyboards.parse_officer(query.data)
    if press is None:
        await query.answer()
        return
    admin_id, chat_id = query.from_user.id, query.message.chat.id
    reviewer = context.services.reviewer
    if press.kind == "al:a":
        try:
            item = await asyncio.to_thread(reviewer.get, press.id)
        except QueueItemNotFound:
            await query.answer(texts.queue_item_not_found(press.id), show_alert=True)
            return
        await query.answer()
        force = ForceReply(input_field_placeholder="උත්තරය")
        if item.is_media:  # the prompt is the voice note or photo itself
            prompt = texts.answer_prompt(item.id, _shown(item), texts.MEDIA_PREVIEW_CHARS)
            await send_item_media(context.bot, chat_id, item, prompt, reply_markup=force)
            return
        await context.bot.send_message(
            chat_id, texts.answer_prompt(item.id, _shown(item)), reply_markup=force
        )
    elif press.kind == "dq":
        await query.answer()
        await _ask_dismiss_reason(context, chat_id, press.id)
    elif press.kind == "dm":
        await query.answer()
        if press.value == "x":
            await query.edit_message_text(texts.CANCELLED)
            return
        assert press.value is not None  # parse_officer insists on one for "dm"
        text = await _dismiss(context, press.id, DismissReason(press.value), admin_id)
        await query.edit_message_text(text)
    elif press.kind == "al:l":
        await query.answer()
        message = require_accessible(query.message)
        await _link(message, context, press.id, int(press.value or 0), admin_id)
    elif press.kind == "rw":
        message = require_accessible(query.message)
        await _choose_replace(message, context, press.id, press.value or "x", admin_id)
        await query.answer()
    elif press.kind == "pv":
        await query.answer()
        message = require_accessible(query.message)
        await _work_preview(message, context, press.id, press.value or "x", admin_id)
    elif press.kind == "pd":
        await query.answer()
        message = require_accessible(query.message)
        await _confirm_delete(message, context, press.id, press.value == "y")


async def _choose_replace(
    message: Message, context: CustomContext, item_id: int, choice: str, admin_id: int
) -> None:
    pending = context.bot_data.pending_answers.pop((admin_id, item_id), None)
    await message.edit_reply_markup(None)
    if choice == "x":
        await message.reply_text(texts.CANCELLED)
        return
    if pending is None:
        await message.reply_text(texts.ANSWER_EXPIRED)
        return
    answer, pair_id = pending
    if choice == "l":
        await _link(message, context, item_id, pair_id, admin_id)
        return
    if choice == "n":  # a new pair: its question first, then the preview
        try:
            item = await asyncio.to_thread(context.services.reviewer.get, item_id)
        except QueueItemNotFound:
            await message.reply_text(texts.queue_item_not_found(item_id))
            return
        draft = AnswerDraft(item_id, answer, "", item.text, len(item.others), keep_words=False)
        context.bot_data.drafts[(admin_id, item_id)] = draft
        await message.reply_text(
            texts.question_prompt(item_id, ""),
            reply_markup=ForceReply(input_field_placeholder="ප්‍රශ්නය"),
        )
        return
    try:
        note = await asyncio.to_thread(
            context.services.reviewer.answer, item_id, answer, admin_id=admin_id, replace=True
        )
    except QueueItemNotFound:
        await message.reply_text(texts.queue_item_not_found(item_id))
        return
    await _tell_farmer(message, context, note, texts.answered(item_id, note.pair_id))


async def _link(
    message: Message, context: CustomContext, item_id: int, pair_id: int, admin_id: int
) -> None:
    try:
        note = await asyncio.to_thread(
            context.services.reviewer.link, item_id, pair_id, admin_id=admin_id
        )
    except QueueItemNotFound:
        await message.reply_text(texts.queue_item_not_found(item_id))
        return
    except PairNotFound:
        await message.reply_text(texts.pair_not_found(pair_id))
        return
    await _tell_farmer(message, context, note, texts.linked(item_id, pair_id))


async def _confirm_delete(
    message: Message, context: CustomContext, pair_id: int, confirmed: bool
) -> None:
    if not confirmed:
        await message.edit_text(texts.CANCELLED)
        return
    try:
        await asyncio.to_thread(context.services.bank.delete, pair_id)
    except PairNotFound:
        await message.edit_text(texts.pair_not_found(pair_id))
        return
    await message.edit_text(texts.pair_deleted(pair_id))


@admin_only
async def list_pending(update: Update, context: CustomContext) -> None:
    """/pending: farmers' "did you mean" wordings waiting for approval, ✅ / ❌ each."""
    text, markup = await _pending_page(context)
    await require_message(update).reply_text(text, reply_markup=markup)


async def _pending_page(context: CustomContext) -> tuple[str, InlineKeyboardMarkup | None]:
    waiting = await asyncio.to_thread(context.services.bank.pending)
    if not waiting:
        return texts.PENDING_EMPTY, None
    shown = waiting[: texts.PENDING_SHOWN]
    rows = [(w.id, w.text, w.pair_id, w.pair_question) for w in shown]
    return texts.pending_wordings(rows, len(waiting)), keyboards.pending_keyboard(
        [w.id for w in shown]
    )


@admin_only
async def review_wording(update: Update, context: CustomContext) -> None:
    """✅ approves a waiting wording (indexed at once), ❌ deletes it; the list is redrawn."""
    query = update.callback_query
    assert query is not None and query.message is not None
    press = keyboards.parse_pending(query.data)
    if press is None:
        await query.answer()
        return
    wording_id, approve = press
    try:
        wording = await asyncio.to_thread(
            context.services.bank.review_phrasing, wording_id, approve=approve
        )
    except PhrasingNotFound:
        await query.answer(texts.BUTTON_NOT_VALID, show_alert=True)
        return
    await query.answer(texts.wording_reviewed(wording.text, wording.pair_id, approve))
    text, markup = await _pending_page(context)
    await query.edit_message_text(text, reply_markup=markup)


@admin_only
async def set_alerts(update: Update, context: CustomContext) -> None:
    """/alerts off mutes the officer's alerts about new questions; /alerts on restores them."""
    body = command_text(require_message(update)).strip().lower()
    if body not in ("on", "off"):
        await reply(update, texts.USAGE_ALERTS)
        return
    muted = body == "off"
    user_id = require_user_id(update)
    await asyncio.to_thread(context.services.reviewer.set_alerts, user_id, muted=muted)
    await reply(update, texts.ALERTS_OFF if muted else texts.ALERTS_ON)


async def announce_new_questions(context: CustomContext) -> None:
    """Job: tell every officer who has not muted alerts about newly queued questions, at
    most once every `alert_every_s`, with buttons for the newest few."""
    data = context.bot_data
    every = context.services.settings.alert_every_s
    if not data.admin_ids or time.monotonic() - data.last_queue_alert < every:
        return
    reviewer = context.services.reviewer
    alert = await asyncio.to_thread(reviewer.pending_alert, ALERT_NEWEST)
    if alert is None:
        return
    recipients = await asyncio.to_thread(reviewer.alert_recipients, data.admin_ids)
    if not await asyncio.to_thread(reviewer.claim_alert, alert):
        return  # another replica announced them
    data.last_queue_alert = time.monotonic()
    if not recipients:
        return
    closest = await asyncio.to_thread(_closest_pairs, context, alert.newest)
    text = texts.queue_alert(alert.new, alert.open, [(i.id, _shown(i)) for i in alert.newest])
    markup = keyboards.alert_keyboard([(item.id, closest.get(item.id)) for item in alert.newest])
    media = [item for item in alert.newest if item.is_media]
    for admin_id in recipients:
        try:
            await context.bot.send_message(admin_id, text, reply_markup=markup)
            for item in media:  # to hear or see, and to answer by replying to it
                caption = texts.media_caption(item.id, _shown(item))
                await send_item_media(context.bot, admin_id, item, caption)
        except (Forbidden, BadRequest) as error:
            logger.warning("could not alert officer %s: %s", admin_id, error)


def _closest_pairs(context: CustomContext, items: list[QueueItem]) -> dict[int, int]:
    """Each item's closest pair, other than the one a 👎 was about (none for a voice note or
    photo without words)."""
    closest = {}
    for item in items:
        if not item.captioned:
            continue
        for candidate in context.services.bank.find(item.text, 2):
            if candidate.pair_id != item.given_pair_id:
                closest[item.id] = candidate.pair_id
                break
    return closest


def _shown(item: QueueItem) -> str:
    """An item's text as officers see it, with the others grouped with it."""
    text = _shown_alone(item)
    if item.others:
        text += texts.grouped_mark([other.text for other in item.others])
    return text


def _shown_alone(item: QueueItem) -> str:
    """An item's text as officers see it: a 👎 says which answer it was about; a voice
    note's or photo's caption is marked 🎤 or 📷 (without one, its text says what it is)."""
    if item.is_media and item.captioned:
        return f"{texts.media_mark(item.kind)} {item.text}"
    return texts.feedback_mark(item.given_pair_id) + item.text if item.is_feedback else item.text


async def send_item_media(
    bot: Bot,
    chat_id: int,
    item: QueueItem,
    caption: str,
    *,
    reply_markup: ForceReply | InlineKeyboardMarkup | None = None,
) -> Message:
    """Show a farmer's voice note or photo to an officer again, by its Telegram file id;
    if Telegram no longer knows the id (another bot token), upload the bot's own copy."""
    senders: dict[str, Callable[..., Awaitable[Message]]]
    senders = {"photo": bot.send_photo, "audio": bot.send_audio}
    send = senders.get(item.sent_as or "", bot.send_voice)
    try:
        return await send(chat_id, item.file_id, caption=caption, reply_markup=reply_markup)
    except BadRequest as error:
        path = Path(item.media_path or "")
        if not item.media_path or not await asyncio.to_thread(path.is_file):
            raise
        logger.warning("file id of item %s refused (%s); sending the stored copy", item.id, error)
        data = await asyncio.to_thread(path.read_bytes)
        return await send(chat_id, data, caption=caption, reply_markup=reply_markup)


async def notify_farmer(bot: Bot, note: Notification) -> bool:
    """Send an officer's answer to the farmer, and to every farmer grouped with them, each
    quoting their own question; False if any was unreachable."""
    reached = [await _notify_one(bot, each) for each in (note, *note.also)]
    return all(reached)


async def _notify_one(bot: Bot, note: Notification) -> bool:
    """The answer quoting the question, with 👍/👎 under the last part when it is a pair's
    answer to a logged question; False if unreachable."""
    if note.chat_id is None:
        return False
    parts = texts.split_message(texts.officer_answer(note.question, note.answer))
    reply_to = quoting(note.reply_to_message_id)
    markup = (
        keyboards.feedback_keyboard(QuestionRef(question_id=note.question_id), note.pair_id)
        if note.question_id is not None and note.pair_id is not None
        else None
    )
    try:
        for number, part in enumerate(parts):
            await bot.send_message(
                note.chat_id,
                part,
                reply_parameters=reply_to if number == 0 else None,
                reply_markup=markup if number == len(parts) - 1 else None,
            )
    except (Forbidden, BadRequest) as error:
        logger.warning(
            "could not tell chat %s about pair %s: %s", note.chat_id, note.pair_id, error
        )
        return False
    return True
