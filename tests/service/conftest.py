from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.service.runtime import Services, open_services
from tests import hashed_encoder as hashed_encoder_module
from tests.conftest import QUESTION_SCORES_ONLY, SMALL_BANK


@dataclass(frozen=True)
class Scoring:
    """An encoder and the thresholds that suit its scores on the small bank."""

    encoder: Any
    answer_at: float
    suggest_at: float


@pytest.fixture
def scoring(hashed_encoder) -> Scoring:
    """The hashed n-gram encoder: the service's logic, not the model's judgement.
    A module whose tests need the real model overrides this with `real_scoring`."""
    return Scoring(
        hashed_encoder, hashed_encoder_module.ANSWER_AT, hashed_encoder_module.SUGGEST_AT
    )


@pytest.fixture
def real_scoring(encoder) -> Scoring:
    """The real base model. Its scores on the small bank: exact phrasings ~1.0, close
    paraphrases 0.95+, off-topic Sinhala questions up to ~0.925 (e5 scores crowd high).
    They are question-to-question cosines: these tests fuse nothing and take no small
    talk unless they ask to."""
    return Scoring(encoder, answer_at=0.95, suggest_at=0.93)


@pytest.fixture
def make_services(
    database_url: str, tmp_path: Path, scoring: Scoring
) -> Iterator[Callable[..., Services]]:
    opened: list[Services] = []

    def make(**overrides: Any) -> Services:
        values = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "bank_path": SMALL_BANK,
            "answer_threshold": scoring.answer_at,
            "suggest_threshold": scoring.suggest_at,
            **QUESTION_SCORES_ONLY,
            **overrides,
        }
        services = open_services(Settings(**values), encoder=scoring.encoder)
        opened.append(services)
        return services

    yield make
    for services in opened:
        services.close()


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()
