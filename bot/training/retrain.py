"""`agribot train` as a library call: pairs, score the active model, fine-tune, save,
score the new one, judge, register with a model card, and promote when it is better."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.config import BUNDLED_EVAL, BUNDLED_MODEL, Settings
from bot.errors import ModelNotFound, NothingToTrain
from bot.retrieval.base_model import BASE_MODEL_NAME, ensure_base_model
from bot.retrieval.encoder import Encoder
from bot.retrieval.model_store import model_dir_problem, save_version
from bot.service.evaluation import open_eval_cache
from bot.service.runtime import ResolvedModel, open_database, resolve_model, seed_bundled_bank
from bot.storage import registry
from bot.training.config import FinetuneConfig
from bot.training.finetune import (
    FinetuneStats,
    Progress,
    finetune,
    pick_device,
    set_threads,
)
from bot.training.int8_tuning import Int8Tuning, calibrate_int8
from bot.training.negatives import attach_mined_negatives, nearest_other_pairs
from bot.training.pairs import RowKinds, TrainingSplit, collect_split
from bot.training.promotion import (
    Judgement,
    ModelCard,
    activate_version,
    judge,
    new_version_name,
    register_version,
    write_model_card,
)
from bot.training.scoring import ModelScores, score_model, side_by_side

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainOptions:
    """What `agribot train` was asked for, beyond the hyper-parameters."""

    config: FinetuneConfig = field(default_factory=FinetuneConfig)
    kinds: RowKinds = field(default_factory=RowKinds)
    holdout: float = 0.1
    split_seed: int = 42
    start: str = "base"  # "base", "active" or a registered version's name
    promote: bool = False
    force: bool = False
    bank_path: Path | None = None  # eval bank; default: settings.bank_path
    queries_path: Path | None = None  # eval file; default: the bundled one
    target_precision: float = 0.95
    int8: bool = True  # a promoted model calibrated for int8 (`bot.training.int8_tuning`)


@dataclass(frozen=True)
class RetrainResult:
    version: str
    path: str
    promoted: bool
    forced: bool
    judgement: Judgement
    before: ModelScores
    after: ModelScores
    stats: FinetuneStats
    counts: dict[str, int]
    table: str
    int8: Int8Tuning | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "path": self.path,
            "promoted": self.promoted,
            "forced": self.forced,
            "reasons": self.judgement.reasons,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "train": asdict(self.stats),
            "counts": self.counts,
            "table": self.table,
            "int8": None
            if self.int8 is None
            else {"kept": self.int8.kept, "reasons": self.int8.reasons},
        }


def retrain(
    settings: Settings,
    options: RetrainOptions,
    *,
    on_stage: Callable[[str], None] = lambda message: None,
    on_progress: Callable[[Progress], None] | None = None,
    show_progress_bar: bool = False,
    eval_cache: sessionmaker[Session] | None = None,
) -> RetrainResult:
    """Train a new version, score it against the active one, register it, maybe promote it."""
    from sentence_transformers import SentenceTransformer

    set_threads(options.config.threads)
    engine, session_factory = open_database(settings)
    try:
        cache = eval_cache or open_eval_cache(settings)
        bank_path = options.bank_path or settings.bank_path
        queries_path = options.queries_path or BUNDLED_EVAL
        seed_bundled_bank(session_factory, settings.bank_path)  # as the bot does on start
        with session_factory() as session:
            split = collect_split(
                session, holdout=options.holdout, seed=options.split_seed, kinds=options.kinds
            )
        if not split.counts["pairs"]:
            raise NothingToTrain("nothing to train on: the bank is empty")
        if not split.train:
            raise NothingToTrain(
                "nothing to train on: the bank has no pairs outside the held-out split"
            )
        on_stage(
            f"{len(split.train)} training rows, {len(split.heldout)} held out "
            f"({split.counts['heldout_pairs']} of {split.counts['pairs']} pairs)"
        )
        active = resolve_model(settings, session_factory)
        on_stage(f"scoring the active model {active.model_id}")
        before_encoder = Encoder.load(active.path, active.model_id, device=settings.device)
        before = score_model(
            before_encoder,
            split,
            bank_path,
            queries_path,
            *active.tuned_for(before_encoder),  # float32's tuning: training scores in float
            cache=cache,
        )
        parent, parent_path = _start_model(settings, session_factory, options.start, active)
        on_stage(f"fine-tuning from {parent}")
        if Path(parent_path).resolve() == Path(active.path).resolve():
            # already loaded (torch scores the active model), and no longer needed as it was
            model = before_encoder.sentence_transformer
        else:
            model = SentenceTransformer(parent_path, device=pick_device(options.config.device))
        del before_encoder
        rows = split.train
        if options.config.hard_negatives:
            on_stage("mining hard negatives with the starting model")
            rows = with_mined_negatives(model, split)
        stats = finetune(
            model,
            rows,
            options.config,
            on_progress=on_progress,
            show_progress_bar=show_progress_bar,
        )
        name = new_version_name()
        path = save_version(model, settings.models_dir, name)
        on_stage(f"saved {name}; scoring it")
        encoder = Encoder.from_sentence_transformer(model, name, str(path))
        after = score_model(
            encoder,
            split,
            bank_path,
            queries_path,
            before.thresholds,
            before.fusion,
            cache=cache,
            target_precision=options.target_precision,
        )
        judgement = judge(before, after)
        table = side_by_side(before, after)
        card = ModelCard(
            name,
            parent,
            parent_path,
            options.holdout,
            options.split_seed,
            split.counts,
            split.unused_negatives,
            asdict(options.config),
            asdict(stats),
            table,
            judgement,
        )
        write_model_card(path, card)
        promoted = options.promote and (judgement.promote or options.force)
        forced = promoted and not judgement.promote
        int8: Int8Tuning | None = None
        with session_factory() as session:
            register_version(
                session,
                name,
                path,
                parent=parent,
                metrics={
                    "before": before.to_dict(),
                    "after": after.to_dict(),
                    **_split_info(split),
                },
                thresholds=after.thresholds,
                fusion=after.fusion,
                notes="; ".join(judgement.reasons),
            )
            session.commit()
        if promoted and settings.model != BUNDLED_MODEL:
            on_stage(f"note: AGRIBOT_MODEL={settings.model} overrides the registry when serving")
        if promoted:
            if forced:
                logger.warning("forcing promotion of %s despite: %s", name, judgement.reasons)
            if options.int8:
                on_stage(f"calibrating {name} for int8 on dev")
                int8 = calibrate_int8(
                    session_factory,
                    name,
                    path,
                    after.eval,
                    bank_path,
                    queries_path,
                    cache=cache,
                    target_precision=options.target_precision,
                )
                on_stage("; ".join(int8.reasons))
            on_stage(f"promoting {name}: encoding the bank into the cache")
            note = "forced promotion despite: " + "; ".join(judgement.reasons) if forced else None
            activate_version(
                session_factory, name, encoder=encoder, device=settings.device, note=note
            )
        return RetrainResult(
            name,
            str(path),
            promoted,
            forced,
            judgement,
            before,
            after,
            stats,
            split.counts,
            table,
            int8,
        )
    finally:
        engine.dispose()


def with_mined_negatives(model: Any, split: TrainingSplit) -> list[Any]:
    """The training rows, each given its pair's nearest training pair as a negative."""
    held = set(split.heldout_pair_ids)
    questions = {k: v for k, v in split.questions.items() if k not in held}
    nearest = nearest_other_pairs(model, questions, split.answers)
    return attach_mined_negatives(split.train, nearest, split.questions, split.answers)


def _start_model(
    settings: Settings,
    session_factory: sessionmaker[Session],
    start: str,
    active: ResolvedModel,
) -> tuple[str, str]:
    """The name and directory training starts from."""
    if start == "active":
        return active.model_id, active.path
    name = BASE_MODEL_NAME if start == "base" else start
    with session_factory() as session:
        version = registry.find_version(session, name)
        if version is not None and model_dir_problem(version.path) is None:
            return version.name, version.path
    if start != "base":
        raise ModelNotFound(f"no usable model version named {start!r}")
    return BASE_MODEL_NAME, str(ensure_base_model(settings.models_dir, show_progress=False))


def _split_info(split: TrainingSplit) -> dict[str, object]:
    return {
        "split": {
            "seed": split.seed,
            "holdout": split.holdout,
            "heldout_pair_ids": split.heldout_pair_ids,
        },
        "counts": split.counts,
    }
