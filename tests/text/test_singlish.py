"""Tests for Singlish detection and transliteration."""

from __future__ import annotations

import pytest

from bot.text import singlish
from bot.text.singlish import looks_like_singlish, singlish_to_sinhala


@pytest.fixture
def letter_rules_only(monkeypatch):  # type: ignore[no-untyped-def]
    """Transliterate without the bank's words, so a test sees the letter rules alone."""
    singlish._to_sinhala.cache_clear()
    monkeypatch.setattr(singlish, "bank_words", dict)
    yield
    singlish._to_sinhala.cache_clear()


@pytest.mark.parametrize(
    ("singlish", "sinhala"),
    [
        ("wee wagawata pohora danne kawadada", "වී වගාවට පොහොර දාන්නේ කවදාද"),
        ("bandi pohora kiyada", "බණ්ඩි පොහොර කීයද"),
        ("kola pipireema", "කොළ පිපිරීම"),
        ("mage kumbure kola kaha wenawa", "මගේ කුඹුරේ කොළ කහ වෙනවා"),
        ("yuriya kiyak danna onada", "යූරියා කීයක් දාන්න ඕනද"),
        ("wal nasaka gahanna puluwanda", "වල් නාශක ගහන්න පුළුවන්ද"),
        ("maha kanneyata hondama wee warga monawada", "මහ කන්නයට හොඳම වී වර්ග මොනවාද"),
        ("yala kanneye wee wawanna puluwanda", "යල කන්නයේ වී වවන්න පුළුවන්ද"),
        ("kumburata wathura danna one kawadada", "කුඹුරට වතුර දාන්න ඕනේ කවදාද"),
        ("goyamata kurumi", "ගොයමට කෘමි"),
        ("pilibodha palanaya", "පළිබෝධ පාලනය"),  # පාලනය: a bank word
        ("Wee Wagawata", "වී වගාවට"),
    ],
)
def test_farming_questions_transliterate(singlish: str, sinhala: str) -> None:
    assert singlish_to_sinhala(singlish) == sinhala


@pytest.mark.parametrize(
    ("singlish", "sinhala"),
    [
        ("wee", "වී"),
        ("wi", "වී"),
        ("kumbura", "කුඹුර"),
        ("goyama", "ගොයම"),
        ("pohora", "පොහොර"),
        ("yuriya", "යූරියා"),
        ("urea", "යූරියා"),
        ("kanneya", "කන්නය"),
        ("kola", "කොළ"),
        ("pilibodha", "පළිබෝධ"),
        ("wal", "වල්"),
    ],
)
def test_ambiguous_farming_words_come_from_the_lexicon(singlish: str, sinhala: str) -> None:
    assert singlish_to_sinhala(singlish) == sinhala


@pytest.mark.parametrize(
    ("singlish", "sinhala"),
    [
        ("pohorata", "පොහොරට"),
        ("kumburata", "කුඹුරට"),
        ("weeda", "වීද"),
        ("kumburuwala", "කුඹුරුවල"),
        ("kolaya", "කොළය"),
    ],
)
def test_case_endings_attach_to_lexicon_words(singlish: str, sinhala: str) -> None:
    assert singlish_to_sinhala(singlish) == sinhala


@pytest.mark.parametrize(
    ("singlish", "sinhala"),
    [
        ("wagawata", "වගාවට"),  # plain t is retroflex ට
        ("thiyenawa", "තියෙනවා"),  # th is dental ත; -nawa is නවා
        ("dawasa", "දවස"),  # plain d is the common ද
        ("handa", "හඳ"),  # nd between vowels is prenasal ඳ
        ("ambula", "අඹුල"),  # mb is ඹ
        ("ganga", "ගඟ"),  # ng between vowels is ඟ
        ("sinhala", "සිංහල"),  # n before h is anusvara ං
        ("ingrisi", "ඉංග්රිසි"),  # n before a g cluster is ං
        ("bath", "බත්"),  # a final consonant takes al-lakuna
        ("karanne", "කරන්නේ"),  # a final short e is ේ
        ("hondai", "හොඳයි"),  # i after a vowel glides: යි
        ("kauda", "කවුද"),  # u after a vowel glides: වු
        ("kohenda", "කොහෙන්ද"),  # final -nda is n + question particle
        ("aeththa", "ඇත්ත"),
        ("pipireema", "පිපිරීම"),  # ee is ී
    ],
)
@pytest.mark.usefixtures("letter_rules_only")
def test_letter_rules_follow_common_singlish(singlish: str, sinhala: str) -> None:
    assert singlish_to_sinhala(singlish) == sinhala


