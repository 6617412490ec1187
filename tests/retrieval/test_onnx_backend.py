"""ONNX Runtime encodes as PyTorch does, so cached vectors stay valid across backends."""

from __future__ import annotations

import numpy as np
import pytest

from bot.retrieval.encoder import Encoder
from bot.retrieval.onnx_backend import ONNX_FILE

SENTENCES = [
    "වී",
    "යූරියා දාන්නේ කවදද?",
    "මාස 3½ වී වගාවකට පොහොර දාන කාලසටහන මුල ඉඳන් අගට කියන්න, කිලෝ ගණනත් එක්ක.",
    "ගොයම පිච්චිලා; ඒක දුඹුරු පැළ කීඩෑවාද කළු මකුණාද කියලා දැනගන්නේ කොහොමද?",
    "urea kiyada",
]


def test_onnx_vectors_match_torch_for_queries_and_passages_of_any_length(encoder, base_model_dir):
    torch_encoder = Encoder.load(base_model_dir, "multilingual-e5-small", backend="torch")
    assert encoder.backend == "onnx" and torch_encoder.backend == "torch"
    for method in ("encode_queries", "encode_passages"):
        want = getattr(torch_encoder, method)(SENTENCES)
        got = getattr(encoder, method)(SENTENCES, batch_size=2)  # padded, reordered batches
        assert got.dtype == np.float32 and got.shape == want.shape
        assert np.min(np.sum(want * got, axis=1)) > 0.9999
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


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
