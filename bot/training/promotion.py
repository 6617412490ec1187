"""Trained versions in the registry: judge, register, promote, activate, roll back, describe.

Their directories are saved and checked by `bot.retrieval.model_store`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ModelNotFound, ModelVersionNotFound
from bot.retrieval.confidence import Confidence
from bot.retrieval.decision import Thresholds
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import Fusion
from bot.retrieval.int8 import current_tuning
from bot.retrieval.model_config import read_prompts
from bot.retrieval.model_store import model_dir_problem
from bot.service.chit_chat import example_texts
from bot.service.indexing import bank_texts, encode_cached
from bot.service.tuning import Tuning
from bot.storage import bank, registry
from bot.storage.embeddings import count_vectors, load_vectors, text_hash
from bot.storage.models import ModelStatus, ModelVersion, utcnow

if TYPE_CHECKING:
    from bot.training.scoring import ModelScores

logger = logging.getLogger(__name__)

TOLERANCE = 0.01  # one point: how far an eval-file figure may drop
GUARDED = ("acc_at_1", "answered_precision", "ood_rejection")


@dataclass(frozen=True)
class Judgement:
    """Whether a new model beats the active one, and why (not)."""

    promote: bool
    reasons: list[str]


@dataclass(frozen=True)
class VersionInfo:
    """One registry row as `model list` shows it; `missing` is checked on disk now."""

    name: str
    status: str
    path: str
    parent: str | None
    created_at: datetime
    metrics: dict[str, object]
    answer_threshold: float | None
    suggest_threshold: float | None
    missing: bool
    int8_thresholds: tuple[float, float] | None = None  # where calibrated for int8
    # the confidence models' thresholds (float32, int8), where the tuning has them
    confidence: tuple[float | None, float | None] = (None, None)


def judge(before: ModelScores, after: ModelScores, tolerance: float = TOLERANCE) -> Judgement:
    """Promote only if held-out MRR@10 improves and no guarded eval figure drops > 1 point."""
    reasons = []
    if before.heldout is None or after.heldout is None:
        reasons.append("no held-out queries to judge by (no QA pair is held out)")
    elif after.heldout.mrr_at_10 <= before.heldout.mrr_at_10:
        reasons.append(
            f"held-out MRR@10 did not improve: {before.heldout.mrr_at_10:.4f} → "
            f"{after.heldout.mrr_at_10:.4f}"
        )
    if before.eval is not None and after.eval is not None:
        for figure in GUARDED:
            old, new = getattr(before.eval, figure), getattr(after.eval, figure)
            if new < old - tolerance - 1e-9:
                reasons.append(
                    f"eval {figure} dropped {(old - new) * 100:.1f} points: {old} → {new}"
                )
    if reasons:
        return Judgement(False, reasons)
    assert before.heldout is not None and after.heldout is not None  # or reasons said so
    gain = after.heldout.mrr_at_10 - before.heldout.mrr_at_10
    return Judgement(True, [f"held-out MRR@10 up {gain * 100:.1f} points, no eval figure dropped"])


def new_version_name(now: datetime | None = None) -> str:
    return f"ft-{(now or utcnow()):%Y%m%d-%H%M%S}"


def register_version(
    session: Session,
    name: str,
    path: Path,
    *,
    parent: str | None,
    metrics: dict[str, object],
    thresholds: Thresholds,
    fusion: Fusion,
    notes: str,
) -> ModelVersion:
    """Add a trained model to the registry as a candidate with its figures and tuning."""
    return registry.register(
        session,
        name,
        str(path.resolve()),
        parent=parent,
        metrics=metrics,
        answer_threshold=thresholds.answer,
        suggest_threshold=thresholds.suggest,
        tuning=Tuning(thresholds, fusion, None).to_registry(),
        notes=notes,
    )


def cache_bank(
    session_factory: sessionmaker[Session],
    name: str,
    path: str | Path,
    *,
    encoder: Encoder | None = None,
    device: str = "cpu",
) -> int:
    """Encode the live bank into the embedding cache for model `name`; returns texts encoded.

    The model is loaded only if some text is not cached yet, so re-activating a version
    (a rollback) costs a few queries, not a model load.
    """
    with session_factory() as session:
        texts, answers = bank_texts(bank.list_pairs(session))
        texts += example_texts()  # small talk is matched with the same model
        if encoder is None:
            prompts = read_prompts(Path(path))
            hashes = {text_hash(prompts.get("query", ""), text) for text in texts}
            hashes |= {text_hash(prompts.get("passage", ""), text) for text in answers}
            if len(load_vectors(session, name, hashes)) == len(hashes):
                return 0
            encoder = Encoder.load(path, name, device=device, backend="auto")
        before = count_vectors(session, encoder.vectors_id)  # `name@int8-r2` for int8
        encode_cached(session, encoder, texts)
        encode_cached(session, encoder, answers, passages=True)
        session.commit()
        return count_vectors(session, encoder.vectors_id) - before


def activate_version(
    session_factory: sessionmaker[Session],
    name: str,
    *,
    encoder: Encoder | None = None,
    device: str = "cpu",
    note: str | None = None,
) -> ModelVersion:
    """Make `name` the active model: its directory checked, exported for ONNX Runtime,
    the bank cached, then the switch.

    The bank is encoded before the registry changes, so a bot that reloads on the new
    active version finds every vector cached and swaps in one step. The export is made
    here too (a training or CLI process, where torch belongs), so a bot on a CPU loads the
    new version without importing torch.
    """
    with session_factory() as session:
        version = registry.get_version(session, name)
        problem = model_dir_problem(version.path)
        if problem is not None:
            registry.mark_missing(session, version)
            session.commit()
            raise ModelNotFound(f"cannot activate {name}: {problem}")
        path = version.path
    if encoder is not None and encoder.model_id != name:
        encoder = None
    if device == "cpu":
        _export_for_serving(Path(path), encoder)
    encoded = cache_bank(session_factory, name, path, encoder=encoder, device=device)
    with session_factory() as session:
        version = registry.activate(session, name)
        if note:
            version.notes = f"{version.notes or ''}\n{utcnow().isoformat()}: {note}".strip()
        session.commit()
        session.refresh(version)
        session.expunge(version)
    logger.info("activated model %s (%d bank texts newly encoded)", name, encoded)
    return version


def _export_for_serving(path: Path, encoder: Encoder | None) -> None:
    """Build `path`'s serving copy (`bot.retrieval.serving_model`) here, where torch is
    loaded anyway, so a bot following the registry never imports it; where the copy cannot
    be built, write the whole model's ONNX graph instead (from `encoder`'s torch model when
    it has one loaded, else from the directory). Nothing where ONNX Runtime cannot run it."""
    from bot.retrieval.onnx_backend import ONNX_FILE, supports

    if supports(path) is not None:
        return
    from bot.retrieval.serving_model import ensure_serving_model

    try:
        ensure_serving_model(path)
        return
    except Exception as error:  # a tokenizer that cannot be trimmed, a read-only directory
        logger.warning("no serving copy of %s: %s", path.name, error)
    if (path / ONNX_FILE).is_file():
        return
    from bot.retrieval.onnx_export import export, export_model_dir

    try:
        if encoder is not None and encoder.backend == "torch":
            export(encoder.sentence_transformer, path / ONNX_FILE)
        else:
            export_model_dir(path, path / ONNX_FILE)
    except Exception as error:  # e.g. a read-only directory: the bot exports on loading
        logger.warning("could not export %s for ONNX Runtime: %s", path.name, error)


def rollback(
    session_factory: sessionmaker[Session], *, device: str = "cpu"
) -> tuple[ModelVersion, str]:
    """Reactivate the previously active model; returns it and the name rolled back from.

    The rolled-back version becomes a candidate again (so a second rollback goes further
    back rather than toggling); previous versions whose directory is gone are skipped.
    """
    with session_factory() as session:
        current = registry.active_version(session)
        if current is None:
            raise ModelVersionNotFound("no active model to roll back from")
        previous = registry.previous_version(session, current)
        while previous is not None and model_dir_problem(previous.path) is not None:
            logger.error("model %s is missing its directory; skipping it", previous.name)
            registry.mark_missing(session, previous)
            previous = registry.previous_version(session, current)
        session.commit()
        if previous is None:
            raise ModelVersionNotFound(f"no earlier model to roll back to from {current.name}")
        current_name, previous_name = current.name, previous.name
    version = activate_version(
        session_factory, previous_name, device=device, note=f"rolled back from {current_name}"
    )
    with session_factory() as session:
        rolled = registry.get_version(session, current_name)
        rolled.status = ModelStatus.CANDIDATE
        rolled.notes = f"{rolled.notes or ''}\n{utcnow().isoformat()}: rolled back".strip()
        session.commit()
    return version, current_name


def list_models(session_factory: sessionmaker[Session]) -> list[VersionInfo]:
    """Every registered version, with directories deleted by hand shown as missing."""
    with session_factory() as session:
        return [
            VersionInfo(
                name=v.name,
                status=v.status,
                path=v.path,
                parent=v.parent,
                created_at=v.created_at,
                metrics=dict(v.metrics or {}),
                answer_threshold=v.answer_threshold,
                suggest_threshold=v.suggest_threshold,
                missing=model_dir_problem(v.path) is not None,
                int8_thresholds=_int8_thresholds(v),
                confidence=(
                    _confidence_threshold(v.tuning),
                    _confidence_threshold(current_tuning(v.tuning)),
                ),
            )
            for v in registry.list_versions(session)
        ]


def _int8_thresholds(version: ModelVersion) -> tuple[float, float] | None:
    """The thresholds the version answers at in int8 (none where it was calibrated on an
    earlier int8 recipe: it answers in float32 until calibrated again)."""
    int8 = current_tuning(version.tuning) or {}
    if "answer" not in int8 or "suggest" not in int8:
        return None
    return float(int8["answer"]), float(int8["suggest"])


def _confidence_threshold(tuning: dict[str, Any] | None) -> float | None:
    confidence = Confidence.from_dict((tuning or {}).get("confidence"))
    return confidence.threshold if confidence is not None else None


@dataclass(frozen=True)
class ModelCard:
    """What a version's README.md records about how it was made and how it scored."""

    name: str
    parent: str
    parent_path: str
    holdout: float
    seed: int
    counts: dict[str, int]
    unused_negatives: int
    config: dict[str, object]
    stats: dict[str, object]
    table: str
    judgement: Judgement


