"""Exporting a sentence-transformers model to the ONNX graph the bot answers with.

The graph (transformer, mean pooling, L2 normalization) is written once with
`torch.onnx` into the model's directory (`onnx/encoder.onnx`) and reused after. This is
conversion, like `bot.retrieval.base_model`: it imports torch, which nothing on the
answering path does.
"""

from __future__ import annotations

import gc
import logging
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bot.retrieval.base_model import file_lock
from bot.retrieval.encoder import backbone, load_sentence_transformer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

OPSET = 17


def export_model_dir(model_dir: Path, path: Path) -> None:
    """Load the model in `model_dir` with sentence-transformers and export it to `path`;
    the torch model is let go once the file is written."""
    if path.is_file():
        return
    model = load_sentence_transformer(str(model_dir), "cpu")
    export(model, path)
    del model
    gc.collect()


def export(model: SentenceTransformer, path: Path) -> None:
    """Write transformer + mean pooling + normalize as one ONNX graph (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.parent / ".export.lock"):
        if not path.is_file():
            _write(model, path)


def _write(model: SentenceTransformer, path: Path) -> None:
    started = time.perf_counter()
    sample = model.tokenizer(["query: වී"], return_tensors="pt")
    partial = path.with_suffix(f".{os.getpid()}.partial")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on tracing
        torch.onnx.export(
            _Pooled(backbone(model)).eval(),
            (sample["input_ids"], sample["attention_mask"]),
            str(partial),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    partial.chmod(0o644)
    os.replace(partial, path)
    logger.info(
        "exported %s to ONNX in %.1fs", path.parent.parent.name, time.perf_counter() - started
    )


class _Pooled(torch.nn.Module):
    """The transformer with E5's mean pooling and L2 normalization, as one graph."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask)
        mask = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
        summed = (hidden.last_hidden_state * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)
