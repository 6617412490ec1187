from __future__ import annotations

from bot.text.normalize import normalize, romanized_view
from bot.text.romanize import STYLES, romanize, romanized_variants


def test_each_style_spells_like_a_different_farmer():
    variants = romanized_variants("වී බීජ පොඟවන්නේ කොහොමද?")
    assert variants[0] == "wee beeja pongawanne kohomada?"
    assert len(variants) == len(set(variants)) == len(STYLES)
    assert any(v.startswith("vi ") for v in variants)  # v for ව
    assert any(" pongavann " in v for v in variants)  # a clipped ending


def test_romanized_spellings_transliterate_back_to_the_sinhala():
    text = "යූරියා දමන්නේ කවදාද"
    for style in STYLES[:2]:
        assert normalize(romanize(text, style)) == text


def test_text_without_sinhala_has_no_variants():
    assert romanized_variants("Bg 358 urea") == []
    assert romanize("urea 50 kg") == "urea 50 kg"


def test_romanized_view_keeps_singlish_as_typed_only():
    assert romanized_view("Yuriya damanne KAWADADA") == "yuriya damanne kawadada"
    assert romanized_view("යූරියා දමන්නේ") is None
    assert romanized_view("what is the capital of France") is None
