from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy

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
    if mode in (OnDuplicate.ERROR, OnDuplicate.FAIL, OnDuplicate.MERGE):
        # merge refuses line 2 (its answer changed) and folds in line 3 (same answer)
        with pytest.raises(ImportRejected) as caught:
            importer.import_rows(session, rows, on_duplicate=mode)
        refused = [2] if mode is OnDuplicate.MERGE else [2, 3]
        assert [error.line for error in caught.value.errors] == refused
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


ZONED_CSV = (
    "question,answer,alternates,topic,source,zone,review_by\n"
    "යූරියා කීයද?,කලාපය අනුව වෙනස්.,යූරියා කිලෝ කීයද | යූරියා ප්‍රමාණය,fertilizer,D3,,\n"
    "යූරියා කීයද?,හෙක්ටයාරයකට කි.ග්‍රෑ. 140.,,,D3,wet,2027-03-31\n"
    "යූරියා කීයද?,කෘෂිකර්ම උපදේශක නිලධාරී අහන්න.,,,D201,dry,\n"
    "සහනාධාරය කීයද?,හෙක්ටයාරයකට රු. 25000.,සහනාධාරය | පොහොර සල්ලි,subsidy,N12,,2026-03-31\n"
)


def test_zone_rows_become_answers_of_one_pair_and_export_back(session, tmp_path):
    rows = importer.read_bank_file(write(tmp_path, "zoned.csv", ZONED_CSV))
    assert [(r.question, len(r.variants)) for r in rows] == [("යූරියා කීයද?", 2), ("සහනාධාරය කීයද?", 0)]
    importer.import_rows(session, rows)
    session.commit()
    pair = bank.find_pair_by_question(session, "යූරියා ප්‍රමාණය")
    assert {v.zone: v.answer for v in pair.variants} == {
        "wet": "හෙක්ටයාරයකට කි.ග්‍රෑ. 140.",
        "dry": "කෘෂිකර්ම උපදේශක නිලධාරී අහන්න.",
    }
    assert bank.answer_for_zone(pair, "dry") == ("කෘෂිකර්ම උපදේශක නිලධාරී අහන්න.", "D201")
    assert bank.answer_for_zone(pair, "intermediate") == ("කලාපය අනුව වෙනස්.", "D3")
    assert [v.review_by.isoformat() for v in pair.variants if v.review_by] == ["2027-03-31"]
    out = tmp_path / "out.csv"
    importer.write_bank_file(bank.list_pairs(session), out)
    again = importer.read_bank_file(out)
    assert [(r.question, sorted(v.zone for v in r.variants)) for r in again] == [
        ("යූරියා කීයද?", ["dry", "wet"]),
        ("සහනාධාරය කීයද?", []),
    ]
    assert again[1].review_by.isoformat() == "2026-03-31"


def test_bad_zones_and_dates_are_reported_by_line(tmp_path):
    content = ZONED_CSV + (
        "යූරියා කීයද?,අනෙක්.,,,D3,wet,\n"  # line 6: a second wet row
        "වතුර කීයද?,සෙ.මී. 5.,,,D10,coastal,\n"  # line 7: no such zone
        "පොහොර කවදද?,සති 2.,,,D3,,31/03/2026\n"  # line 8: not an ISO date
        "බණ්ඩි කීයද?,කි.ග්‍රෑ. 50.,,,D3,dry,\n"  # line 9: a zone row with no general row
    )
    with pytest.raises(ImportRejected) as caught:
        importer.read_bank_file(write(tmp_path, "bad.csv", content))
    assert [error.line for error in caught.value.errors] == [6, 7, 8, 9]
    assert "repeats line 3" in caught.value.errors[0].message
    assert "general row" in caught.value.errors[3].message


