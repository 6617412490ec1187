from __future__ import annotations

import pytest

from bot.service.answering import Candidate
from bot.service.feedback import QuestionRef
from bot.service.review import QueueItem
from bot.telegram import keyboards

BIG = 2**63 - 1
REF = "0123456789abcdef0123456789abcdef"


def all_data(markup) -> list[str]:
    return [button.callback_data for row in markup.inline_keyboard for button in row]


@pytest.mark.parametrize("ref", [QuestionRef(question_id=BIG), QuestionRef(client_ref=REF)])
def test_callback_data_stays_within_64_bytes_with_the_largest_ids(ref):
    suggestions = [Candidate(BIG, 0.9, "ප්‍රශ්නය " * 40, "උත්තරය")] * 3
    items = [QueueItem(BIG, "ප්‍රශ්නය", 1, None)] * 5  # type: ignore[arg-type]
    markups = [
        keyboards.feedback_keyboard(ref, BIG),
        keyboards.suggestions_keyboard(ref, suggestions),
        keyboards.queue_keyboard(items, BIG - 10, BIG, 5),
    ]
    for data in (d for markup in markups for d in all_data(markup)):
        assert len(data.encode()) <= keyboards.MAX_CALLBACK_BYTES


@pytest.mark.parametrize("ref", [QuestionRef(question_id=42), QuestionRef(client_ref=REF)])
def test_buttons_parse_back_to_what_they_were_built_from(ref):
    up, down = all_data(keyboards.feedback_keyboard(ref, 7))
    assert keyboards.parse_feedback(up) == keyboards.FeedbackPress(True, ref, 7)
    assert keyboards.parse_feedback(down) == keyboards.FeedbackPress(False, ref, 7)
    choice, none = all_data(
        keyboards.suggestions_keyboard(ref, [Candidate(9, 0.9, "ප්‍රශ්නය", "උත්තරය")])
    )
    assert keyboards.parse_suggestion(choice) == keyboards.SuggestionPress(ref, 9)
    assert keyboards.parse_suggestion(none) == keyboards.SuggestionPress(ref, None)


@pytest.mark.parametrize(
    "data",
    ["", "fb:x:1:2", "fb:h:1", "fb:h:r123:2", "sg:1", "sg:1:2:3", "sn:abc", "uq:d:5",
     "uq:p:1:2", "uq:z:1", "fb:h:" + "9" * 30 + ":1", "ok"],
)  # fmt: skip
def test_malformed_or_forged_data_is_rejected(data):
    assert keyboards.parse_feedback(data) is None
    assert keyboards.parse_suggestion(data) is None
    assert keyboards.parse_queue(data) is None


def test_queue_data_parses():
    assert keyboards.parse_queue("uq:p:10") == keyboards.QueuePress("p", 10)
    assert keyboards.parse_queue("uq:d:3:5") == keyboards.QueuePress("d", 3, 5)
    assert keyboards.parse_queue("uq:f:3") == keyboards.QueuePress("f", 3)


def test_long_suggestion_labels_are_shortened():
    markup = keyboards.suggestions_keyboard(
        QuestionRef(question_id=1), [Candidate(2, 0.9, "දිගු " * 50, "උත්තරය")]
    )
    label = markup.inline_keyboard[0][0].text
    assert len(label) <= keyboards.BUTTON_LABEL_CHARS and label.endswith("…")