def write_model_card(path: Path, card: ModelCard) -> None:
    """README.md for a version: data counts, hyper-parameters, figures, parent and judgement."""
    loss = (
        "CachedMultipleNegativesRankingLoss"
        if card.config["loss"] == "cached-mnrl"
        else ("MultipleNegativesRankingLoss")
    )
    stats = card.stats
    lines = [
        f"# {card.name}",
        "",
        f"Sinhala paddy-question encoder for agribot, fine-tuned from `{card.parent}` "
        f"(`{card.parent_path}`) with sentence-transformers' {loss} "
        f"(scale {card.config['scale']}, cosine similarity).",
        "",
        "Encode farmers' and bank questions with the prompt `query: `, answers with `passage: `.",
        "",
        "## Training data",
        "",
        f"Held-out split by QA pair: {card.counts.get('heldout_pairs', 0)} of "
        f"{card.counts.get('pairs', 0)} pairs (fraction {card.holdout}, seed {card.seed}), "
        "never trained on, not even as negatives.",
        "",
        "| rows | count |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in sorted(card.counts.items())),
        f"| feedback negatives left unused (no positive for that wording) | "
        f"{card.unused_negatives} |",
        "",
        "## Hyper-parameters",
        "",
        "| parameter | value |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in card.config.items()),
        "",
        f"Trained {stats['steps']} steps on {stats['rows']} rows in {stats['seconds']} s "
        f"on {stats['device']}; {stats['trainable_params']} of {stats['total_params']} "
        "parameters trainable.",
        "",
        "## Figures",
        "",
        "Held out: InformationRetrievalEvaluator, held-out phrasings against every bank "
        "question (`query: ` on both sides). Eval: `agribot eval` on the eval file, the new "
        "model at thresholds calibrated for it on that file.",
        "",
        "```",
        card.table,
        "```",
        "",
        f"Verdict: {'promote' if card.judgement.promote else 'keep, do not activate'}: "
        + "; ".join(card.judgement.reasons),
        "",
    ]
    (path / "README.md").write_text("\n".join(lines), encoding="utf-8")
