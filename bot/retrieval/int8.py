"""Int8 weights for a serving copy's graph: a third faster, half the weights' memory.

Every weight matrix product of the transformer is quantized (`onnxruntime.quantization.
quantize_dynamic`, signed int8 per output channel; the activations are quantized on the
fly), except the feed-forward output products (`layer.N/output/dense`): their inputs carry
GELU's outliers, and quantizing them cost most of the closeness to the float vectors (on
the eval's dev split, 0.9865 mean cosine with them, 0.9957 without). The attention's two
activation products, the embeddings and the layer norms stay float.

The vectors are not the float model's, so an int8 encoder has an embedding-cache key of
its own (`Encoder.vectors_id`) and answers with thresholds calibrated for it (`agribot
calibrate --precision int8`), kept beside the float ones in the registry's tuning.

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

from bot.retrieval.onnx_backend import SPLIT_FILE

logger = logging.getLogger(__name__)

INT8_FILE = SPLIT_FILE.with_name(SPLIT_FILE.stem + "-int8.onnx")
_STAMP_SUFFIX = ".json"
_RECIPE = 1  # bump when what is quantized changes: graphs made earlier are rebuilt


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
    if target.is_file() and _weights(target).is_file() and _read_json(stamp_path) == stamp:
        return target
    started = time.perf_counter()
    quantize_graph(source, target)
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    logger.info(
        "quantized %s to int8 in %.1fs (%.0f MB)",
        serving_dir,
        time.perf_counter() - started,
        _weights(target).stat().st_size / 1e6,
    )
    return target


def quantize_graph(source: Path, target: Path) -> None:
    """Write `source`'s graph with int8 weights (see the module's docstring) to `target`."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    weights = {initializer.name for initializer in graph.initializer}
    products = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    quantized = [name for name in products if not _keeps_float(name)]
    if not quantized:
        raise ValueError(f"{source} has no weight products to quantize")
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
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                nodes_to_quantize=quantized,
                use_external_data_format=True,
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        os.replace(_weights(made), _weights(target))  # the graph names its file
        os.replace(made, target)


class _NoPreprocessingAdvice(logging.Filter):
    """onnxruntime advises shape inference before quantizing, for static quantization;
    a dynamic one has no use for it, and a farmer's bot has no use for the warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _weights(graph: Path) -> Path:
    return graph.with_name(graph.name + ".data")


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
    files = [source, _weights(source)]
    return {
        "recipe": _RECIPE,
        "source": [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.exists()],
    }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
