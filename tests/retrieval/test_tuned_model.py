"""The bundled fine-tuned model: a float16 delta over the base model, built on first start."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from bot.config import BUNDLED_BANK, BUNDLED_EVAL, REPO_ROOT, Settings
from bot.retrieval.base_model import BASE_MODEL_NAME
from bot.retrieval.confidence import Confidence
from bot.retrieval.encoder import Encoder
from bot.retrieval.model_store import save_version
from bot.retrieval.tuned_model import (
    TUNED_DELTA,
    TUNED_MODEL_NAME,
    apply_delta,
    ensure_tuned_model,
    export_delta,
    read_delta_info,
)
from bot.service.evaluation import evaluate
from bot.service.runtime import open_database, resolve_model
from bot.storage import registry
from bot.training.promotion import list_models, rollback
from tests.conftest import shipped_tuning

SENTENCES = ["යූරියා දාන්නේ කවදද?", "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?", "කුඹුරේ වතුර කොච්චර තියන්නද?"]


@pytest.fixture
def models_dir(tmp_path: Path, base_model_dir: Path) -> Path:
    """A models directory holding the converted base model (hard links, no copying)."""
    models = tmp_path / "models"
    shutil.copytree(base_model_dir, models / BASE_MODEL_NAME, copy_function=_link)
    return models


def _link(source: str, target: str) -> None:
    Path(target).hardlink_to(source)


def test_a_delta_holds_only_the_changed_tensors_and_rebuilds_the_model(models_dir, tmp_path):
    base_dir = models_dir / BASE_MODEL_NAME
    tuned = SentenceTransformer(str(base_dir), device="cpu")
    layer = tuned[0].auto_model.encoder.layer[-1]
    with torch.no_grad():
        layer.output.dense.weight.add_(0.02 * torch.randn_like(layer.output.dense.weight))
        layer.output.dense.bias.add_(0.02)
    tuned_dir = save_version(tuned, models_dir, "ft-test")

    delta = tmp_path / "delta.npz"
    written = export_delta(tuned_dir, base_dir, delta, info={"thresholds": {"answer": 0.7}})
    assert written == layer.output.dense.weight.numel() + layer.output.dense.bias.numel()
    assert read_delta_info(delta)["thresholds"] == {"answer": 0.7}
    assert delta.stat().st_size < written / 2  # 3 bits a weight, compressed

    rebuilt = apply_delta(base_dir, delta)
    original = SentenceTransformer(str(base_dir), device="cpu")
    want = tuned.encode(SENTENCES, prompt="query: ", normalize_embeddings=True)
    got = rebuilt.encode(SENTENCES, prompt="query: ", normalize_embeddings=True)
    untuned = original.encode(SENTENCES, prompt="query: ", normalize_embeddings=True)
    rebuilt_error = 1 - np.sum(want * got, axis=1)
    base_error = 1 - np.sum(want * untuned, axis=1)
    assert np.all(rebuilt_error < base_error / 5)  # the delta carries the change, not noise
    with pytest.raises(ValueError, match="does not differ"):
        export_delta(base_dir, base_dir, tmp_path / "empty.npz")
    with pytest.raises(ValueError, match="not an agribot model delta"):
        np.savez(tmp_path / "other.npz", weights=np.zeros(3))
        read_delta_info(tmp_path / "other.npz")


@pytest.mark.slow
def test_the_bundled_model_scores_on_test_what_its_delta_and_the_readme_say(
    base_model_dir, eval_cache
):
    """The shipped model on the shipped bank as a fresh install answers with it (int8, at
    the tuning chosen on dev for it): the test split's figures are the ones recorded with
    the delta, they stay near the targets, and within half a point of float32's recorded
    acc@1 and answered precision, the rule int8 shipped by. (`agribot eval --precision
    float32` reproduces float32's: not run here, to keep the suite's time.)

    Precision is calibrated on dev for 0.95 (the lower end of a 90% interval); v3 scores
    0.948 on test, a miss the README reports, so the guard here is 0.94. Out-of-domain
    rejection has its own floor on dev since v3, so its guard rose from 0.95 to 0.97."""
    info = read_delta_info(TUNED_DELTA)
    models_dir = base_model_dir.parent  # kept between runs, shared with tests/test_examples.py
    path = ensure_tuned_model(models_dir, show_progress=False)
    assert ensure_tuned_model(models_dir) == path  # built once
    precision = "int8"
    thresholds, fusion = shipped_tuning(info, precision)
    encoder = Encoder.load(
        path, TUNED_MODEL_NAME, backend="onnx", serving=True, precision=precision
    )
    assert encoder.precision == precision
    report = evaluate(
        encoder, BUNDLED_BANK, BUNDLED_EVAL, thresholds, fusion=fusion, cache=eval_cache
    ).report
    assert report.split == "test"
    recorded = info["eval_int8"]["test"]
    for figure in ("acc_at_1", "answered_precision", "coverage", "ood_rejection"):
        assert getattr(report, figure) == pytest.approx(recorded[figure], abs=0.006), figure
    assert report.answered_precision >= 0.94
    assert report.ood_rejection >= 0.97
    float32 = info["eval"]["test"]
    for figure in ("acc_at_1", "answered_precision"):
        assert recorded[figure] >= float32[figure] - 0.005, figure
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{recorded['acc_at_1']:.3f}" in readme and f"{recorded['coverage']:.3f}" in readme


def test_a_fresh_install_answers_with_the_tuned_model_and_can_roll_back_to_the_base(
    models_dir, database_url
):
    settings = Settings(data_dir=models_dir.parent, database_url=database_url)
    engine, session_factory = open_database(settings)
    try:
        resolved = resolve_model(settings, session_factory)
        info = read_delta_info(TUNED_DELTA)
        assert resolved.model_id == TUNED_MODEL_NAME
        assert resolved.precision == "int8"  # calibrated for it, so answered in it
        assert resolved.thresholds.answer == info["tuning"]["int8"]["answer"]
        shipped_confidence = Confidence.from_dict(info["tuning"]["int8"]["confidence"])
        assert resolved.thresholds.confidence == shipped_confidence is not None
        [listed] = [v for v in list_models(session_factory) if v.name == TUNED_MODEL_NAME]
        float32_confidence = info["tuning"]["confidence"]["threshold"]
        assert listed.confidence == (float32_confidence, shipped_confidence.threshold)
        float32 = SimpleNamespace(precision="float32")  # an encoder where int8 cannot run
        assert resolved.tuned_for(float32)[0].answer == info["thresholds"]["answer"]
        with session_factory() as session:
            base = registry.get_version(session, BASE_MODEL_NAME)
            assert registry.get_version(session, TUNED_MODEL_NAME).parent == base.name
        assert resolve_model(settings, session_factory).model_id == TUNED_MODEL_NAME

        # An install registered before int8 was shipped gets its tuning on the next start,
        # and keeps a float32 tuning of its own.
        with session_factory() as session:
            tuned = registry.get_version(session, TUNED_MODEL_NAME)
            tuned.tuning = {"margin": 0.05, "chit_chat": 0.3}
            session.commit()
        upgraded = resolve_model(settings, session_factory)
        assert (upgraded.precision, upgraded.thresholds.answer) == (
            "int8",
            info["tuning"]["int8"]["answer"],
        )
        with session_factory() as session:
            tuned = registry.get_version(session, TUNED_MODEL_NAME)
            assert tuned.tuning["margin"] == 0.05 and tuned.tuning["int8"]
            # and one calibrated on an earlier int8 recipe's vectors gets this recipe's
            tuned.tuning = {**tuned.tuning, "int8": {"answer": 0.5, "suggest": 0.4}}
            session.commit()
        shipped = info["tuning"]["int8"]["answer"]
        assert resolve_model(settings, session_factory).thresholds.answer == shipped

        # An install tuned before the confidence model shipped gets it where its fusion
        # weights are the ones it was fitted with, and not where they are its own.
        with session_factory() as session:
            tuned = registry.get_version(session, TUNED_MODEL_NAME)
            before = {k: v for k, v in info["tuning"].items() if k not in ("confidence", "int8")}
            own = {**before, "lexical_weight": 0.1}
            int8 = {k: v for k, v in info["tuning"]["int8"].items() if k != "confidence"}
            tuned.tuning = {**before, "int8": int8}
            session.commit()
        assert resolve_model(settings, session_factory).thresholds.confidence == shipped_confidence
        with session_factory() as session:
            tuned = registry.get_version(session, TUNED_MODEL_NAME)
            assert tuned.tuning["confidence"] == info["tuning"]["confidence"]
            tuned.tuning = {**own, "int8": {**int8, "lexical_weight": 0.1}}
            session.commit()
        assert resolve_model(settings, session_factory).thresholds.confidence is None

        version, rolled_from = rollback(session_factory)
        assert (version.name, rolled_from) == (BASE_MODEL_NAME, TUNED_MODEL_NAME)
    finally:
        engine.dispose()


def test_model_bootstrap_builds_both_bundled_models(models_dir, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import cli

    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(models_dir.parent))
    result = CliRunner().invoke(cli, ["model", "bootstrap"])
    assert result.exit_code == 0, result.output
    assert "base model ready" in result.output and "tuned model ready" in result.output
    assert "int8 graph ready" in result.output  # the bundled model is calibrated for it
    assert (models_dir / TUNED_MODEL_NAME / "modules.json").is_file()