def test_merge_folds_agreeing_repeats_and_refuses_conflicts(tmp_path):
    content = GOOD_CSV + (
        "බීජ පොඟවන්නේ කොහොමද ?,පැය 24 ක් පොඟවන්න.,වී ඇට පොඟවන්නේ,\n"  # 4: agrees
        "යූරියා කීයද?,කි.ග්‍රෑ. 100 ක්.,,\n"  # 5: disagrees
    )
    path = write(tmp_path, "repeats.csv", content)
    with pytest.raises(ImportRejected) as caught:
        importer.read_bank_file(path, on_duplicate=OnDuplicate.MERGE)
    assert [(e.line, "line 3" in e.message) for e in caught.value.errors] == [(5, True)]
    agreeing = write(tmp_path, "agreeing.csv", GOOD_CSV + content.splitlines()[3] + "\n")
    [soak, _] = importer.read_bank_file(agreeing, on_duplicate=OnDuplicate.MERGE)
    assert soak.merged_lines == [4] and "වී ඇට පොඟවන්නේ" in soak.alternates
    skipped = importer.read_bank_file(path, on_duplicate=OnDuplicate.SKIP)
    assert [r.merged_lines for r in skipped] == [[4], [5]]
    with pytest.raises(ImportRejected):
        importer.read_bank_file(path)  # fail is the default


def test_export_defuses_spreadsheet_formulas(session, tmp_path):
    bank.add_pair(session, '=HYPERLINK("http://x","click")', "+1 call me", ["@admin", "-ok"])
    session.commit()
    text = importer.bank_csv_bytes(bank.list_pairs(session)).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+1 call me" in text and "'@admin" in text
    assert ",=" not in text and ",+" not in text


def test_a_json_nesting_bomb_is_a_bad_line_not_a_crash(tmp_path):
    content = "[" * 200_000 + "\n"
    with pytest.raises(ImportRejected) as caught:
        importer.read_bank_file(write(tmp_path, "bomb.jsonl", content))
    assert caught.value.errors[0].line == 1


def test_rows_asking_an_earlier_rows_alternate_are_duplicates_of_that_pair(session):
    """The file reader refuses such rows; rows built in code meet the same rule here."""
    rows = [
        importer.PairRow(2, "බීජ පොඟවන්නේ කොහොමද?", "පැය 24 ක් පොඟවන්න.", ["වී පොඟවන හැටි"]),
        importer.PairRow(3, "වී පොඟවන හැටි", "වෙනත් පිළිතුරක්"),
    ]
    report = importer.import_rows(session, rows)
    session.commit()
    [pair] = bank.list_pairs(session)
    assert report.added == 1
    assert report.duplicates == [(3, pair.id)]


def test_an_update_frees_the_alternates_it_drops_for_later_rows(session, tmp_path):
    importer.import_rows(session, importer.read_bank_file(write(tmp_path, "a.csv", GOOD_CSV)))
    session.commit()
    content = (
        "question,answer,alternates\n"
        "බීජ පොඟවන්නේ කොහොමද?,පැය 24 ක් පොඟවන්න.,බිත්තර වී පොඟවන්නේ\n"  # drops one
        "වී පොඟවන හැටි,අලුත් පිළිතුර,\n"  # the dropped alternate, now a pair of its own
    )
    rows = importer.read_bank_file(write(tmp_path, "b.csv", content))
    report = importer.import_rows(session, rows, on_duplicate=OnDuplicate.UPDATE)
    session.commit()
    assert (report.updated, report.added) == (1, 1)
    assert bank.find_pair_by_question(session, "වී පොඟවන හැටි").answer == "අලුත් පිළිතුර"


def test_a_large_import_reads_the_bank_once_not_per_row(session, engine, tmp_path):
    """Two look-ups and a flush per row made a 100,000-row import take most of an hour.

    (SQLite still inserts row by row: it cannot tie batched RETURNING ids to their rows.)
    """
    lines = ["question,answer,alternates"] + [
        f"ප්‍රශ්නය {n},පිළිතුර {n},වෙනත් විදිහ {n} | තවත් විදිහ {n}" for n in range(1500)
    ]
    rows = importer.read_bank_file(write(tmp_path, "big.csv", "\n".join(lines) + "\n"))
    statements: list[str] = []
    sqlalchemy.event.listen(
        engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    report = importer.import_rows(session, rows)
    session.commit()
    assert report.added == 1500 and len(report.pair_ids) == len(set(report.pair_ids)) == 1500
    assert bank.count_pairs(session) == 1500
    reads = [  # pg_notify announces the import's bank revision: one call, not a read
        s for s in statements if s.lstrip().upper().startswith("SELECT") and "pg_notify" not in s
    ]
    assert len(reads) <= 2, f"{len(reads)} SELECTs for 1,500 rows"
    if engine.dialect.name == "postgresql":
        assert len(statements) < 20, f"{len(statements)} statements for 1,500 rows"
