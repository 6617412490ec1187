"""Model directories on disk, their word-embedding matrix shared between versions.

A version directory shares its frozen word-embedding matrix (250k × 384, 384 MB) with
its siblings through a hard link into `models/.shared/`, so each fine-tuned version adds
about 90 MB rather than 470 MB, and deleting any one directory by hand harms no other.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SHARED_DIR = ".shared"
_WEIGHTS = "model.safetensors"
_INDEX = "model.safetensors.index.json"
_EMBEDDING_SHARD = "model-word-embeddings.safetensors"
_REST_SHARD = "model-encoder.safetensors"


def save_version(model: SentenceTransformer, models_dir: Path, name: str) -> Path:
    """Save `model` as `models_dir/name`, the word embeddings hard-linked from a shared file."""
    from safetensors.torch import load_file, save_file

    target = models_dir / name
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    staging = models_dir / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    model.save(str(staging), create_model_card=False)
    weights = load_file(str(staging / _WEIGHTS))
    embedding_keys = [key for key in weights if key.endswith("word_embeddings.weight")]
    if len(embedding_keys) == 1:
        [key] = embedding_keys
        embedding = weights.pop(key).contiguous()
        digest = hashlib.sha256(embedding.numpy().tobytes()).hexdigest()[:24]
        shared = models_dir / SHARED_DIR / f"word-embeddings-{digest}.safetensors"
        if not shared.exists():
            shared.parent.mkdir(parents=True, exist_ok=True)
            save_file({key: embedding}, str(shared.with_suffix(".tmp")), metadata={"format": "pt"})
            os.replace(shared.with_suffix(".tmp"), shared)
        _link_or_copy(shared, staging / _EMBEDDING_SHARD)
        save_file(weights, str(staging / _REST_SHARD), metadata={"format": "pt"})
        weight_map = {key: _EMBEDDING_SHARD} | {k: _REST_SHARD for k in weights}
        index = {"metadata": {"shared_embeddings": shared.name}, "weight_map": weight_map}
        (staging / _INDEX).write_text(json.dumps(index, indent=1), encoding="utf-8")
        (staging / _WEIGHTS).unlink()
    for file in staging.rglob("*"):  # safetensors writes 0600; the bot may run as another user
        if file.is_file() and not file.is_symlink():
            file.chmod(file.stat().st_mode | 0o444)
    os.replace(staging, target)
    return target


def model_dir_problem(path: str | Path) -> str | None:
    """Why `path` is not a loadable model directory, or None if it is."""
    path = Path(path)
    if not (path / "modules.json").is_file():
        return f"{path} is missing (or has no modules.json)"
    index = path / _INDEX
    if index.is_file():
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        lost = sorted(shard for shard in shards if not (path / shard).is_file())
        if lost:
            return f"{path} lacks {', '.join(lost)}"
    elif not (path / _WEIGHTS).is_file():
        return f"{path} has no weights"
    return None


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
