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


OFF_TOPIC = (
    "හෙට කොළඹ කාලගුණය කොහොමද",
    "පොල් ගස් වලට පොහොර දාන්නේ කොහොමද",
    "තේ දළු කඩන්නේ කොයි වෙලාවටද",
    "එළදෙනට කිරි වැඩියෙන් ගන්න කන්න දෙන්නේ මොනවද",
    "බස් එක කීයටද කොළඹ යන්නේ",
    "ළමයාට උණ නම් බෙහෙත් මොනවද",
    "ජංගම දුරකථනය චාජ් වෙන්නේ නැත්තේ ඇයි",
    "ගෙදර වහලය කාන්දු වෙනවා හදන්නේ කොහොමද",
    "රට යන්න පාස්පෝට් ගන්නේ කොහොමද",
    "කෙසෙල් ගහට පොහොර දාන්නේ කවදද",
)


def test_the_confidence_model_is_fitted_on_dev_and_kept_with_the_tuning(
    encoder, session_factory, tmp_path
):
    """A dev split big enough to fit it: the small bank's phrasings, plain and wrapped in
    a farmer's greeting, and questions about other things."""
    from bot.storage.importer import read_bank_file

    lines = []
    for row in read_bank_file(SMALL_BANK):
        for phrasing in (row.question, *row.alternates):
            for wording in (phrasing, f"ආයුබෝවන් මහත්තයා, {phrasing} කියලා දෙන්නකෝ"):
                lines.append({"query": wording, "answer": row.answer, "split": "dev"})
    for text in OFF_TOPIC:
        for wording in (text, f"අනේ මහත්තයා {text}"):
            lines.append({"query": wording, "answer": None, "slice": "ood", "split": "dev"})
    queries = tmp_path / "eval.jsonl"
    queries.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    assert len(lines) >= tuning.MIN_CONFIDENCE_QUERIES
    chosen = tuning.tune(encoder, SMALL_BANK, queries)
    confidence = chosen.thresholds.confidence
    assert confidence is not None and 0.0 < confidence.threshold <= 1.0
    assert confidence.weights[0] > 0  # a higher score makes the best pair likelier right
    assert chosen.dev is not None and chosen.dev.confidence_threshold == confidence.threshold
    assert chosen.dev.answered_precision >= 0.9 and chosen.dev.coverage > 0.5
    assert chosen.dev.ood_rejection is not None and chosen.dev.ood_rejection >= 0.9

    with session_factory() as session:
        registry.register(session, "ft-conf", "/models/ft-conf")
        session.commit()
    tuning.save_tuning(session_factory, "ft-conf", chosen)
    from bot.config import Settings
    from bot.service.runtime import model_tuning

    with session_factory() as session:
        version = registry.get_version(session, "ft-conf")
        read_back, _ = model_tuning(Settings(data_dir=tmp_path), version)
        assert read_back.confidence == confidence
        # a threshold set by hand (AGRIBOT_ANSWER_THRESHOLD) means the score alone decides
        by_hand, _ = model_tuning(Settings(data_dir=tmp_path, answer_threshold=0.9), version)
        assert by_hand.confidence is None and by_hand.answer == 0.9
    # too few dev queries to fit one: thresholds on the score alone
    assert tuning.tune(encoder, SMALL_BANK, SPLIT_EVAL).thresholds.confidence is None


def test_recalibration_keeps_the_confidence_model_and_never_lowers_its_threshold(
    make_services, session_factory, tmp_path
):
    from dataclasses import replace

    from bot.config import Settings
    from bot.retrieval.confidence import Confidence
    from bot.service.runtime import model_tuning

    services = make_services(answer_threshold=None, suggest_threshold=None)
    lax = Confidence(-11.0, (12.8, 16.0, 1.1, 0.9), threshold=0.05)
    services.answerer.set_thresholds(replace(services.answerer.state.thresholds, confidence=lax))
    state = services.answerer.state
    chosen = recalibrate(state, list(OFF_TOPIC))
    assert chosen.confidence is not None
    assert chosen.confidence.weights == lax.weights  # the fit stays; only its bar may rise
    assert chosen.confidence.threshold > lax.threshold  # 0.05 answers the off-topic ones
    strict = replace(lax, threshold=0.999)
    services.answerer.set_thresholds(replace(state.thresholds, confidence=strict))
    assert recalibrate(services.answerer.state, list(OFF_TOPIC)).confidence == strict

    with session_factory() as session:
        registry.register(session, "ft-recal", "/models/ft-recal")
        session.commit()
    tuning.save_tuning(
        session_factory, "ft-recal", tuning.Tuning(replace(state.thresholds), Fusion(), None)
    )
    with session_factory() as session:
        registry.save_recalibrated(session, "ft-recal", chosen)
        session.commit()
        version = registry.get_version(session, "ft-recal")
        followed, _ = model_tuning(Settings(data_dir=tmp_path), version)
    assert followed.confidence is not None
    assert followed.confidence.threshold == chosen.confidence.threshold


def test_recalibration_scores_off_topic_questions_as_the_bot_does(make_services):
    """Each off-topic question is scored as the bot scores it when a farmer asks it: with
    its Singlish and English-term spellings, one runner-up per answer, the normalized text
    for the confidence model; one naming another crop is declined before any score."""
    from bot.service.recalibration import out_of_domain_scores
    from bot.text.normalize import normalize

    services = make_services(answer_weight=0.1, lexical_weight=0.3)
    state = services.answerer.state
    asked = [
        "kalagune kohomada heta",  # Singlish
        "phone eka charge wenne nadda BPH",  # Latin, with an English farming term
        "ගෙදර වහලය\u200d කාන්දු වෙනවා",  # a stray zero-width joiner
        "පොල් ගහට පොහොර කවදද",  # coconut: declined
    ]
    scored = out_of_domain_scores(state, asked)
    for text, query in zip(asked, scored, strict=True):
        reply = services.answerer.answer(Question(text, chat_id=5))
        assert query.correct is None and query.text == normalize(text)
        if reply.other_crop:
            assert query.score == 0.0
            continue
        best, runner_up = (c.score for c in reply.candidates[:2])
        assert (query.score, query.runner_up) == pytest.approx((best, runner_up), abs=1e-6)
