"""Trims a model's vocabulary to the scripts farmers write: Sinhala, Latin, digits, symbols.

XLM-R's vocabulary has 250,002 pieces for a hundred languages, and the word-embedding
matrix (384 MB of the model's 470 MB) gives each a row. A trimmed copy keeps the rows of
the pieces agribot can meet and drops the rest; a dropped piece's text becomes `<unk>`.

Segmentation of text made only of kept characters does not change: every piece that
matches part of such a text is made of kept characters, so it is kept with its score, and
the unigram lattice (the pieces on offer and their scores) is the same. Only `<unk>`'s
score moves (the lowest score minus 10), and it is offered just where a character has no
piece at all, the same positions in both, so every path pays it alike. The encoder sees
the same rows under new ids, so the vectors are the same.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.errors import ModelNotFound, VocabularyNotTrimmable
from bot.retrieval.serving_pieces import serving_piece
from bot.retrieval.token_ids import (
    referenced_ids,
    remap_config,
    remap_tokenizer,
    remap_tokenizer_config,
    unigram_vocab,
)

logger = logging.getLogger(__name__)

TRIMMED_SUFFIX = "-trimmed"
_MARKER = ".complete"
_TRIMMER_VERSION = 1
_WEIGHTS = "model.safetensors"
_INDEX = "model.safetensors.index.json"
_REWRITTEN = {"tokenizer.json", "config.json", _WEIGHTS, _INDEX, _MARKER}
_NOT_COPIED_DIRS = {"onnx", "openvino"}  # exported graphs hold the whole matrix


@dataclass(frozen=True)
class TrimReport:
    """What a trim kept and what it saved; sizes in bytes (`None`: the source had no ONNX)."""

    source: Path
    target: Path
    pieces_kept: int
    pieces_dropped: int
    rows_before: int
    rows_after: int
    weights_before: int
    weights_after: int
    onnx_before: int | None
    onnx_after: int | None
    seconds: float


def trimmed_path(model_dir: Path) -> Path:
    """Where a model's trimmed copy lives: `<model>-trimmed` beside it.

    Example:
        >>> trimmed_path(Path("models/e5-small-paddy-si-v3")).name
        'e5-small-paddy-si-v3-trimmed'
    """
    return model_dir.with_name(model_dir.name + TRIMMED_SUFFIX)


def trim_vocabulary(
    model_dir: Path,
    out_dir: Path,
    *,
    keep: Callable[[str], bool] = serving_piece,
    export_onnx: bool = True,
) -> TrimReport:
    """Write a copy of the sentence-transformers model at `model_dir` with fewer pieces.

    Special tokens, the bare metaspace and every piece `keep` accepts stay, in their old
    order; `keep` should judge a piece by its characters (see the module docstring for why
    that keeps segmentation). The copy is built beside `out_dir` and renamed into place,
    replacing any `out_dir`, with its ONNX graph when `export_onnx`.

    Example:
        >>> trim_vocabulary(base, trimmed_path(base)).rows_after  # doctest: +SKIP
        103308
    """
    from bot.retrieval.base_model import file_lock

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    _refuse_unless_trimmable(model_dir, out_dir)
    with file_lock(_lock_path(out_dir)):
        return _trim(model_dir, out_dir, keep, _export_onnx if export_onnx else None)


def ensure_trimmed_model(
    model_dir: Path,
    target: Path | None = None,
    *,
    export: Callable[[Path], None] | None = None,
) -> Path:
    """The trimmed copy of `model_dir` at `target` (default `<model>-trimmed` beside it),
    built first if missing or made from other weights; `export` writes its graph (default:
    `onnx/encoder.onnx`).

    Concurrent callers serialize on a lock file, so only the first of them builds it.
    """
    from bot.retrieval.base_model import file_lock

    target = target or trimmed_path(Path(model_dir))
    if _is_current(target, model_dir):
        return target
    _refuse_unless_trimmable(Path(model_dir), target)
    with file_lock(_lock_path(target)):
        if not _is_current(target, model_dir):
            logger.info("building %s", target)
            _trim(Path(model_dir), target, serving_piece, export or _export_onnx)
    return target


def _refuse_unless_trimmable(model_dir: Path, out_dir: Path) -> None:
    if not (model_dir / "modules.json").is_file() or not (model_dir / "tokenizer.json").is_file():
        raise ModelNotFound(f"{model_dir} is not a sentence-transformers model with tokenizer.json")
    if out_dir.resolve() == model_dir.resolve():
        raise VocabularyNotTrimmable(f"{out_dir} is the model itself: write the copy elsewhere")


def _lock_path(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return out_dir.parent / f".{out_dir.name}.lock"


def _trim(
    model_dir: Path,
    out_dir: Path,
    keep: Callable[[str], bool],
    export: Callable[[Path], None] | None,
) -> TrimReport:
    """`trim_vocabulary` without the lock (its callers hold it)."""
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        report = _build(model_dir, work / "model", keep, export)
        if out_dir.exists():
            os.replace(out_dir, work / "old")
        os.replace(work / "model", out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = _finish(report, out_dir, time.perf_counter() - started)
    logger.info(
        "trimmed %s: %d of %d rows kept, weights %d -> %d bytes, in %.1fs",
        model_dir.name, report.rows_after, report.rows_before,
        report.weights_before, report.weights_after, report.seconds,
    )  # fmt: skip
    return report


def _is_current(target: Path, model_dir: Path) -> bool:
    try:
        marker = json.loads((target / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(
        marker.get("source_weights") == _weights_stamp(model_dir)
        and marker.get("trimmer") == _TRIMMER_VERSION
    )


def _build(
    model_dir: Path, out: Path, keep: Callable[[str], bool], export: Callable[[Path], None] | None
) -> TrimReport:
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    vocab = unigram_vocab(tokenizer)
    forced = referenced_ids(tokenizer, config)
    kept = [i for i, (piece, _) in enumerate(vocab) if i in forced or keep(piece)]
    new_id = {old: new for new, old in enumerate(kept)}

    _copy_other_files(model_dir, out)
    rows_before = _write_weights(model_dir, out, kept)
    tokenizer["model"]["vocab"] = [vocab[i] for i in kept]
    remap_tokenizer(tokenizer, new_id)
    _write_json(out / "tokenizer.json", tokenizer, indent=2)
    remap_config(config, new_id)
    config["vocab_size"] = len(kept)
    _write_json(out / "config.json", config, indent=2)
    tokenizer_config = out / "tokenizer_config.json"
    if tokenizer_config.is_file():
        data = json.loads(tokenizer_config.read_text(encoding="utf-8"))
        if remap_tokenizer_config(data, new_id):
            _write_json(tokenizer_config, data, indent=2)
    _note_in_card(out / "README.md", model_dir.name, len(kept), len(vocab))

    if export is not None:
        export(out)
    marker = {
        "trimmed_from": model_dir.name,
        "source_weights": _weights_stamp(model_dir),
        "pieces": [len(kept), len(vocab)],
        "trimmer": _TRIMMER_VERSION,
    }
    _write_json(out / _MARKER, marker)
    return TrimReport(
        source=model_dir,
        target=out,
        pieces_kept=len(kept),
        pieces_dropped=len(vocab) - len(kept),
        rows_before=rows_before,
        rows_after=len(kept),
        weights_before=sum(path.stat().st_size for path in _weight_files(model_dir)),
        weights_after=0,
        onnx_before=_size(model_dir / "onnx" / "encoder.onnx"),
        onnx_after=None,
        seconds=0.0,
    )


def _finish(report: TrimReport, out_dir: Path, seconds: float) -> TrimReport:
    """The report with the target's final path and sizes."""
    return replace(
        report,
        target=out_dir,
        weights_after=sum(path.stat().st_size for path in _weight_files(out_dir)),
        onnx_after=_size(out_dir / "onnx" / "encoder.onnx"),
        seconds=seconds,
    )


