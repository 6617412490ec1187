from __future__ import annotations

import json
import os

import numpy as np
from click.testing import CliRunner

from bot.cli import cli
from bot.retrieval.base_model import BASE_MODEL_NAME
from bot.service.runtime import open_database, seed_bundled_bank
from bot.storage import registry
from bot.storage.models import ModelStatus
from tests.training.conftest import (
    FERTILIZER_BANK,
    FERTILIZER_EVAL,
    HOLDOUT,
    SPLIT_SEED,
    make_settings,
    register_base,
)


def test_a_few_training_steps_raise_the_held_out_mrr(trained):
    before, after = trained.before.heldout, trained.after.heldout
    assert before is not None and after is not None
    assert before.queries == after.queries >= 15
    assert after.mrr_at_10 > before.mrr_at_10, (before, after)
    assert trained.judgement.promote == trained.promoted


def test_a_saved_version_shares_the_frozen_embeddings_and_has_a_model_card(
    trained, trained_encoder, encoder
):
    embeddings = trained.path / "model-word-embeddings.safetensors"
    assert embeddings.stat().st_nlink >= 2  # hard-linked from models/.shared
    # promotion also exported it for ONNX Runtime (onnx/: the whole graph, and the
    # serving copy in onnx/serving/): not counted
    own = sum(
        f.stat().st_size
        for f in trained.path.rglob("*")
        if f != embeddings and "onnx" not in f.relative_to(trained.path).parts
    )
    assert own < 120e6  # the transformer layers and tokenizer, not the 384 MB matrix
    card = (trained.path / "README.md").read_text(encoding="utf-8")
    for expected in ("multilingual-e5-small", "learning_rate", "held-out", "seed 1", "Verdict"):
        assert expected in card
    base, tuned = (
        e.sentence_transformer[0].auto_model.get_input_embeddings().weight.detach().numpy()
        for e in (encoder, trained_encoder)
    )
    assert np.array_equal(base, tuned)  # frozen: the base model's matrix, bit for bit
    assert trained_encoder.query_prompt == "query: "


def test_a_destructive_learning_rate_is_refused_promotion(tmp_path, base_model_dir, monkeypatch):
    """Through the CLI with --progress-lines: the model is kept, not activated, and why."""
    database_url = f"sqlite:///{tmp_path / 'agribot.db'}"
    settings = make_settings(tmp_path, database_url)
    engine, session_factory = open_database(settings)
    seed_bundled_bank(session_factory, FERTILIZER_BANK)
    register_base(session_factory, base_model_dir)
    engine.dispose()
    for name, value in {
        "AGRIBOT_DATA_DIR": settings.data_dir,
        "AGRIBOT_DATABASE_URL": database_url,
        "AGRIBOT_BANK_PATH": FERTILIZER_BANK,
    }.items():
        monkeypatch.setenv(name, str(value))
    args = ["train", "--lr", "0.05", "--warmup-ratio", "0", "--max-steps", "1"]
    args += ["--batch-size", "8", "--threads", "1"]
    args += ["--holdout", str(HOLDOUT), "--split-seed", str(SPLIT_SEED), "--promote"]
    args += ["--queries", str(FERTILIZER_EVAL), "--progress-lines"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(line.startswith(("PROGRESS ", "RESULT ")) for line in lines), lines
    assert any('"stage": "train"' in line for line in lines)
    outcome = json.loads(lines[-1].removeprefix("RESULT "))
    assert not outcome["promoted"]
    before, after = outcome["before"]["heldout"], outcome["after"]["heldout"]
    assert after["mrr_at_10"] < before["mrr_at_10"] - 0.1  # deliberately worse
    assert "held-out MRR@10 did not improve" in outcome["summary"]
    assert "did not activate" in outcome["summary"]
    engine, session_factory = open_database(settings)
    with session_factory() as session:
        assert registry.active_version(session).name == BASE_MODEL_NAME
        kept = registry.get_version(session, outcome["version"])
        assert kept.status == ModelStatus.CANDIDATE and os.path.isdir(kept.path)
        assert kept.notes.startswith("held-out MRR@10 did not improve")
    engine.dispose()


def test_cached_loss_with_hard_negatives_trains_only_the_top_layers(encoder):
    import copy

    import torch

    from bot.training.finetune import FinetuneConfig, finetune, make_datasets
    from bot.training.pairs import TO_ANSWER, TO_QUESTION, TrainingPair

    rows = [
        TrainingPair("යූරියා කවදද", "යූරියා යොදන්නේ කවදාද", TO_QUESTION, "bank", 1, "TSP කවදාද", 2),
        TrainingPair("යූරියා කවදද", "දින 14, 28, 42 දී.", TO_ANSWER, "bank", 1, "බිම සකසන විට.", 2),
        TrainingPair("ටීඑස්පී කවදද", "TSP කවදාද", TO_QUESTION, "linked", 2),
        TrainingPair("එම්ඕපී කවදද", "MOP කවදාද", TO_QUESTION, "bank", 3),
    ]
    assert set(make_datasets(rows)) == {"to_question_neg", "to_answer_neg", "to_question"}
    model = copy.deepcopy(encoder.sentence_transformer)  # never train the session's model
    layers = model[0].auto_model.encoder.layer
    bottom, top = (copy.deepcopy(layers[i].state_dict()) for i in (0, -1))
    config = FinetuneConfig(
        loss="cached-mnrl",
        mini_batch_size=2,
        train_layers=2,
        batch_size=4,
        max_steps=2,
        warmup_ratio=0.0,
        threads=1,
    )
    stats = finetune(model, rows, config)
    assert stats.steps == 2 and stats.trainable_params < 0.05 * stats.total_params
    assert all(torch.equal(v, layers[0].state_dict()[k]) for k, v in bottom.items())
    assert not all(torch.equal(v, layers[-1].state_dict()[k]) for k, v in top.items())
