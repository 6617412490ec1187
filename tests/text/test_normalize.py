"""Tests for the canonical form of farmers' messages."""

from __future__ import annotations

import string
import sys
import time
import unicodedata

import pytest
import sinhalanorm
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text.normalize import _INVISIBLE, _sinhalanorm, has_sinhala, normalize, normalize_key

ZWJ, ZWNJ, ZWSP = "\u200d", "\u200c", "\u200b"


@pytest.mark.parametrize(
    "typed",
    [
        f"ශ්{ZWJ}රී ලංකා",  # the standard form
        "ශ්රී ලංකා",  # no joiner
        f"ශ්{ZWNJ}රී ලංකා",  # non-joiner
        f"ශ{ZWJ}්රී ලංකා",  # ZWJ before al-lakuna
        f"ශ්{ZWJ}{ZWJ}රී ලංකා",  # doubled ZWJ
        f"ශ්{ZWSP}රී ලංකා",  # zero-width space
        f"\ufeffශ්{ZWJ}රී ලං\u00adකා",  # BOM and soft hyphen
    ],
)
def test_joiner_variants_of_shri_give_one_form(typed: str) -> None:
    assert normalize(typed) == "ශ්රී ලංකා"


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        ((f"ක්{ZWJ}රමය", "ක්රමය", f"ක්{ZWNJ}රමය", f"ක{ZWJ}්රමය"), "ක්රමය"),
        ((f"ව්{ZWJ}යාපාරය", "ව්යාපාරය", f"ව්{ZWNJ}යාපාරය"), "ව්යාපාරය"),
        ((f"ය්{ZWJ}ය", "ය්ය", f"ය්{ZWNJ}ය"), "ය්ය"),
        ((f"වෛද්{ZWJ}ය", "වෛද්ය"), "වෛද්ය"),
    ],
)
def test_joiner_variants_of_conjuncts_give_one_form(
    variants: tuple[str, ...], expected: str
) -> None:
    assert {normalize(v) for v in variants} == {expected}


def test_output_has_no_invisible_characters() -> None:
    text = f"ශ්{ZWJ}රී\u200eලං{ZWSP}කා\u2060 👨{ZWJ}🌾\ufe0f"
    assert not _INVISIBLE.search(normalize(text))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("අා", "ආ"),  # අ + ා typed separately
        ("අාරක්ෂාව", "ආරක්ෂාව"),
        ("අැල", "ඇල"),
        ("එ්", "ඒ"),
        ("උෟ", "ඌ"),
    ],
)
def test_vowel_typed_as_two_parts_becomes_one_letter(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ක\u0dd9\u0dcf", "කො"),  # ෙ + ා is ො
        ("කො", "කො"),
        ("ක\u0dd9\u0dca", "කේ"),  # ෙ + ් is ේ
        ("ක\u0dd9\u0dcf\u0dca", "කෝ"),
        ("කාෙ", "කො"),  # the parts in the wrong order
        ("ක්ෙ", "කේ"),
        ("ෙකාළඹ", "කොළඹ"),  # kombuva typed before its consonant
        ("ෙක්රා", "ක්රො"),  # ... before a rakaransaya cluster
        (f"ෙක්{ZWJ}රා", "ක්රො"),
        ("ෙෙක", "කෛ"),  # two kombuvas are kombu deka
        ("කංා", "කාං"),  # anusvara typed before the vowel sign
        ("කාා", "කා"),  # a sign typed twice
        ("ක ා", "කා"),  # a sign typed after a space
    ],
)
def test_vowel_signs_are_put_in_order(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


def test_nfd_and_nfc_give_the_same_form() -> None:
    text = "පොහොර කෝ ගෞරවය දේ"
    assert normalize(unicodedata.normalize("NFD", text)) == normalize(text) == text


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("වී\u00a0\tවගාව   කොහොමද", "වී වගාව කොහොමද"),
        ("  වී\nවගාව\r\n", "වී වගාව"),
        ("වී\u2003වගාව\u3000", "වී වගාව"),
    ],
)
def test_whitespace_runs_become_one_space(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("පොහොර දාන්නේ කවදාද?", "පොහොර දාන්නේ කවදාද"),
        ("පොහොර දාන්නේ කවදාද???", "පොහොර දාන්නේ කවදාද"),
        ("පොහොර දාන්නේ කවදාද ?!", "පොහොර දාන්නේ කවදාද"),
        ("කොහොමද??? මට උදව් කරන්න!!!", "කොහොමද? මට උදව් කරන්න"),
        ("ඉතින්.... මොකද කරන්නේ", "ඉතින් මොකද කරන්නේ"),
        ("ඉතින්… මොකද", "ඉතින් මොකද"),
        ("පොහොර , දාන්න", "පොහොර, දාන්න"),
        ("- පොහොර දාන්න", "පොහොර දාන්න"),
        ("“වී” වර්ගය", "වී වර්ගය"),
        ('"වී" වර්ගය', "වී වර්ගය"),
        ("ලංකාව෴", "ලංකාව"),
        ("?!...", ""),
    ],
)
def test_stray_and_repeated_punctuation_goes(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("වී 🌾🌾 වගාව 👍🏽", "වී වගාව"),
        (f"👨{ZWJ}🌾 ගොවියා", "ගොවියා"),
        ("1️⃣ වී", "1 වී"),
        ("වී🌾වගාව", "වී වගාව"),
        ("ok ❤️", "ok"),
    ],
)
def test_emoji_go(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Bg 352 වී වර්ගය", "bg 352 වී වර්ගය"),
        ("Bg  352   වී වර්ගය ", "bg 352 වී වර්ගය"),
        ("Bg352 වී වර්ගය", "bg 352 වී වර්ගය"),
        ("BG-352 වී වර්ගය", "bg 352 වී වර්ගය"),
        ("At 362 කීයද", "at 362 කීයද"),
    ],
)
def test_variety_codes_stay_latin_and_get_one_spacing(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3.5 t/ha යූරියා 10,000 රු",
        "https://www.doa.gov.lk බලන්න",
        "50 kg tsp",
        "0771234567",
    ],
)
def test_numbers_units_and_links_are_kept(text: str) -> None:
    assert normalize(text) == text


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("What is the capital of France?", "what is the capital of france"),
        ("Is urea good for paddy?", "is urea good for paddy"),
        ("I don't know", "i don't know"),
        ("NPK", "npk"),
        ("352", "352"),
    ],
)
def test_english_and_numbers_are_only_casefolded(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("isxy,", "සිංහල"),
        ("Y%S ,xld", "ශ්රී ලංකා"),  # no ZWJ, unlike fm_to_unicode
        ("jS j.dj", "වී වගාව"),
        ("fmdfydr oukafka fldfydu o@", "පොහොර දමන්නේ කොහොම ද"),
    ],
)
def test_fm_font_text_is_converted(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("wee wagawata pohora danne kawadada?", "වී වගාවට පොහොර දාන්නේ කවදාද"),
        ("Bandi pohora kiyada??", "බණ්ඩි පොහොර කීයද"),
        ("kola pipireema", "කොළ පිපිරීම"),
        ("Bg 352 wee wagawata hondada", "bg 352 වී වගාවට හොඳද"),
    ],
)
def test_singlish_is_transliterated(typed: str, expected: str) -> None:
    assert normalize(typed) == expected


