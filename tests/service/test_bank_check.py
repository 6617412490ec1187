from __future__ import annotations

from datetime import date
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.service.bank_check import ERROR, WARNING, CheckedPair, check_bank, latin_terms
from bot.storage.importer import read_bank_file
from bot.storage.sources import Source, read_sources, source_line, split_codes

SOURCES = {
    "D3": Source("D3", "කෘෂිකර්ම දෙපාර්තමේන්තුව", "doa.gov.lk/..."),
    "I6": Source("I6", "ජාත්‍යන්තර වී පර්යේෂණ ආයතනය (IRRI)", "irri.org"),
}
BANK = (
    "question,answer,alternates,topic,source,zone,review_by\n"
    # 2: fine
    "වී අස්වනු නෙළන්නේ කවදාද?,කරල් 80% ක් පැසුණාම කපන්න.,"
    "ගොයම් කපන්නේ කවදද | කපන කාලය | අස්වැන්න කවදද,harvest,I6,,\n"
    # 3: an unknown source, no alternates, a Latin-only term, a stale date
    "තිප්ස් පාලනය කොහොමද?,thrips ආවොත් කුඹුරට වතුර බඳින්න.,,pests,Z9,,2020-01-01\n"
    # 4 and 5: one question spelled two ways, other numbers: a contradiction?
    "යූරියා දාන්නේ කවදාද?,සති 2 දී දාන්න.,යූරියා කවදද | පොහොර කාලය | මුල් පොහොර,fertilizer,D3,,\n"
    "යූරියා දාන්නෙ කවදද?,සති 3 දී දාන්න.,යූරියා දවස | යූරියා කාලය | යූරියා වාරය,fertilizer,D3,,\n"
    # 6 and 7: siblings, one with zone answers
    "MOP කීයද අක්කරේට?,බණ්ඩි පොහොර කලාපය අනුව.,MOP ප්‍රමාණය | බණ්ඩි කීයද | MOP කිලෝ,fertilizer,D3,,\n"
    "MOP කීයද අක්කරේට?,කි.ග්‍රෑ. 20.,,,D3,wet,\n"
    "MOP කීයද හෙක්ටයාරයට?,කි.ග්‍රෑ. 50.,MOP හෙක්ටයාරයට | බණ්ඩි හෙක්ටයාරයට | MOP ha,fertilizer,D3,,\n"
)


def findings_of(tmp_path: Path):
    path = tmp_path / "bank.csv"
    path.write_text(BANK, encoding="utf-8")
    pairs = [CheckedPair.of_row(row) for row in read_bank_file(path)]
    glossary = {"තිප්ස්": "ත්‍රිප්ස්"}
    return check_bank(pairs, SOURCES, today=date(2026, 12, 2), glossary=glossary)


def test_check_reports_each_problem_where_it_is(tmp_path):
    found = {
        (f.level, f.where, f.message.split(":")[0].split(" (")[0]) for f in findings_of(tmp_path)
    }
    assert (ERROR, "line 3", "source code 'Z9' is not in SOURCES.md") in found
    assert (WARNING, "line 3", "no alternate phrasings") in found
    assert (WARNING, "line 3", "Latin-only term(s) without a Sinhala name") in found
    assert (WARNING, "line 3", "review_by 2020-01-01 has passed") in found
    assert (WARNING, "line 3", "write 'ත්‍රිප්ස්', not 'තිප්ස්'") in found
    assert any(
        f.where == "line 4" and "line 5" in f.message and "contradiction" in f.message
        for f in findings_of(tmp_path)
    )
    assert any(f.where == "line 8" and "sibling line 6" in f.message for f in findings_of(tmp_path))
    assert not [f for f in findings_of(tmp_path) if f.where == "line 2"]


def test_latin_terms_skip_codes_units_and_names_in_parentheses():
    assert latin_terms("Bg 358 ට යූරියා (urea) kg 50 දාන්න") == []
    assert latin_terms("gall midge ආවොත් TSP දාන්න එපා") == ["gall midge"]


def test_source_line_names_each_publisher_once():
    assert split_codes("D3; I6, D3") == ["D3", "I6", "D3"]
    line = source_line("D3; I6; D3; nope", SOURCES)
    assert line == "මූලාශ්‍රය: කෘෂිකර්ම දෙපාර්තමේන්තුව; ජාත්‍යන්තර වී පර්යේෂණ ආයතනය (IRRI)"
    assert source_line("nope", SOURCES) is None


def test_every_bundled_source_row_parses():
    sources = read_sources()
    assert {"D3", "I6", "G1"} <= set(sources)
    assert sources["G1"].general and not sources["D3"].general


def test_qa_check_command_exits_non_zero_on_errors_only(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(BANK, encoding="utf-8")
    result = CliRunner().invoke(cli, ["qa", "check", str(bad)])
    assert result.exit_code == 1 and "error: line 3" in result.output
    good = tmp_path / "good.csv"
    good.write_text("\n".join(BANK.splitlines()[:2]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["qa", "check", str(good), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "1 pairs: 0 error(s)" in result.output
