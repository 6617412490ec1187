"""A promoted model calibrated for int8, so it answers as fast as the model it replaces.

Training scores and judges a candidate in float32. Before it is activated, its serving
copy is run in int8 (`bot.retrieval.int8`) and tuned on the eval's dev split like the
float32 model was; it keeps that tuning (and so answers in int8) only where int8's dev
acc@1 and answered precision stay within a point of float32's, the tolerance promotion
itself allows. The bank is then encoded in int8 into the cache, so a bot following the
registry swaps the new model in without encoding anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.retrieval.encoder import Encoder
from bot.service.evaluation import EvalReport
from bot.service.tuning import Tuning, save_tuning, tune_and_report
from bot.training.promotion import TOLERANCE, cache_bank

logger = logging.getLogger(__name__)

KEPT = ("acc_at_1", "answered_precision")


@dataclass(frozen=True)
class Int8Tuning:
    """What int8 scored on dev at its own tuning, and whether the model answers in it."""

    kept: bool
    reasons: list[str]
    tuning: Tuning | None = None
    test: EvalReport | None = None


def calibrate_int8(
    session_factory: sessionmaker[Session],
    name: str,
    path: Path,
    float_dev: EvalReport | None,
    bank_path: Path,
    queries_path: Path,
    *,
    cache: sessionmaker[Session] | None,
    target_precision: float = 0.95,
    tolerance: float = TOLERANCE,
) -> Int8Tuning:
    """Tune registered version `name` for int8 on dev; keep it where it holds up.

    Nothing is kept without dev figures to compare with (no eval file), or where the
    model cannot run in int8 (no serving copy: a tokenizer that cannot be trimmed).
    """
    if float_dev is None or not (bank_path.exists() and queries_path.exists()):
        return Int8Tuning(False, ["no eval file to calibrate int8 on"])
    encoder = Encoder.load(path, name, backend="onnx", serving=True, precision="int8")
    if encoder.precision != "int8":
        return Int8Tuning(False, [f"{name} cannot run in int8 (no serving copy)"])
    tuning, test = tune_and_report(
        encoder, bank_path, queries_path, target_precision=target_precision, cache=cache
    )
    dev = tuning.dev
    if dev is None:
        return Int8Tuning(False, ["int8 has no dev figures"], tuning, test)
    reasons = [
        f"int8 dev {figure} {getattr(dev, figure)} against float32's {getattr(float_dev, figure)}"
        for figure in KEPT
        if getattr(dev, figure) < getattr(float_dev, figure) - tolerance - 1e-9
    ]
    if reasons:
        logger.info("%s answers in float32: %s", name, "; ".join(reasons))
        return Int8Tuning(False, reasons, tuning, test)
    save_tuning(session_factory, name, tuning, "int8")
    cache_bank(session_factory, name, path, encoder=encoder)
    figures = ", ".join(f"{figure} {getattr(dev, figure)}" for figure in KEPT)
    return Int8Tuning(True, [f"int8 kept (dev {figures})"], tuning, test)
