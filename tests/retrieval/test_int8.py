"""The serving copy in int8: its own graph, its own cache key, its own thresholds."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from bot.config import Settings
from bot.retrieval.decision import Thresholds
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import Fusion
from bot.retrieval.int8 import RECIPE, VECTORS_TAG, ensure_int8_graph, int8_graph_path
from bot.retrieval.onnx_backend import SPLIT_FILE
from bot.retrieval.serving_model import ensure_serving_model, serving_path
from bot.service import tuning
from bot.service.runtime import (
    model_precision,
    model_tuning,
    needs_int8_calibration,
    resolve_model,
)
from bot.storage import registry
from tests.tiny_model import build_tiny_model

TEXTS = ["▁වී ගොයම?", "rice වී", "වී", "ගොයම ගොයම ගොයම rice?"]


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return build_tiny_model(tmp_path / "models" / "tiny")


def test_an_int8_encoder_runs_its_own_graph_and_keeps_its_own_vectors(tiny_model):
    full = Encoder.load(tiny_model, "tiny", backend="onnx", serving=True)
    small = Encoder.load(tiny_model, "tiny", backend="onnx", serving=True, precision="int8")
    assert (full.precision, full.vectors_id) == ("float32", "tiny")
    assert (small.precision, small.vectors_id, small.model_id) == (
        "int8",
        f"tiny@{VECTORS_TAG}",
        "tiny",
    )
    assert small.onnx is not None
    assert small.onnx.onnx_path == int8_graph_path(serving_path(tiny_model))
    want, got = full.encode_queries(TEXTS), small.encode_queries(TEXTS)
    assert got.shape == want.shape and not np.array_equal(want, got)  # quantized
    assert np.min(np.sum(want * got, axis=1)) > 0.9


def test_the_int8_graph_is_made_once_and_again_for_new_float_weights(tiny_model, caplog):
    served = ensure_serving_model(tiny_model)
    with caplog.at_level(logging.DEBUG):
        graph = ensure_int8_graph(served)
    # onnxruntime's notes on every tensor it quantizes stay out of the officer's terminal
    assert [r.getMessage() for r in caplog.records if r.name == "root"] == []
    assert graph.with_name(graph.name + ".data").is_file()  # its weights, mapped
    made = graph.stat().st_mtime_ns
    assert ensure_int8_graph(served) == graph and graph.stat().st_mtime_ns == made
    weights = served / SPLIT_FILE.with_name(SPLIT_FILE.name + ".data")
    os.utime(weights, ns=(made + 10**9, made + 10**9))  # a serving copy rebuilt
    assert ensure_int8_graph(served).stat().st_mtime_ns != made
    assert [p.name for p in graph.parent.glob(".int8-*")] == []  # no half-written graph


def test_the_int8_graph_quantizes_the_fused_attention_and_refuses_an_unfused_graph(
    tiny_model, tmp_path
):
    """Recipe 3's vectors come from the fused graph (its attention in int8 too): an
    unfused graph would give other vectors under the same cache key, so it is refused."""
    import onnx

    from bot.retrieval.int8 import quantize_graph
    from bot.retrieval.onnx_backend import ONNX_FILE

    graph = ensure_int8_graph(ensure_serving_model(tiny_model))
    ops = [n.op_type for n in onnx.load(str(graph), load_external_data=False).graph.node]
    assert "QAttention" in ops and "Attention" not in ops
    Encoder.load(tiny_model, "tiny", backend="onnx")  # exports the unfused graph from ids
    with pytest.raises(ValueError, match="not fused"):
        quantize_graph(tiny_model / ONNX_FILE, tmp_path / "int8.onnx")


def test_int8_weights_fit_in_seven_bits_so_every_cpu_computes_the_same(tiny_model):
    """Without VNNI, ONNX Runtime sums pairs of 8-bit products in 16 bits, which saturate
    with 8-bit weights: the answers would depend on the server's CPU."""
    import onnx
    from onnx import numpy_helper

    graph = ensure_int8_graph(ensure_serving_model(tiny_model))
    model = onnx.load(str(graph))  # with its external weights
    quantized = [
        numpy_helper.to_array(initializer)
        for initializer in model.graph.initializer
        if initializer.data_type == onnx.TensorProto.INT8 and len(initializer.dims) == 2
    ]
    # each layer's query-key-value (the fused attention's), attention output and
    # intermediate products
    assert len(quantized) >= 3
    # 255 x 64 x 2 = 32,640 fits a 16-bit sum; 255 x 127 x 2 does not
    assert all(np.abs(weights.astype(np.int16)).max() <= 64 for weights in quantized)
    assert any(np.abs(weights.astype(np.int16)).max() > 32 for weights in quantized)


