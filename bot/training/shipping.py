"""Shipping a trained version as the bundled delta: exported, rebuilt, tuned and described.

`knowledge/tuned/` carries only how a version differs from the base model (see
`bot.retrieval.tuned_model`); the thresholds and figures stored with it are those of the
model rebuilt from the delta, since that is what a fresh install runs, not the version
it was exported from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.config import BUNDLED_EVAL, Settings
from bot.retrieval.base_model import ensure_base_model
from bot.retrieval.encoder import Encoder
from bot.retrieval.int8 import with_recipe
from bot.retrieval.tuned_model import (
    apply_delta,
    export_delta,
    read_delta_info,
    update_delta_info,
)
from bot.service.evaluation import EvalReport, open_eval_cache
from bot.service.tuning import Tuning, other_precisions, tune_and_report
from bot.storage import registry


@dataclass(frozen=True)
class ShippedDelta:
    """What `ship_delta` wrote: the file, how many parameters differ, the rebuilt model's
    tuning (with its dev figures) and its test figures."""

    path: Path
    changed: int
    tuning: Tuning
    test: EvalReport

    def figures(self) -> dict[str, Any]:
        """The dev and test reports, as `agribot calibrate` prints them."""
        figures: dict[str, Any] = _tuning_info(self.tuning, self.test)["eval"]
        return figures


def ship_delta(
    settings: Settings,
    session_factory: sessionmaker[Session],
    version: str,
    out: Path,
    *,
    command: str = "",
    target_precision: float = 0.95,
    queries_path: Path = BUNDLED_EVAL,
    show_progress: bool = True,
) -> ShippedDelta:
    """Write how registered `version` differs from the base model to `out`, then score the
    model rebuilt from `out` on the eval (the bundled one), calibrate it on its dev split,
    and store both in `out` with `command` (how the version was trained) and the version's
    model card."""
    with session_factory() as session:
        found = registry.get_version(session, version)
        path, metrics = Path(found.path), dict(found.metrics or {})
    base = ensure_base_model(settings.models_dir, show_progress=show_progress)
    changed = export_delta(path, base, out)
    rebuilt = apply_delta(base, out)
    shipped = Encoder.from_sentence_transformer(rebuilt, f"{version}-delta", str(path))
    tuning, test = tune_and_report(
        shipped,
        settings.bank_path,
        queries_path,
        target_precision=target_precision,
        cache=open_eval_cache(settings),
    )
    result = ShippedDelta(out, changed, tuning, test)
    card = path / "README.md"
    update_delta_info(
        out,
        {
            "trained_as": version,
            "command": command,
            **_tuning_info(tuning, test),
            "metrics": metrics,
            "card": card.read_text(encoding="utf-8") if card.is_file() else "",
        },
    )
    return result


def retune_delta(delta: Path, tuning: Tuning, test: EvalReport, precision: str = "float32") -> None:
    """Replace a shipped delta's thresholds, weights and figures, keeping how it was
    trained: after a change to retrieval the same weights want another tuning. An int8
    tuning goes beside the float32 one (`tuning["int8"]`, figures in `eval_int8`)."""
    info = read_delta_info(delta)
    if precision == "float32":
        kept = other_precisions(info.get("tuning"))
        update_delta_info(delta, {**info, **_tuning_info(tuning, test, kept)})
        return
    dev = asdict(tuning.dev) if tuning.dev is not None else None
    entry = with_recipe(tuning.to_registry(True))
    info["tuning"] = {**(info.get("tuning") or {}), precision: entry}
    info[f"eval_{precision}"] = {"dev": dev, "test": asdict(test)}
    update_delta_info(delta, info)


def _tuning_info(
    tuning: Tuning, test: EvalReport, kept: dict[str, Any] | None = None
) -> dict[str, Any]:
    dev = asdict(tuning.dev) if tuning.dev is not None else None
    return {
        "thresholds": {"answer": tuning.thresholds.answer, "suggest": tuning.thresholds.suggest},
        "tuning": {**tuning.to_registry(), **(kept or {})},
        "eval": {"dev": dev, "test": asdict(test)},
    }
