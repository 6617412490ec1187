"""The serving copy's small tokenizer: the ids and offsets of `tokenizer.json`, in less memory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from bot.config import BUNDLED_BANK, BUNDLED_EVAL
from bot.retrieval.encoder import Encoder
from bot.retrieval.model_config import load_tokenizer
from bot.retrieval.piece_tokenizer import (
    PieceTokenizer,
    check_texts,
    first_difference,
    has_piece_tokenizer,
    piece_files,
    write_piece_tokenizer,
)
from bot.retrieval.serving_model import ensure_serving_model
from bot.storage.importer import read_bank_file
from tests.tiny_model import build_tiny_model


def farmer_texts() -> list[str]:
    """Every eval query, raw and prompted, and the bank's questions and answers."""
    queries = [json.loads(line)["query"] for line in BUNDLED_EVAL.read_text("utf-8").splitlines()]
    rows = read_bank_file(BUNDLED_BANK)
    return (
        queries
        + [f"query: {query}" for query in queries]
        + [f"query: {row.question}" for row in rows]
        + [f"passage: {row.answer}" for row in rows]
    )


def copy_tokenizer(model_dir: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    shutil.copy(model_dir / "tokenizer.json", out / "tokenizer.json")
    return out


def reference(model_dir: Path, max_length: int | None = None) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    if max_length:
        tokenizer.enable_truncation(max_length)
    else:
        tokenizer.no_truncation()
    return tokenizer


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return build_tiny_model(tmp_path / "models" / "tiny")


def test_tiny_models_pieces_are_written_and_match(tiny_model, tmp_path):
    folder = copy_tokenizer(tiny_model, tmp_path / "copy")
    assert write_piece_tokenizer(folder) and has_piece_tokenizer(folder)
    pieces = PieceTokenizer.load(folder, None)
    texts = ["▁වී ගොයම?", "rice වී", "ගොයම ගොයම ගොයම rice?", "稻米 Ж <s>වී</s>", "  "]
    assert first_difference(reference(folder), pieces, texts + check_texts(500)) is None
    assert pieces.token_to_id("<pad>") == reference(folder).token_to_id("<pad>")
    assert pieces.token_to_id("not a piece") is None


def test_long_messages_are_cut_alike_and_not_kept_in_the_word_cache(tiny_model, tmp_path):
    """A 4,096-character message (one endless word, or many words) gets the ids and offsets
    `tokenizers` gives it, whole or cut; its long words are not kept in the word cache."""
    folder = copy_tokenizer(tiny_model, tmp_path / "copy")
    assert write_piece_tokenizer(folder)
    messages = [
        "ගොයම" * 1024,
        "rice වී " * 512,
        "🙏" * 4096,
        "<s>" + "වීrice" * 800 + "</s> ගොයම",
    ]
    assert first_difference(reference(folder), PieceTokenizer.load(folder, None), messages) is None
    cut, cut_reference = PieceTokenizer.load(folder, 12), reference(folder, 12)
    for text in messages:
        got, want = cut.encode(text, False), cut_reference.encode(text, add_special_tokens=False)
        assert got.ids == want.ids and got.offsets == want.offsets
    unique = [f"{n}" + "ගොයම" * 200 for n in range(20)]
    cut.encode_batch(unique)
    assert cut._cached_path.cache_info().currsize <= 4  # the short words only
    assert cut._cached_long_path.cache_info().currsize <= 4


def test_a_tokenizer_it_does_not_reproduce_writes_nothing(tiny_model, tmp_path, monkeypatch):
    folder = copy_tokenizer(tiny_model, tmp_path / "copy")

    original = PieceTokenizer._viterbi

    def backwards(self: PieceTokenizer, word: str) -> list[tuple[int, int, int]]:
        return list(reversed(original(self, word)))  # a search that gets the order wrong

    monkeypatch.setattr(PieceTokenizer, "_viterbi", backwards)
    assert not write_piece_tokenizer(folder)
    assert not any(path.exists() for path in piece_files(folder))
    assert isinstance(load_tokenizer(folder, None), Tokenizer)


def test_other_kinds_of_tokenizer_keep_the_tokenizers_library(tmp_path):
    from tokenizers import models

    folder = tmp_path / "wordpiece"
    folder.mkdir()
    Tokenizer(models.WordPiece({"[UNK]": 0, "rice": 1}, unk_token="[UNK]")).save(
        str(folder / "tokenizer.json")
    )
    assert not write_piece_tokenizer(folder)
    assert not has_piece_tokenizer(folder)


def test_the_serving_copy_answers_with_the_piece_tokenizer(tiny_model):
    served = Encoder.load(tiny_model, "tiny", backend="onnx", serving=True)
    assert isinstance(served.tokenizer, PieceTokenizer)
    whole = Encoder.load(tiny_model, "tiny", backend="onnx")
    assert isinstance(whole.tokenizer, Tokenizer)  # the full model keeps its own


def test_copies_built_before_it_get_one_on_their_next_load(tiny_model):
    serving = ensure_serving_model(tiny_model)
    for path in piece_files(serving):
        path.unlink()
    Encoder.load(tiny_model, "tiny", backend="onnx", serving=True)
    assert has_piece_tokenizer(serving)


@pytest.fixture(scope="module")
def serving_dir(base_model_dir: Path) -> Path:
    return ensure_serving_model(base_model_dir)


@pytest.mark.real_model
def test_real_pieces_give_the_same_ids_and_offsets_on_farmer_texts(serving_dir):
    texts = farmer_texts()
    assert (
        first_difference(reference(serving_dir), load_tokenizer(serving_dir, None), texts) is None
    )
    assert (
        first_difference(
            reference(serving_dir),
            PieceTokenizer.load(serving_dir, None),
            check_texts(5000, seed=7),
        )
        is None
    )
    cut_reference, cut = reference(serving_dir, 12), PieceTokenizer.load(serving_dir, 12)
    for text in texts[:500]:
        assert cut.encode(text).ids == cut_reference.encode(text).ids
        plain, want = cut.encode(text, False), cut_reference.encode(text, add_special_tokens=False)
        assert plain.ids == want.ids and plain.offsets == want.offsets


@pytest.mark.real_model
def test_real_serving_vectors_are_the_same_with_either_tokenizer(base_model_dir, serving_dir):
    pieces = Encoder.load(base_model_dir, "base", backend="onnx", serving=True)
    library = Encoder.load(base_model_dir, "base", backend="onnx", serving=True)
    assert isinstance(pieces.tokenizer, PieceTokenizer) and library.onnx is not None
    library.tokenizer = library.onnx.tokenizer = reference(serving_dir, 512)
    texts = farmer_texts()[:300]
    long_messages = [" ".join(texts[i : i + 40]) for i in range(0, 200, 40)]  # cut at 256
    for method, chosen in (("encode_queries", texts + long_messages), ("encode_passages", texts)):
        want, got = (getattr(encoder, method)(chosen) for encoder in (library, pieces))
        assert np.array_equal(want, got)


@pytest.mark.real_model
def test_threads_share_one_piece_tokenizer(serving_dir):
    tokenizer = PieceTokenizer.load(serving_dir, 512)
    texts = farmer_texts()[:400]
    want = [encoding.ids for encoding in reference(serving_dir, 512).encode_batch(texts)]
    results: list[bool] = []

    def encode() -> None:
        results.append([found.ids for found in tokenizer.encode_batch(texts)] == want)

    threads = [threading.Thread(target=encode) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4


RESIDENT = """
import ctypes, sys
from pathlib import Path
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
import numpy, tokenizers
from bot.retrieval import piece_tokenizer
before = rss()
if sys.argv[2] == "pieces":
    kept = piece_tokenizer.PieceTokenizer.load(Path(sys.argv[1]), 512)
else:
    kept = tokenizers.Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
ctypes.CDLL("libc.so.6").malloc_trim(0)
print(rss() - before)
"""


@pytest.mark.real_model
def test_the_piece_tokenizer_holds_under_half_the_memory(serving_dir):
    def resident_mb(kind: str) -> float:
        command = [sys.executable, "-c", RESIDENT, str(serving_dir), kind]
        return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)

    pieces, library = resident_mb("pieces"), resident_mb("library")
    assert library > 60 and pieces < library / 2, (pieces, library)