def test_int8_without_a_serving_copy_answers_in_float32(tiny_model):
    encoder = Encoder.load(tiny_model, "tiny", backend="onnx", precision="int8")
    assert (encoder.precision, encoder.vectors_id) == ("float32", "tiny")


def test_int8_that_cannot_be_made_answers_in_float32(tiny_model, monkeypatch, caplog):
    from bot.retrieval import int8

    def broken(serving_dir: Path) -> Path:
        raise OSError("read-only file system")

    monkeypatch.setattr(int8, "ensure_int8_graph", broken)
    encoder = Encoder.load(tiny_model, "tiny", backend="onnx", serving=True, precision="int8")
    assert encoder.precision == "float32"
    assert "answering in float32" in caplog.text


# --- which precision, with which thresholds ------------------------------------------


def _register(session_factory, name: str = "ft-test") -> None:
    with session_factory() as session:
        registry.register(session, name, "/models/" + name)
        session.commit()
    float_tuning = tuning.Tuning(Thresholds(0.91, 0.87, margin=0.02), Fusion(0.1, 0.3), None)
    tuning.save_tuning(session_factory, name, float_tuning)


def test_int8_is_chosen_only_for_a_model_calibrated_for_it(session_factory, tmp_path):
    _register(session_factory)
    settings = Settings(data_dir=tmp_path)
    with session_factory() as session:
        version = registry.get_version(session, "ft-test")
        assert model_precision(settings, version) == "float32"  # no int8 tuning yet
        assert not needs_int8_calibration(settings, version)
    int8_tuning = tuning.Tuning(Thresholds(0.93, 0.88, margin=0.03), Fusion(0.2, 0.3), None)
    tuning.save_tuning(session_factory, "ft-test", int8_tuning, "int8")
    with session_factory() as session:
        version = registry.get_version(session, "ft-test")
        assert model_precision(settings, version) == "int8"
        for pinned in ("float32", "int8"):
            chosen = settings.model_copy(update={"encoder_precision": pinned})
            assert model_precision(chosen, version) == pinned
        for torch_only in ({"encoder_backend": "torch"}, {"serving_copy": False}):
            assert model_precision(settings.model_copy(update=torch_only), version) == "float32"
        # each precision answers with the thresholds chosen for it
        float_thresholds, float_fusion = model_tuning(settings, version)
        assert (float_thresholds.answer, float_thresholds.margin) == (0.91, 0.02)
        assert float_fusion == Fusion(0.1, 0.3)
        int8_thresholds, int8_fusion = model_tuning(settings, version, "int8")
        assert (int8_thresholds.answer, int8_thresholds.suggest) == (0.93, 0.88)
        assert (int8_thresholds.margin, int8_fusion) == (0.03, Fusion(0.2, 0.3))
        assert (version.answer_threshold, version.suggest_threshold) == (0.91, 0.87)

    # thresholds calibrated on an earlier recipe's vectors are not used
    with session_factory() as session:
        version = registry.get_version(session, "ft-test")
        assert version.tuning["int8"]["recipe"] == RECIPE
        version.tuning = {**version.tuning, "int8": {**version.tuning["int8"], "recipe": 1}}
        session.commit()
        assert model_precision(settings, version) == "float32"
        assert needs_int8_calibration(settings, version)
        pinned = settings.model_copy(update={"encoder_precision": "float32"})
        assert not needs_int8_calibration(pinned, version)
    tuning.save_tuning(session_factory, "ft-test", int8_tuning, "int8")

    # a new float32 calibration keeps the int8 one, and the other way round
    tuning.save_tuning(
        session_factory, "ft-test", tuning.Tuning(Thresholds(0.9, 0.8), Fusion(), None)
    )
    with session_factory() as session:
        version = registry.get_version(session, "ft-test")
        assert model_tuning(settings, version, "int8")[0].answer == 0.93
        assert model_tuning(settings, version)[0].answer == 0.9


def test_recalibration_after_bank_changes_keeps_each_precision_apart(session_factory, tmp_path):
    _register(session_factory)
    int8_tuning = tuning.Tuning(Thresholds(0.93, 0.88, margin=0.03), Fusion(0.2, 0.3), None)
    tuning.save_tuning(session_factory, "ft-test", int8_tuning, "int8")
    with session_factory() as session:
        registry.save_recalibrated(session, "ft-test", Thresholds(0.96, 0.9, 0.05), "int8")
        session.commit()
    settings = Settings(data_dir=tmp_path)
    with session_factory() as session:
        version = registry.get_version(session, "ft-test")
        assert model_tuning(settings, version, "int8")[0] == Thresholds(0.96, 0.9, 0.05)
        assert model_tuning(settings, version)[0].answer == 0.91  # float32 untouched


