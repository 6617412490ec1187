"""Int8 weights for a serving copy's graph: a quarter faster, half the weights' memory.

Every weight matrix product of the transformer is quantized (`onnxruntime.quantization.
quantize_dynamic`, signed per output channel; the activations are quantized on the fly),
except the feed-forward output products (`layer.N/output/dense`): their inputs carry
GELU's outliers, and quantizing them cost most of the closeness to the float vectors (on
the eval's dev split, 0.9865 mean cosine with them, 0.9957 without). The embeddings and
the layer norms stay float. The float graph is fused (`bot.retrieval.onnx_export`): each
layer's query, key and value products are one `Attention` kernel, quantized whole
(`QAttention`, its two activation products in float): on two cores one question in 5.7
ms instead of 7.0 with the unfused graph, as close to the float vectors (dev mean cosine
0.9949, minimum 0.985, against 0.9948 and 0.983).

The weights use 7 of the 8 bits (`reduce_range`). On a CPU without VNNI instructions
(AVX2 only, many rented servers) ONNX Runtime multiplies 8-bit activations by 8-bit
weights in 16-bit sums that saturate: the same graph gave 0.9957 mean cosine to float on
dev on a VNNI machine and 0.9866 (minimum 0.89) on an AVX2 one, and its answers depended
on the server. With 7-bit weights no sum can saturate, so every CPU computes the same
integers: 0.9948 mean cosine (minimum 0.98) on either, and the cached vectors of one
replica are right for another.

The vectors are not the float model's, so an int8 encoder has an embedding-cache key of
its own (`Encoder.vectors_id`, with the recipe in it) and answers with thresholds
calibrated for it (`agribot calibrate --precision int8`), kept beside the float ones in
the registry's tuning.

Example:
    >>> int8_graph_path(Path("var/models/v3/onnx/serving")).as_posix()
    'var/models/v3/onnx/serving/onnx/encoder-from-embeddings-int8.onnx'
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.retrieval.onnx_backend import SPLIT_FILE, weights_file

logger = logging.getLogger(__name__)

INT8_FILE = SPLIT_FILE.with_name(SPLIT_FILE.stem + "-int8.onnx")
_STAMP_SUFFIX = ".json"
# Bump when what is quantized changes: graphs made earlier are rebuilt, and tunings
# calibrated on an earlier recipe's vectors are not used (`current_tuning`).
# 2: 7-bit weights; 3: of the fused graph, attention included.
RECIPE = 3
# The embedding cache's key for int8 vectors (beside the model's name): a new recipe's
# vectors are never mixed with an earlier one's (recipe 1, `@int8`, depended on the CPU).
VECTORS_TAG = f"int8-r{RECIPE}"


def current_tuning(tuning: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `"int8"` entry of a registry's or a shipped delta's tuning, if it was
    calibrated on this recipe's vectors (an entry without a recipe is recipe 1's).

    >>> current_tuning({"int8": {"answer": 0.7, "recipe": RECIPE}})["answer"]
    0.7
    >>> current_tuning({"int8": {"answer": 0.7}}) is None
    True
    """
    entry = (tuning or {}).get("int8") or None
    return entry if entry is not None and entry.get("recipe", 1) == RECIPE else None


def with_recipe(entry: dict[str, Any]) -> dict[str, Any]:
    """An int8 tuning entry marked with the recipe it was calibrated on."""
    return {**entry, "recipe": RECIPE}


def int8_graph_path(serving_dir: Path) -> Path:
    return Path(serving_dir) / INT8_FILE


def ensure_int8_graph(serving_dir: Path) -> Path:
    """The int8 graph of a serving copy, quantized from its float graph first where it is
    missing or was made from other weights (about 2 s); written whole or not at all.

    Raises `FileNotFoundError` where the copy has no split float graph.
    """
    source = Path(serving_dir) / SPLIT_FILE
    target = int8_graph_path(serving_dir)
    stamp = _stamp(source)
    stamp_path = target.with_name(target.name + _STAMP_SUFFIX)
    if target.is_file() and weights_file(target).is_file() and _read_json(stamp_path) == stamp:
        return target
    started = time.perf_counter()
    quantize_graph(source, target)
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    logger.info(
        "quantized %s to int8 in %.1fs (%.0f MB)",
        serving_dir,
        time.perf_counter() - started,
        weights_file(target).stat().st_size / 1e6,
    )
    return target


def quantize_graph(source: Path, target: Path) -> None:
    """Write `source`'s graph with int8 weights (see the module's docstring) to `target`."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    weights = {initializer.name for initializer in graph.initializer}
    products = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    attention = [n.name for n in graph.node if n.op_type == "Attention"]
    if not attention:  # this recipe's vectors come from the fused graph only
        raise ValueError(f"{source} is not fused: re-export it (agribot model bootstrap)")
    quantized = [name for name in products if not _keeps_float(name)] + attention
    quiet = _NoPreprocessingAdvice()
    logging.getLogger().addFilter(quiet)
    # The weights go to an external file ONNX Runtime maps, as the float graph's do: the
    # same resident memory once running, 33 MB less at its peak while the session opens.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".int8-") as partial:
        made = Path(partial) / target.name
        try:
            quantize_dynamic(
                source,
                made,
                per_channel=True,
                reduce_range=True,  # 7-bit weights: the same integers on every CPU
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Attention"],
                nodes_to_quantize=quantized,
                use_external_data_format=True,
                # shape inference cannot type the fused kernels' outputs
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        os.replace(weights_file(made), weights_file(target))  # the graph names its file
        os.replace(made, target)


class _NoPreprocessingAdvice(logging.Filter):
    """onnxruntime advises shape inference before quantizing, for static quantization,
    and lists every activation it quantizes on the fly, every product it leaves in float
    and every output typed by the `DefaultTensorType` option; a dynamic quantization has
    no use for the advice, and a farmer's bot has no use for any of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            "pre-processing before quantization" in message
            or message.startswith("Quantization parameters for tensor")
            or message.startswith("get_tensor_type returns DefaultTensorType")
            or message.startswith("Ignore MatMul ")
        )


def _keeps_float(node: str) -> bool:
    """A feed-forward output product (`/encoder/layer.N/output/dense/MatMul`).

    >>> _keeps_float("/transformer/encoder/layer.4/output/dense/MatMul")
    True
    >>> _keeps_float("/transformer/encoder/layer.4/attention/output/dense/MatMul")
    False
    """
    return node.endswith("/output/dense/MatMul") and "/attention/" not in node


def _stamp(source: Path) -> dict[str, Any]:
    """What the int8 graph was made from: the float graph's files and the recipe."""
    files = [source, weights_file(source)]
    return {
        "recipe": RECIPE,
        "source": [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.exists()],
    }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
