"""Inline keyboards and their callback-data formats (each at most 64 bytes), parsed back.

Formats (`REF` is a question log id, or `r` + the journal's 32-hex client_ref):
    fb:h:REF:PAIR   👍 on an answer          fb:n:REF:PAIR   👎 on an answer
    sg:REF:PAIR     a "did you mean" choice  sn:REF          "none of these"
    tp:TOPIC        a topic under /start     tq:TOPIC:PAIR   a question listed under TOPIC
    uq:p:OFFSET     a queue page             uq:f:ID         pairs close to a queued question
    uq:d:ID:OFFSET  dismiss a queued question, then show the page at OFFSET
    dz:REF:PAIR:CODE  a district chosen before PAIR's answer (REF and PAIR "-" from /district)
    ok              the thank-you button (does nothing)
    fg:y:USER       /forget confirmed by USER           fg:n:USER     /forget cancelled
    al:l:ID:PAIR    link a queued question to the pair closest to it (from an alert)
    al:a:ID         answer a queued question: a prompt to reply to
    dq:ID           why dismiss ID? (the reasons)      dm:ID:REASON  dismiss, REASON or x
    rw:ID:r|l|n|x   the officer's answer replaces the bank's, or send the bank's, or make a
                    new pair with another question, or cancel
    pd:PAIR:y|x     delete a pair, or not
    pw:ID:a|r       approve or reject a farmer's wording waiting for approval
    pv:ID:s|e|x     an answer's preview: send it, edit the public question, or cancel
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
SUGGESTIONS_SHOWN = 3

_ID = r"\d{1,19}"
_REF = rf"(?:(?P<qid>{_ID})|r(?P<cref>[0-9a-f]{{32}}))"
FEEDBACK = re.compile(rf"fb:(?P<vote>[hn]):{_REF}:(?P<pair>{_ID}|-)")
SUGGESTION = re.compile(rf"sg:{_REF}:(?P<pair>{_ID})")
NONE_OF_THESE = re.compile(rf"sn:{_REF}")
TOPIC = re.compile(r"tp:(?P<key>[a-z_]{1,20})")
TOPIC_QUESTION = re.compile(rf"tq:(?P<key>[a-z_]{{1,20}}):(?P<pair>{_ID})")
QUEUE = re.compile(rf"uq:(?P<action>[pfd]):(?P<id>{_ID})(?::(?P<offset>{_ID}))?")
DISTRICT = re.compile(rf"dz:(?:{_REF}|-):(?P<pair>{_ID}|-):(?P<code>[a-z_]{{1,20}})")
OFFICER = re.compile(
    rf"(?P<kind>al:l|al:a|dq|dm|rw|pd|pv):(?P<id>{_ID})(?::(?P<value>{_ID}|[a-z_]{{1,20}}))?"
)
OFFICER_PATTERN = r"^(al:[la]|dq|dm|rw|pd|pv):"
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
class TopicPress:
    key: str  # checked against bot.service.topics.TOPICS by the handler
    pair_id: int | None  # None: the topic itself, to list its questions


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


@dataclass(frozen=True)
class OfficerPress:
    kind: str  # "al:l", "al:a", "dq", "dm", "rw" or "pd"
    id: int  # the queue item (the pair for "pd")
    value: str | None = None  # the pair for "al:l", a reason, a choice


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
    """Buttons "1", "2", "3" in a row (the options are written out, numbered, in the message:
    long Sinhala questions do not fit a button), then "none of these"."""
    token = _ref_text(ref)
    numbers = [
        InlineKeyboardButton(str(number), callback_data=_data(f"sg:{token}:{s.pair_id}"))
        for number, s in enumerate(suggestions[:SUGGESTIONS_SHOWN], 1)
    ]
    none = InlineKeyboardButton(texts.NONE_OF_THESE, callback_data=_data(f"sn:{token}"))
    return InlineKeyboardMarkup([numbers, [none]])


def topics_keyboard(keys: Sequence[str]) -> InlineKeyboardMarkup:
    """The topic buttons under /start, two to a row."""
    buttons = [
        InlineKeyboardButton(texts.TOPIC_BUTTONS[key], callback_data=_data(f"tp:{key}"))
        for key in keys
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def topic_questions_keyboard(
    key: str, questions: Sequence[tuple[int, str]]
) -> InlineKeyboardMarkup:
    """One button per (pair id, question), one to a row."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(_label(question), callback_data=_data(f"tq:{key}:{pair_id}"))]
            for pair_id, question in questions
        ]
    )


