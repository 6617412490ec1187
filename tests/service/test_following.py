"""Bank changes made by another process reach a running one, and the index never runs ahead
of the database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bot.cli import cli
from bot.retrieval.decision import Decision
from bot.service.answering import Question
from bot.service.bank_listener import BankListener
from bot.service.runtime import load_state

WEEDS = "වල් පැළෑටි මර්දනය කරන්නේ කවදාද?"
WEEDS_ANSWER = "වී සිටුවා සති 2-3 අතර අතින් හෝ කොනෝ වීඩරයෙන් වල් ඉවත් කරන්න."


def asked(services, text: str = WEEDS):
    return services.answerer.answer(Question(text, chat_id=11))


@pytest.fixture
def two_processes(make_services, tmp_path):
    """Two services on one database, as two replicas (or the bot and a shell) would be."""
    return make_services(data_dir=tmp_path / "one"), make_services(data_dir=tmp_path / "two")


def test_a_pair_added_edited_and_deleted_elsewhere_is_followed(two_processes):
    one, two = two_processes
    assert two.follow_bank() == 0  # nothing changed: one small query
    added = one.bank.add(WEEDS, WEEDS_ANSWER)
    assert asked(two).decision is not Decision.ANSWER  # not followed yet
    assert two.follow_bank() == 1
    assert asked(two).answer.answer == WEEDS_ANSWER

    one.bank.update(added.id, answer="සති 2 දී වල් ඉවත් කරන්න.")
    two.follow_bank()
    assert asked(two).answer.answer == "සති 2 දී වල් ඉවත් කරන්න."

    one.bank.delete(added.id)
    two.follow_bank()
    assert asked(two).decision is not Decision.ANSWER
    assert added.id not in two.answerer.state.pairs
    assert two.follow_bank() == 0


def test_a_process_does_not_index_its_own_change_twice(two_processes):
    one, two = two_processes
    one.bank.add(WEEDS, WEEDS_ANSWER)
    assert one.follow_bank() == 0
    two.bank.add("පැළ තවාන දමන්නේ කොහොමද?", "තවාන් පාත්ති මීටර 1 ක් පළලට සකසන්න.")
    one.bank.add("කොළ කහ වෙන්නේ ඇයි?", "නයිට්‍රජන් මදි නම් කොළ කහ වේ.")
    # the other process's change lies between: the next poll takes both, nothing is skipped
    assert one.follow_bank() == 2
    assert asked(one, "පැළ තවාන දමන්නේ කොහොමද?").decision is Decision.ANSWER


def test_a_model_reload_loses_no_pair_added_while_it_ran(services):
    answerer = services.answerer
    state = answerer.state
    rebuilt = load_state(
        services.session_factory, state.encoder, state.thresholds, state.fusion
    )  # the bank as it was when the reload began...
    services.bank.add(WEEDS, WEEDS_ANSWER)  # ...a pair added while it ran...
    answerer.swap(rebuilt)  # ...and the reload swaps in an index without it
    assert asked(services).decision is not Decision.ANSWER
    assert services.follow_bank() == 1
    assert asked(services).answer.answer == WEEDS_ANSWER


def test_a_failed_commit_leaves_no_pair_in_the_index(services):
    before = dict(services.answerer.state.pairs)

    def refuse(session):
        raise RuntimeError("the database went away at commit")

    event.listen(services.session_factory, "before_commit", refuse, once=True)
    with pytest.raises(RuntimeError):
        services.bank.add(WEEDS, WEEDS_ANSWER)
    assert services.answerer.state.pairs == before
    assert asked(services).decision is not Decision.ANSWER
    assert services.follow_bank() == 0


def test_a_cli_import_reaches_a_running_bot(
    make_services, database_url, base_model_dir, tmp_path, monkeypatch
):
    running = make_services()
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path / "shell"))
    monkeypatch.setenv("AGRIBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("AGRIBOT_MODEL", str(base_model_dir))
    upload = Path(tmp_path / "weeds.csv")
    upload.write_text(f"question,answer\n{WEEDS},{WEEDS_ANSWER}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["qa", "import", str(upload)])
    assert result.exit_code == 0, result.output
    assert running.follow_bank() == 1
    assert asked(running).answer.answer == WEEDS_ANSWER


def test_on_postgresql_a_listener_follows_a_change_as_it_commits(two_processes, database_url):
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    one, two = two_processes
    listener = BankListener(database_url, two.follow_bank).start()
    try:
        assert listener.listening.wait(10)
        added = one.bank.add(WEEDS, WEEDS_ANSWER)
        deadline = time.monotonic() + 2
        while added.id not in two.answerer.state.pairs and time.monotonic() < deadline:
            time.sleep(0.01)
        assert added.id in two.answerer.state.pairs  # nobody called follow_bank
        assert asked(two).answer.answer == WEEDS_ANSWER
    finally:
        listener.stop()
