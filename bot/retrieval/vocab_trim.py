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
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ModelNotFound, VocabularyNotTrimmable

logger = logging.getLogger(__name__)

METASPACE = "\u2581"
TRIMMED_SUFFIX = "-trimmed"
_MARKER = ".complete"
_TRIMMER_VERSION = 1
_WEIGHTS = "model.safetensors"
_INDEX = "model.safetensors.index.json"
_REWRITTEN = {"tokenizer.json", "config.json", _WEIGHTS, _INDEX, _MARKER}
_NOT_COPIED_DIRS = {"onnx", "openvino"}  # exported graphs hold the whole matrix
_SINHALA = (0x0D80, 0x0DFF)
_JOINERS = (0x200C, 0x200D)  # ZWNJ, ZWJ: inside Sinhala conjuncts and rakaransaya
_GENERAL_PUNCTUATION = (0x2000, 0x206F)
# Symbols farmers type or paste: 🙏 👍 → and bullets are in knowledge/eval_si.jsonl, and
# with only the Latin-1 symbols 19 of its queries changed vector. 1,149 rows.
_SYMBOL_BLOCKS = (
    (0x2070, 0x218F),  # superscripts, currency (₹), letterlike (℃), number forms
    (0x2190, 0x27BF),  # arrows, math, technical, shapes, misc symbols, dingbats
    (0xFE00, 0xFE0F),  # variation selectors (the emoji style of ❤️)
    (0x1F1E6, 0x1F1FF),  # regional indicators (flags)
    (0x1F300, 0x1FAFF),  # emoji
)


def serving_char(char: str) -> bool:
    """Whether the serving model keeps pieces with this character.

    Example:
        >>> [serving_char(c) for c in "වීaé7,→🙏"]
        [True, True, True, True, True, True, True, True]
        >>> [serving_char(c) for c in "稻Жب२"]
        [False, False, False, False]
    """
    code = ord(char)
    if _SINHALA[0] <= code <= _SINHALA[1] or code in _JOINERS:
        return True
    kind = unicodedata.category(char)[0]
    if code < 0x100:  # Basic Latin and Latin-1: letters, ASCII digits, punctuation, symbols
        return kind in "LPS" or "0" <= char <= "9"
    if _GENERAL_PUNCTUATION[0] <= code <= _GENERAL_PUNCTUATION[1]:
        return kind in "PS"
    return any(low <= code <= high for low, high in _SYMBOL_BLOCKS)


