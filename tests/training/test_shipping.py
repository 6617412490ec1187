"""`ship_delta`: a trained version exported as a delta, with the rebuilt model's tuning."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from bot.config import Settings
from bot.errors import ModelVersionNotFound
from bot.retrieval.base_model import BASE_MODEL_NAME
from bot.retrieval.model_store import save_version
from bot.retrieval.tuned_model import read_delta_info
from bot.storage import registry
from bot.training.shipping import retune_delta, ship_delta
from tests.conftest import DATA, SMALL_BANK


def test_a_shipped_delta_carries_the_rebuilt_models_tuning_and_figures(
    tmp_path, base_model_dir, database_url, session_factory
):
    models = tmp_path / "models"
    shutil.copytree(base_model_dir, models / BASE_MODEL_NAME, copy_function=_link)
    tuned = SentenceTransformer(str(models / BASE_MODEL_NAME), device="cpu")
    dense = tuned[0].auto_model.encoder.layer[-1].output.dense
    with torch.no_grad():
        dense.bias.add_(0.01)
    path = save_version(tuned, models, "ft-test")
    (path / "README.md").write_text("# ft-test\n", encoding="utf-8")
    with session_factory() as session:
        registry.register(session, "ft-test", str(path), metrics={"heldout_mrr_at_10": 0.5})
        session.commit()
    settings = Settings(data_dir=tmp_path, database_url=database_url, bank_path=SMALL_BANK)
    out = tmp_path / "delta.npz"

    with pytest.raises(ModelVersionNotFound):
        ship_delta(settings, session_factory, "ft-missing", out, show_progress=False)
    shipped = ship_delta(
        settings,
        session_factory,
        "ft-test",
        out,
        command="agribot train --max-steps 8",
        queries_path=DATA / "eval_split.jsonl",
        show_progress=False,
    )

    info = read_delta_info(out)
    assert shipped.changed == dense.bias.numel()
    assert (info["trained_as"], info["command"]) == ("ft-test", "agribot train --max-steps 8")
    assert info["thresholds"] == {
        "answer": shipped.tuning.thresholds.answer,
        "suggest": shipped.tuning.thresholds.suggest,
    }
    assert info["tuning"] == shipped.tuning.to_registry()
    assert info["eval"] == json.loads(json.dumps(shipped.figures()))
    assert info["eval"]["dev"]["split"] == "dev" and info["eval"]["test"]["split"] == "test"
    assert (info["metrics"], info["card"]) == ({"heldout_mrr_at_10": 0.5}, "# ft-test\n")

    # After a change to retrieval, `agribot calibrate --delta` retunes it in place.
    tensors = _tensors(out)
    stricter = replace(
        shipped.tuning, thresholds=replace(shipped.tuning.thresholds, answer=0.99, margin=0.2)
    )
    retested = replace(shipped.test, acc_at_1=0.123)
    retune_delta(out, stricter, retested)
    again = read_delta_info(out)
    assert again["thresholds"]["answer"] == 0.99 and again["tuning"]["margin"] == 0.2
    assert again["eval"]["test"]["acc_at_1"] == 0.123
    assert again["eval"]["dev"] == info["eval"]["dev"]
    assert (again["trained_as"], again["command"], again["card"]) == (
        info["trained_as"],
        info["command"],
        info["card"],
    )
    assert _tensors(out).keys() == tensors.keys()
    assert all(np.array_equal(_tensors(out)[name], array) for name, array in tensors.items())


def _tensors(delta: Path) -> dict[str, np.ndarray]:
    with np.load(delta, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files if name != "__meta__"}


def _link(source: str, target: str) -> None:
    Path(target).hardlink_to(source)
