from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import ImportRejected
from bot.storage import bank, importer
from bot.storage.importer import OnDuplicate

GOOD_CSV = (
    "question,answer,alternates,topic\n"
    "බීජ පොඟවන්නේ කොහොමද?,පැය 24 ක් පොඟවන්න.,වී පොඟවන හැටි | බිත්තර වී පොඟවන්නේ,seed_nursery\n"
    "යූරියා කීයද?,කි.ග්‍රෑ. 140 ක්.,යූරියා කිලෝ කීයද | යූරියා ප්‍රමාණය,fertilizer\n"
)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_csv_with_bom_imports_every_row(session, tmp_path):
    path = write(tmp_path, "bank.csv", "\ufeff" + GOOD_CSV)
    report = importer.import_rows(session, importer.read_bank_file(path))
    session.commit()
    assert report.added == 2
    pair = bank.find_pair_by_question(session, "යූරියා ප්‍රමාණය")
    assert pair is not None and pair.answer == "කි.ග්‍රෑ. 140 ක්."


def test_import_reports_line_and_keeps_nothing(session, tmp_path):
    content = GOOD_CSV + (
        "ප්‍රශ්නයක්,,,\n"  # line 4: empty answer
        "තවත් ප්‍රශ්නයක්,පිළිතුර\n"  # line 5: too few fields
        "\n"
        "බීජ පොඟවන්නේ කොහොමද ?,වෙනත්,,\n"  # line 7: repeats line 2
    )
    path = write(tmp_path, "bank.csv", content)
    with pytest.raises(ImportRejected) as caught:
        importer.read_bank_file(path)
    lines = [error.line for error in caught.value.errors]
    assert lines == [4, 5, 7]
    assert "answer is empty" in str(caught.value)
    assert "line 2" in caught.value.errors[2].message
    assert bank.count_pairs(session) == 0


def test_unknown_column_is_reported_on_the_header_line(tmp_path):
    path = write(tmp_path, "bank.csv", "question,anwser\nප්‍රශ්නය,පිළිතුර\n")
    with pytest.raises(ImportRejected) as caught:
        importer.read_bank_file(path)
    assert caught.value.errors[0].line == 1
    assert "missing column(s): answer" in str(caught.value)


def test_text_that_is_not_utf8_is_rejected_with_its_line(tmp_path):
    content = b"question,answer\nok,fine\n" + "bad,caf\xe9\n".encode("latin-1")
    with pytest.raises(ImportRejected) as caught:
        importer.read_bank_file(write(tmp_path, "bank.csv", content))
    assert caught.value.errors[0].line == 3


def test_jsonl_with_list_alternates_and_a_bad_line(tmp_path):
    good = {"question": "ප්‍රශ්නය", "answer": "පිළිතුර", "alternates": ["අනෙක් විදිහ"]}
    content = json.dumps(good, ensure_ascii=False) + "\n{not json}\n" + '{"question": "x"}\n'
    with pytest.raises(ImportRejected) as caught:
        importer.read_bank_file(write(tmp_path, "bank.jsonl", content))
    assert [error.line for error in caught.value.errors] == [2, 3]
    rows = importer.read_bank_file(write(tmp_path, "ok.jsonl", json.dumps(good) + "\n"))
    assert rows[0].alternates == ["අනෙක් විදිහ"]


@pytest.mark.parametrize("mode", list(OnDuplicate))
def test_duplicates_of_the_bank_are_reported_not_doubled(session, tmp_path, mode):
    path = write(tmp_path, "bank.csv", GOOD_CSV)
    importer.import_rows(session, importer.read_bank_file(path))
    session.commit()
    changed = GOOD_CSV.replace("පැය 24 ක් පොඟවන්න.", "පැය 24 ක් පිරිසිදු වතුරේ පොඟවන්න.")
    rows = importer.read_bank_file(write(tmp_path, "again.csv", changed))
    if mode is OnDuplicate.ERROR:
        with pytest.raises(ImportRejected) as caught:
            importer.import_rows(session, rows, on_duplicate=mode)
        assert [error.line for error in caught.value.errors] == [2, 3]
        return
    report = importer.import_rows(session, rows, on_duplicate=mode)
    session.commit()
    assert [line for line, _ in report.duplicates] == [2, 3]
    assert bank.count_pairs(session) == 2
    answer = bank.find_pair_by_question(session, "බීජ පොඟවන්නේ කොහොමද?").answer
    expected = "පැය 24 ක් පිරිසිදු වතුරේ පොඟවන්න." if mode is OnDuplicate.UPDATE else "පැය 24 ක් පොඟවන්න."
    assert answer == expected


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_round_trips(session, tmp_path, suffix):
    importer.import_rows(session, importer.read_bank_file(write(tmp_path, "in.csv", GOOD_CSV)))
    session.commit()
    out = tmp_path / f"out{suffix}"
    assert importer.write_bank_file(bank.list_pairs(session), out) == 2
    rows = importer.read_bank_file(out)
    assert [(r.question, r.answer, r.alternates, r.topic) for r in rows] == [
        (
            "බීජ පොඟවන්නේ කොහොමද?",
            "පැය 24 ක් පොඟවන්න.",
            ["වී පොඟවන හැටි", "බිත්තර වී පොඟවන්නේ"],
            "seed_nursery",
        ),
        ("යූරියා කීයද?", "කි.ග්‍රෑ. 140 ක්.", ["යූරියා කිලෝ කීයද", "යූරියා ප්‍රමාණය"], "fertilizer"),
    ]