def parse_topic(data: str | None) -> TopicPress | None:
    if match := TOPIC.fullmatch(data or ""):
        return TopicPress(match["key"], None)
    if match := TOPIC_QUESTION.fullmatch(data or ""):
        return TopicPress(match["key"], int(match["pair"]))
    return None


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


def alert_keyboard(items: Sequence[tuple[int, int | None]]) -> InlineKeyboardMarkup:
    """Per queued question: link to its closest pair (if any), answer, dismiss."""
    rows = []
    for item_id, closest in items:
        row = []
        if closest is not None:
            label = texts.link_button(item_id, closest)
            data = _data(f"al:l:{item_id}:{closest}")
            row.append(InlineKeyboardButton(label, callback_data=data))
        row += [
            InlineKeyboardButton(
                f"{texts.ANSWER_BUTTON} #{item_id}", callback_data=_data(f"al:a:{item_id}")
            ),
            InlineKeyboardButton(
                f"{texts.OFF_TOPIC_BUTTON} #{item_id}", callback_data=_data(f"dq:{item_id}")
            ),
        ]
        rows.append(row)
    return InlineKeyboardMarkup(rows)


def dismiss_reasons_keyboard(item_id: int) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(label, callback_data=_data(f"dm:{item_id}:{reason}"))
        for reason, label in texts.DISMISS_REASONS.items()
    ]
    cancel = InlineKeyboardButton(texts.CANCEL_BUTTON, callback_data=_data(f"dm:{item_id}:x"))
    return InlineKeyboardMarkup([buttons[:2], buttons[2:], [cancel]])


def replace_keyboard(item_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts.REPLACE_BUTTON, callback_data=_data(f"rw:{item_id}:r"))],
            [
                InlineKeyboardButton(
                    texts.SEND_EXISTING_BUTTON, callback_data=_data(f"rw:{item_id}:l")
                )
            ],
            [InlineKeyboardButton(texts.NEW_PAIR_BUTTON, callback_data=_data(f"rw:{item_id}:n"))],
            [InlineKeyboardButton(texts.CANCEL_BUTTON, callback_data=_data(f"rw:{item_id}:x"))],
        ]
    )


PENDING = re.compile(rf"pw:(?P<id>{_ID}):(?P<verdict>[ar])")


