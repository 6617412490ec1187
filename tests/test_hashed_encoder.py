"""The fast layer's encoder keeps the score bands the Telegram and service tests rely on."""

from __future__ import annotations

import numpy as np

from bot.storage.importer import read_bank_file
from tests.conftest import SMALL_BANK
from tests.hashed_encoder import ANSWER_AT, SUGGEST_AT, HashedEncoder
from tests.telegram.conftest import ANSWERED, GREY, HARVEST, OFF_TOPIC, OFF_TOPIC_2


def bank_texts() -> list[str]:
    return [text for row in read_bank_file(SMALL_BANK) for text in (row.question, *row.alternates)]


def best(encoder: HashedEncoder, text: str) -> tuple[float, str]:
    texts = bank_texts()
    scores = encoder.encode_queries(texts) @ encoder.encode_queries([text])[0]
    top = int(np.argmax(scores))
    return float(scores[top]), texts[top]


def test_vectors_are_unit_length_and_the_same_from_any_instance():
    vectors = HashedEncoder().encode_queries([GREY, "", "Bg 352"])
    again = HashedEncoder().encode_passages([GREY, "", "Bg 352"])
    assert vectors.shape == (3, HashedEncoder().dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[[0, 2]], axis=1), 1.0)
    assert np.array_equal(vectors, again)


def test_the_test_questions_fall_in_their_bands():
    encoder = HashedEncoder()
    assert best(encoder, ANSWERED)[0] >= ANSWER_AT
    grey_score, grey_match = best(encoder, GREY)
    assert SUGGEST_AT <= grey_score < ANSWER_AT
    [harvest] = [row for row in read_bank_file(SMALL_BANK) if row.question == HARVEST]
    assert grey_match in {harvest.question, *harvest.alternates}
    for text in (OFF_TOPIC, OFF_TOPIC_2):
        assert best(encoder, text)[0] < SUGGEST_AT
