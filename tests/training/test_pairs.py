from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.storage import bank
from bot.storage.models import FeedbackKind
from bot.storage.questions import QuestionRecord, record_feedback, record_question
from bot.text.normalize import normalize
from bot.training.pairs import (
    TO_ANSWER,
    TO_QUESTION,
    RowKinds,
    build_pairs,
    collect_split,
    is_heldout,
    read_training_file,
    split_pairs,
    texts_of,
    write_training_file,
)
from tests.training.conftest import FERTILIZER_BANK

FARMER = "යූරියා දාන්නෙ කීපාරක්ද"


def ask(session, text: str, candidates: list[int]) -> int:
    record = QuestionRecord(
        raw_text=text,
        normalized_text=normalize(text),
        decision="suggest",
        candidates=[{"pair_id": p, "score": 0.9} for p in candidates],
        latency_ms=1.0,
        model_id="m",
    )
    return record_question(session, record).question_id


@pytest.fixture
def three_pairs(session):
    urea = bank.add_pair(session, "යූරියා යොදන්නේ කවදාද?", "දින 14, 28, 42 දී.", ["යූරියා කවදද"])
    tsp = bank.add_pair(session, "TSP යොදන්නේ කවදාද?", "බිම සකසන විට.", [])
    mop = bank.add_pair(session, "MOP යොදන්නේ කවදාද?", "බිම සකසන විට සහ දින 42 දී.", [])
    bank.add_phrasing(session, tsp.id, "ටීඑස්පී කවදද", origin="linked")
    session.commit()
    return urea, tsp, mop


def test_pairs_cover_questions_phrasings_and_linked_wordings(session, three_pairs):
    urea, tsp, _ = three_pairs
    rows, questions, unused = build_pairs(session, RowKinds(False, False, False))
    triples = {(r.anchor, r.positive, r.kind, r.source) for r in rows}
    q, a = normalize(urea.question), normalize(urea.answer)
    assert (q, a, TO_ANSWER, "question") in triples
    assert (normalize("යූරියා කවදද"), a, TO_ANSWER, "bank") in triples
    assert (normalize("යූරියා කවදද"), q, TO_QUESTION, "bank") in triples
    linked = normalize("ටීඑස්පී කවදද")
    assert (linked, normalize(tsp.question), TO_QUESTION, "linked") in triples
    assert len(rows) == 3 + 2 * 2  # three questions, two phrasings with two rows each
    assert set(questions) == {p.id for p in three_pairs} and unused == 0


def test_phrasings_pair_with_each_other_and_singlish_spellings_with_their_question(session):
    pair = bank.add_pair(
        session,
        "යූරියා යොදන්නේ කවදාද?",
        "දින 14, 28, 42 දී.",
        ["යූරියා කවදද", "යූරියා දාන දවස", "පොහොර කවදද"],
    )
    session.commit()
    rows, _, _ = build_pairs(session, RowKinds(farmer_variants=False))
    alternates = [normalize(p.text) for p in pair.phrasings]
    q_to_q = {(r.anchor, r.positive) for r in rows if r.source == "alternate"}
    assert q_to_q == {
        (alternates[0], alternates[1]),
        (alternates[1], alternates[2]),
        (alternates[2], alternates[0]),
    }
    singlish = [r for r in rows if r.source == "romanized"]
    assert len(singlish) == 4 and all(r.positive == normalize(pair.question) for r in singlish)
    assert all(r.anchor.isascii() and r.kind == TO_QUESTION for r in singlish)
    assert normalize(singlish[0].anchor) in (normalize(pair.question), *alternates)
    plain, _, _ = build_pairs(session, RowKinds(False, False, False))
    assert len(rows) == len(plain) + 3 + 4


def test_thumbs_up_and_chosen_suggestions_add_wordings_and_hard_negatives(session, three_pairs):
    urea, tsp, mop = three_pairs
    chosen = ask(session, FARMER, [tsp.id, urea.id, mop.id])
    record_feedback(session, FeedbackKind.CHOSE_SUGGESTION, question_id=chosen, pair_id=urea.id)
    liked = ask(session, "එම්ඕපී කවද්ද", [mop.id])
    record_feedback(session, FeedbackKind.HELPFUL, question_id=liked, pair_id=mop.id)
    disliked = ask(session, "පොහොර කවදද", [tsp.id])
    record_feedback(session, FeedbackKind.NOT_HELPFUL, question_id=disliked, pair_id=tsp.id)
    waiting = bank.add_pending_phrasing(session, urea.id, FARMER, "suggestion")
    session.commit()

    rows, _, _ = build_pairs(session)  # the chosen wording waits for an officer: no rows
    assert not [r for r in rows if r.anchor == normalize(FARMER)]
    bank.review_phrasing(session, waiting.id, approve=True)
    session.commit()

    rows, _, unused = build_pairs(session)
    farmer_rows = [r for r in rows if r.anchor == normalize(FARMER)]  # approved: a phrasing
    assert {(r.kind, r.source, r.pair_id) for r in farmer_rows} == {
        (TO_ANSWER, "suggestion", urea.id),
        (TO_QUESTION, "suggestion", urea.id),
        (TO_QUESTION, "alternate", urea.id),
    }
    # The suggestions offered but not chosen become its hard negatives, one per row.
    assert {r.negative_pair_id for r in farmer_rows} == {tsp.id, mop.id}
    for row in farmer_rows:
        wrong = tsp if row.negative_pair_id == tsp.id else mop
        expected = wrong.answer if row.kind == TO_ANSWER else wrong.question
        assert row.negative == normalize(expected)
    assert any(r.source == "helpful" and r.pair_id == mop.id for r in rows)
    # A 👎 with no right answer known for that wording cannot make a triplet yet.
    assert unused == 1


