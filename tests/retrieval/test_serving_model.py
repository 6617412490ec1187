"""The serving copy: trimmed, split at the word embeddings, giving the model's own vectors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.retrieval.encoder import Encoder
from bot.retrieval.onnx_backend import EMBEDDINGS_FILE, SPLIT_FILE, EmbeddingRows, map_rows
from bot.retrieval.serving_model import ensure_serving_model, serving_path
from tests.tiny_model import KEPT, build_tiny_model

TEXTS = ["▁වී ගොයම?", "rice වී", "වී", "ගොයම ගොයම ගොයම rice?"]


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return build_tiny_model(tmp_path / "models" / "tiny")


def test_serving_copy_lives_in_the_model_and_gives_its_vectors(tiny_model):
    full = Encoder.load(tiny_model, "tiny", backend="onnx")
    served = Encoder.load(tiny_model, "tiny", backend="onnx", serving=True)
    assert served.model_id == full.model_id == "tiny" and served.path == str(tiny_model)
    assert served.onnx is not None and full.onnx is not None
    assert served.onnx.onnx_path == serving_path(tiny_model) / SPLIT_FILE
    assert served.onnx.embeddings is not None and served.onnx.embeddings.shape == (len(KEPT), 8)
    for method in ("encode_queries", "encode_passages"):
        want, got = (getattr(encoder, method)(TEXTS) for encoder in (full, served))
        assert np.allclose(want, got, atol=1e-6)


def test_serving_copy_is_built_once_and_again_for_new_weights(tiny_model):
    built = ensure_serving_model(tiny_model)
    stamp = (built / SPLIT_FILE).stat().st_mtime_ns
    assert ensure_serving_model(tiny_model) == built
    assert (built / SPLIT_FILE).stat().st_mtime_ns == stamp
    weights = tiny_model / "model.safetensors"
    os.utime(weights, ns=(stamp + 10**9, stamp + 10**9))  # as a retrained version's would
    assert (ensure_serving_model(tiny_model) / SPLIT_FILE).stat().st_mtime_ns != stamp


def _op_types(graph: Path) -> list[str]:
    import onnx

    return [node.op_type for node in onnx.load(str(graph), load_external_data=False).graph.node]


def test_the_serving_graph_is_fused_and_gives_the_same_vectors(tiny_model):
    """Each layer's attention is one ONNX Runtime kernel (eager attention traced, then
    fused): a third faster on the real model, the vectors unchanged."""
    from transformers import AutoConfig

    built = ensure_serving_model(tiny_model)
    layers = AutoConfig.from_pretrained(tiny_model).num_hidden_layers
    ops = _op_types(built / SPLIT_FILE)
    assert ops.count("Attention") == layers and "Softmax" not in ops
    full = Encoder.load(tiny_model, "tiny", backend="onnx")
    served = Encoder.load(tiny_model, "tiny", backend="onnx", serving=True)
    assert np.allclose(full.encode_queries(TEXTS), served.encode_queries(TEXTS), atol=1e-6)


def test_a_copy_exported_by_an_earlier_recipe_gets_its_graph_again(tiny_model):
    """Copies built before the fused graph are re-exported once, in place: the mapped
    embedding matrix is left alone (a running bot reads it) and the weights stay."""
    built = ensure_serving_model(tiny_model)
    graph, rows = built / SPLIT_FILE, built / EMBEDDINGS_FILE
    stamp = graph.with_name(graph.name + ".json")
    assert stamp.is_file()
    stamp.write_text('{"export": 1}', encoding="utf-8")  # as an earlier recipe left it
    before = (graph.stat().st_mtime_ns, rows.stat().st_mtime_ns, map_rows(rows).copy())
    assert ensure_serving_model(tiny_model) == built
    assert graph.stat().st_mtime_ns != before[0] and rows.stat().st_mtime_ns == before[1]
    assert np.array_equal(map_rows(rows), before[2])
    assert '"export": 2' in stamp.read_text(encoding="utf-8")
    assert [p.name for p in graph.parent.glob(".export-*")] == []  # nothing half-written
    again = graph.stat().st_mtime_ns
    ensure_serving_model(tiny_model)
    assert graph.stat().st_mtime_ns == again  # once


def test_serving_copy_goes_with_its_model(tiny_model):
    ensure_serving_model(tiny_model)
    shutil.rmtree(tiny_model)
    assert [path.name for path in tiny_model.parent.iterdir() if "tiny" in path.name] == [
        ".tiny-bert"  # what build_tiny_model leaves beside it
    ]


def test_a_model_that_cannot_be_trimmed_answers_whole(tiny_model, monkeypatch):
    from bot.errors import VocabularyNotTrimmable
    from bot.retrieval import serving_model

    def refuse(model_dir: Path) -> Path:
        raise VocabularyNotTrimmable("only Unigram tokenizers can be trimmed, not 'BPE'")

    monkeypatch.setattr(serving_model, "ensure_serving_model", refuse)
    served = Encoder.load(tiny_model, "tiny", backend="auto", serving=True)
    assert served.onnx is not None and served.onnx.embeddings is None
    assert served.encode_queries(TEXTS).shape == (len(TEXTS), 8)


def test_mapped_rows_read_like_the_saved_matrix(tmp_path):
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "rows.npy", matrix)
    rows = map_rows(tmp_path / "rows.npy")
    assert np.array_equal(rows[np.array([[3, 0], [1, 1]])], matrix[[[3, 0], [1, 1]]])
    assert not rows.flags.writeable


def test_embedding_rows_read_from_the_file_like_the_saved_matrix(tmp_path):
    matrix = np.random.default_rng(3).standard_normal((50, 6)).astype(np.float32)
    np.save(tmp_path / "rows.npy", matrix)
    rows = EmbeddingRows.open(tmp_path / "rows.npy")
    assert isinstance(rows, EmbeddingRows) and rows.shape == (50, 6) and len(rows) == 50
    ids = np.array([[49, 0, 7, 7], [3, 49, 1, 0]])
    assert rows[ids].dtype == np.float32 and np.array_equal(rows[ids], matrix[ids])
    assert rows[np.zeros((0, 3), dtype=np.int64)].shape == (0, 3, 6)
    for outside in (50, -1):
        with pytest.raises(IndexError):
            rows[np.array([[1, outside]])]
    with (tmp_path / "rows.npy").open("r+b") as handle:  # a file cut short
        handle.truncate((tmp_path / "rows.npy").stat().st_size - 8)
    with pytest.raises(OSError, match="ends inside row 49"):
        EmbeddingRows.open(tmp_path / "rows.npy")[np.array([[49]])]


def test_embedding_rows_once_read_are_kept_up_to_their_capacity(tmp_path):
    matrix = np.random.default_rng(4).standard_normal((40, 6)).astype(np.float32)
    path = tmp_path / "rows.npy"
    np.save(path, matrix)
    rows = EmbeddingRows.open(path, capacity=4)
    assert isinstance(rows, EmbeddingRows)
    assert np.array_equal(rows[np.array([[5, 6, 5]])], matrix[[[5, 6, 5]]]) and rows.kept == 2
    changed = matrix.copy()
    changed[5] += 1.0
    np.save(path, changed)  # the same layout: row 5 now differs on disk
    assert np.array_equal(rows[np.array([5])], matrix[[5]])  # from memory
    assert np.array_equal(rows[np.array([[7, 8], [9, 7]])], matrix[[[7, 8], [9, 7]]])
    assert rows.kept == 3  # 5, 6 and 7, 8, 9 do not fit: let go, the three read again
    assert np.array_equal(rows[np.array([5])], changed[[5]])  # read from the file again
    wide = np.arange(12)  # more distinct rows than it keeps: read, none kept
    assert np.array_equal(rows[wide], changed[wide]) and rows.kept == 4


def test_embedding_rows_read_from_several_threads_are_right(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    matrix = np.random.default_rng(5).standard_normal((300, 8)).astype(np.float32)
    np.save(tmp_path / "rows.npy", matrix)
    rows = EmbeddingRows.open(tmp_path / "rows.npy", capacity=16)
    assert isinstance(rows, EmbeddingRows)
    batches = [np.random.default_rng(seed).integers(0, 300, size=(2, 5)) for seed in range(400)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(rows.__getitem__, batches))
    assert all(np.array_equal(got, matrix[ids]) for got, ids in zip(found, batches, strict=True))


def _mapped_files() -> set[str]:
    return {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()}


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="Linux's /proc only")
def test_the_embedding_matrix_is_not_mapped_into_the_bot(tiny_model):
    """Mapped, each row read made the kernel map 64 KB around it: 38 MB resident after
    200 questions with the real model, growing with every new word."""
    served = Encoder.load(tiny_model, "tiny", backend="onnx", serving=True)
    served.encode_queries(TEXTS)
    matrix = str((serving_path(tiny_model) / EMBEDDINGS_FILE).resolve())
    assert matrix not in _mapped_files()
    mapped = map_rows(Path(matrix))  # what the check would see of a mapping
    assert matrix in _mapped_files() and mapped.shape == served.onnx.embeddings.shape


# --- the real model ------------------------------------------------------------------


def test_the_bot_answers_with_the_serving_copy_and_the_models_vectors(
    base_model_dir, encoder, tmp_path
):
    from bot.config import Settings
    from bot.service.runtime import ResolvedModel, load_encoder, model_tuning
    from bot.service.trim_check import CheckTexts, check_trim
    from bot.storage.importer import read_bank_file
    from tests.conftest import SMALL_BANK

    settings = Settings(data_dir=tmp_path, encoder_backend="auto")
    resolved = ResolvedModel(str(base_model_dir), encoder.model_id, *model_tuning(settings, None))
    served = load_encoder(settings, resolved)
    assert served.model_id == encoder.model_id  # the embedding cache stays valid
    assert served.onnx is not None and served.onnx.embeddings is not None
    assert served.onnx.onnx_path == serving_path(base_model_dir) / SPLIT_FILE
    assert (serving_path(base_model_dir) / EMBEDDINGS_FILE).is_file()

    rows = read_bank_file(SMALL_BANK)
    questions = [text for row in rows for text in (row.question, *row.alternates)]
    want, got = encoder.encode_queries(questions), served.encode_queries(questions)
    assert np.min(np.sum(want * got, axis=1)) >= 0.9999
    texts = CheckTexts(questions[:40], [row.answer for row in rows][:20])
    assert check_trim(base_model_dir, serving_path(base_model_dir), texts).identical


def test_the_session_can_be_opened_before_the_first_question(tiny_model):
    import time

    served = Encoder.load(tiny_model, "tiny", backend="onnx", serving=True)
    assert served.onnx is not None
    served.onnx.open_in_background()
    deadline = time.monotonic() + 30
    while served.onnx._session is None and time.monotonic() < deadline:
        time.sleep(0.01)
    session = served.onnx._session
    assert session is not None
    served.encode_queries(TEXTS)
    assert served.onnx._session is session  # the first question found it made
