"""A farmer's voice note or photo: size-checked before downloading, type-checked by its
bytes, kept under `settings.media_dir` and queued for officers (who hear or see it again
by its Telegram file id: `review.send_item_media`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from telegram import Message, Update
from telegram.error import BadRequest

from bot.retrieval.decision import Decision
from bot.service import media
from bot.service.throttle import Verdict
from bot.storage.models import QueueKind
from bot.storage.questions import QuestionRecord
from bot.telegram import texts
from bot.telegram.context import CustomContext
from bot.telegram.inbox import question_ref
from bot.telegram.review import replied_item
from bot.text.normalize import clean_incoming, normalize

logger = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class _Chosen:
    kind: QueueKind
    sent_as: str  # "voice", "audio" or "photo": the stored name's prefix
    file_id: str
    file_size: int | None
    mime_type: str | None = None


async def media_question(update: Update, context: CustomContext) -> None:
    """A voice note, audio recording or photo (with or without a caption) from a private
    chat: queue it for an officer and tell the farmer, or say kindly why not."""
    message = update.effective_message
    if message is None:
        return
    user_id = update.effective_user.id if update.effective_user else None
    verdict = context.guard.check(message.chat_id, user_id)
    if verdict is Verdict.FLOODED:
        logger.warning("chat %s is flooding; pausing replies", message.chat_id)
        await message.reply_text(texts.SLOW_DOWN)
    if verdict is not Verdict.ANSWER:
        return
    if context.is_admin(user_id) and replied_item(message, context.bot.id) is not None:
        await message.reply_text(texts.ANSWER_AS_TEXT)  # an officer answering by voice
        return
    settings = context.services.settings
    cap = int(settings.max_media_mb * MB)
    chosen = _choose(message, cap)
    if chosen is None:
        await message.reply_text(texts.media_too_big(settings.max_media_mb))
        return
    is_photo = chosen.kind == QueueKind.PHOTO
    wrong_type = texts.PHOTO_WRONG_TYPE if is_photo else texts.VOICE_WRONG_TYPE
    if not is_photo and chosen.mime_type not in media.AUDIO_MIME_TYPES:
        await message.reply_text(wrong_type)
        return
    data = await _download(context, chosen, cap)
    if data is None:
        await message.reply_text(texts.media_too_big(settings.max_media_mb))
        return
    suffix = media.image_suffix(data) if is_photo else media.audio_suffix(data)
    if suffix is None:
        logger.info("chat %s sent a %s that is not one", message.chat_id, chosen.sent_as)
        await message.reply_text(wrong_type)
        return
    path = await asyncio.to_thread(media.store, settings.media_dir, chosen.sent_as, suffix, data)
    caption = clean_incoming(message.caption or "").strip()
    placeholder = texts.PHOTO_PLACEHOLDER if is_photo else texts.VOICE_PLACEHOLDER
    record = QuestionRecord(
        raw_text=caption or placeholder,
        normalized_text=normalize(caption) if caption else "",
        decision=Decision.DECLINE.value,
        candidates=[],
        latency_ms=None,
        model_id=None,
        chat_id=message.chat_id,
        user_id=user_id,
        message_id=message.message_id,
        client_ref=question_ref(context.bot.id, update.update_id),
    )
    done = await asyncio.to_thread(
        media.queue_media,
        context.services.session_factory,
        record,
        kind=chosen.kind,
        file_id=chosen.file_id,
        path=path,
    )
    logger.info(
        "chat %s message %s: a %s queued as %s",
        message.chat_id,
        message.message_id,
        chosen.sent_as,
        done.queue_id,
    )
    await message.reply_text(texts.PHOTO_QUEUED if is_photo else texts.VOICE_QUEUED)


def _choose(message: Message, cap: int) -> _Chosen | None:
    """The file to keep: the voice note or recording, or the largest photo size within
    `cap`; None when it (every size of a photo) is over `cap` by what Telegram declares."""
    if message.photo:
        fitting = [p for p in message.photo if (p.file_size or 0) <= cap]
        if not fitting:
            return None
        best = max(fitting, key=lambda p: (p.width * p.height, p.file_size or 0))
        return _Chosen(QueueKind.PHOTO, "photo", best.file_id, best.file_size)
    if message.voice is not None:
        voice = message.voice  # Telegram's voice notes are OGG Opus when nothing is said
        mime = (voice.mime_type or "audio/ogg").lower()
        chosen = _Chosen(QueueKind.VOICE, "voice", voice.file_id, voice.file_size, mime)
    else:
        audio = message.audio
        assert audio is not None
        mime = (audio.mime_type or "").lower()
        chosen = _Chosen(QueueKind.VOICE, "audio", audio.file_id, audio.file_size, mime)
    return None if (chosen.file_size or 0) > cap else chosen


async def _download(context: CustomContext, chosen: _Chosen, cap: int) -> bytes | None:
    """The file's bytes; None when it turns out to be over `cap` (a size Telegram had not
    declared, or Telegram's own refusal of a file too big for bots)."""
    try:
        file = await context.bot.get_file(chosen.file_id)
    except BadRequest as error:
        if "too big" in str(error).lower():
            return None
        raise
    if (file.file_size or 0) > cap:
        return None
    data = bytes(await file.download_as_bytearray())
    return None if len(data) > cap else data
