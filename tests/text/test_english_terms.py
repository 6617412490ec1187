"""English farming terms in a farmer's message, read as the bank's Sinhala names."""

from __future__ import annotations

import re

import pytest

from bot.errors import ImportRejected
from bot.service.answering import query_views
from bot.service.bank_check import GLOSSARY_PATH, read_glossary
from bot.text.english_terms import EnglishTerms, bundled_terms, sinhala_view
from bot.text.normalize import normalize

TERMS = EnglishTerms.from_pairs(
    [
        ("leaf folder", "කොළ හකුලන දළඹුවා"),
        ("leaf", "කොළ"),
        ("spray", "ඉසින්න"),
        ("rain", "වැස්ස"),
        ("certified seed", "සහතික කළ බිත්තර වී"),
    ]
)


def test_the_longest_term_wins_and_its_words_may_be_joined_any_way():
    for typed in ("leaf folder", "leaf-folder", "leaffolder", "Leaf  Folder"):
        assert TERMS.replace(f"{typed} වලට") == "කොළ හකුලන දළඹුවා වලට"
    assert TERMS.replace("leaf එක") == "කොළ එක"


def test_a_term_inside_a_longer_word_is_left_alone():
    assert TERMS.replace("drain කරන්නද, rainy") == "drain කරන්නද, rainy"
    assert TERMS.replace("spray2") == "spray2"


def test_a_code_mixed_message_gets_a_sinhala_view():
    assert sinhala_view("bph වලට spray කරන්නද") == "දුඹුරු පැළ කීඩෑවා වලට ඉසින්න කරන්නද"


def test_a_romanized_message_has_its_terms_replaced_before_the_rest_is_transliterated():
    # "certified" is not a word the Singlish rules know: transliterated first it would
    # be spelled in Sinhala letters and no term would be left to find.
    typed = "certified seed ganne koheda"
    assert sinhala_view(normalize(typed), "certified seed ganne koheda", TERMS) == (
        "සහතික කළ බිත්තර වී ගන්නේ කොහේද"
    )


def test_a_message_without_terms_has_no_extra_view():
    assert sinhala_view("වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද") is None
    assert sinhala_view("what is the capital of france") is None


def test_every_question_is_searched_in_each_of_its_views():
    raw = ["BPH වලට spray කරන්නද?", "yuriya damanne kawadada", "වී බීජ පොඟවන්නේ කොහොමද?"]
    texts, owners = query_views([normalize(text) for text in raw], raw)
    assert owners == [0, 0, 1, 1, 2]
    assert texts[1] == "දුඹුරු පැළ කීඩෑවා වලට ඉසින්න කරන්නද"
    assert texts[3] == "yuriya damanne kawadada"  # as typed, for the spelling index


def test_the_bundled_terms_use_the_glossarys_spelling():
    terms = bundled_terms()
    assert len(terms.names) >= 300
    wrong = read_glossary()
    for english, sinhala in terms.names.items():
        for spelling, right in wrong.items():
            assert spelling not in sinhala.split(), f"{english}: write '{right}', not '{spelling}'"
    # Where the glossary names an English term on a row of its own, the map agrees.
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in GLOSSARY_PATH.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and "/" not in line
    ]
    checked = 0
    for cells in rows[1:]:
        sinhala = re.sub(r"\s*\(.*?\)", "", cells[0])
        for english in cells[1].split(","):
            key = re.sub(r"[\s\-]+", "", english.casefold())
            if key in terms.names:
                assert terms.names[key] == sinhala, english
                checked += 1
    assert checked >= 20


def test_a_bad_terms_file_is_refused_with_every_line_named(tmp_path):
    path = tmp_path / "terms.csv"
    path.write_text(
        "english,sinhala\nurea,යූරියා\nUrea,යූරියා\nbph,\n2 bags,මලු දෙකක්\n", encoding="utf-8"
    )
    with pytest.raises(ImportRejected) as refused:
        EnglishTerms.read(path)
    assert [error.line for error in refused.value.errors] == [3, 4, 5]
    path.write_text("term,name\nurea,යූරියා\n", encoding="utf-8")
    with pytest.raises(ImportRejected, match="english,sinhala"):
        EnglishTerms.read(path)