def serving_piece(piece: str) -> bool:
    """Whether every character of `piece`, the metaspace aside, is a `serving_char`.

    Example:
        >>> serving_piece("▁වී"), serving_piece("▁rice"), serving_piece("▁"), serving_piece("▁稻")
        (True, True, True, False)
    """
    return all(serving_char(char) for char in piece.replace(METASPACE, ""))


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
    """Where a model's trimmed copy lives: `<model>-trimmed` beside it."""
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
        103354
    """
    from bot.retrieval.base_model import file_lock

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "modules.json").is_file() or not (model_dir / "tokenizer.json").is_file():
        raise ModelNotFound(f"{model_dir} is not a sentence-transformers model with tokenizer.json")
    if out_dir.resolve() == model_dir.resolve():
        raise VocabularyNotTrimmable(f"{out_dir} is the model itself: write the copy elsewhere")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with file_lock(out_dir.parent / f".{out_dir.name}.lock"):
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            report = _build(model_dir, work / "model", keep, export_onnx)
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


def ensure_trimmed_model(model_dir: Path) -> Path:
    """`<model>-trimmed` beside `model_dir`, built first if missing or made from other weights."""
    target = trimmed_path(Path(model_dir))
    if _is_current(target, model_dir):
        return target
    logger.info("building %s", target)
    trim_vocabulary(model_dir, target)
    return target


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
    model_dir: Path, out: Path, keep: Callable[[str], bool], export_onnx: bool
) -> TrimReport:
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    vocab = _unigram_vocab(tokenizer)
    forced = _referenced_ids(tokenizer, config)
    kept = [i for i, (piece, _) in enumerate(vocab) if i in forced or keep(piece)]
    new_id = {old: new for new, old in enumerate(kept)}

    _copy_other_files(model_dir, out)
    rows_before = _write_weights(model_dir, out, kept)
    tokenizer["model"]["vocab"] = [vocab[i] for i in kept]
    _remap_tokenizer(tokenizer, new_id)
    _write_json(out / "tokenizer.json", tokenizer, indent=2)
    _remap_config(config, new_id)
    config["vocab_size"] = len(kept)
    _write_json(out / "config.json", config, indent=2)
    _remap_tokenizer_config(out / "tokenizer_config.json", new_id)
    _note_in_card(out / "README.md", model_dir.name, len(kept), len(vocab))

    if export_onnx:
        _export_onnx(out)
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
    from dataclasses import replace

    return replace(
        report,
        target=out_dir,
        weights_after=sum(path.stat().st_size for path in _weight_files(out_dir)),
        onnx_after=_size(out_dir / "onnx" / "encoder.onnx"),
        seconds=seconds,
    )


def _unigram_vocab(tokenizer: dict[str, Any]) -> list[list[Any]]:
    model = tokenizer.get("model") or {}
    if model.get("type") != "Unigram":
        raise VocabularyNotTrimmable(
            f"only Unigram tokenizers can be trimmed, not {model.get('type')!r}"
        )
    vocab: list[list[Any]] = model["vocab"]
    return vocab


def _referenced_ids(tokenizer: dict[str, Any], config: dict[str, Any]) -> set[int]:
    """Ids something names directly: unknown, added and special tokens, config's token ids."""
    ids = {int(tokenizer["model"]["unk_id"])}
    ids.update(int(token["id"]) for token in tokenizer.get("added_tokens") or [])
    padding = tokenizer.get("padding") or {}
    if "pad_id" in padding:
        ids.add(int(padding["pad_id"]))

    def collect(old: int) -> int:
        ids.add(int(old))
        return old

    _remap_processor(tokenizer.get("post_processor"), collect)
    ids.update(value for key, value in config.items() if _is_token_id(key, value))
    return ids


def _remap_tokenizer(tokenizer: dict[str, Any], new_id: dict[int, int]) -> None:
    def remap(old: int) -> int:
        return new_id[int(old)]

    tokenizer["model"]["unk_id"] = remap(tokenizer["model"]["unk_id"])
    for token in tokenizer.get("added_tokens") or []:
        token["id"] = remap(token["id"])
    padding = tokenizer.get("padding") or {}
    if "pad_id" in padding:
        padding["pad_id"] = remap(padding["pad_id"])
    _remap_processor(tokenizer.get("post_processor"), remap)


def _remap_processor(processor: dict[str, Any] | None, remap: Callable[[int], int]) -> None:
    """Rewrite each token id a post-processor holds through `remap`."""
    if processor is None:
        return
    kind = processor.get("type")
    if kind == "TemplateProcessing":
        for special in processor["special_tokens"].values():
            special["ids"] = [remap(i) for i in special["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            token, old = processor[key]
            processor[key] = [token, remap(old)]
    elif kind == "Sequence":
        for inner in processor["processors"]:
            _remap_processor(inner, remap)
    elif kind != "ByteLevel":
        raise VocabularyNotTrimmable(f"unknown post-processor {kind!r}: its ids cannot be mapped")


def _is_token_id(key: str, value: Any) -> bool:
    return key.endswith("_token_id") and isinstance(value, int) and not isinstance(value, bool)


def _remap_config(config: dict[str, Any], new_id: dict[int, int]) -> None:
    for key, value in config.items():
        if _is_token_id(key, value):
            config[key] = new_id[value]


def _remap_tokenizer_config(path: Path, new_id: dict[int, int]) -> None:
    """transformers keys `added_tokens_decoder` by id, where a tokenizer_config has one."""
    if not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    decoder = data.get("added_tokens_decoder")
    if decoder:
        data["added_tokens_decoder"] = {str(new_id[int(k)]): v for k, v in decoder.items()}
        _write_json(path, data, indent=2)


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
    from sentence_transformers import SentenceTransformer

    from bot.retrieval.onnx_backend import ONNX_FILE, export

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    export(model, model_dir / ONNX_FILE)
    for lock in (model_dir / ONNX_FILE).parent.glob("*.lock"):
        lock.unlink()


def _write_json(path: Path, data: Any, indent: int | None = None) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None