@pytest.mark.parametrize(
    ("singlish", "sinhala"),
    [
        ("masa hathare wee", "මාස හතරේ වී"),  # vowel length the writer left out
        ("kola wala alu pata lapa", "කොළ වල අළු පාට ලප"),  # ළ and ආ
        ("blast tiyena kumburata", "බ්ලාස්ට් තියෙන කුඹුරට"),  # t typed for ත
        ("pipirima awa", "පිපිරීම ආවා"),
        ("wenas karanna one dewal", "වෙනස් කරන්න ඕනේ දේවල්"),
        ("wahina nisa pela wela", "වහින නිසා පැළ වෙලා"),
    ],
)
def test_words_spelled_like_a_bank_word_take_its_spelling(singlish: str, sinhala: str) -> None:
    assert singlish_to_sinhala(singlish) == sinhala


@pytest.mark.usefixtures("letter_rules_only")
@pytest.mark.parametrize(
    ("singlish", "with_letter_rules"),
    [("masa hathare", "මස හතරේ"), ("rathu pata", "රතු පට"), ("tiyena", "ටියෙන")],
)
def test_the_letter_rules_alone_get_these_wrong(singlish: str, with_letter_rules: str) -> None:
    """Why the bank's words are looked up: the same words through the letter rules."""
    assert singlish_to_sinhala(singlish) == with_letter_rules


def test_particles_and_unknown_words_keep_the_letter_rules() -> None:
    # "da" is the question particle, not දා (day); "zorbik" is in no bank
    assert singlish_to_sinhala("mona wee da") == "මොන වී ද"
    assert singlish_to_sinhala("zorbik") == singlish._transliterate_word("zorbik")


def test_doubled_consonants_are_kept_apart() -> None:
    """ඇත්ත (truth) and ඇට (seed) differ only in a doubled consonant."""
    assert singlish.spelling_key("aeththa") != singlish.spelling_key("aeta")


@pytest.mark.parametrize("singlish", ["prashnaya", "kriyawa", "wakya", "sthuthi"])
def test_transliteration_never_emits_zwj(singlish: str) -> None:
    sinhala = singlish_to_sinhala(singlish)
    assert "\u200d" not in sinhala
    assert "\u200c" not in sinhala


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bg 352 wee", "Bg 352 වී"),
        ("At 362 wee", "At 362 වී"),
        ("Bg352 wee", "Bg352 වී"),
        ("50kg yuriya", "50kg යූරියා"),
        ("2 ha kumburata", "2 ha කුඹුරට"),
        ("TSP kiyada", "TSP කීයද"),
        ("spray karanna", "spray කරන්න"),
        ("@agribot wee", "@agribot වී"),
        ("https://doa.gov.lk wee", "https://doa.gov.lk වී"),
        ("wee 10,000 kiyada?", "වී 10,000 කීයද?"),
    ],
)
def test_codes_units_numbers_english_and_links_are_kept(text: str, expected: str) -> None:
    assert singlish_to_sinhala(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "wee wagawata pohora kiyada",
        "bandi pohora kiyada",
        "kola pipireema",
        "pohora",
        "kohomada",
        "mata At 362 wee ona",
        "50kg yuriya danna puluwanda?",
        "TSP kiyak danna one",
        "spray karanna one kawadada",
        "WEE WAGAWATA POHORA",
    ],
)
def test_singlish_is_detected(text: str) -> None:
    assert looks_like_singlish(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        "Is urea good for paddy?",
        "I need one bag of urea",
        "Can you help me?",
        "How much urea should I apply per acre?",
        "When should I apply fertilizer to Bg 352?",
        "thank you",
        "Hello",
    ],
)
def test_english_is_not_singlish(text: str) -> None:
    assert not looks_like_singlish(text)


@pytest.mark.parametrize(
    "text", ["Bg 352", "At 362", "352", "50 kg", "NPK", "", "https://www.doa.gov.lk", "වී wee"]
)
def test_codes_numbers_links_and_sinhala_are_not_singlish(text: str) -> None:
    assert not looks_like_singlish(text)
