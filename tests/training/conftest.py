"""Fixtures for training tests: a 36-pair fertilizer bank and one model trained per session.

The bank is a slice of the bundled bank on one topic, so its questions are confusable
and the zero-shot model leaves room to improve on held-out pairs; its eval file holds the
bundled eval lines for those pairs plus 20 out-of-domain questions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.retrieval.base_model import BASE_MODEL_NAME
from bot.service.runtime import Services, open_database, open_services, seed_bundled_bank
from bot.storage import registry
from bot.training.finetune import FinetuneConfig
from bot.training.pairs import TrainingSplit
from bot.training.promotion import Judgement
from bot.training.scoring import ModelScores

DATA = Path(__file__).resolve().parent / "data"
FERTILIZER_BANK = DATA / "bank_fertilizer.csv"
FERTILIZER_EVAL = DATA / "eval_fertilizer.jsonl"
HOLDOUT = 0.25
SPLIT_SEED = 1  # holds out 7 of the 36 pairs
# A few steps, one CPU thread (faster than two on a shared 2-core machine).
QUICK = FinetuneConfig(batch_size=16, max_steps=8, learning_rate=5e-5, threads=1, seed=7)


def make_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        bank_path=FERTILIZER_BANK,
        # Pin thresholds out of the way: these tests are about models, not deciding.
        answer_threshold=None,
        suggest_threshold=None,
    )


def register_base(session_factory: sessionmaker[Session], base_model_dir: Path) -> None:
    """Register the session's converted base model as the active one (no conversion)."""
    with session_factory() as session:
        registry.register(session, BASE_MODEL_NAME, str(base_model_dir.resolve()))
        registry.activate(session, BASE_MODEL_NAME)
        session.commit()


@dataclass(frozen=True)
class Trained:
    """The session's one real training run (8 steps on the fertilizer bank)."""

    path: Path
    name: str
    split: TrainingSplit
    before: ModelScores
    after: ModelScores
    judgement: Judgement
    promoted: bool
    int8: Any  # the promoted model's int8 calibration (`bot.training.int8_tuning`)
    database_url: str


@pytest.fixture(scope="session")
def trained(base_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Train once per session through `retrain` (SQLite), for tests that need a second model."""
    from bot.training.retrain import RetrainOptions, retrain

    root = tmp_path_factory.mktemp("trained")
    settings = make_settings(root, f"sqlite:///{root / 'agribot.db'}")
    engine, session_factory = open_database(settings)
    seed_bundled_bank(session_factory, FERTILIZER_BANK)
    register_base(session_factory, base_model_dir)
    engine.dispose()
    options = RetrainOptions(
        config=QUICK,
        holdout=HOLDOUT,
        split_seed=SPLIT_SEED,
        promote=True,
        queries_path=FERTILIZER_EVAL,
    )
    result = retrain(settings, options)
    from bot.training.pairs import collect_split

    engine, session_factory = open_database(settings)
    with session_factory() as session:
        split = collect_split(session, holdout=HOLDOUT, seed=SPLIT_SEED)
    engine.dispose()
    return Trained(
        Path(result.path),
        result.version,
        split,
        result.before,
        result.after,
        result.judgement,
        result.promoted,
        result.int8,
        settings.database_url,
    )


@pytest.fixture(scope="session")
def trained_encoder(trained: Trained):  # type: ignore[no-untyped-def]
    """The trained model loaded once, for activations that would otherwise load it again."""
    from bot.retrieval.encoder import Encoder

    return Encoder.load(trained.path, trained.name)


@pytest.fixture
def make_services(
    database_url: str, tmp_path: Path, base_model_dir: Path, encoder
) -> Iterator[Callable[..., Services]]:
    """Services over the fertilizer bank with the base model active in the registry."""
    opened: list[Services] = []
    settings = make_settings(tmp_path, database_url)

    def make(*, loaded: bool = True) -> Services:
        engine, session_factory = open_database(settings)
        seed_bundled_bank(session_factory, FERTILIZER_BANK)
        with session_factory() as session:
            if registry.find_version(session, BASE_MODEL_NAME) is None:
                register_base(session_factory, base_model_dir)
        engine.dispose()
        services = open_services(settings, encoder=encoder if loaded else None)
        opened.append(services)
        return services

    yield make
    for services in opened:
        services.close()