def test_split_is_by_pair_and_keeps_held_out_texts_out_of_training(session):
    from bot.storage.importer import import_rows, read_bank_file

    import_rows(session, read_bank_file(FERTILIZER_BANK))
    session.commit()
    split = collect_split(session, holdout=0.25, seed=1)
    held = set(split.heldout_pair_ids)
    assert held and len(held) < len(split.questions)
    assert {r.pair_id for r in split.heldout} == held
    assert not {r.pair_id for r in split.train} & held
    heldout_texts = texts_of(split.heldout)
    assert not texts_of(split.train) & heldout_texts
    assert split.counts["train_rows"] == len(split.train) and split.seed == 1


def test_held_out_pairs_stay_held_out_when_the_bank_grows():
    before = {p for p in range(1, 200) if is_heldout(p, 42, 0.1)}
    after = {p for p in range(1, 400) if is_heldout(p, 42, 0.1)}
    assert before == {p for p in after if p < 200}
    assert 5 < len(before) < 40
    assert before != {p for p in range(1, 200) if is_heldout(p, 43, 0.1)}


def test_negatives_from_held_out_pairs_are_dropped_from_training(session, three_pairs):
    urea, tsp, _ = three_pairs
    chosen = ask(session, FARMER, [tsp.id, urea.id])
    record_feedback(session, FeedbackKind.CHOSE_SUGGESTION, question_id=chosen, pair_id=urea.id)
    bank.add_phrasing(session, urea.id, FARMER, "suggestion")  # an officer approved it
    session.commit()
    rows, questions, _ = build_pairs(session)
    seed = next(
        s for s in range(500) if is_heldout(tsp.id, s, 0.34) and not is_heldout(urea.id, s, 0.34)
    )
    split = split_pairs(rows, questions, holdout=0.34, seed=seed)
    assert all(r.negative is None for r in split.train)
    assert any(r.negative_pair_id == tsp.id for r in rows)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_training_round_trips(session, three_pairs, tmp_path, suffix):
    urea, tsp, _ = three_pairs
    chosen = ask(session, FARMER, [tsp.id, urea.id])
    record_feedback(session, FeedbackKind.CHOSE_SUGGESTION, question_id=chosen, pair_id=urea.id)
    session.commit()
    split = collect_split(session, holdout=0.34, seed=3)
    path = tmp_path / f"pairs{suffix}"
    assert write_training_file(split, path) == len(split.train) + len(split.heldout)
    train, heldout = read_training_file(path)
    assert (train, heldout) == (split.train, split.heldout)


def test_export_training_command_writes_the_seed_card_columns(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AGRIBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("AGRIBOT_BANK_PATH", str(FERTILIZER_BANK))
    runner = CliRunner()
    assert runner.invoke(cli, ["qa", "import", "--help"]).exit_code == 0
    from bot.config import Settings
    from bot.service.runtime import open_database, seed_bundled_bank

    engine, session_factory = open_database(Settings())
    seed_bundled_bank(session_factory, FERTILIZER_BANK)
    engine.dispose()
    out = tmp_path / "train.csv"
    args = ["export-training", str(out), "--holdout", "0.25", "--split-seed", "1"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:3] == ["sentence_0", "sentence_1", "sentence_2"] and "label" in header
    train, heldout = read_training_file(out)
    assert f"exported {len(train) + len(heldout)} rows" in result.output
    # per pair: question -> answer; 3 phrasings -> answer and question; 3 Q->Q; up to 4
    # Singlish spellings and 4 made-up farmer wordings (fewer where two pairs share one)
    plain = 36 * (1 + 2 * 3 + 3)
    assert plain + 4 * 36 < len(train) + len(heldout) <= plain + 8 * 36
    bad = runner.invoke(cli, ["export-training", str(tmp_path / "x.txt")])
    assert bad.exit_code != 0 and ".csv or .jsonl" in bad.output
