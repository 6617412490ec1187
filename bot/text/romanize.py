"""Sinhala script to romanized "Singlish", in the spelling habits farmers really type.

The bank is written in Sinhala script, but many farmers type Sinhala in Latin letters,
and each spells it their own way: ``wee``/``vee``/``wi`` for වී, ``thiyenawa`` or
``tiyenawa``, ``kawadada`` or ``kawadda``. Indexing a few romanized spellings of every
bank question gives such messages something to match letter by letter (the lexical
index) and gives fine-tuning Latin-script phrasings of each pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["STYLES", "RomanStyle", "romanize", "romanized_variants"]


@dataclass(frozen=True)
class RomanStyle:
    """One writer's habits: how long vowels, ව, ත and final vowels come out."""

    name: str
    long_vowels: bool  # ඊ ඌ → ee oo (True) or i u
    double_aa: bool  # ආ → aa (True) or a
    v_for_wa: bool  # ව → v (True) or w
    t_for_tha: bool  # ත → t (True) or th
    ae_as: str  # ඇ/ැ → "ae", "a" or "e"
    drop_final_vowel: bool  # kohomada → kohomad, karanne → karann


STYLES: tuple[RomanStyle, ...] = (
    RomanStyle(
        "careful",
        long_vowels=True,
        double_aa=False,
        v_for_wa=False,
        t_for_tha=False,
        ae_as="ae",
        drop_final_vowel=False,
    ),
    RomanStyle(
        "quick",
        long_vowels=False,
        double_aa=False,
        v_for_wa=False,
        t_for_tha=True,
        ae_as="a",
        drop_final_vowel=False,
    ),
    RomanStyle(
        "texting",
        long_vowels=False,
        double_aa=True,
        v_for_wa=True,
        t_for_tha=False,
        ae_as="e",
        drop_final_vowel=True,
    ),
)

# Consonant letters; ත and ව depend on the style.
_CONSONANTS = {
    "ක": "k",
    "ඛ": "kh",
    "ග": "g",
    "ඝ": "gh",
    "ඞ": "ng",
    "ඟ": "ng",
    "ච": "ch",
    "ඡ": "ch",
    "ජ": "j",
    "ඣ": "jh",
    "ඤ": "ny",
    "ඥ": "gn",
    "ඦ": "nj",
    "ට": "t",
    "ඨ": "t",
    "ඩ": "d",
    "ඪ": "d",
    "ණ": "n",
    "ඬ": "nd",
    "ත": "th",
    "ථ": "th",
    "ද": "d",
    "ධ": "dh",
    "න": "n",
    "ඳ": "nd",
    "ප": "p",
    "ඵ": "p",
    "බ": "b",
    "භ": "bh",
    "ම": "m",
    "ඹ": "mb",
    "ය": "y",
    "ර": "r",
    "ල": "l",
    "ව": "w",
    "ශ": "sh",
    "ෂ": "sh",
    "ස": "s",
    "හ": "h",
    "ළ": "l",
    "ෆ": "f",
}
# (short, long) spellings of vowel signs and independent vowels; None: no vowel sign.
_SIGNS = {
    "ා": ("a", "aa"),
    "ැ": ("ae", "ae"),
    "ෑ": ("ae", "ae"),
    "ි": ("i", "i"),
    "ී": ("i", "ee"),
    "ු": ("u", "u"),
    "ූ": ("u", "oo"),
    "ෘ": ("ru", "ru"),
    "ෲ": ("ru", "ru"),
    "ෙ": ("e", "e"),
    "ේ": ("e", "e"),
    "ෛ": ("ai", "ai"),
    "ො": ("o", "o"),
    "ෝ": ("o", "o"),
    "ෞ": ("au", "au"),
}
_INDEPENDENT = {
    "අ": ("a", "a"),
    "ආ": ("a", "aa"),
    "ඇ": ("ae", "ae"),
    "ඈ": ("ae", "ae"),
    "ඉ": ("i", "i"),
    "ඊ": ("i", "ee"),
    "උ": ("u", "u"),
    "ඌ": ("u", "oo"),
    "ඍ": ("ru", "ru"),
    "එ": ("e", "e"),
    "ඒ": ("e", "e"),
    "ඓ": ("ai", "ai"),
    "ඔ": ("o", "o"),
    "ඕ": ("o", "o"),
    "ඖ": ("au", "au"),
}
_AL = "\u0dca"
_ZWJ = "\u200d"
_ANUSVARA = "\u0d82"
_VISARGA = "\u0d83"
_WORD = re.compile(r"[\u0d80-\u0dff\u200d]+")
# Endings texters clip: the question particle (kohomada → kohomad) and -nne (karann).
_CLIPPED_END = re.compile(r"(?<=[^aeiou]d)a$|(?<=nn)e$")


def _romanize_word(word: str, style: RomanStyle) -> str:
    out: list[str] = []
    chars = word.replace(_ZWJ, "")
    i = 0
    while i < len(chars):
        char = chars[i]
        nxt = chars[i + 1] if i + 1 < len(chars) else ""
        if char in _CONSONANTS:
            letter = _CONSONANTS[char]
            if char == "ව":
                letter = "v" if style.v_for_wa else "w"
            elif char == "ත" and style.t_for_tha:
                letter = "t"
            if nxt == _AL:
                out.append(letter)
                i += 2
                continue
            if nxt in _SIGNS:
                short, long = _SIGNS[nxt]
                vowel = long if _long(nxt, style) else short
                if nxt in "ැෑ":
                    vowel = style.ae_as
                out.append(letter + vowel)
                i += 2
                continue
            out.append(letter + "a")  # the inherent vowel
        elif char in _INDEPENDENT:
            short, long = _INDEPENDENT[char]
            vowel = long if _long(char, style) else short
            out.append(style.ae_as if char in "ඇඈ" else vowel)
        elif char == _ANUSVARA:
            out.append("n" if nxt else "ng")
        elif char == _VISARGA:
            out.append("h")
        elif "\u0de6" <= char <= "\u0def":  # Sinhala Lith digits
            out.append(str(ord(char) - 0x0DE6))
        i += 1
    text = "".join(out)
    if style.drop_final_vowel and len(text) > 4:
        text = _CLIPPED_END.sub("", text)
    return text


def _long(vowel: str, style: RomanStyle) -> bool:
    return style.double_aa if vowel in "ාආ" else style.long_vowels


def romanize(text: str, style: RomanStyle = STYLES[0]) -> str:
    """Write Sinhala words of `text` in Latin letters; everything else is kept, lowercased.

    Example:
        >>> romanize("වී බීජ පොඟවන්නේ කොහොමද?")
        'wee beeja pongawanne kohomada?'
    """
    return _WORD.sub(lambda match: _romanize_word(match.group(), style), text).lower()


def romanized_variants(text: str, styles: tuple[RomanStyle, ...] = STYLES) -> list[str]:
    """The distinct romanizations of `text`, one per style; empty if it has no Sinhala."""
    if not _WORD.search(text):
        return []
    return list(dict.fromkeys(romanize(text, style) for style in styles))
