"""One long message must not slow the short questions batched with it, and is cut at
QUERY_MAX_TOKENS tokens."""

from __future__ import annotations

import numpy as np

from bot.retrieval.encoder import QUERY_MAX_TOKENS, Encoder, length_groups

SHORT = [f"වී වගාවට පොහොර {n} යොදන්නේ කවදාද?" for n in range(15)]
LONG = " ".join(["ආයුබෝවන් මහත්තයා, මම අනුරාධපුරයේ ගොවියෙක්."] * 200)


def test_length_groups_keep_long_texts_apart():
    assert length_groups([12, 400, 10, 11], batch_size=64) == [[2, 3, 0], [1]]
    assert length_groups([10] * 5, batch_size=2) == [[0, 1], [2, 3], [4]]
    assert length_groups([], batch_size=8) == []


def test_batches_of_long_texts_stay_under_the_token_cap():
    groups = length_groups([30] * 100 + [512] * 10, batch_size=64, max_tokens=2048)
    assert [len(group) for group in groups] == [64, 36, 4, 4, 2]
    assert all(len(group) * 512 <= 2048 for group in groups[2:])


def test_a_long_message_is_encoded_apart_and_cut(base_model_dir, monkeypatch):
    encoder = Encoder.load(base_model_dir, "multilingual-e5-small", backend="onnx")
    assert encoder.onnx is not None
    batches: list[list[str]] = []
    real_encode = encoder.onnx.encode

    def recording(texts, prompt, batch_size=64, show_progress=False):  # type: ignore[no-untyped-def]
        batches.append(list(texts))
        return real_encode(texts, prompt, batch_size, show_progress)

    monkeypatch.setattr(encoder.onnx, "encode", recording)
    mixed = encoder.encode_queries([*SHORT, LONG])
    [short_batch, long_batch] = sorted(batches, key=len, reverse=True)
    assert sorted(short_batch) == sorted(SHORT) and len(long_batch) == 1

    assert encoder.tokenizer is not None
    tokens = encoder.tokenizer.encode(long_batch[0], add_special_tokens=False).ids
    assert len(tokens) == QUERY_MAX_TOKENS and LONG.startswith(long_batch[0])
    alone = encoder.encode_queries(SHORT)
    assert np.allclose(mixed[:15], alone, atol=1e-5)
    assert np.allclose(mixed[15], encoder.encode_queries([LONG[: len(long_batch[0]) + 30]])[0])
