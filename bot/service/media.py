"""Farmers' voice notes and photos: type-checked by their bytes, kept under a name the bot
makes up, logged and queued for officers. No Telegram types here; sync functions for a
worker thread, like the rest of `service/`.

A photo's bytes pass `image_suffix` (".jpg", or None: not a picture), `store` keeps them
under the media directory, and `queue_media` logs and queues the path it returned.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import QueueKind, UnansweredQuestion
from bot.storage.questions import QuestionRecord, RecordedQuestion, record_question

logger = logging.getLogger(__name__)

MEDIA_KINDS = frozenset({QueueKind.VOICE, QueueKind.PHOTO})

# What a voice note or audio message may declare itself (Telegram's voice notes are OGG
# Opus; phones send recordings as these too). Anything else is refused unread.
AUDIO_MIME_TYPES = frozenset(
    {
        "audio/ogg",
        "audio/opus",
        "audio/mpeg",
        "audio/mp3",
        "audio/mp4",
        "audio/x-m4a",
        "audio/m4a",
        "audio/aac",
        "audio/wav",
        "audio/x-wav",
        "audio/webm",
        "audio/amr",
    }
)


def audio_suffix(data: bytes) -> str | None:
    """The file suffix for audio bytes, judged by their magic numbers; None if unknown."""
    if data.startswith(b"OggS"):
        return ".ogg"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return ".mp3"  # an ID3 tag, or an MPEG frame sync (also ADTS AAC)
    if data[4:8] == b"ftyp":
        return ".m4a"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return ".wav"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm"
    if data.startswith(b"#!AMR"):
        return ".amr"
    return None


def image_suffix(data: bytes) -> str | None:
    """".jpg", ".png" or ".webp" by the bytes' magic numbers; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return ".webp"
    return None


def store(folder: Path, prefix: str, suffix: str, data: bytes) -> Path:
    """Write `data` to `folder` under a new random name (`prefix`-hex`suffix`), never a
    name the sender chose; a half-written file is never left under the final name."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}-{uuid.uuid4().hex}{suffix}"
    partial = path.with_name(path.name + ".part")
    with open(partial, "xb") as file:
        file.write(data)
    os.replace(partial, path)
    return path


def queue_media(
    session_factory: sessionmaker[Session],
    record: QuestionRecord,
    *,
    kind: QueueKind,
    file_id: str,
    path: Path,
) -> RecordedQuestion:
    """Log the message (a decline, so stats count it) and queue it for officers with its
    file. Handled twice (an update replayed after a crash), it is queued once and the
    second copy of the file is deleted; if the database refuses, the copy is deleted too."""
    try:
        with session_factory() as session:
            done = record_question(
                session, record, kind=kind, file_id=file_id, media_path=str(path)
            )
            session.commit()
            kept = session.scalar(
                select(UnansweredQuestion.media_path).where(
                    UnansweredQuestion.id == done.queue_id
                )
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if kept != str(path):
        path.unlink(missing_ok=True)
    return done


def delete_files(paths: list[str]) -> int:
    """Delete stored voice notes and photos (forgotten or purged rows); returns how many."""
    deleted = 0
    for name in paths:
        try:
            Path(name).unlink()
            deleted += 1
        except FileNotFoundError:
            pass
        except OSError as error:
            logger.warning("could not delete %s: %s", name, error)
    return deleted
