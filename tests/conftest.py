"""Shared fixtures: databases (SQLite, and PostgreSQL when configured) and the real model."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.db import make_engine, make_session_factory, upgrade

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SMALL_BANK = DATA / "bank_small.csv"
POSTGRES_URL = os.environ.get("AGRIBOT_TEST_DATABASE_URL")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]

# Settings for tests whose thresholds are the base model's question-to-question cosines:
# no answer or spelling scores fused in, no margin, no small talk.
QUESTION_SCORES_ONLY = {
    "answer_weight": 0.0,
    "lexical_weight": 0.0,
    "margin": 0.0,
    "chit_chat_threshold": 1.01,
}


# Fixtures that load the real model: a test that uses any of them (directly or through
# another fixture) is marked `real_model`; `make test-fast` leaves those out.
REAL_MODEL_FIXTURES = {"encoder", "base_model_dir"}


def shipped_tuning(info: dict[str, Any], precision: str = "float32") -> tuple[Any, Any]:
    """The thresholds and fusion weights a shipped delta's `info` holds for `precision`,
    as a fresh install registers them."""
    from bot.retrieval.confidence import Confidence
    from bot.retrieval.decision import Thresholds
    from bot.retrieval.hybrid import Fusion

    tuning = info["tuning"]
    thresholds = info["thresholds"]
    if precision != "float32":
        tuning = thresholds = tuning[precision]
    return (
        Thresholds(
            thresholds["answer"],
            thresholds["suggest"],
            tuning["margin"],
            tuning["chit_chat"],
            Confidence.from_dict(tuning.get("confidence")),
        ),
        Fusion(tuning["answer_weight"], tuning["lexical_weight"]),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs against AGRIBOT_TEST_DATABASE_URL")
    config.addinivalue_line(
        "markers", "real_model: loads the real model (set by its fixtures, or by hand)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_model)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agribot.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("AGRIBOT_TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture(scope="session")
def eval_cache(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    """One embedding cache for the session's evaluations of the bundled bank, so the tests
    that score the shipped model encode its bank once between them."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('eval-cache') / 'cache.db'}")
    upgrade(engine)
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def base_model_dir() -> Path:
    """The converted multilingual-e5-small, converted once and kept between runs."""
    from bot.retrieval.base_model import ensure_base_model

    models = Path(os.environ.get("AGRIBOT_TEST_MODELS_DIR", REPO_ROOT / "var" / "test-models"))
    return ensure_base_model(models, show_progress=False)


@pytest.fixture(scope="session")
def encoder(base_model_dir: Path):  # type: ignore[no-untyped-def]
    """The real base model, loaded once per session (inference never changes it).

    It encodes with ONNX Runtime, as the bot does on a CPU, and remembers each text's
    vector for the session: every test opens a fresh database and would otherwise encode
    the same bank, answers and small-talk examples again.
    """
    return _RememberingEncoder.load(base_model_dir, "multilingual-e5-small", backend="onnx")


@pytest.fixture(scope="session")
def hashed_encoder():  # type: ignore[no-untyped-def]
    """A deterministic n-gram encoder with the real one's interface; loads no model.

    For tests of logic (storage, queue, buttons, flows) whose outcome must not hinge on
    the real model's judgement; its thresholds are in tests/hashed_encoder.py.
    """
    from tests.hashed_encoder import HashedEncoder

    return HashedEncoder()


def _remembering():  # type: ignore[no-untyped-def]
    import numpy as np

    from bot.retrieval.encoder import Encoder

    class RememberingEncoder(Encoder):
        """The real encoder; a text it has encoded once is not encoded again."""

        def _encode(self, texts, prompt, batch_size, show_progress, *, max_tokens=None):  # type: ignore[no-untyped-def]
            memo = self.__dict__.setdefault("_memo", {})
            key = (prompt, max_tokens)
            missing = list(dict.fromkeys(t for t in texts if (key, t) not in memo))
            if missing:
                vectors = super()._encode(
                    missing, prompt, batch_size, show_progress, max_tokens=max_tokens
                )
                memo.update({(key, t): v for t, v in zip(missing, vectors, strict=True)})
            if not texts:
                return np.zeros((0, self.dim), dtype=np.float32)
            return np.stack([memo[key, t] for t in texts])

    return RememberingEncoder


class _LazyEncoderClass:
    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(_remembering(), name)


_RememberingEncoder = _LazyEncoderClass()