def test_a_model_that_cannot_run_int8_gets_its_float32_thresholds(
    session_factory, tiny_model, tmp_path, monkeypatch
):
    from bot.retrieval import int8
    from bot.service.runtime import load_encoder

    with session_factory() as session:
        registry.register(session, "tiny", str(tiny_model))
        registry.activate(session, "tiny")
        session.commit()
    tuning.save_tuning(
        session_factory, "tiny", tuning.Tuning(Thresholds(0.91, 0.87), Fusion(), None)
    )
    tuning.save_tuning(
        session_factory, "tiny", tuning.Tuning(Thresholds(0.93, 0.88), Fusion(), None), "int8"
    )
    settings = Settings(data_dir=tmp_path, encoder_backend="onnx")
    resolved = resolve_model(settings, session_factory)
    assert (resolved.precision, resolved.thresholds.answer) == ("int8", 0.93)
    encoder = load_encoder(settings, resolved)
    assert encoder.precision == "int8" and resolved.tuned_for(encoder)[0].answer == 0.93

    monkeypatch.setattr(int8, "ensure_int8_graph", _refuse)
    encoder = load_encoder(settings, resolved)
    assert encoder.precision == "float32" and resolved.tuned_for(encoder)[0].answer == 0.91


def _refuse(serving_dir: Path) -> Path:
    raise OSError("no room")


# --- the real model ------------------------------------------------------------------


def test_the_real_model_in_int8_stays_close_and_is_cached_apart(
    base_model_dir, encoder, session_factory
):
    from bot.service.indexing import encode_cached
    from bot.storage.embeddings import count_vectors
    from bot.storage.importer import read_bank_file
    from tests.conftest import SMALL_BANK

    small = Encoder.load(
        base_model_dir, encoder.model_id, backend="onnx", serving=True, precision="int8"
    )
    assert small.precision == "int8"
    rows = read_bank_file(SMALL_BANK)
    questions = [text for row in rows for text in (row.question, *row.alternates)]
    want, got = encoder.encode_queries(questions), small.encode_queries(questions)
    cosines = np.sum(want * got, axis=1)
    assert cosines.mean() >= 0.98 and cosines.min() >= 0.95
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)

    with session_factory() as session:
        encode_cached(session, small, questions[:10])
        encode_cached(session, encoder, questions[:4])
        session.commit()
        assert count_vectors(session, small.vectors_id) == 10
        assert count_vectors(session, encoder.model_id) == 4


def test_int8_questions_are_judged_on_the_vectors_a_lone_question_gets(
    base_model_dir, encoder, eval_cache
):
    """The int8 graph quantizes a run's activations with one scale, so a text's vector
    depends on the texts encoded beside it. The eval, the tuning on dev and the
    re-calibration encode each question's views in a run of their own, as the bot does
    with a question that arrives alone: their figures are the ones a farmer gets."""
    from bot.service.answering import Question, encode_as_asked, query_views
    from bot.service.evaluation import evaluate, indexed_bank, read_queries
    from bot.text.normalize import normalize
    from tests.conftest import DATA, SMALL_BANK

    small = Encoder.load(
        base_model_dir, encoder.model_id, backend="onnx", serving=True, precision="int8"
    )
    queries = read_queries(DATA / "eval_split.jsonl", "dev")
    raw = [q.query for q in queries]
    texts, owners = query_views([normalize(text) for text in raw], raw)
    assert len(texts) > len(raw)  # some questions are searched in two spellings
    assert encoder.batch_invariant and not small.batch_invariant

    asked = encode_as_asked(small, texts, owners)
    for number in range(len(raw)):
        rows = [row for row, owner in enumerate(owners) if owner == number]
        group = small.encode_queries([texts[row] for row in rows])
        assert np.array_equal(asked[rows], group)
    together = small.encode_queries(texts)  # why: one run for all moves the vectors
    assert not np.array_equal(asked, together)
    assert np.array_equal(encode_as_asked(encoder, texts, owners), encoder.encode_queries(texts))

    thresholds = Thresholds(answer=0.8, suggest=0.6)
    run = evaluate(
        small, SMALL_BANK, DATA / "eval_split.jsonl", thresholds, split="dev", cache=eval_cache
    )
    with indexed_bank(small, SMALL_BANK, thresholds, cache=eval_cache) as bank:
        alone = [bank.answerer.answer(Question(text, channel="eval")) for text in raw]
    assert [s.score for s in run.scored] == [
        reply.candidates[0].score if reply.candidates else 0.0 for reply in alone
    ]
