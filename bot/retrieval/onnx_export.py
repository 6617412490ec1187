"""Exporting a sentence-transformers model to the ONNX graph the bot answers with.

The graph (transformer, mean pooling, L2 normalization) is written once with
`torch.onnx` into the model's directory (`onnx/encoder.onnx`) and reused after. The
serving copy (`bot.retrieval.serving_model`) is exported split instead: the graph starts
from the word embeddings (`onnx/encoder-from-embeddings.onnx`, its weights in an external
file ONNX Runtime maps rather than copies) and the embedding matrix is a `.npy` file the
encoder maps and reads a row per token.

The split graph is fused: traced with the transformer's plain ("eager") attention, whose
pattern ONNX Runtime's transformer optimizer recognizes, each layer's attention becomes one
`Attention` kernel, and layer norms and GELU theirs (148 nodes instead of 1,301; the
SDPA attention torch traces by default matches no fusion). The vectors are the same
(cosine 1.00000 on the eval's dev queries) and one question encodes 22% faster (10.2 ->
8.0 ms on two cores). This is conversion, like
`bot.retrieval.base_model`: it imports torch, which nothing on the answering path does.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import onnx
import torch

from bot.retrieval.base_model import file_lock
from bot.retrieval.encoder import backbone, load_sentence_transformer
from bot.retrieval.onnx_backend import SPLIT_EXPORT, split_export_stamp, weights_file

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

OPSET = 17
_DYNAMIC = {0: "batch", 1: "tokens"}


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


def export_split_model_dir(model_dir: Path, graph: Path, embeddings: Path | None) -> None:
    """Export the model in `model_dir` as a graph from word embeddings (`graph`, weights
    in `graph` + ".data") and, unless `embeddings` is None, its embedding matrix as a
    float32 `.npy` there.

    The graph's two files are written beside it and renamed into place, so a copy exported
    by an earlier recipe can be re-exported where processes run (they keep the files they
    opened); the matrix is written only into a copy still being built (it is mapped).
    """
    started = time.perf_counter()
    model = load_sentence_transformer(str(model_dir), "cpu")
    transformer = backbone(model)
    transformer.set_attn_implementation("eager")  # the pattern the fusion recognizes
    rows = cast("torch.nn.Embedding", transformer.get_input_embeddings())
    matrix = rows.weight.detach().float().numpy()
    sample = model.tokenizer(["query: වී"], return_tensors="pt")
    graph.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=graph.parent, prefix=".export-") as work:
        inline = Path(work) / "inline.onnx"
        _trace(
            _Pooled(transformer, from_embeddings=True),
            (torch.from_numpy(matrix[sample["input_ids"].numpy()]), sample["attention_mask"]),
            inline,
            first_input="inputs_embeds",
        )
        made = Path(work) / graph.name
        _with_external_weights(_fused(inline, transformer.config), made)
        for path in (made, weights_file(made)):
            path.chmod(0o644)
        os.replace(weights_file(made), weights_file(graph))
        os.replace(made, graph)
    if embeddings is not None:
        np.save(embeddings, np.ascontiguousarray(matrix, dtype=np.float32))
        embeddings.chmod(0o644)
    del model, transformer
    gc.collect()
    split_export_stamp(graph).write_text(json.dumps({"export": SPLIT_EXPORT}), encoding="utf-8")
    logger.info(
        "exported %s split at its embeddings in %.1fs",
        model_dir.name,
        time.perf_counter() - started,
    )


def _fused(source: Path, config: Any) -> onnx.ModelProto:
    """The graph at `source` with each layer's attention, layer norms and GELU fused into
    ONNX Runtime's kernels (`onnxruntime.transformers.optimizer`, offline, no execution
    provider: it runs on any CPU). A layer it does not fuse stays as exported: slower,
    never wrong."""
    from onnxruntime.transformers.optimizer import optimize_model

    logging.disable(logging.INFO)  # its modules report every fusion they make
    try:
        optimized = optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            opt_level=0,
            use_gpu=False,
        )
    finally:
        logging.disable(logging.NOTSET)
    attention = optimized.get_fused_operator_statistics().get("Attention", 0)
    if attention != config.num_hidden_layers:
        logger.warning(
            "fused the attention of %d of %d layers", attention, config.num_hidden_layers
        )
    model: onnx.ModelProto = optimized.model
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        # the fused kernels' domain, which shape inference (the int8 step) looks up
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return model


def _with_external_weights(graph: onnx.ModelProto, target: Path) -> None:
    """Save `graph` as `target` with its weights in `target` + ".data", which ONNX Runtime
    memory-maps (measured: 92 MB resident after opening, not 302 MB)."""
    onnx.save_model(
        graph,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=weights_file(target).name,
        size_threshold=1024,
    )


def _write(model: SentenceTransformer, path: Path) -> None:
    started = time.perf_counter()
    sample = model.tokenizer(["query: වී"], return_tensors="pt")
    partial = path.with_suffix(f".{os.getpid()}.partial")
    _trace(
        _Pooled(backbone(model)),
        (sample["input_ids"], sample["attention_mask"]),
        partial,
        first_input="input_ids",
    )
    partial.chmod(0o644)
    os.replace(partial, path)
    logger.info(
        "exported %s to ONNX in %.1fs", path.parent.parent.name, time.perf_counter() - started
    )


def _trace(
    module: torch.nn.Module, sample: tuple[torch.Tensor, torch.Tensor], path: Path, first_input: str
) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's notes on tracing
        torch.onnx.export(
            module.eval(),
            sample,
            str(path),
            input_names=[first_input, "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                first_input: _DYNAMIC,
                "attention_mask": _DYNAMIC,
                "embedding": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )


class _Pooled(torch.nn.Module):
    """The transformer with E5's mean pooling and L2 normalization, as one graph; from
    token ids, or `from_embeddings` (each token's row of the word-embedding matrix)."""

    def __init__(self, transformer: torch.nn.Module, from_embeddings: bool = False) -> None:
        super().__init__()
        self.transformer = transformer
        self.first_input = "inputs_embeds" if from_embeddings else "input_ids"

    def forward(self, first: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        inputs = {self.first_input: first, "attention_mask": attention_mask}
        hidden = self.transformer(**inputs)
        mask = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
        summed = (hidden.last_hidden_state * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)
