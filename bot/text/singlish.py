"""Detect romanized Sinhala ("Singlish") and transliterate it to Sinhala script."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from bot.text.romanize import STYLES, romanize

__all__ = ["ENGLISH_WORDS", "looks_like_singlish", "singlish_to_sinhala"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Common English words, plus farming loanwords that Singlish writers keep in
# English ("spray karanna"). Used to tell English from Singlish and to leave
# such words untouched: the encoder reads English fine, a transliteration of
# "spray" it would not.
ENGLISH_WORDS = _words(
    """
    a about above after again against all also am an and any anyone are as ask at be because
    been before being below between both but by can cannot could did do does doing done down
    during each even every few for from further get gets give go going good got had has have
    having he hello help her here hers him his how i if in into is it its just know last let
    like make many may more most much must my need new next no nor not now of off often on
    once only or other our out over own please same she should since so some still such take
    than thank thanks that the their them then there these they this those through time to
    too under until up us use used very want was way we well were what when where which while
    who whom why will with would yes yet you your hi ok okay sir madam dear regards best
    day days week weeks month months year years today tomorrow yesterday morning evening
    kg ha acre acres bag bags price cost rate per
    rice paddy seed seeds seedling seedlings plant plants planting field fields farm farmer
    farmers crop crops yield harvest harvester tractor machine spray sprayer pump water
    fertilizer fertiliser pesticide weedicide herbicide fungicide insecticide insect insects
    pest pests disease diseases leaf leaves root roots soil rain drought flood tank
    variety varieties season land hectare tons ton what's how's don't can't isn't it's i'm
    """
)

# Frequent words whose romanization is ambiguous (vowel length, ළ/ල, ණ/න,
# ඩ/ද, prenasals), applied before the letter rules.
_LEXICON: dict[str, str] = {
    # paddy and farming
    "wee": "වී", "wi": "වී", "vee": "වී", "vi": "වී",
    "kumbura": "කුඹුර", "kumburu": "කුඹුරු", "kumbure": "කුඹුරේ",
    "goyama": "ගොයම", "goyam": "ගොයම්",
    "pohora": "පොහොර", "pohore": "පොහොරේ",
    "yuriya": "යූරියා", "yooriya": "යූරියා", "uriya": "යූරියා", "urea": "යූරියා",
    "yuria": "යූරියා",
    "bandi": "බණ්ඩි",
    "kanneya": "කන්නය", "kannaya": "කන්නය", "kanneye": "කන්නයේ",
    "yala": "යල", "maha": "මහ",
    "kola": "කොළ",
    "pilibodha": "පළිබෝධ", "palibodha": "පළිබෝධ", "pilibotha": "පළිබෝධ",
    "pilibodhaya": "පළිබෝධය", "pilibodhayo": "පළිබෝධයෝ",
    "nashaka": "නාශක", "nasaka": "නාශක",
    "wal": "වල්",
    "pela": "පැළ", "pael": "පැල්",
    "goviya": "ගොවියා", "goviyo": "ගොවියෝ", "govithana": "ගොවිතැන",
    "wathura": "වතුර", "watura": "වතුර",
    "waga": "වගා", "vaga": "වගා", "wagawa": "වගාව", "vagawa": "වගාව",
    "aswanna": "අස්වැන්න", "aswenna": "අස්වැන්න",
    "krumi": "කෘමි", "kurumi": "කෘමි", "krushi": "කෘෂි", "krishi": "කෘෂි",
    "wisha": "විෂ", "visha": "විෂ",
    "leda": "ලෙඩ", "rogaya": "රෝගය", "roga": "රෝග",
    "wessa": "වැස්ස",
    "samba": "සම්බා", "nadu": "නාඩු", "suwandal": "සුවඳැල්", "kalu": "කළු",
    "kilo": "කිලෝ", "gana": "ගාන",
    "kalaya": "කාලය", "welawa": "වෙලාව", "welawe": "වෙලාවේ",
    # question words and function words
    "kiyada": "කීයද", "kiyak": "කීයක්", "kawadada": "කවදාද", "kawada": "කවදා",
    "monawada": "මොනවාද", "monawa": "මොනවා", "koheda": "කොහේද",
    "ai": "ඇයි", "one": "ඕනේ", "ona": "ඕන",
    "puluwan": "පුළුවන්", "puluwanda": "පුළුවන්ද",
    "nathi": "නැති", "naththe": "නැත්තේ", "nadda": "නැද්ද", "neda": "නේද",
    "danna": "දාන්න", "danne": "දාන්නේ", "dala": "දාලා",
    "hoda": "හොඳ", "honda": "හොඳ", "hodai": "හොඳයි", "hondai": "හොඳයි",
    "godak": "ගොඩක්", "mage": "මගේ", "ape": "අපේ", "oya": "ඔයා", "mee": "මේ",
    "me": "මේ", "man": "මං", "dan": "දැන්", "den": "දැන්", "passe": "පස්සේ",
    "ane": "අනේ", "aney": "අනේ", "na": "නෑ", "naa": "නෑ", "nae": "නෑ", "adu": "අඩු",
    "adui": "අඩුයි", "ela": "ඇළ", "bija": "බීජ", "beeja": "බීජ", "bheeja": "බීජ",
}

# Case and particle endings: "pohorata" = pohora + ta, "weeda" = wee + da.
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("walata", "වලට"), ("wala", "වල"), ("wata", "වට"), ("gen", "ගෙන්"),
    ("ta", "ට"), ("da", "ද"), ("dha", "ද"), ("ge", "ගේ"), ("th", "ත්"), ("yi", "යි"),
    ("ya", "ය"), ("yo", "යෝ"), ("e", "ේ"),
)


def _expand_lexicon() -> dict[str, str]:
    """Every lexicon word with every ending, so that a lookup is one dict access."""
    forms = dict(_LEXICON)
    for suffix, sinhala in _SUFFIXES:  # longest ending first wins
        for stem, spelling in _LEXICON.items():
            forms.setdefault(stem + suffix, spelling + sinhala)
    return forms


_LEXICON_FORMS = _expand_lexicon()

# Romanized Sinhala words end in these morphemes far more often than English
# words do (verb endings, case endings, the question particle -da).
_SINGLISH_ENDINGS = tuple(
    _words("nna nne nnada nawa nawada wata walata wala kda ekak yak eema imma ayata aage yage")
)
# Everyday Singlish words spelled regularly enough for the letter rules, but
# strong evidence that a message is Singlish.
_COMMON_WORDS = _words(
    """
    mama mata mage api apata apita oya oyata eka ekak eke mokak mokakda mokada mokadda
    kohomada kohoma kauda kawuda ehema mehema ahanna karanna karanne karala kiyala kiyanna
    thiyenawa thiyanawa thiyenne thiyanne wenawa wenne hari ane aney sinhala lankawa amma
    thaththa keeyada kiyada ganna gannada denna dennada balanna dawas dawasa dawasak sathi
    sathiyak masa masayak awurudu kalin passe nisa saha wage gena gaha gahanna
    """
)

# Letters that casual Singlish hardly uses outside "ch".
_NON_SINGLISH_LETTERS = re.compile(r"c(?!h)|[qxz]|y(?![aeiou])|ea|ou|ie|oa|ck|wh|ght")

_FINAL_SHORT_E = re.compile("[^aeiou]e$")

_CONSONANTS: dict[str, str] = {
    "chh": "ඡ", "thh": "ථ", "dhh": "ධ",
    "kh": "ඛ", "gh": "ඝ", "ch": "ච", "jh": "ඣ", "th": "ත", "dh": "ද", "ph": "ෆ",
    "bh": "භ", "sh": "ශ", "ny": "ඤ",
    "k": "ක", "g": "ග", "c": "ක", "j": "ජ", "t": "ට", "d": "ද", "n": "න", "p": "ප",
    "b": "බ", "m": "ම", "y": "ය", "r": "ර", "l": "ල", "w": "ව", "v": "ව", "s": "ස",
    "h": "හ", "f": "ෆ", "z": "ස", "q": "ක", "x": "ක්ස",
    "ඳ": "ඳ", "ඹ": "ඹ", "ඟ": "ඟ",  # prenasals merged by _units
}
# (vowel sign after a consonant, independent letter)
_VOWELS: dict[str, tuple[str, str]] = {
    "aae": ("ෑ", "ඈ"), "ää": ("ෑ", "ඈ"), "aa": ("ා", "ආ"), "ae": ("ැ", "ඇ"), "ä": ("ැ", "ඇ"),
    "ii": ("ී", "ඊ"), "ee": ("ී", "ඊ"), "uu": ("ූ", "ඌ"), "oo": ("ූ", "ඌ"),
    "ei": ("ේ", "ඒ"), "a": ("", "අ"), "i": ("ි", "ඉ"), "u": ("ු", "උ"), "e": ("ෙ", "එ"),
    "o": ("ො", "ඔ"),
}
_UNIT = re.compile("|".join(sorted((*_CONSONANTS, *_VOWELS), key=len, reverse=True)) + "|.")
_AL = "\u0dca"  # al-lakuna (hal)
_ANUSVARA = "\u0d82"
_ANUSVARA_BEFORE = frozenset({"k", "kh", "h"})  # sinhala -> සිංහල, anka -> අංක
_PRENASALS = {("n", "d"): "ඳ", ("n", "dh"): "ඳ", ("m", "b"): "ඹ", ("n", "g"): "ඟ"}

_SINHALA = re.compile("[\u0d80-\u0dff]")
# Words to transliterate, and spans to leave alone (URLs, e-mail, @mentions,
# /commands, #tags), which the same scan skips over.
_TOKEN = re.compile(
    r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.]+|[@/#]\w+"
    r"|(?P<word>[A-Za-zäÄ]+(?:'[A-Za-z]+)?)",
    re.IGNORECASE,
)
_VARIETY_PREFIX = frozenset({"bg", "at", "bw", "ld", "h", "cp"})
_UNITS = frozenset(
    {"kg", "g", "mg", "ml", "l", "ha", "ac", "mm", "cm", "m", "km", "t", "lb", "lbs", "bu",
     "rs", "ppm", "pm", "am", "c", "x"}
)
_ACRONYMS = frozenset(
    {"tsp", "mop", "npk", "bph", "blb", "mcpa", "doa", "rrdi", "ipm", "sms", "id", "gps",
     "url", "pdf", "kcl", "dap", "sop"}
)
_CODE_WORDS = _VARIETY_PREFIX | _UNITS | _ACRONYMS
_NUMBER_BEFORE = re.compile(r"\d\s*$")
_NUMBER_AFTER = re.compile(r"\s*[-–]?\s*\d")


def _lengthen(word: str) -> str:
    """Restore vowel length and endings that casual spelling blurs.

    A final short e is almost always ේ (karanne, kumbure, wage), -nawa is the
    verb ending නවා, and a final -nda is n + the question particle (kohenda).
    """
    if word.endswith("nawa"):
        return word + "a"  # thiyenawa -> තියෙනවා
    if _FINAL_SHORT_E.search(word):
        return word[:-1] + "ei"  # karanne -> කරන්නේ
    if word.endswith("nda") and len(word) > 5:
        return word[:-3] + "n|da"  # kohenda -> කොහෙන්ද, not කොහෙඳ
    return word


def _units(word: str) -> list[str]:
    """Split a word into letter units, with prenasals and anusvara merged in.

    nd, mb and ng between vowels become the prenasals ඳ ඹ ඟ; n before k, h or
    a g that starts a cluster becomes the anusvara ං; ny inside a word is n + y
    (dhanya), since ඤ is rare there.
    """
    units = _UNIT.findall(_lengthen(word))
    out: list[str] = []
    i = 0
    while i < len(units):
        u = units[i]
        nxt = units[i + 1] if i + 1 < len(units) else ""
        after = units[i + 2] if i + 2 < len(units) else ""
        mid_word = bool(out) and out[-1] in _VOWELS
        if mid_word and (u, nxt) in _PRENASALS and after in _VOWELS:
            out.append(_PRENASALS[u, nxt])
            i += 2
            continue
        if mid_word and u == "n" and nxt == "g" and not after:
            out.append(_ANUSVARA)  # final ng: ekang -> එකං
            i += 2
            continue
        cluster_g = nxt == "g" and after not in _VOWELS
        if mid_word and u == "n" and (nxt in _ANUSVARA_BEFORE or cluster_g):
            out.append(_ANUSVARA)
        elif mid_word and u == "ny":
            out += ["n", "y"]
        else:
            out.append(u)
        i += 1
    return out


def _transliterate_word(word: str) -> str:
    """Letter rules for one lowercase word, in the common Helakuru-like style.

    Plain t/d are the common ට/ද, th/dh the dental ත/ද; a consonant with no
    vowel after it takes al-lakuna; a vowel after a vowel gets a glide
    (hondai → හොඳයි, kauda → කවුද). The output never contains ZWJ.
    """
    out: list[str] = []
    pending = ""  # a consonant still waiting for its vowel
    previous = ""
    for unit in _units(word):
        if unit in _VOWELS:
            sign, letter = _VOWELS[unit]
            if pending:
                out.append(pending + sign)
            elif previous in _VOWELS and unit[0] in "iue":
                out.append(("ව" if unit[0] == "u" else "ය") + sign)
            else:
                out.append(letter)
            pending = ""
        else:
            if pending:
                out.append(pending + _AL)
            pending = _CONSONANTS.get(unit, "")
            if not pending and unit != "|":  # "|" is a silent break from _lengthen
                out.append(unit)
        previous = unit
    if pending:
        out.append(pending + _AL)
    return "".join(out)


def _is_code(text: str, match: re.Match[str], word: str) -> bool:
    """True for variety codes (Bg 352), units after numbers (50 kg) and acronyms (TSP)."""
    start, end = match.span()
    if (start and text[start - 1].isdigit()) or text[end : end + 1].isdigit():
        return True  # Bg352, 3kg
    if word not in _CODE_WORDS:
        return False
    if word in _VARIETY_PREFIX and _NUMBER_AFTER.match(text, end):
        return True
    if word in _UNITS and _NUMBER_BEFORE.search(text, 0, start):
        return True
    return word in _ACRONYMS


@lru_cache(maxsize=8192)
def _word_kind(word: str) -> str:
    """Classify a lowercase word as "english", "singlish" (strong cue), "shaped" or "other"."""
    if word in ENGLISH_WORDS and word not in _LEXICON:
        return "english"
    if word in _COMMON_WORDS or word in _LEXICON_FORMS:
        return "singlish"
    if len(word) < 2 or _NON_SINGLISH_LETTERS.search(word):
        return "other"
    if not (word[-1] in "aeiou" or (word[-1] in "knmlst" and word[-2] in "aeiou")):
        return "other"
    if word.endswith(_SINGLISH_ENDINGS) or (len(word) > 4 and word.endswith("da")):
        return "singlish"
    return "shaped"


# The bundled bank: its Sinhala words are the spellings a farmer's Singlish most likely means.
BANK_WORDS_SOURCE = Path(__file__).resolve().parents[2] / "knowledge" / "paddy_bank_si.csv"
_SINHALA_WORD = re.compile("[\u0d80-\u0dff]+")
_DOUBLED_VOWEL = re.compile(r"([aeiou])\1+")
_ASPIRATE = re.compile(r"(?<=[kgcjtdpbs])h")
ZWJ = "\u200d"  # normalize drops it, and the letter rules never write it
MIN_BANK_LOOKUP = 3  # shorter words (da, ta, wi) are particles the letter rules get right


def spelling_key(word: str) -> str:
    """What is left of a romanized word once the habits Singlish writers differ in are
    gone: vowel length, th/t and dh/d, w/v, ae/a, aspirates. Doubled consonants stay:
    they tell ඇත්ත (aeththa) from ඇට (aeta).

    Example:
        >>> spelling_key("maasa"), spelling_key("masa"), spelling_key("thiyenawa")
        ('masa', 'masa', 'tiyenava')
    """
    key = word.lower().replace("th", "t").replace("dh", "d").replace("w", "v")
    key = key.replace("ae", "a").replace("ä", "a")
    key = _DOUBLED_VOWEL.sub(r"\1", key).replace("ei", "e")
    return _ASPIRATE.sub("", key)


@lru_cache(maxsize=1)
def bank_words() -> dict[str, str]:
    """The bundled bank's Sinhala words by `spelling_key` of their romanizations (each
    of `romanize.STYLES`): where two words share a key, the more frequent one.

    The letter rules cannot know vowel length ("masa": මස or මාස?) or ත from ට when a
    writer types "t"; the bank's own words can: "masa hathare" is මාස හතරේ. Read once,
    in about 0.1 s (`warm_up`); empty where the file is missing.
    """
    if not BANK_WORDS_SOURCE.is_file():
        return {}
    text = BANK_WORDS_SOURCE.read_text(encoding="utf-8")
    words: dict[str, str] = {}
    for word, _ in Counter(_SINHALA_WORD.findall(text.replace(ZWJ, ""))).most_common():
        for style in STYLES:
            words.setdefault(spelling_key(romanize(word, style)), word)
    return words


def warm_up() -> None:
    """Read the bank's words now, so that no farmer's first Singlish message waits for it."""
    bank_words()


@lru_cache(maxsize=8192)
def _to_sinhala(word: str) -> str:
    """Sinhala spelling of a lowercase Singlish word: the lexicon, else a bank word spelled
    alike, else the letter rules."""
    known = _LEXICON_FORMS.get(word)
    if known is None and len(word) >= MIN_BANK_LOOKUP:
        known = bank_words().get(spelling_key(word))
    return known or _transliterate_word(word)


def singlish_to_sinhala(text: str) -> str:
    """Transliterate Singlish words to Sinhala script.

    Variety codes, units, acronyms, English words, URLs, e-mail addresses and
    @mentions, /commands and #tags are kept as typed.

    Example:
        >>> singlish_to_sinhala("bandi pohora kiyada")
        'බණ්ඩි පොහොර කීයද'
    """

    def replace(match: re.Match[str]) -> str:
        if match.group("word") is None:
            return match.group()
        word = match.group().lower()
        if _is_code(text, match, word) or _word_kind(word) == "english":
            return match.group()
        return _to_sinhala(word)

    return _TOKEN.sub(replace, text)


def looks_like_singlish(text: str) -> bool:
    """Guess whether ``text`` is Sinhala written in Latin letters.

    Needs at least one strong cue (a known Singlish word, or a Sinhala ending
    on a word spelled the way romanized Sinhala is), more than twice as many
    Sinhala-looking words as English ones, and Sinhala-looking words for at
    least half the words, so "What is the capital of France?" and "Is urea good
    for paddy?" stay English. Codes and units do not count.

    Example:
        >>> looks_like_singlish("bandi pohora kiyada"), looks_like_singlish("Is urea good?")
        (True, False)
    """
    if _SINHALA.search(text):
        return False
    counts = {"english": 0, "singlish": 0, "shaped": 0, "other": 0}
    for match in _TOKEN.finditer(text):
        if match.group("word") is None:
            continue
        word = match.group().lower()
        if not _is_code(text, match, word):
            counts[_word_kind(word)] += 1
    sinhala = counts["singlish"] + counts["shaped"]
    total = sinhala + counts["english"] + counts["other"]
    return counts["singlish"] >= 1 and sinhala > 2 * counts["english"] and 2 * sinhala >= total
