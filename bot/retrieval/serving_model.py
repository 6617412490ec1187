"""The copy of a model the bot answers with: its vocabulary trimmed, its graph split.

A model version's serving copy lives inside its directory (`onnx/serving/`), so it is
deleted with the version, and is rebuilt when the version's weights change. It is the
version's vocabulary trimmed to the scripts farmers write (`bot.retrieval.vocab_trim`:
103,308 of 250,037 rows, and a tokenizer that holds 87 MB instead of 282 MB), exported as
a graph from word embeddings with the embedding matrix beside it, which the encoder maps
and reads a row at a time (`bot.retrieval.onnx_backend`). Its vectors are the version's
own (cosine >= 0.9999 for every bank text and eval query, `agribot model trim --check`),
so it answers under the version's name and the embedding cache stays valid. Its tokenizer
is `bot.retrieval.piece_tokenizer`'s: the same ids in 28 MB instead of 92.

Example:
    >>> serving_path(Path("var/models/e5-small-paddy-si-v3")).as_posix()
    'var/models/e5-small-paddy-si-v3/onnx/serving'
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.retrieval.onnx_backend import EMBEDDINGS_FILE, SPLIT_FILE

logger = logging.getLogger(__name__)

SERVING_DIR = Path("onnx") / "serving"


def serving_path(model_dir: Path) -> Path:
    """Where `model_dir`'s serving copy lives."""
    return Path(model_dir) / SERVING_DIR


def ensure_serving_model(model_dir: Path) -> Path:
    """`model_dir`'s serving copy, built first (trim and export, about 20 s on two cores)
    where it is missing or was made from other weights. Needs torch only to build.

    Raises `VocabularyNotTrimmable` for a model whose tokenizer cannot be trimmed.
    """
    from bot.retrieval.vocab_trim import ensure_trimmed_model

    built = ensure_trimmed_model(Path(model_dir), serving_path(model_dir), export=export_split)
    ensure_current_graph(built)
    ensure_piece_tokenizer(built)
    return built


def ensure_current_graph(serving_dir: Path) -> None:
    """Re-export a serving copy's graph exported by an earlier recipe (copies built before
    the fused graph: about 10 s, once; the vectors are the same). A directory it cannot
    write keeps the graph it has."""
    from bot.retrieval.base_model import file_lock
    from bot.retrieval.onnx_backend import split_graph_is_current

    graph = serving_dir / SPLIT_FILE
    if split_graph_is_current(graph):
        return
    try:
        with file_lock(serving_dir.parent / f".{serving_dir.name}-export.lock"):
            if not split_graph_is_current(graph):
                from bot.retrieval.onnx_export import export_split_model_dir  # imports torch

                logger.info("re-exporting %s's graph (fused attention)", serving_dir)
                export_split_model_dir(serving_dir, graph, None)
    except OSError as error:
        logger.warning("keeping the graph %s was exported with: %s", serving_dir, error)


def ensure_piece_tokenizer(serving_dir: Path) -> bool:
    """Give a serving copy its small tokenizer (`bot.retrieval.piece_tokenizer`) where it
    has none yet (copies built before it, 1 s); whether it has one. A tokenizer it cannot
    reproduce, or a directory it cannot write, leaves the `tokenizers` one in use."""
    from bot.retrieval.piece_tokenizer import has_piece_tokenizer, write_piece_tokenizer

    if has_piece_tokenizer(serving_dir):
        return True
    try:
        return write_piece_tokenizer(serving_dir)
    except (OSError, ValueError) as error:
        logger.warning("keeping the tokenizers library for %s: %s", serving_dir, error)
        return False


def export_split(model_dir: Path) -> None:
    """Write `model_dir`'s graph from word embeddings and its embedding matrix."""
    from bot.retrieval.onnx_export import export_split_model_dir

    export_split_model_dir(model_dir, model_dir / SPLIT_FILE, model_dir / EMBEDDINGS_FILE)
