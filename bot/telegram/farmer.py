"""Farmers' handlers: welcome, help, questions, "did you mean", 👍/👎 and other messages."""

from __future__ import annotations

import asyncio
import logging

from telegram import CallbackQuery, Message, Update

from bot.errors import PairNotFound, PressRefused
from bot.retrieval.decision import Decision
from bot.service import feedback, topics
from bot.service.answering import Question, Reply
from bot.service.districts import ZONE_NAMES
from bot.service.feedback import QuestionRef
from bot.service.throttle import Verdict
from bot.telegram import keyboards, texts
from bot.telegram.context import CustomContext
from bot.telegram.inbox import question_ref
from bot.telegram.updates import require_message

logger = logging.getLogger(__name__)


async def start(update: Update, context: CustomContext) -> None:
    """The welcome, with topic buttons for farmers who would rather tap than type."""
    welcome = texts.welcome(context.services.settings.retention_days)
    markup = keyboards.topics_keyboard(list(topics.TOPICS))
    await require_message(update).reply_text(welcome, reply_markup=markup)


async def help_command(update: Update, context: CustomContext) -> None:
    user = update.effective_user
    text = texts.HELP + (texts.ADMIN_HELP if context.is_admin(user.id if user else None) else "")
    message = require_message(update)
    for part in texts.split_message(text):
        await message.reply_text(part)


async def answer_question(update: Update, context: CustomContext) -> None:
    """A farmer's text: answer, offer "did you mean", or queue it for an officer."""
    message = update.effective_message
    assert message is not None and message.text is not None
    user_id = update.effective_user.id if update.effective_user else None
    verdict = context.guard.check(message.chat_id, user_id, message.text)
    if verdict is not Verdict.ANSWER:
        await _refuse(message, verdict)
        return
    question = Question(
        message.text,
        chat_id=message.chat_id,
        user_id=user_id,
        message_id=message.message_id,
        ref=question_ref(context.bot.id, update.update_id),
    )
    reply = await context.batcher.answer(question)
    logger.info(
        "chat %s message %s: %s (%.0f ms, question %s)",
        message.chat_id,
        message.message_id,
        reply.decision,
        reply.latency_ms,
        reply.question_id if reply.question_id is not None else reply.client_ref,
    )
    if reply.failed:
        context.guard.forget(message.chat_id, message.text)  # asking again may work
    elif reply.decision is Decision.DECLINE:
        context.guard.mark_queued(message.chat_id, message.text)
    await send_reply(context, message.chat_id, reply)


async def send_reply(context: CustomContext, chat_id: int, reply: Reply) -> None:
    bot = context.bot
    ref = QuestionRef.of(reply)
    if reply.decision is Decision.ANSWER and reply.answer is not None:
        await send_answer(context, chat_id, reply.answer.pair_id, ref)
    elif reply.decision is Decision.SUGGEST:
        shown = reply.suggestions[: keyboards.SUGGESTIONS_SHOWN]
        markup = keyboards.suggestions_keyboard(ref, shown)
        text = texts.did_you_mean([s.question for s in shown])
        await bot.send_message(chat_id, text, reply_markup=markup)
    elif reply.decision is Decision.CHIT_CHAT and reply.small_talk is not None:
        await bot.send_message(chat_id, reply.small_talk.reply)
    elif reply.other_crop:
        await bot.send_message(chat_id, texts.OTHER_CROP_SENT_TO_OFFICER)
    else:
        await bot.send_message(chat_id, texts.SENT_TO_OFFICER)


async def send_answer(context: CustomContext, chat_id: int, pair_id: int, ref: QuestionRef) -> None:
    """The pair's answer for the farmer's zone, in as many messages as it needs, 👍/👎
    under the last; if it depends on a zone not known yet, the district question first
    (the answer follows the choice)."""
    advice = await asyncio.to_thread(context.services.advisor.advice, pair_id, chat_id)
    if advice.needs_district:
        markup = keyboards.district_keyboard(ref, pair_id)
        await context.bot.send_message(chat_id, texts.ASK_DISTRICT, reply_markup=markup)
        return
    zone_name = ZONE_NAMES.get(advice.zone or "")
    parts = texts.split_message(texts.answer_text(advice.answer, advice.source, zone_name))
    for number, part in enumerate(parts, 1):
        buttons = keyboards.feedback_keyboard(ref, pair_id) if number == len(parts) else None
        await context.bot.send_message(chat_id, part, reply_markup=buttons)


