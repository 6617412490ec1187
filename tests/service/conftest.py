from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.service.runtime import Services, open_services
from tests.conftest import QUESTION_SCORES_ONLY, SMALL_BANK

# Real scores of the zero-shot base model on the small bank: exact phrasings score ~1.0,
# close paraphrases 0.95+, off-topic Sinhala questions up to ~0.925 (e5 scores crowd high).
# They are question-to-question cosines: these tests fuse nothing and take no small talk
# unless they ask to (tests/service/test_hybrid_answering.py does).
ANSWER_AT = 0.95
SUGGEST_AT = 0.93


@pytest.fixture
def make_services(database_url: str, tmp_path: Path, encoder) -> Iterator[Callable[..., Services]]:
    opened: list[Services] = []

    def make(**overrides) -> Services:
        values = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "bank_path": SMALL_BANK,
            "answer_threshold": ANSWER_AT,
            "suggest_threshold": SUGGEST_AT,
            **QUESTION_SCORES_ONLY,
            **overrides,
        }
        services = open_services(Settings(**values), encoder=encoder)
        opened.append(services)
        return services

    yield make
    for services in opened:
        services.close()


@pytest.fixture
def services(make_services) -> Services:
    return make_services()
