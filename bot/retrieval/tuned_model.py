"""The bundled fine-tuned model: multilingual-e5-small plus a small delta learned on the bank.

Fine-tuning trains only the top transformer layers (see `bot/training/finetune.py`), so a
tuned version differs from the base model in a few tensors. The repository carries only
those differences, each weight row quantized to 3 bits with its own float16 scale and the
whole compressed (3.4 MB instead of 470 MB; the eval figures move by at most 0.3 points,
see the README). On first use they are added to the converted base model and the result
is saved as an ordinary sentence-transformers directory beside it.

`agribot model export-delta` writes such a file from any trained version.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.config import REPO_ROOT
from bot.retrieval.base_model import BASE_MODEL_NAME, ensure_base_model, file_lock
from bot.retrieval.encoder import backbone
from bot.retrieval.model_store import save_version

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

TUNED_MODEL_NAME = "e5-small-paddy-si-v3"
TUNED_DELTA = REPO_ROOT / "knowledge" / "tuned" / f"{TUNED_MODEL_NAME}.npz"
DELTA_FORMAT = "agribot-delta-2"
DELTA_BITS = 3
_MARKER = ".complete"


def export_delta(
    model_dir: Path,
    base_dir: Path,
    out: Path,
    *,
    info: dict[str, Any] | None = None,
    bits: int = DELTA_BITS,
) -> int:
    """Write how `model_dir` differs from `base_dir` to `out` (a compressed .npz).

    Matrices are stored as `bits`-bit integers with one float16 scale per row; vectors
    (biases, layer norms) as float16. `info` (figures, thresholds, how it was trained) is
    kept with them. Returns the number of parameters that differ.
    """
    tuned, base = _state(model_dir), _state(base_dir)
    if tuned.keys() != base.keys():
        raise ValueError(f"{model_dir} and {base_dir} are not the same architecture")
    levels = 2 ** (bits - 1) - 1
    arrays: dict[str, np.ndarray] = {}
    changed = 0
    for key, tensor in tuned.items():
        difference = (tensor.float() - base[key].float()).numpy()
        if not difference.any():
            continue
        changed += difference.size
        if difference.ndim == 2:
            scale = np.abs(difference).max(axis=1, keepdims=True) / levels
            scale[scale == 0] = 1.0
            arrays[f"q:{key}"] = np.clip(np.round(difference / scale), -levels, levels).astype(
                np.int8
            )
            arrays[f"s:{key}"] = scale.astype(np.float16)
        else:
            arrays[f"f:{key}"] = difference.astype(np.float16)
    if not changed:
        raise ValueError(f"{model_dir} does not differ from {base_dir}")
    meta = {"format": DELTA_FORMAT, "base": BASE_MODEL_NAME, "bits": bits, "info": info or {}}
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:
        np.savez_compressed(
            handle,
            __meta__=np.array(json.dumps(meta)),
            **arrays,  # type: ignore[arg-type]  # numpy's stub: it might fill `allow_pickle`
        )
    return changed


def read_delta_info(delta: Path = TUNED_DELTA) -> dict[str, Any]:
    """The metadata stored with a delta: figures, thresholds, training settings."""
    info: dict[str, Any] = _meta(delta)["info"]
    return info


def update_delta_info(delta: Path, info: dict[str, Any]) -> None:
    """Rewrite the metadata of a delta file (its tensors stay as they are)."""
    meta = _meta(delta)
    with np.load(delta, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files if name != "__meta__"}
    meta["info"] = info
    partial = delta.with_suffix(".partial.npz")
    with partial.open("wb") as handle:
        np.savez_compressed(handle, __meta__=np.array(json.dumps(meta)), **arrays)
    os.replace(partial, delta)


def _meta(delta: Path) -> dict[str, Any]:
    with np.load(delta, allow_pickle=False) as arrays:
        if "__meta__" not in arrays.files:
            raise ValueError(f"{delta} is not an agribot model delta")
        meta: dict[str, Any] = json.loads(str(arrays["__meta__"]))
    if meta.get("format") != DELTA_FORMAT:
        raise ValueError(f"{delta} is not an agribot model delta ({DELTA_FORMAT})")
    return meta


def ensure_tuned_model(
    models_dir: Path,
    *,
    delta: Path = TUNED_DELTA,
    name: str = TUNED_MODEL_NAME,
    show_progress: bool = True,
) -> Path:
    """Return `models_dir / name`, building it from the base model and `delta` if missing."""
    target = Path(models_dir) / name
    if (target / _MARKER).is_file():
        return target
    base_dir = ensure_base_model(models_dir, show_progress=show_progress)
    with file_lock(Path(models_dir) / f".{name}.lock"):
        if (target / _MARKER).is_file():
            return target
        if target.exists():
            logger.warning("%s has no %s marker: building it again", target, _MARKER)
            shutil.rmtree(target)
        model = apply_delta(base_dir, delta)
        save_version(model, Path(models_dir), name)
        card = read_delta_info(delta).get("card")
        if card:
            (target / "README.md").write_text(card, encoding="utf-8")
        (target / _MARKER).write_text(json.dumps({"delta": delta.name}), encoding="utf-8")
        os.chmod(target / _MARKER, 0o644)
    logger.info("built %s from %s and %s", name, base_dir.name, delta.name)
    return target


def apply_delta(base_dir: Path, delta: Path) -> Any:
    """The base model with the delta added to its weights (a SentenceTransformer)."""
    import torch
    from sentence_transformers import SentenceTransformer

    _meta(delta)  # refuses a file of another kind
    model = SentenceTransformer(str(base_dir), device="cpu")
    weights = backbone(model)
    state = weights.state_dict()
    with np.load(delta, allow_pickle=False) as arrays:
        for name in arrays.files:
            kind, _, key = name.partition(":")
            if kind not in ("q", "f"):
                continue
            if key not in state:
                raise ValueError(f"{delta} changes {key}, which the base model lacks")
            values = arrays[name].astype(np.float32)
            if kind == "q":
                values = values * arrays[f"s:{key}"].astype(np.float32)
            target = state[key]
            state[key] = target + torch.from_numpy(values).to(target.dtype)
    weights.load_state_dict(state)
    return model


def _state(model_dir: Path) -> dict[str, torch.Tensor]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return {key: value.detach().clone() for key, value in backbone(model).state_dict().items()}
