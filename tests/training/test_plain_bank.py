"""A bank of plain question/answer rows (no alternate phrasings, like the seed card's data)
can be judged, and so promoted: held-out questions are asked against every answer."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest

from bot.service.runtime import open_database, seed_bundled_bank
from bot.training.pairs import collect_split
from bot.training.retrain import RetrainOptions, retrain
from bot.training.scoring import heldout_task
from tests.training.conftest import (
    FERTILIZER_BANK,
    FERTILIZER_EVAL,
    HOLDOUT,
    QUICK,
    SPLIT_SEED,
    make_settings,
    register_base,
)


@pytest.fixture
def plain_bank(tmp_path):
    path = tmp_path / "plain.csv"
    with FERTILIZER_BANK.open(encoding="utf-8") as source:
        rows = [{"question": r["question"], "answer": r["answer"]} for r in csv.DictReader(source)]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["question", "answer"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.slow
def test_a_bank_without_alternates_is_judged_and_promoted(tmp_path, plain_bank, base_model_dir):
    settings = replace_bank(make_settings(tmp_path, f"sqlite:///{tmp_path / 'a.db'}"), plain_bank)
    engine, session_factory = open_database(settings)
    seed_bundled_bank(session_factory, plain_bank)
    register_base(session_factory, base_model_dir)
    with session_factory() as session:
        task = heldout_task(collect_split(session, holdout=HOLDOUT, seed=SPLIT_SEED))
    engine.dispose()
    assert task.corpus_is_answers and task.queries  # questions against every answer

    config = replace(QUICK, max_steps=30, learning_rate=1e-4)
    options = RetrainOptions(
        config=config,
        holdout=HOLDOUT,
        split_seed=SPLIT_SEED,
        promote=True,
        bank_path=FERTILIZER_BANK,
        queries_path=FERTILIZER_EVAL,
        int8=False,  # about plain banks: the promotion test covers int8
    )
    result = retrain(settings, options)
    assert result.before.heldout is not None and result.after.heldout is not None
    assert not any("no held-out" in reason for reason in result.judgement.reasons)
    assert result.after.heldout.mrr_at_10 > result.before.heldout.mrr_at_10
    assert result.promoted, result.judgement.reasons


def replace_bank(settings, bank):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"bank_path": bank})
