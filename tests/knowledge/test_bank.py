"""The shipped bank, read as a farmer would: what the knowledge issue found wrong stays fixed.

Each test names the pairs it checks by their question; an edit that renames one fails
here on purpose, so the check moves with it.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bot.config import BUNDLED_BANK
from bot.service.bank_check import ERROR, CheckedPair, check_bank
from bot.storage.importer import PairRow, read_bank_file
from bot.storage.sources import read_sources, split_codes

# a dose of urea, TSP or MOP: the fertilizer's name, then a quantity in the same clause
CHEMICAL_DOSE = re.compile(
    r"(යූරියා|ත්‍රිත්ව සුපිරි පොස්පේට්|TSP|මියුරියේට්|MOP|බණ්ඩි)[^.;]{0,60}?"
    r"(කි\.?ග්‍රෑ\.?\s*\d|\d+\s*kg)",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def pairs() -> list[PairRow]:
    return read_bank_file(BUNDLED_BANK)


@pytest.fixture(scope="module")
def by_question(pairs) -> dict[str, PairRow]:
    return {pair.question: pair for pair in pairs}


def answers_of(pair: PairRow) -> list[str]:
    return [pair.answer, *(variant.answer for variant in pair.variants)]


def test_the_bank_is_big_sourced_and_every_pair_has_three_phrasings(pairs):
    assert len(pairs) >= 800
    sources = read_sources()
    for pair in pairs:
        assert len(pair.alternates) >= 3, pair.question
        assert pair.topic, pair.question
        codes = split_codes(pair.source) + [c for v in pair.variants for c in split_codes(v.source)]
        assert codes and all(code in sources for code in codes), pair.question
    assert not [f for f in check_bank([CheckedPair.of_row(p) for p in pairs], sources)
                if f.level == ERROR]  # fmt: skip


def test_the_subsidy_is_per_hectare_paid_into_the_bank_and_names_its_season(by_question):
    amount = by_question["2025/26 මහ කන්නයට වී ගොවියෙකුට ලැබෙන සහනාධාරය කීයද?"]
    assert "25,000" in amount.answer and "හෙක්ටයාර" in amount.answer
    assert "2025/26" in amount.answer and amount.review_by is not None
    where = by_question["පොහොර සහ සහනාධාර ලබා ගන්නේ කොහෙන්ද?"]
    assert "බැංකු ගිණුම" in where.answer and "හෙක්ටයාර" in where.answer
    assert "15,000" in by_question["සහනාධාරයේ පළමු වාරිකය රු. 15,000 ලැබෙන්නේ කවදාද?"].answer
    assert "10,000" in by_question["සහනාධාරයේ ඉතිරි රු. 10,000 ලැබෙන්නේ කවදාද?"].answer


def test_dose_answers_name_their_zone_or_have_an_answer_per_zone(pairs):
    """Urea, TSP and MOP doses differ by zone (burnt husk or compost rates do not)."""
    fertilizer = [p for p in pairs if p.topic == "fertilizer" and CHEMICAL_DOSE.search(p.answer)]
    zoned = [p for p in pairs if p.topic == "fertilizer" and p.variants]
    assert len(zoned) >= 20
    for pair in zoned:
        assert {v.zone for v in pair.variants} == {"wet", "intermediate", "dry"}, pair.question
    for pair in fertilizer:
        # a dose given without zone answers must say which zone it is for
        if not pair.variants:
            assert "කලාප" in pair.answer, pair.question
    wet = [v.answer for p in zoned for v in p.variants if v.zone == "wet"]
    assert sum("අක්කර" in answer for answer in wet) > len(wet) / 2  # acres beside hectares


def test_the_old_general_rules_are_wet_zone_rules_now(by_question):
    ages = by_question["වී වර්ගයේ වයස අනුව පොහොර ප්‍රමාණය වෙනස් වෙනවද?"]
    assert "තෙත් කලාප" in ages.answer
    assert "යනු" not in by_question["බණ්ඩි පොහොර කියන්නේ මොකක්ද?"].answer
    chart = by_question["කොළ වර්ණ සටහනේ කීවෙනි තීරුවට ආවම යූරියා දාන්න ඕනෙද?"]
    assert "3" in chart.answer and "යූරියා" in chart.answer


def test_seeding_and_rain_answers_agree(by_question):
    methods = by_question["වී වැපිරීමේ ක්‍රම මොනවාද?"].answer
    water = by_question["වැපිරූ කුඹුරේ වතුර බඳින්න පුළුවන් කවදා ඉඳන්ද?"].answer
    assert "7–8" in methods and "7–8" in water
    for question in (
        "වියළි කලාපයේ යල කන්නය සුළු කන්නයක් වෙන්නේ ඇයි?",
        "වියළි කලාපයේ යල වැසි කොච්චර කාලයක් ලැබෙනවද?",
        "යල වැසි සාමාන්‍යයෙන් පටන් ගන්නේ කවදාද?",
        "යල කන්නයට බිම් සකස් කිරීම කවදා පටන් ගන්නද?",
    ):
        answer = by_question[question].answer
        assert "මාර්තු" in answer, question
    assert "Bg 360" in by_question["සම්බා වී ප්‍රභේද මොනවාද?"].answer


def test_safety_answers_are_complete(by_question):
    clothing = by_question["බෙහෙත් ගහද්දී ආරක්ෂාවට අඳින්න ඕනේ මොනවද?"].answer
    for item in ("අත්වැසුම්", "මුඛ ආවරණ", "බූට්", "දිග අත්", "සුළඟ"):
        assert item in clothing, item
    for question in (
        "පිපිරීම රෝගය ආපු කුඹුරට යූරියා දාන්න පුළුවන්ද?",
        "BLB ආපු කුඹුරට යූරියා දාන්න පුළුවන්ද?",
    ):
        answer = by_question[question].answer
        assert answer.startswith("නැහැ") and "යූරියා" in answer, question
    hot_water = by_question["බිත්තර වී උණු වතුරෙන් පිරියම් කරන්නේ කොහොමද?"].answer
    assert "උෂ්ණත්වමාන" in hot_water and "53" in hot_water
    glyphosate = by_question["ග්ලයිෆොසේට් දැන් තහනම්ද?"].answer
    assert "2015" in glyphosate and "2022" in glyphosate and "අගෝස්තු 5" in glyphosate


def test_no_answer_recommends_a_variety_that_was_never_released(pairs):
    for pair in pairs:
        for answer in answers_of(pair):
            if "Bg 750" in answer:
                assert "හමු වුණේ නැහැ" in answer or "නිකුත් කළ" in answer, pair.question


def test_no_answer_only_sends_the_farmer_elsewhere(pairs):
    for pair in pairs:
        first = re.split(r"[.;:]", pair.answer, maxsplit=1)[0]
        assert not ("1920" in first and len(pair.answer) < 150), pair.question


def test_answers_speak_with_one_voice_and_define_nothing(pairs):
    for pair in pairs:
        for answer in answers_of(pair):
            words = set(re.findall(r"[\u0d80-\u0dff\u200d]+", answer))
            assert not words & {"මම", "අපි", "මට", "අපට", "අපේ"}, pair.question
            assert " යනු " not in f" {answer} ", pair.question


def test_time_sensitive_pairs_carry_a_review_date(pairs):
    subsidy = [p for p in pairs if p.topic == "subsidy"]
    assert subsidy and all(p.review_by for p in subsidy)


def test_one_spelling_per_name(pairs):
    text = " ".join(t for p in pairs for t in (p.question, p.answer, *p.alternates))
    counts = Counter(word for word in ("බත්තලගොඩ", "අඹලන්තොට", "තිප්ස්") if word in text)
    assert counts == Counter()
