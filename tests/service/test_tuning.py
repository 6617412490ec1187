"""Fusion, margin and calibration chosen on dev, with the real model on a small bank."""

from __future__ import annotations

import json

import pytest

from bot.errors import ModelVersionNotFound
from bot.retrieval.decision import Decision, Thresholds
from bot.retrieval.hybrid import Fusion
from bot.service import tuning
from bot.service.answering import Question
from bot.service.recalibration import held_out_phrasings, recalibrate
from bot.storage import registry
from tests.conftest import DATA, SMALL_BANK

SPLIT_EVAL = DATA / "eval_split.jsonl"


def test_tuning_looks_at_dev_only(encoder, tmp_path):
    """Scrambling the test split's labels changes nothing that is chosen."""
    lines = [json.loads(line) for line in SPLIT_EVAL.read_text(encoding="utf-8").splitlines()]
    answers = [line["answer"] for line in lines if line["answer"]]
    for line in lines:
        if line["split"] == "test" and line["answer"]:
            line["answer"] = answers[0]  # wrong on purpose
    scrambled = tmp_path / "scrambled.jsonl"
    scrambled.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    first = tuning.tune(encoder, SMALL_BANK, SPLIT_EVAL)
    second = tuning.tune(encoder, SMALL_BANK, scrambled)
    assert (first.thresholds, first.fusion) == (second.thresholds, second.fusion)
    assert first.dev is not None and first.dev.split == "dev"
    assert first.thresholds.suggest <= first.thresholds.answer
    assert set(first.to_registry()) == {"margin", "chit_chat", "answer_weight", "lexical_weight"}


def test_the_chosen_weights_are_the_best_on_dev(encoder):
    with tuning.indexed_bank(encoder, SMALL_BANK, tuning.DEFAULT_THRESHOLDS) as bank:
        scores = tuning.dev_scores(bank.state, tuning.read_queries(SPLIT_EVAL, "dev"))
    chosen = tuning.choose_fusion(scores)
    hits = {
        fusion: sum(r.rank == 1 for r in tuning.rank_answers(scores, fusion))
        for fusion in (Fusion(a, b) for a in tuning.ANSWER_WEIGHTS for b in tuning.LEXICAL_WEIGHTS)
    }
    assert hits[chosen] == max(hits.values())


def test_small_talk_is_answered_briefly_and_never_queued(make_services):
    services = make_services(chit_chat_threshold=0.9)
    for text in ("ස්තූතියි සර්", "🙏", "???", "ආයුබෝවන්"):
        reply = services.answerer.answer(Question(text, chat_id=77))
        assert reply.decision is Decision.CHIT_CHAT, text
        assert reply.small_talk is not None and reply.small_talk.reply
        assert reply.queue_id is None
    paddy = services.answerer.answer(Question("බිත්තර වී පොඟවන්න ඕන කොච්චර වෙලාවක්ද?"))
    assert paddy.decision is Decision.ANSWER


def test_recalibration_after_a_big_import_is_never_laxer(make_services, tmp_path, caplog):
    caplog.set_level("INFO", logger="bot.service.recalibration")
    services = make_services(answer_threshold=None, suggest_threshold=None)
    before = services.answerer.state.thresholds
    assert held_out_phrasings(services.answerer.state)  # the bank's alternates, asked again
    rows = "question,answer,alternates\n" + "".join(
        f"ප්‍රශ්නය {n} ගැන කියන්න,පිළිතුර {n},ප්‍රශ්නය {n} මොකක්ද | {n} ගැන විස්තර\n" for n in range(10)
    )
    path = tmp_path / "more.csv"
    path.write_text(rows, encoding="utf-8")
    services.bank.import_file(path)
    assert "re-calibrated on" in caplog.text  # 10 new pairs on 13: more than a tenth
    after = services.answerer.state.thresholds
    assert after.answer >= before.answer and after.margin >= before.margin
    again = recalibrate(services.answerer.state, ["පොල් ගහට පොහොර කවදද"])
    assert again.answer >= after.answer


def test_the_ablation_switches_each_part_on_in_turn(encoder):
    from bot.service.ablation import STEPS, markdown_table, run_ablation

    rows = run_ablation(encoder, SMALL_BANK, SPLIT_EVAL)
    assert [row.name for row in rows] == [name for name, _ in STEPS]
    dense = rows[0]
    assert (dense.dev.answer_weight, dense.dev.lexical_weight, dense.dev.margin) == (0, 0, 0)
    assert rows[1].dev.answer_weight == 0 and rows[2].dev.margin == 0
    assert all(row.dev.split == "dev" and row.test.split == "test" for row in rows)
    table = markdown_table("m", rows)
    assert table.count("\n") == len(rows) + 1 and "+ English terms as Sinhala" in table


def test_saved_tuning_becomes_the_registered_versions_own(session_factory):
    with session_factory() as session:
        registry.register(session, "ft-test", "/models/ft-test")
        session.commit()
    chosen = tuning.Tuning(Thresholds(0.91, 0.87, margin=0.02), Fusion(0.1, 0.3), None)
    tuning.save_tuning(session_factory, "ft-test", chosen)
    with session_factory() as session:
        version = registry.get_version(session, "ft-test")
        assert (version.answer_threshold, version.suggest_threshold) == (0.91, 0.87)
        assert version.tuning == chosen.to_registry()


def test_saving_tuning_for_an_unregistered_model_is_refused(session_factory):
    chosen = tuning.Tuning(Thresholds(0.91, 0.87), Fusion(), None)
    with pytest.raises(ModelVersionNotFound, match="not registered; nothing saved"):
        tuning.save_tuning(session_factory, "/models/somewhere", chosen)
