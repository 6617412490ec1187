"""Every example question the bot and the README show farmers is answered, and rightly.

The README's own example was once answered, confidently, with the pair about drying
seed paddy; these run the shipped model on the shipped bank, as a new install would.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot.config import BUNDLED_BANK, REPO_ROOT
from bot.retrieval.decision import Decision
from bot.retrieval.encoder import Encoder
from bot.retrieval.tuned_model import (
    TUNED_DELTA,
    TUNED_MODEL_NAME,
    ensure_tuned_model,
    read_delta_info,
)
from bot.service.answering import Question
from bot.service.evaluation import indexed_bank
from bot.telegram import texts
from tests.conftest import shipped_tuning

# Each example and the bank question of the pair it must be answered with.
EXPECTED = {
    texts.EXAMPLE_SOAKING: "බිත්තර වී කොපමණ වෙලාවක් වතුරේ පොඟවන්න ඕනද?",
    texts.EXAMPLE_BPH: "දුඹුරු පැළ කීඩෑවා පාලනය කරන්නේ කොහොමද?",
}


def readme_examples() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r'agribot ask "([^"]+)"', readme)


def test_every_shown_example_is_known_here():
    assert set(texts.EXAMPLES) == set(EXPECTED)
    assert readme_examples() and set(readme_examples()) <= set(EXPECTED)
    assert texts.EXAMPLE_SOAKING in texts.WELCOME and texts.EXAMPLE_BPH in texts.HELP


@pytest.fixture(scope="module")
def shipped(base_model_dir, eval_cache):  # type: ignore[no-untyped-def]
    info = read_delta_info(TUNED_DELTA)
    path = ensure_tuned_model(base_model_dir.parent, show_progress=False)
    # as a fresh install answers: the serving copy in int8, at int8's tuning
    encoder = Encoder.load(path, TUNED_MODEL_NAME, backend="onnx", serving=True, precision="int8")
    assert encoder.precision == "int8"
    thresholds, fusion = shipped_tuning(info, "int8")
    with indexed_bank(encoder, BUNDLED_BANK, thresholds, fusion, eval_cache) as bank:
        yield bank


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_the_shipped_bot_answers_each_example_with_its_pair(shipped, example):
    reply = shipped.answerer.answer(Question(example))
    assert reply.decision is Decision.ANSWER
    assert reply.answer is not None and reply.answer.question == EXPECTED[example]


# Dev-split questions with English terms in them (code-mixed, and Singlish with English
# words) and the pair each asks about; without the English-terms view the bot did not
# answer them.
MIXED = {
    "weedicide spray කරන්න best time එක කවද්ද": "වල් නාශක ගහන්න හොඳම වෙලාව කවදාද?",
    "BPH වැඩි වෙලා, field එකේ water මොකද කරන්නෙ": ("දුඹුරු පැළ කීඩෑවා ආවම කුඹුරේ වතුර මොකද කරන්නේ?"),
    "seed paddy unu wathuren treat karanne": "බිත්තර වී උණු වතුරෙන් පිරියම් කරන්නේ කොහොමද?",
    "acre ekakata yooriya kilo keeyak": "අක්කරයකට යූරියා කොච්චර ඕනෙද?",
}


@pytest.mark.slow
@pytest.mark.parametrize("question", sorted(MIXED))
def test_english_terms_in_a_question_are_read_as_the_banks_sinhala(shipped, question):
    answered = shipped.answerer.answer(Question(question))
    assert answered.decision is Decision.ANSWER
    assert answered.answer is not None and answered.answer.question == MIXED[question]
    without = replace(shipped.state, english_terms=False)
    shipped.answerer.swap(without)
    try:
        before = shipped.answerer.answer(Question(question))
    finally:
        shipped.answerer.swap(shipped.state)
    assert before.decision is not Decision.ANSWER or before.answer != answered.answer