def pending_keyboard(ids: Sequence[int]) -> InlineKeyboardMarkup:
    """✅ / ❌ per waiting wording, numbered as in the message."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(f"✅ {number}", callback_data=_data(f"pw:{wording}:a")),
                InlineKeyboardButton(f"❌ {number}", callback_data=_data(f"pw:{wording}:r")),
            ]
            for number, wording in enumerate(ids, 1)
        ]
    )


def parse_pending(data: str | None) -> tuple[int, bool] | None:
    """(wording id, approve?) of a ✅ / ❌ press."""
    match = PENDING.fullmatch(data or "")
    return (int(match["id"]), match["verdict"] == "a") if match else None


def preview_keyboard(item_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.PREVIEW_SEND_BUTTON, callback_data=_data(f"pv:{item_id}:s")
                ),
                InlineKeyboardButton(texts.CANCEL_BUTTON, callback_data=_data(f"pv:{item_id}:x")),
            ],
            [
                InlineKeyboardButton(
                    texts.PREVIEW_EDIT_BUTTON, callback_data=_data(f"pv:{item_id}:e")
                )
            ],
        ]
    )


def confirm_delete_keyboard(pair_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.CONFIRM_DELETE_BUTTON, callback_data=_data(f"pd:{pair_id}:y")
                ),
                InlineKeyboardButton(texts.CANCEL_BUTTON, callback_data=_data(f"pd:{pair_id}:x")),
            ]
        ]
    )


def parse_officer(data: str | None) -> OfficerPress | None:
    match = OFFICER.fullmatch(data or "")
    if match is None:
        return None
    kind, value = match["kind"], match["value"]
    needs_value = kind in ("al:l", "dm", "rw", "pd", "pv")
    if needs_value != (value is not None):
        return None
    if kind == "al:l" and not value.isdigit():
        return None
    if kind == "dm" and value not in (*texts.DISMISS_REASONS, "x"):
        return None
    if kind == "rw" and value not in ("r", "l", "n", "x"):
        return None
    if kind == "pd" and value not in ("y", "x"):
        return None
    if kind == "pv" and value not in ("s", "e", "x"):
        return None
    return OfficerPress(kind, int(match["id"]), value)


def parse_feedback(data: str | None) -> FeedbackPress | None:
    """A 👍/👎 press, or None for data of another format.

    Example:
        >>> parse_feedback("fb:h:12:7")
        FeedbackPress(helpful=True, ref=QuestionRef(question_id=12, client_ref=None), pair_id=7)
        >>> parse_feedback("fb:n:r" + "0" * 32 + ":-").ref.client_ref == "0" * 32
        True
        >>> parse_feedback("fb:x:12:7") is None
        True
    """
    match = FEEDBACK.fullmatch(data or "")
    if match is None:
        return None
    pair = None if match["pair"] == "-" else int(match["pair"])
    return FeedbackPress(match["vote"] == "h", _ref(match), pair)


def parse_suggestion(data: str | None) -> SuggestionPress | None:
    """A "did you mean" choice, or "none of these" (pair_id None).

    Example:
        >>> parse_suggestion("sg:12:7").pair_id, parse_suggestion("sn:12").pair_id
        (7, None)
    """
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
    """A district chosen, before an answer or from /district (no question, no pair).

    Example:
        >>> parse_district("dz:-:-:kurunegala")
        DistrictPress(ref=None, pair_id=None, code='kurunegala')
    """
    match = DISTRICT.fullmatch(data or "")
    if match is None:
        return None
    ref = _ref(match) if match["qid"] is not None or match["cref"] is not None else None
    pair = None if match["pair"] == "-" else int(match["pair"])
    return DistrictPress(ref, pair, match["code"])


def parse_queue(data: str | None) -> QueuePress | None:
    """A queue page, pairs close to a queued question, or a dismissal (which needs an offset).

    Example:
        >>> parse_queue("uq:d:5:20"), parse_queue("uq:d:5")
        (QueuePress(action='d', value=5, offset=20), None)
    """
    match = QUEUE.fullmatch(data or "")
    if match is None or (match["action"] == "d") != (match["offset"] is not None):
        return None
    return QueuePress(match["action"], int(match["id"]), int(match["offset"] or 0))


FORGET = re.compile(rf"fg:(?P<answer>[yn]):(?P<user>{_ID})")


@dataclass(frozen=True)
class ForgetPress:
    confirmed: bool
    user_id: int  # who asked to be forgotten: only they may press


def forget_keyboard(user_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.FORGET_YES, callback_data=_data(f"fg:y:{user_id}")),
                InlineKeyboardButton(texts.FORGET_NO, callback_data=_data(f"fg:n:{user_id}")),
            ]
        ]
    )


def parse_forget(data: str | None) -> ForgetPress | None:
    match = FORGET.fullmatch(data or "")
    if match is None:
        return None
    return ForgetPress(match["answer"] == "y", int(match["user"]))
