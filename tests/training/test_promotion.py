"""Promotion, hot swap, rollback and restart with the real base model and one trained version."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.errors import ModelNotFound
from bot.retrieval.base_model import BASE_MODEL_NAME
from bot.retrieval.decision import Thresholds
from bot.retrieval.hybrid import Fusion
from bot.retrieval.int8 import VECTORS_TAG
from bot.retrieval.onnx_backend import SPLIT_FILE
from bot.retrieval.serving_model import serving_path
from bot.service.answering import Question, query_views
from bot.storage import registry
from bot.storage.embeddings import count_vectors
from bot.training.promotion import activate_version, list_models, register_version, rollback

QUESTIONS = [
    "යූරියා දාන්නේ කවදද",
    "පොහොර කීයක් දාන්නද",
    "කොළ කහ වෙලා මොකද දාන්නේ",
    "TSP කවදද යොදන්නේ",
    "කාබනික පොහොර හොඳද",
    "MOP කොච්චර ඕනද",
]


def add_trained(services, trained) -> str:
    """Register the session's trained model in this test's database."""
    with services.session_factory() as session:
        register_version(
            session,
            trained.name,
            trained.path,
            parent=BASE_MODEL_NAME,
            metrics={"after": trained.after.to_dict()},
            thresholds=trained.after.thresholds,
            fusion=trained.after.fusion,
            notes="",
        )
        session.commit()
    return trained.name


def expected_candidates(state, reply) -> list[tuple[int, float]]:
    """What `state` (one model and its index) gives for the reply's text, computed afresh,
    with the same views of it the answerer searches ("TSP" is searched as Sinhala too)."""
    texts, owners = query_views([reply.normalized], [reply.normalized])
    vectors = state.encoder.encode_queries(texts)
    [matches] = state.index.search_many(vectors, texts, owners, k=10, fusion=state.fusion)
    return [(c.pair_id, c.score) for c in state.candidates(matches)]


@pytest.fixture
def encodings(monkeypatch) -> list[int]:
    """How many bank texts get encoded (not read from the cache) from now on."""
    from bot.service import indexing

    stored: list[int] = []
    original = indexing.store_vectors

    def spy(session, model_id, vectors):
        stored.append(len(vectors))
        return original(session, model_id, vectors)

    monkeypatch.setattr(indexing, "store_vectors", spy)
    return stored


# The swap is in memory: one database backend is enough for it.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_swap_mid_stream_answers_every_question_with_one_consistent_model(make_services, trained):
    services = make_services()
    name = add_trained(services, trained)
    activate_version(services.session_factory, name)  # caches the bank, then activates
    old_state = services.answerer.state
    replies, errors = [], []
    swapped = threading.Event()

    def ask(worker: int) -> None:
        try:
            after_swap = 0
            while after_swap < 3:
                question = Question(QUESTIONS[len(replies) % len(QUESTIONS)], chat_id=worker)
                replies.append(services.answerer.answer(question))
                after_swap += swapped.is_set()
                time.sleep(0.02)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    assert services.reload_model() == name
    swapped.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    new_state = services.answerer.state
    states = {old_state.model_id: old_state, new_state.model_id: new_state}
    assert set(states) == {BASE_MODEL_NAME, name}
    assert {reply.model_id for reply in replies} == set(states)  # both models answered
    expected = {}
    for reply in replies:
        key = (reply.model_id, reply.normalized)
        if key not in expected:
            expected[key] = expected_candidates(states[reply.model_id], reply)
        want = expected[key]
        got = [(c.pair_id, c.score) for c in reply.candidates]
        assert [p for p, _ in got] == [p for p, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-4)
    assert new_state.thresholds.answer == trained.after.thresholds.answer


def test_rollback_restores_the_previous_model_and_its_embeddings(make_services, trained, encodings):
    services = make_services()
    base_replies = [services.answerer.answer(Question(q)) for q in QUESTIONS]
    name = add_trained(services, trained)
    activate_version(services.session_factory, name)
    services.reload_model()
    assert services.answerer.state.model_id == name
    encodings.clear()

    version, rolled_from = rollback(services.session_factory)
    assert (version.name, rolled_from) == (BASE_MODEL_NAME, name)
    assert services.reload_model() == BASE_MODEL_NAME
    assert sum(encodings) == 0  # the base model's vectors were still cached
    again = [services.answerer.answer(Question(q)) for q in QUESTIONS]
    for before, after in zip(base_replies, again, strict=True):
        assert after.model_id == BASE_MODEL_NAME
        assert [c.pair_id for c in after.candidates] == [c.pair_id for c in before.candidates]
        assert np.allclose(
            [c.score for c in after.candidates], [c.score for c in before.candidates], atol=1e-5
        )
    with services.session_factory() as session:
        assert registry.get_version(session, name).status == "candidate"
        assert registry.active_version(session).name == BASE_MODEL_NAME


def test_registry_and_cache_survive_a_restart(make_services, trained, trained_encoder, encodings):
    services = make_services()
    name = add_trained(services, trained)
    activate_version(services.session_factory, name, encoder=trained_encoder)
    assert (serving_path(trained.path) / SPLIT_FILE).is_file()  # built here: the bot needs no torch
    with services.session_factory() as session:
        cached = count_vectors(session, name)
    state = services.answerer.state
    # phrasings, answers and small-talk examples, all cached before the switch
    assert cached == len(state.index) + len(state.pairs) + len(state.chit_chat.index)
    services.close()
    encodings.clear()

    reopened = make_services(loaded=False)  # resolves the model from the registry
    assert reopened.answerer.state.model_id == name
    assert sum(encodings) == 0  # nothing re-encoded
    assert reopened.answerer.answer(Question(QUESTIONS[0])).model_id == name


def test_a_model_directory_deleted_by_hand_is_shown_missing_and_not_activated(
    make_services, trained, tmp_path, monkeypatch
):
    services = make_services()
    copy = tmp_path / "copy-of-trained"
    shutil.copytree(trained.path, copy)
    with services.session_factory() as session:
        register_version(
            session,
            "ft-doomed",
            copy,
            parent=BASE_MODEL_NAME,
            metrics={},
            thresholds=Thresholds(0.9, 0.8),
            fusion=Fusion(),
            notes="",
        )
        session.commit()
    shutil.rmtree(copy)
    [missing] = [v for v in list_models(services.session_factory) if v.name == "ft-doomed"]
    assert missing.missing
    with pytest.raises(ModelNotFound, match=r"cannot activate ft-doomed: .* is missing"):
        activate_version(services.session_factory, "ft-doomed")
    settings = services.settings
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AGRIBOT_DATABASE_URL", settings.database_url)
    listed = CliRunner().invoke(cli, ["model", "list"])
    assert listed.exit_code == 0, listed.output
    assert "ft-doomed" in listed.output and "MISSING" in listed.output
    refused = CliRunner().invoke(cli, ["model", "activate", "ft-doomed"])
    assert refused.exit_code == 1 and "is missing" in refused.output
    with services.session_factory() as session:
        assert registry.active_version(session).name == BASE_MODEL_NAME


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_running_bot_follows_activate_and_rollback_from_the_shell(
    make_services, trained, monkeypatch
):
    services = make_services(loaded=False)  # as `agribot serve` opens them
    name = add_trained(services, trained)
    assert not services.active_model_changed()
    settings = services.settings
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AGRIBOT_DATABASE_URL", settings.database_url)

    activated = CliRunner().invoke(cli, ["model", "activate", name])
    assert activated.exit_code == 0, activated.output
    assert services.active_model_changed()
    assert services.reload_model() == name
    assert not services.active_model_changed()
    assert services.answerer.answer(Question(QUESTIONS[0])).model_id == name

    rolled = CliRunner().invoke(cli, ["model", "rollback"])
    assert rolled.exit_code == 0, rolled.output
    assert services.active_model_changed()
    assert services.reload_model() == BASE_MODEL_NAME


def test_the_promoted_model_was_calibrated_for_int8_before_it_was_activated(trained):
    from bot.storage.db import make_engine, make_session_factory

    assert trained.promoted and trained.int8 is not None
    assert trained.int8.tuning is not None and trained.int8.tuning.dev is not None
    engine = make_engine(trained.database_url)
    try:
        with make_session_factory(engine)() as session:
            version = registry.get_version(session, trained.name)
            int8 = (version.tuning or {}).get("int8")
            cached = count_vectors(session, f"{trained.name}@{VECTORS_TAG}")
    finally:
        engine.dispose()
    # kept in int8 exactly when its dev figures held up, with the bank cached for it
    assert bool(int8) == trained.int8.kept and (cached > 0) == trained.int8.kept
    if trained.int8.kept:
        assert int8["answer"] == trained.int8.tuning.thresholds.answer


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_running_bot_follows_an_int8_calibration_and_settles_where_int8_fails(
    make_services, monkeypatch
):
    from bot.retrieval import int8
    from bot.service.tuning import Tuning, save_tuning

    services = make_services(loaded=False)  # as `agribot serve` opens them
    assert services.answerer.state.encoder.precision == "float32"  # not calibrated yet
    assert not services.active_model_changed()
    chosen = Tuning(Thresholds(0.9, 0.8, margin=0.01), Fusion(0.1, 0.2), None)
    save_tuning(services.session_factory, BASE_MODEL_NAME, chosen, "int8")
    assert services.active_model_changed()
    assert services.reload_model() == BASE_MODEL_NAME
    state = services.answerer.state
    assert (state.encoder.precision, state.thresholds) == ("int8", chosen.thresholds)
    assert not services.active_model_changed()
    assert services.answerer.answer(Question(QUESTIONS[0])).model_id == BASE_MODEL_NAME

    def refuse(serving_dir):  # type: ignore[no-untyped-def]
        raise OSError("no room")

    # A restart where int8 cannot be made answers in float32 at float32's thresholds, and
    # does not reload for ever trying to get int8.
    monkeypatch.setattr(int8, "ensure_int8_graph", refuse)
    services = make_services(loaded=False)
    state = services.answerer.state
    assert state.encoder.precision == "float32" and state.thresholds != chosen.thresholds
    assert not services.active_model_changed()
