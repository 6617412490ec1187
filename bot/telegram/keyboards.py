"""Inline keyboards and their callback-data formats (each at most 64 bytes), parsed back.

Formats (`REF` is a question log id, or `r` + the journal's 32-hex client_ref):
    fb:h:REF:PAIR   👍 on an answer          fb:n:REF:PAIR   👎 on an answer
    sg:REF:PAIR     a "did you mean" choice  sn:REF          "none of these"
    uq:p:OFFSET     a queue page             uq:f:ID         pairs close to a queued question
    uq:d:ID:OFFSET  dismiss a queued question, then show the page at OFFSET
    dz:REF:PAIR:CODE  a district chosen before PAIR's answer (REF and PAIR "-" from /district)
    ok              the thank-you button (does nothing)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.service.answering import Candidate
from bot.service.feedback import QuestionRef
from bot.service.review import QueueItem
from bot.telegram import texts

MAX_CALLBACK_BYTES = 64
BUTTON_LABEL_CHARS = 60

_ID = r"\d{1,19}"
_REF = rf"(?:(?P<qid>{_ID})|r(?P<cref>[0-9a-f]{{32}}))"
FEEDBACK = re.compile(rf"fb:(?P<vote>[hn]):{_REF}:(?P<pair>{_ID}|-)")
SUGGESTION = re.compile(rf"sg:{_REF}:(?P<pair>{_ID})")
NONE_OF_THESE = re.compile(rf"sn:{_REF}")
QUEUE = re.compile(rf"uq:(?P<action>[pfd]):(?P<id>{_ID})(?::(?P<offset>{_ID}))?")
DISTRICT = re.compile(rf"dz:(?:{_REF}|-):(?P<pair>{_ID}|-):(?P<code>[a-z_]{{1,20}})")
DISTRICT_COLUMNS = 3
THANKS = "ok"


@dataclass(frozen=True)
class FeedbackPress:
    helpful: bool
    ref: QuestionRef
    pair_id: int | None


@dataclass(frozen=True)
class SuggestionPress:
    ref: QuestionRef
    pair_id: int | None  # None: "none of these"


@dataclass(frozen=True)
class DistrictPress:
    ref: QuestionRef | None  # the question waiting for this choice, if any
    pair_id: int | None
    code: str


@dataclass(frozen=True)
class QueuePress:
    action: str  # "p" page, "f" find close pairs, "d" dismiss
    value: int  # the offset for "p", the queue item id otherwise
    offset: int = 0


def _data(text: str) -> str:
    if len(text.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {text!r}")
    return text


def _ref_text(ref: QuestionRef) -> str:
    if ref.question_id is not None:
        return str(ref.question_id)
    if ref.client_ref and re.fullmatch(r"[0-9a-f]{32}", ref.client_ref):
        return f"r{ref.client_ref}"
    raise ValueError(f"question reference without id or client_ref: {ref}")


def _ref(match: re.Match[str]) -> QuestionRef:
    if match["qid"] is not None:
        return QuestionRef(question_id=int(match["qid"]))
    return QuestionRef(client_ref=match["cref"])


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BUTTON_LABEL_CHARS else text[: BUTTON_LABEL_CHARS - 1] + "…"


def feedback_keyboard(ref: QuestionRef, pair_id: int | None) -> InlineKeyboardMarkup:
    pair = "-" if pair_id is None else str(pair_id)
    base = f"{_ref_text(ref)}:{pair}"
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.HELPFUL_BUTTON, callback_data=_data(f"fb:h:{base}")),
                InlineKeyboardButton(texts.NOT_HELPFUL_BUTTON, callback_data=_data(f"fb:n:{base}")),
            ]
        ]
    )


def thanks_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.THANKS_BUTTON, callback_data=THANKS)]])


def suggestions_keyboard(
    ref: QuestionRef, suggestions: Sequence[Candidate]
) -> InlineKeyboardMarkup:
    token = _ref_text(ref)
    rows = [
        [InlineKeyboardButton(_label(s.question), callback_data=_data(f"sg:{token}:{s.pair_id}"))]
        for s in suggestions[:3]
    ]
    rows.append([InlineKeyboardButton(texts.NONE_OF_THESE, callback_data=_data(f"sn:{token}"))])
    return InlineKeyboardMarkup(rows)


def queue_keyboard(
    items: Sequence[QueueItem], offset: int, total: int, page_size: int
) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(texts.queue_find_button(item.id), callback_data=f"uq:f:{item.id}"),
            InlineKeyboardButton(
                texts.queue_dismiss_button(item.id),
                callback_data=_data(f"uq:d:{item.id}:{offset}"),
            ),
        ]
        for item in items
    ]
    nav = []
    if offset > 0:
        previous = max(offset - page_size, 0)
        nav.append(InlineKeyboardButton(texts.PREVIOUS_PAGE, callback_data=f"uq:p:{previous}"))
    if offset + page_size < total:
        nav.append(
            InlineKeyboardButton(texts.NEXT_PAGE, callback_data=f"uq:p:{offset + page_size}")
        )
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def parse_feedback(data: str | None) -> FeedbackPress | None:
    match = FEEDBACK.fullmatch(data or "")
    if match is None:
        return None
    pair = None if match["pair"] == "-" else int(match["pair"])
    return FeedbackPress(match["vote"] == "h", _ref(match), pair)


def parse_suggestion(data: str | None) -> SuggestionPress | None:
    if match := SUGGESTION.fullmatch(data or ""):
        return SuggestionPress(_ref(match), int(match["pair"]))
    if match := NONE_OF_THESE.fullmatch(data or ""):
        return SuggestionPress(_ref(match), None)
    return None


def district_keyboard(ref: QuestionRef | None, pair_id: int | None) -> InlineKeyboardMarkup:
    """The 25 districts, three to a row, in Sinhala alphabetical order."""
    from bot.service.districts import DISTRICTS

    head = f"{_ref_text(ref) if ref else '-'}:{pair_id if pair_id is not None else '-'}"
    buttons = [
        InlineKeyboardButton(d.name, callback_data=_data(f"dz:{head}:{d.code}"))
        for d in sorted(DISTRICTS, key=lambda d: d.name)
    ]
    return InlineKeyboardMarkup(
        [buttons[i : i + DISTRICT_COLUMNS] for i in range(0, len(buttons), DISTRICT_COLUMNS)]
    )


def parse_district(data: str | None) -> DistrictPress | None:
    match = DISTRICT.fullmatch(data or "")
    if match is None:
        return None
    ref = _ref(match) if match["qid"] is not None or match["cref"] is not None else None
    pair = None if match["pair"] == "-" else int(match["pair"])
    return DistrictPress(ref, pair, match["code"])


def parse_queue(data: str | None) -> QueuePress | None:
    match = QUEUE.fullmatch(data or "")
    if match is None or (match["action"] == "d") != (match["offset"] is not None):
        return None
    return QueuePress(match["action"], int(match["id"]), int(match["offset"] or 0))
