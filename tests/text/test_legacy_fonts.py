"""Tests for FM-font detection and conversion."""

from __future__ import annotations

import pytest

from bot.text.legacy_fonts import fm_to_unicode, looks_like_fm

ZWJ = "\u200d"


@pytest.mark.parametrize(
    ("fm", "unicode"),
    [
        ("isxy,", "සිංහල"),
        ("Y%S ,xld", f"ශ්{ZWJ}රී ලංකා"),
        ("jS", "වී"),
        ("jS j.dj", "වී වගාව"),
        ("fmdfydr", "පොහොර"),
        ("lqUqr", "කුඹුර"),
        ("f.dúhd", "ගොවියා"),
        ("hQßhd", "යූරියා"),
        ("nKaä fmdfydr", "බණ්ඩි පොහොර"),
        ("wiajekak", "අස්වැන්න"),
        ("hd, lkakh", "යාල කන්නය"),
        ("lDIsl¾u fomd¾;fïka;=j", "කෘෂිකර්ම දෙපාර්තමේන්තුව"),
        ("fldfydu o@", "කොහොම ද?"),
    ],
)
def test_fm_samples_convert_to_known_unicode(fm: str, unicode: str) -> None:
    assert fm_to_unicode(fm) == unicode


def test_fm_conversion_keeps_digits() -> None:
    assert fm_to_unicode("jS lsf,da 50") == "වී කිලෝ 50"


@pytest.mark.parametrize(
    "text",
    [
        "isxy,",
        "jS",
        "jS j.dj",
        "fmdfydr oukafka fldfydu o@",
        "Y%S ,xld m%cd;dka;%sl iudcjd§ ckrcfha",
        "lDIsl¾u fomd¾;fïka;=j",
        "uf.a l=U=f¾ jS f.dhu fld< ly mdg fj,d",
        "hQßhd fmdfydr lShla oukak TfkAo",
    ],
)
def test_fm_sentences_are_detected(text: str) -> None:
    assert looks_like_fm(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        "How much urea should I apply per acre?",
        "My paddy leaves are turning yellow, what should I do?",
        "Brown planthopper control",
        "Is urea good for paddy?",
        "Thanks!",
        "ok",
        "pls help, thx",
        "iPhone and WhatsApp",
        "e.g. Bg 300",
        "Dr. Perera's farm",
        "Please send the report.pdf",
    ],
)
def test_english_is_not_fm(text: str) -> None:
    assert not looks_like_fm(text)


@pytest.mark.parametrize(
    "text",
    [
        "wee wagawata pohora kiyada",
        "wee wagawata pohora danne kawadada",
        "bandi pohora kiyada",
        "kola pipireema",
        "mage kumbure kola kaha wenawa",
        "wee, pohora",
    ],
)
def test_singlish_is_not_fm(text: str) -> None:
    assert not looks_like_fm(text)


@pytest.mark.parametrize(
    "text",
    [
        "352",
        "10,000 rs",
        "3.5 t/ha",
        "0771234567",
        "https://www.doa.gov.lk/rrdi",
        "www.doa.gov.lk",
        "agri@doa.gov.lk",
        "Bg 352",
        "At 362",
        "Bg-352",
        "NPK TSP MOP",
        "50 kg",
        "",
        "   ",
    ],
)
def test_numbers_urls_and_codes_are_not_fm(text: str) -> None:
    assert not looks_like_fm(text)


@pytest.mark.parametrize("text", ["Bg 352 වී වර්ගය", "jS වී", "සිංහල isxy,"])
def test_text_with_sinhala_is_not_fm(text: str) -> None:
    assert not looks_like_fm(text)


def test_vowelless_words_can_be_ignored_for_casefolded_text() -> None:
    # "rpc" and "lr" (කර) look the same once casefolded.
    assert looks_like_fm("stateless rpc mechanism")
    assert not looks_like_fm("stateless rpc mechanism", vowelless_words=False)
    assert looks_like_fm("js j.dj", vowelless_words=False)