@pytest.mark.parametrize("blank", ["", " ", "\u200b", "\t\n", "🌾"])
def test_blank_messages_give_empty_text(blank: str) -> None:
    assert normalize(blank) == ""


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Bg352, වී වර්ගය?", "bg 352 වී වර්ගය"),
        ("කොහොමද?? මට - උදව්", "කොහොමද මට උදව්"),
        ("යූරියා 10,000 රු", "යූරියා 10000 රු"),
        (f"ශ්{ZWJ}රී ලංකා!", "ශ්රී  ලංකා"),
    ],
)
def test_key_ignores_punctuation_and_spacing(first: str, second: str) -> None:
    assert normalize_key(first) == normalize_key(second)


def test_key_splits_digits_from_letters() -> None:
    assert normalize_key("50kg යූරියා") == "50 kg යූරියා"


def test_has_sinhala() -> None:
    assert has_sinhala("bg 352 වී")
    assert not has_sinhala("bg 352 wee")


_SINHALA_CHARS = [chr(c) for c in range(0x0D80, 0x0E00)]
_QUIRKS = [ZWJ, ZWNJ, ZWSP, "\ufeff", "\u00ad", "\u00a0", " ", "\t", "\n", ".", ",", "?", "!", "…"]
_PIECES = [
    *["wee", "pohora", "kiyada", "isxy,", "jS", "j.dj", "Bg", "352", "NPK", "the", "what"],
    *["fmdfydr", "lr", "ok", "At", "50kg", "www.doa.gov.lk", "e.g.", "...", "🌾", "👍🏽"],
    *[f"ශ්{ZWJ}රී", "ෙක", "ා", "'", '"', "--"],
]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.text(alphabet=st.sampled_from(_SINHALA_CHARS + _QUIRKS), max_size=30),
        st.text(alphabet=string.printable, max_size=30),
        st.text(alphabet=st.characters(codec="latin-1"), max_size=30),
        st.lists(st.sampled_from(_PIECES), max_size=8).map(" ".join),
    )
)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert normalize_key(once) == normalize_key(text)
    assert once == once.strip() and "  " not in once
    assert not _INVISIBLE.search(once)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*_SINHALA_CHARS, " ", "a"]), max_size=15))
def test_sinhala_rules_match_sinhalanorm(text: str) -> None:
    # _sinhalanorm is a faster copy of sinhalanorm.normalize for joiner-free text.
    assert _sinhalanorm(text) == sinhalanorm.normalize(text)


def test_invisible_class_covers_every_format_character() -> None:
    missing = [
        f"U+{c:04X}"
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) == "Cf" and not _INVISIBLE.match(chr(c))
    ]
    assert missing == []


@pytest.mark.parametrize(
    "message",
    [
        "මගේ කුඹුරේ වී ගොයම කොළ කහ පාට වෙලා තියෙනවා, යූරියා පොහොර කීයක් දාන්න ඕනෙද? Bg 352 වර්ගය",
        "mage kumbure wee goyama kola kaha pata wela thiyenawa yuriya pohora kiyak danna oneda",
        "My paddy leaves are turning yellow after two weeks, how much urea should I apply?",
    ],
)
def test_a_hundred_character_message_takes_well_under_a_millisecond(message: str) -> None:
    normalize(message)  # warm caches
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        normalize(message)
    assert (time.perf_counter() - start) / runs < 1e-3


HOSTILE_RUNS = {
    "spaces": "අ" + " " * 16_383,
    "tabs and spaces": "a" + " \t" * 8_191 + "b",
    "emoji": "🙏" * 16_384,
    "space before stops": " ," * 8_192,
    "stray marks": " ." * 8_192,
}


@pytest.mark.parametrize("text", HOSTILE_RUNS.values(), ids=HOSTILE_RUNS.keys())
def test_normalization_is_linear_on_hostile_runs(text):
    """16k characters of whitespace took 6 s (a regex retried every start); now a few ms."""
    started = time.perf_counter()
    normalize(text)
    normalize_key(text)
    assert time.perf_counter() - started < 0.5
