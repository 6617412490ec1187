"""A promoted model is calibrated for int8 on dev, and kept in int8 only where it holds up."""

from __future__ import annotations

from dataclasses import replace

from bot.config import Settings
from bot.retrieval.base_model import BASE_MODEL_NAME
from bot.retrieval.int8 import VECTORS_TAG
from bot.service.runtime import model_precision, model_tuning
from bot.service.tuning import tune_and_report
from bot.storage import registry
from bot.storage.embeddings import count_vectors
from bot.training.int8_tuning import calibrate_int8
from bot.training.promotion import list_models
from tests.conftest import DATA, SMALL_BANK

QUERIES = DATA / "eval_split.jsonl"


def test_int8_is_kept_only_within_a_point_of_float32_on_dev(
    session_factory, base_model_dir, encoder, eval_cache, tmp_path
):
    from bot.storage.importer import import_rows, read_bank_file

    with session_factory() as session:
        registry.register(session, BASE_MODEL_NAME, str(base_model_dir))
        import_rows(session, read_bank_file(SMALL_BANK))
        session.commit()
    float_tuning, _ = tune_and_report(encoder, SMALL_BANK, QUERIES, cache=eval_cache)
    float_dev = float_tuning.dev
    assert float_dev is not None
    args = (session_factory, BASE_MODEL_NAME, base_model_dir)

    # a float32 two points better than int8 can be (this small eval has few queries)
    better = replace(float_dev, acc_at_1=float_dev.acc_at_1 + 0.02)
    refused = calibrate_int8(*args, better, SMALL_BANK, QUERIES, cache=eval_cache)
    assert not refused.kept and refused.tuning is not None
    assert any("acc_at_1" in reason for reason in refused.reasons)
    settings = Settings(data_dir=tmp_path)
    with session_factory() as session:
        version = registry.get_version(session, BASE_MODEL_NAME)
        assert "int8" not in (version.tuning or {})
        assert model_precision(settings, version) == "float32"

    kept = calibrate_int8(*args, float_dev, SMALL_BANK, QUERIES, cache=eval_cache)
    assert kept.kept, kept.reasons
    assert kept.tuning is not None and kept.tuning.dev is not None
    assert kept.tuning.dev.acc_at_1 >= float_dev.acc_at_1 - 0.01
    with session_factory() as session:
        version = registry.get_version(session, BASE_MODEL_NAME)
        assert model_precision(settings, version) == "int8"
        thresholds, fusion = model_tuning(settings, version, "int8")
        assert (thresholds, fusion) == (kept.tuning.thresholds, kept.tuning.fusion)
        # the bank is cached in int8, so a bot following the registry encodes nothing
        assert count_vectors(session, f"{BASE_MODEL_NAME}@{VECTORS_TAG}") > 0
    [listed] = list_models(session_factory)
    assert listed.int8_thresholds == (kept.tuning.thresholds.answer, kept.tuning.thresholds.suggest)
    with session_factory() as session:  # a tuning of an earlier int8 recipe is not listed
        version = registry.get_version(session, BASE_MODEL_NAME)
        version.tuning = {**version.tuning, "int8": {**version.tuning["int8"], "recipe": 1}}
        session.commit()
    [listed] = list_models(session_factory)
    assert listed.int8_thresholds is None


def test_without_an_eval_file_nothing_is_calibrated(session_factory, base_model_dir, tmp_path):
    result = calibrate_int8(
        session_factory,
        BASE_MODEL_NAME,
        base_model_dir,
        None,
        SMALL_BANK,
        tmp_path / "missing.jsonl",
        cache=None,
    )
    assert not result.kept and result.reasons == ["no eval file to calibrate int8 on"]
