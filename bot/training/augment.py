"""Farmer-style variants of the bank's own phrasings, made up for training.

The bank's phrasings are tidy; farmers' messages are not: phone-keyboard slips, a question
buried in a long greeting, two words, English terms in Latin letters. Each phrasing gets
one such variant (the kind rotating over a pair's phrasings), trained towards its pair's
question. Every variant is made from bank text with fixed rules and a seeded generator:
nothing here has seen the eval file.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

# Sinhala words and the English a farmer types for them in Latin letters.
CODE_MIXED = {
    "යූරියා": "urea",
    "ත්‍රිත්ව සුපිරි පොස්පේට්": "TSP",
    "මියුරියේට් ඔෆ් පොටෑෂ්": "MOP",
    "බණ්ඩි පොහොර": "MOP",
    "පොහොර": "fertilizer",
    "දුඹුරු පැළ කීඩෑවා": "BPH",
    "බැක්ටීරියා කොළ අංගමාරය": "BLB",
    "කොපු අංගමාරය": "sheath blight",
    "පිපිරීම": "blast",
    "ගොයම් මැස්සා": "gall midge",
    "කහ කඳ පණුවා": "stem borer",
    "කොළ හකුලන දළඹුවා": "leaf folder",
    "ත්‍රිප්ස්": "thrips",
    "වල් වී": "weedy rice",
    "වල් පැළ": "weeds",
    "වල් නාශක": "weedicide",
    "කෘමිනාශක": "insecticide",
    "දිලීර නාශක": "fungicide",
    "පළිබෝධනාශක": "pesticide",
    "තවාන": "nursery",
    "බිත්තර වී": "seed paddy",
    "පැළ සිටුවීම": "transplanting",
    "අස්වැන්න": "yield",
    "අස්වනු": "harvest",
    "කන්නය": "season",
    "ප්‍රභේද": "varieties",
    "ප්‍රභේදය": "variety",
    "ඉසින්න": "spray කරන්න",
    "ගහන්න": "spray කරන්න",
    "අක්කරයකට": "acre එකකට",
    "හෙක්ටයාරයකට": "hectare එකකට",
    "දින": "days",
    "සති": "weeks",
    "රෝගය": "disease එක",
    "වතුර": "water",
    "කොළ වර්ණ සටහන": "LCC",
    "සහනාධාරය": "subsidy",
    "රක්ෂණය": "insurance",
    "ට්‍රැක්ටරය": "tractor",
    "කම්බයින් යන්ත්‍රය": "combine harvester",
}
_CODE_MIXED_WORDS = re.compile(
    "(?:"
    + "|".join(re.escape(word) for word in sorted(CODE_MIXED, key=len, reverse=True))
    + ")(?![\u0d80-\u0dff\u200d])"
)
_GREETINGS = ("ආයුබෝවන් සර්,", "ආයුබෝවන්,", "සර්,", "මහත්තයෝ,", "හලෝ,")
_CONTEXT = (
    "මම අනුරාධපුරේ ගොවියෙක්.",
    "අපේ කුඹුර අක්කර දෙකක් විතර තියෙනවා.",
    "මේ මහ කන්නෙට වවන්න ලෑස්ති වෙනවා.",
    "යල කන්නෙ වගාව කරලා තියෙන්නේ.",
    "ගමේ අය කියන්නේ එක එක දේවල්.",
    "පොළොන්නරුවේ ඉඳන් ලියන්නේ.",
)
_CLOSINGS = ("ස්තූතියි.", "කරුණාකර කියන්න.", "උදව්වක් කරන්න.", "")
# Question words and particles a two-word message leaves out.
_FILLER = frozenset(
    [
        "කොහොමද",
        "කොහොමඳ",
        "මොකක්ද",
        "මොකද",
        "මොනවාද",
        "මොනවද",
        "කවදාද",
        "කවදද",
        "කීයද",
        "කොපමණද",
        "කොච්චරද",
        "ඇයි",
        "කොපමණ",
        "කොච්චර",
        "වෙලාවක්",
        "කාලයක්",
        "කොහෙන්ද",
        "කොහේද",
        "ද",
        "නම්",
        "කියන්න",
        "පුළුවන්ද",
        "ඕනද",
        "ඕනෙද",
        "ඕනේ",
        "තියෙනවද",
        "තියෙනවාද",
        "වෙනවද",
        "කරන්නේ",
        "කරන්න",
        "දාන්නේ",
    ]
)
_VOWEL_SIGNS = "ාැෑිීුූෘෙේෛොෝෞ"
_LONG_TO_SHORT = {"ී": "ි", "ූ": "ු", "ේ": "ෙ", "ෝ": "ො", "ා": "ැ"}
_SINHALA_LETTER = re.compile("[\u0d9a-\u0dc6]")


def typo(text: str, rng: random.Random) -> str:
    """One or two phone-keyboard slips: a lost or doubled vowel sign, a short vowel for a
    long one, a lost hal kirima or ZWJ, two letters swapped."""
    slips: list[Callable[[str], str]] = [
        lambda t: _edit(t, rng, lambda c: c in _VOWEL_SIGNS, lambda c: ""),
        lambda t: _edit(t, rng, lambda c: c in _VOWEL_SIGNS, lambda c: c + c),
        lambda t: _edit(t, rng, lambda c: c in _LONG_TO_SHORT, lambda c: _LONG_TO_SHORT[c]),
        lambda t: _edit(t, rng, lambda c: c in "්\u200d", lambda c: ""),
        lambda t: _swap(t, rng),
    ]
    for slip in rng.sample(slips, rng.choice((1, 2))):
        text = slip(text)
    return text


def long_message(text: str, rng: random.Random) -> str:
    """The question inside a greeting, some context and a closing."""
    parts = [rng.choice(_GREETINGS), rng.choice(_CONTEXT), text, rng.choice(_CLOSINGS)]
    return " ".join(part for part in parts if part)


def short_message(text: str) -> str:
    """Two or three content words, the way a quick message asks."""
    words = [w for w in re.sub(r"[?.!,]", " ", text).split() if w not in _FILLER]
    return " ".join(words[:3]) if len(words) > 1 else text


def code_mixed(text: str) -> str:
    """Sinhala farm terms (whole words) replaced by the English a farmer types for them."""
    return _CODE_MIXED_WORDS.sub(lambda match: CODE_MIXED[match.group()], text)


def farmer_variants(texts: list[str], seed: int) -> list[str]:
    """One made-up farmer wording per text, the kind rotating: typo, long, short, English."""
    rng = random.Random(seed)
    out = []
    for number, text in enumerate(texts):
        kind = (seed + number) % 4
        if kind == 0:
            variant = typo(text, rng)
        elif kind == 1:
            variant = long_message(text, rng)
        elif kind == 2:
            variant = short_message(text)
        else:
            variant = code_mixed(text)
        if variant != text:
            out.append(variant)
    return out


def _edit(
    text: str, rng: random.Random, wanted: Callable[[str], bool], change: Callable[[str], str]
) -> str:
    places = [i for i, char in enumerate(text) if wanted(char)]
    if not places:
        return text
    i = rng.choice(places)
    return text[:i] + change(text[i]) + text[i + 1 :]


def _swap(text: str, rng: random.Random) -> str:
    places = [
        i
        for i in range(len(text) - 1)
        if _SINHALA_LETTER.match(text[i]) and _SINHALA_LETTER.match(text[i + 1])
    ]
    if not places:
        return text
    i = rng.choice(places)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
