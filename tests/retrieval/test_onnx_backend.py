"""ONNX Runtime with the `tokenizers` library encodes as sentence-transformers on torch does,
so cached vectors stay valid across backends; and it may be called from many threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bot.retrieval.encoder import Encoder
from bot.retrieval.onnx_backend import ONNX_FILE, OnnxEncoder

# A long farmer's story: about 1,400 tokens, past the model's 512 and QUERY_MAX_TOKENS.
LONG = " ".join(["ආයුබෝවන් මහත්තයා, මම අනුරාධපුරයේ ගොවියෙක්. ගොයම පිච්චිලා."] * 60)
SENTENCES = [
    "වී",
    "යූරියා දාන්නේ කවදද?",
    "මාස 3½ වී වගාවකට පොහොර දාන කාලසටහන මුල ඉඳන් අගට කියන්න, කිලෝ ගණනත් එක්ක.",
    "ගොයම පිච්චිලා; ඒක දුඹුරු පැළ කීඩෑවාද කළු මකුණාද කියලා දැනගන්නේ කොහොමද?",
    "urea kiyada",
    LONG,
]
# Inputs where two tokenizers could part: spaces at either end, tabs and new lines,
# ZWJ conjuncts, an emoji, an empty message.
ODD = ["  වී  ", "යූරියා\tදාන්නේ\nකවදද?", "ශ්‍රී ලංකා ක්‍රියා", "🌾 ගොයම", "", LONG]


@pytest.fixture(scope="module")
def sentence_transformer(encoder):  # type: ignore[no-untyped-def]
    """The same model run by sentence-transformers on torch."""
    return encoder.sentence_transformer


def test_the_model_sees_the_token_ids_sentence_transformers_gives_it(
    encoder, sentence_transformer
):
    assert encoder.onnx is not None and encoder.tokenizer is not None
    assert encoder.tokenizer.truncation["max_length"] == sentence_transformer.max_seq_length
    for prompt in ("query: ", "passage: "):
        want = sentence_transformer.preprocess(ODD + SENTENCES, prompt=prompt)
        texts = [prompt + text for text in ODD + SENTENCES]
        ids, mask = encoder.onnx._padded(encoder.tokenizer.encode_batch_fast(texts))
        assert np.array_equal(ids, want["input_ids"].numpy())
        assert np.array_equal(mask, want["attention_mask"].numpy())


def test_vectors_match_sentence_transformers_for_queries_and_passages_of_any_length(
    encoder, sentence_transformer
):
    """Passages whole (the model keeps 512 tokens); queries are cut at QUERY_MAX_TOKENS
    first, so a long one is compared with torch through the same cut."""
    assert encoder.backend == "onnx" and encoder.dim == 384
    passages = encoder.encode_passages(SENTENCES, batch_size=2)  # padded, reordered batches
    want = sentence_transformer.encode(
        SENTENCES, prompt="passage: ", normalize_embeddings=True, convert_to_numpy=True
    )
    assert passages.dtype == np.float32 and passages.shape == want.shape
    assert np.min(np.sum(want * passages, axis=1)) >= 0.9999
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)

    short = SENTENCES[:-1]
    want = sentence_transformer.encode(
        short, prompt="query: ", normalize_embeddings=True, convert_to_numpy=True
    )
    assert np.min(np.sum(want * encoder.encode_queries(short), axis=1)) >= 0.9999
    torch_encoder = Encoder.from_sentence_transformer(sentence_transformer, "torch")
    assert torch_encoder.backend == "torch"
    want, got = torch_encoder.encode_queries(ODD), encoder.encode_queries(ODD, batch_size=2)
    assert np.min(np.sum(want * got, axis=1)) >= 0.9999


def test_eight_threads_at_once_get_the_vectors_one_thread_gets(base_model_dir, monkeypatch):
    """The batcher, /find and an import may encode together, the first of them while the
    session is still being made: one session is made, and every vector is as serial."""
    sessions: list[object] = []
    new_session = OnnxEncoder._new_session

    def counted(self: OnnxEncoder) -> object:
        sessions.append(new_session(self))
        return sessions[-1]

    monkeypatch.setattr(OnnxEncoder, "_new_session", counted)
    encoder = Encoder.load(base_model_dir, "multilingual-e5-small", backend="onnx", threads=1)
    work = [SENTENCES[i % len(SENTENCES) :] + ODD[: i % 4] for i in range(8)]
    start = threading.Barrier(len(work))
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            for _ in range(3):
                results[i] = encoder.encode_queries(work[i], batch_size=2)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(sessions) == 1
    for i, texts in enumerate(work):
        assert np.allclose(results[i], encoder.encode_queries(texts, batch_size=2), atol=1e-6)


def test_the_export_is_made_once_and_reused(encoder, base_model_dir):
    exported = base_model_dir / ONNX_FILE
    assert exported.is_file()
    before = exported.stat().st_mtime_ns
    again = Encoder.load(base_model_dir, "multilingual-e5-small", backend="auto")
    assert again.backend == "onnx"
    assert exported.stat().st_mtime_ns == before
    assert again.encode_queries([]).shape == (0, encoder.dim)


def test_an_unknown_backend_is_refused(base_model_dir):
    with pytest.raises(ValueError, match="backend must be one of"):
        Encoder.load(base_model_dir, backend="tensorflow")


ARENA = """
import ctypes, json, sys
from pathlib import Path
from bot.retrieval.encoder import Encoder
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
encoder = Encoder.load(Path(sys.argv[1]), "base", backend="onnx", serving=True)
encoder.encode_queries(["වී"])
before = rss()
long_questions = [" ".join(["වී වගාවට යූරියා පොහොර යොදන්නේ කවදාද"] * 40 + [str(n)]) for n in range(16)]
encoder.encode_queries(long_questions)
encoder.encode_queries(["වී"])
ctypes.CDLL("libc.so.6").malloc_trim(0)  # what malloc keeps aside is not the arena's
print(rss() - before)
"""


@pytest.mark.real_model
def test_a_big_batch_does_not_keep_its_memory(base_model_dir):
    """ONNX Runtime's arena would keep about 140 MB after 16 questions of 256 tokens."""
    import subprocess
    import sys

    command = [sys.executable, "-c", ARENA, str(base_model_dir)]
    grown = float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert grown < 60, grown


IDLE = """
import sys, time
from pathlib import Path
from bot.retrieval.encoder import Encoder
encoder = Encoder.load(Path(sys.argv[1]), "base", backend="onnx", threads=2)
for _ in range(5):
    encoder.encode_queries(["යූරියා දාන්නේ කවදද?"])
began = time.process_time()
time.sleep(0.5)
print(time.process_time() - began)
"""


@pytest.mark.real_model
def test_an_idle_encoder_burns_no_cpu(base_model_dir):
    """ONNX Runtime's threads spin between a run's operators (faster), and stop when the
    run ends: left to spin, they take 40-50 ms of a core after every question."""
    import subprocess
    import sys

    command = [sys.executable, "-c", IDLE, str(base_model_dir)]
    busy = float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert busy < 0.015, busy  # CPU seconds in half a second of waiting


def test_opening_a_session_leaves_numpys_blas_one_thread(base_model_dir):
    """OpenBLAS's spinning workers would take the cores ONNX Runtime's threads wait for
    (a batch took twice as long to encode after the small talk's matrix product)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(2, user_api="blas"):  # as a process starts on two cores or more
        encoder = Encoder.load(base_model_dir, "multilingual-e5-small", backend="onnx")
        assert encoder.onnx is not None
        encoder.onnx._current_session()
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
