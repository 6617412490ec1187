from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.telegram import texts
from bot.telegram.texts import split_message, utf16_len

SENTENCE = "වී වගාවට පොහොර යොදන්නේ පස පරීක්ෂා කළ පසුවයි. "


def test_short_text_is_one_message():
    assert split_message("කෙටි උත්තරයක්.") == ["කෙටි උත්තරයක්."]


def test_long_text_is_cut_at_sentence_ends():
    text = (SENTENCE * 200).strip()
    parts = split_message(text)
    assert len(parts) > 1
    assert all(utf16_len(part) <= texts.MAX_MESSAGE and part.endswith(".") for part in parts)
    assert " ".join(parts) == text


def test_paragraphs_are_preferred_and_kept():
    text = "පළමු ඡේදය.\n\nදෙවැනි ඡේදය."
    assert split_message(text, limit=15) == ["පළමු ඡේදය.", "දෙවැනි ඡේදය."]


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces():
    text = "වචනය " * 30
    parts = split_message(text, limit=50)
    assert all(utf16_len(part) <= 50 for part in parts)
    assert " ".join(parts).split() == text.split()


def test_emoji_count_as_two_units():
    parts = split_message("🌾" * 30, limit=20)
    assert all(utf16_len(part) <= 20 for part in parts) and "".join(parts) == "🌾" * 30


@given(st.text(alphabet="අආකගතනමයරලවසහ ාිීුූෙෝ.?!\n🌾", max_size=400), st.integers(5, 80))
def test_parts_fit_and_lose_no_words(text, limit):
    parts = split_message(text, limit)
    assert all(0 < utf16_len(part) <= limit for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


@pytest.mark.parametrize(
    "name",
    [
        "WELCOME",
        "HELP",
        "SENT_TO_OFFICER",
        "DID_YOU_MEAN",
        "ADMINS_ONLY",
        "VOICE_QUEUED",
        "PHOTO_QUEUED",
        "PHOTO_WRONG_TYPE",
    ],
)
def test_farmer_texts_are_sinhala_and_fit_one_message(name):
    text = getattr(texts, name)
    assert utf16_len(text) <= texts.MAX_MESSAGE
    sinhala = sum("\u0d80" <= ch <= "\u0dff" for ch in text)
    assert sinhala > len(text) / 3
