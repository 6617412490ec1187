"""Small talk: the intents file is read whole or refused, and the real model matches it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.errors import ImportRejected
from bot.service.chit_chat import CHIT_CHAT_PATH, ChitChat, read_intents
from bot.text.normalize import normalize


def test_the_shipped_intents_read_whole():
    with CHIT_CHAT_PATH.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["intent", "reply", "examples"]
    assert all(len(row) == 3 for row in rows[1:])  # a comma in a reply is quoted
    intents = {intent.name: intent for intent in read_intents()}
    assert len(intents) == len(rows) - 1
    how_are_you = intents["how_are_you"]
    assert how_are_you.reply.startswith("මම හොඳින් ඉන්නවා, ස්තූතියි!")
    assert {"කොහොමද", "kohomada", "how are you"} <= set(how_are_you.examples)
    for intent in intents.values():
        assert len(intent.examples) >= 5, intent.name
        assert all(example and "|" not in example for example in intent.examples), intent.name


def test_a_reply_with_an_unquoted_comma_is_refused_with_its_line(tmp_path: Path):
    path = tmp_path / "intents.csv"
    path.write_text(
        "intent,reply,examples\n"
        "thanks,ස්තූතියි!,ස්තූතියි | thanks\n"
        "how_are_you,මම හොඳින්, ස්තූතියි!,කොහොමද | kohomada\n"
        "bye,,bye\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as refused:
        read_intents(path)
    assert [str(error) for error in refused.value.errors] == [
        "line 3: more than 3 fields: put a reply with commas in double quotes",
        "line 4: intent and reply must not be empty",
    ]


@pytest.mark.parametrize(
    ("message", "intent"),
    [("කොහොමද", "how_are_you"), ("kohomada", "how_are_you"), ("ස්තූතියි", "thanks")],
)
def test_the_real_model_finds_the_intent(encoder, eval_cache, message, intent):
    with eval_cache() as session:
        chit_chat = ChitChat.build(session, encoder)
        session.commit()
    text = normalize(message)
    [found] = chit_chat.best(encoder.encode_queries([text]), [text])
    assert found is not None and found.intent == intent
    assert found.score > 0.99  # an example word for word