async def district_command(update: Update, context: CustomContext) -> None:
    """/district: choose (or change) the district answers are given for."""
    markup = keyboards.district_keyboard(None, None)
    await require_message(update).reply_text(texts.CHOOSE_DISTRICT, reply_markup=markup)


async def choose_district(update: Update, context: CustomContext) -> None:
    """A district button: remember it, then answer the question that was waiting for it."""
    query = update.callback_query
    assert query is not None
    press = keyboards.parse_district(query.data)
    if not await _press_allowed(query, context, parsed=press is not None):
        return
    assert press is not None and query.message is not None
    chat_id, user_id = query.message.chat.id, query.from_user.id
    pair_id, ref = press.pair_id, press.ref
    if pair_id is not None and ref is not None:
        try:
            await asyncio.to_thread(
                feedback.check_answered, context.services, ref, pair_id, chat_id
            )
        except PressRefused as refused:
            await _refuse_press(query, refused)
            return
    try:
        chosen = await asyncio.to_thread(
            context.services.advisor.set_district, chat_id, user_id, press.code
        )
    except ValueError:
        await query.answer(texts.UNKNOWN_DISTRICT, show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(texts.district_saved(chosen.name, ZONE_NAMES[chosen.zone]))
    if pair_id is not None and ref is not None:  # the question waiting for the district
        try:
            await send_answer(context, chat_id, pair_id, ref)
        except PairNotFound:
            await context.bot.send_message(chat_id, texts.ANSWER_GONE)


async def choose_suggestion(update: Update, context: CustomContext) -> None:
    """A "did you mean" button: send that answer, or queue the question for "none of these"."""
    query = update.callback_query
    assert query is not None
    press = keyboards.parse_suggestion(query.data)
    if not await _press_allowed(query, context, parsed=press is not None):
        return
    assert press is not None and query.message is not None
    chat_id, user_id = query.message.chat.id, query.from_user.id
    try:
        if press.pair_id is None:
            await asyncio.to_thread(
                feedback.reject_suggestions,
                context.services,
                press.ref,
                chat_id=chat_id,
                user_id=user_id,
            )
        else:
            pair = await asyncio.to_thread(
                feedback.choose_suggestion,
                context.services,
                press.ref,
                press.pair_id,
                chat_id=chat_id,
                user_id=user_id,
            )
    except PressRefused as refused:
        await _refuse_press(query, refused)
        return
    except PairNotFound:
        await query.answer(texts.ANSWER_GONE, show_alert=True)
        return
    await query.answer()
    if press.pair_id is None:
        await query.edit_message_text(texts.REJECTED_SENT_TO_OFFICER)
        return
    await query.edit_message_text(texts.you_chose(pair.question))
    try:
        await send_answer(context, chat_id, pair.id, press.ref)
    except PairNotFound:
        await context.bot.send_message(chat_id, texts.ANSWER_GONE)


async def show_topic(update: Update, context: CustomContext) -> None:
    """A topic button: that topic's most asked questions, as buttons, in a new message (the
    welcome and its topics stay for the next choice)."""
    query = update.callback_query
    assert query is not None
    press = keyboards.parse_topic(query.data)
    if not await _press_allowed(query, context, parsed=press is not None and press.pair_id is None):
        return
    assert press is not None and query.message is not None
    try:
        found = await asyncio.to_thread(topics.popular_questions, context.services, press.key)
    except PressRefused as refused:
        await _refuse_press(query, refused)
        return
    await query.answer()
    label = texts.TOPIC_BUTTONS[press.key]
    if not found:
        await context.bot.send_message(query.message.chat.id, f"{label}\n\n{texts.TOPIC_EMPTY}")
        return
    markup = keyboards.topic_questions_keyboard(press.key, [(q.pair_id, q.question) for q in found])
    await context.bot.send_message(
        query.message.chat.id, texts.topic_questions(label), reply_markup=markup
    )


async def answer_topic_question(update: Update, context: CustomContext) -> None:
    """A question tapped under a topic: logged like a typed one, then answered with 👍/👎."""
    query = update.callback_query
    assert query is not None
    press = keyboards.parse_topic(query.data)
    parsed = press is not None and press.pair_id is not None
    if not await _press_allowed(query, context, parsed=parsed):
        return
    assert press is not None and press.pair_id is not None and query.message is not None
    chat_id = query.message.chat.id
    try:
        reply = await asyncio.to_thread(
            topics.ask_picked,
            context.services,
            press.key,
            press.pair_id,
            chat_id=chat_id,
            user_id=query.from_user.id,
            ref=question_ref(context.bot.id, update.update_id),
        )
    except PressRefused as refused:
        await _refuse_press(query, refused)
        return
    await query.answer()
    try:
        await send_answer(context, chat_id, press.pair_id, QuestionRef.of(reply))
    except PairNotFound:
        await context.bot.send_message(chat_id, texts.ANSWER_GONE)


async def record_feedback(update: Update, context: CustomContext) -> None:
    """👍 or 👎 under an answer: store it and put a thank-you where the buttons were."""
    query = update.callback_query
    assert query is not None
    press = keyboards.parse_feedback(query.data)
    if not await _press_allowed(query, context, parsed=press is not None):
        return
    assert press is not None and query.message is not None
    try:
        await asyncio.to_thread(
            feedback.record_answer_feedback,
            context.services,
            press.ref,
            press.pair_id,
            helpful=press.helpful,
            chat_id=query.message.chat.id,
            user_id=query.from_user.id,
        )
    except PressRefused as refused:
        await _refuse_press(query, refused)
        return
    await query.answer(texts.THANKS_FOR_FEEDBACK if press.helpful else texts.SORRY_NOT_HELPFUL)
    await query.edit_message_reply_markup(keyboards.thanks_keyboard())


async def acknowledge(update: Update, context: CustomContext) -> None:
    """The thank-you button does nothing; answering the press stops the spinner."""
    if update.callback_query is not None:
        await update.callback_query.answer()


async def unsupported_message(update: Update, context: CustomContext) -> None:
    """Videos, stickers, places, files: say kindly what the bot can read today (voice notes
    and photos go to `bot.telegram.media`)."""
    message = update.effective_message
    if message is None:
        return
    user_id = update.effective_user.id if update.effective_user else None
    verdict = context.guard.check(message.chat_id, user_id)
    if verdict is not Verdict.ANSWER:
        await _refuse(message, verdict)
        return
    if message.video or message.video_note:
        text = texts.VIDEO_NOT_YET
    elif message.sticker:
        text = texts.STICKER_REPLY
    elif message.location or message.venue:
        text = texts.LOCATION_NOT_YET
    elif message.document:
        text = texts.DOCUMENT_NOT_YET
    else:
        text = texts.TEXT_ONLY
    await message.reply_text(text)


async def replay_pending_questions(context: CustomContext) -> None:
    """Job: write questions kept in the journal during a database outage (and keep the
    update inbox small)."""
    inbox = context.bot_data.inbox
    if inbox is not None and inbox.needs_compacting:
        await asyncio.to_thread(inbox.compact)
    written = await asyncio.to_thread(context.services.answerer.replay_journal)
    if written:
        logger.info("recovered %d journaled question(s)", written)


async def _press_allowed(query: CallbackQuery, context: CustomContext, *, parsed: bool) -> bool:
    """Presses count against the chat's message limit, so forged presses cannot flood the
    database; an unparseable or limited press is answered (the spinner stops) and dropped."""
    if not parsed or query.message is None:
        await query.answer()
        return False
    verdict = context.guard.check(query.message.chat.id, query.from_user.id)
    if verdict is Verdict.ANSWER:
        return True
    await query.answer(texts.SLOW_DOWN if verdict is Verdict.FLOODED else None)
    return False


async def _refuse_press(query: CallbackQuery, refused: PressRefused) -> None:
    logger.warning("button refused: %s", refused)
    await query.answer(texts.BUTTON_NOT_VALID, show_alert=True)


async def _refuse(message: Message, verdict: Verdict) -> None:
    if verdict is Verdict.REPEAT:
        await message.reply_text(texts.ALREADY_ASKED)
    elif verdict is Verdict.REPEAT_QUEUED:
        await message.reply_text(texts.ALREADY_WITH_OFFICER)
    elif verdict is Verdict.FLOODED:
        logger.warning("chat %s is flooding; pausing replies", message.chat_id)
        await message.reply_text(texts.SLOW_DOWN)