def _weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / _INDEX
    if index.is_file():
        shards = json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()
        return [model_dir / name for name in sorted(set(shards))]
    if (model_dir / _WEIGHTS).is_file():
        return [model_dir / _WEIGHTS]
    raise ModelNotFound(f"{model_dir} has no safetensors weights")


def _weights_stamp(model_dir: Path) -> list[list[Any]]:
    """Names, sizes and modification times of the weight files: a new model changes it."""
    files = _weight_files(model_dir)
    return [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files]


def _write_weights(model_dir: Path, out: Path, kept: list[int]) -> int:
    """Write one model.safetensors with only the kept embedding rows; return the old row count."""
    import torch
    from safetensors.torch import load_file, save_file

    state: dict[str, torch.Tensor] = {}
    for path in _weight_files(model_dir):
        state.update(load_file(str(path)))
    keys = [key for key in state if key.endswith("word_embeddings.weight")]
    if len(keys) != 1:
        raise VocabularyNotTrimmable(f"{model_dir}: expected one word-embedding matrix, {keys}")
    [key] = keys
    matrix = state[key]
    if matrix.shape[0] <= kept[-1]:
        raise VocabularyNotTrimmable(f"{model_dir}: {matrix.shape[0]} rows for a larger vocabulary")
    state[key] = matrix.index_select(0, torch.tensor(kept)).contiguous()
    save_file(state, str(out / _WEIGHTS), metadata={"format": "pt"})
    os.chmod(out / _WEIGHTS, 0o644)  # safetensors writes 0600; the bot may run as another user
    return int(matrix.shape[0])


def _copy_other_files(model_dir: Path, out: Path) -> None:
    """Copy what trimming leaves alone: modules, pooling, prompts, card, tokenizer config."""
    shards = {path.name for path in _weight_files(model_dir)}
    out.mkdir(parents=True)
    for entry in sorted(model_dir.iterdir()):
        if entry.name in _REWRITTEN or entry.name in shards or entry.name.endswith(".lock"):
            continue
        if entry.is_dir():
            if entry.name not in _NOT_COPIED_DIRS:
                shutil.copytree(entry, out / entry.name, ignore=shutil.ignore_patterns("*.lock"))
        else:
            shutil.copy2(entry, out / entry.name)


def _note_in_card(card: Path, source: str, kept: int, total: int) -> None:
    note = (
        f"\n\n## Vocabulary trimmed\n\nA copy of `{source}` keeping {kept:,} of {total:,} "
        "vocabulary pieces (Sinhala, Latin, digits, punctuation, common symbols and emoji); "
        "pieces of other scripts encode as `<unk>`. Vectors of text in the kept scripts "
        "are the same as the full model's.\n"
    )
    old = card.read_text(encoding="utf-8") if card.is_file() else f"# {source}{TRIMMED_SUFFIX}\n"
    card.write_text(old.rstrip("\n") + note, encoding="utf-8")


def _export_onnx(model_dir: Path) -> None:
    from bot.retrieval.onnx_backend import ONNX_FILE
    from bot.retrieval.onnx_export import export_model_dir

    export_model_dir(model_dir, model_dir / ONNX_FILE)
    for lock in (model_dir / ONNX_FILE).parent.glob("*.lock"):
        lock.unlink()


def _write_json(path: Path, data: Any, indent: int | None = None) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None
