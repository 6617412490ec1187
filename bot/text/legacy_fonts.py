"""Detect and convert Sinhala typed in the legacy FM-Abhaya font encoding."""

from __future__ import annotations

import re
from functools import lru_cache

from sinhalanorm import legacy_to_unicode
from sinhalanorm.legacy import FM_ABHAYA

from bot.text.singlish import ENGLISH_WORDS

__all__ = ["fm_to_unicode", "looks_like_fm"]

_SINHALA = re.compile("[\u0d80-\u0dff]")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Non-ASCII keys of the FM-Abhaya table (ú = වි, ß = රි, ¾ = ර් ...): in a
# message with no Sinhala they are almost always FM glyphs.
_FM_GLYPHS = re.escape("".join(sorted(k for k in FM_ABHAYA if len(k) == 1 and not k.isascii())))
_LETTER = f"[A-Za-z{_FM_GLYPHS}]"

# Letter pairs frequent in FM-encoded Sinhala and (near) absent from English and
# Singlish. Chosen by encoding the Sinhala words of the XLM-R vocabulary to FM
# and comparing bigram rates with English prose and romanized Sinhala.
_FM_BIGRAMS = _words(
    """
    js jd jk jr jq jh jf jg fk fj fh fm qj qr qo qk qf rq oq uq kj kq lq mq nq hq yq gq
    mj vd hk hj yk dk wj wf bk
    """
)


def _grouped(bigrams: frozenset[str]) -> list[str]:
    """Turn bigrams into one class per first letter (js jd → j[ds]): a faster regex."""
    firsts = sorted({b[0] for b in bigrams})
    return [f + "[" + "".join(sorted(b[1] for b in bigrams if b[0] == f)) + "]" for f in firsts]


# Any of these marks a word as FM. Kept as separate, case-sensitive regexes
# that each start with a character class: Python's re then skips ahead fast,
# where one IGNORECASE alternation took ~40 µs on a 100-character message.
_FM_MARK = re.compile(f"[{_FM_GLYPHS}<|\\[{{~%\\\\]")  # prefilter for the next one
_FM_GLYPH_OR_KEY = re.compile(  # a Latin-1 glyph key; ළ ඳ ඤ ඥ ඬ or rakaransaya keys
    f"[{_FM_GLYPHS}]|{_LETTER}[<|\\[{{~%\\\\]|[<|\\[{{~\\\\]{_LETTER}"
)
_FM_LETTERS = re.compile(  # on lowercased text
    "|".join(
        [
            *_grouped(_FM_BIGRAMS),
            "[bcdfghjklmpqrstvwz]x|x[bdfgjklmnrsvwz]",  # ං (x) beside a consonant key
            "q(?!u)[a-z]",  # ු (q) inside a word
        ]
    )
)
_FM_START_CUES = (
    f"[.,;]{_LETTER}"  # ග ල ත opening a word: .ek = ගැන
    "|[b-hj-zB-HJ-Z][,;](?!\\S)"  # a lone consonant key and ල: n, = බල
    "|[fF][bcdgjkmnpsvwzBCDGJKMNPSVWZ.;,<|]"  # ෙ (f) before a cluster English never opens with
)
_FM_START = re.compile(f"^(?:{_FM_START_CUES})")  # on one word
_FM_START_IN_TEXT = re.compile(f"(?<!\\S)(?:{_FM_START_CUES})")
_VOWELLESS_IN_TEXT = re.compile(  # skips "Bg 352", which _is_neutral skips too
    r"\b(?!(?<!\S)(?:Bg|BG|bg|Bw|BW|bw|Ld|LD|ld)\s+\d)[b-df-hj-np-tv-xzB-DF-HJ-NP-TV-XZ]{2,}\b"
)

# ග ල ත typed inside a word (j.dj = වගාව); "wee,pohora" is only a missing space.
_FM_PUNCT_INSIDE = re.compile(f"{_LETTER}[;,.](?={_LETTER})")
_FM_PIECE = re.compile("[^;,.]*")
_VOWEL = re.compile("[aeiouAEIOU]")
_CASE_SWITCH = re.compile("[a-z][A-Z]")
_CAMEL_CASE = re.compile("^(?:[A-Z][a-z]+(?:[A-Z][a-z]+)+|[ie][A-Z][a-z]+)$")  # YouTube, iPhone
_NO_VOWEL = re.compile("^[b-df-hj-np-tv-xzB-DF-HJ-NP-TV-XZ]{2,}$")
_NO_VOWEL_ENGLISH = _words(
    """
    pls plz thx hmm hmmm btw pdf txt html http www mph kph ppm tbh smh lmk brb nth kgs psst
    kg km cm mm ml mg mr mrs dr st nd rd th pm hr hrs pc tv sms ltd pvt vs nw ft rs
    npk tsp mop bph blb mcpa gps kcl dsm
    """
)
# Tokens that say nothing about the encoding.
_NEUTRAL = re.compile(
    r"""^(?:
        [^A-Za-z]*                                  # numbers, symbols
      | \W*[A-Z]{2,}\W*                             # acronyms: NPK, TSP
      | \W*(?:https?://|www\.)\S*                   # URLs
      | \S+@\S+\.\w+                                # e-mail
      | \W*[A-Za-z][\w-]*[aeiouAEIOU][\w-]*\.[A-Za-z]{1,4}\W*  # files, domains
      | \W*[A-Za-z](?:\.[A-Za-z])+\.?\W*             # abbreviations: e.g. U.S.
    )$""",
    re.VERBOSE,
)
_VARIETY_PREFIXES = frozenset({"bg", "at", "bw", "ld"})
_VARIETY = re.compile(r"^(?:Bg|BG|bg|At|AT|at|Bw|BW|bw|Ld|LD|ld)[-\d]*$")
_WORD_EDGES = "\"'()“”‘’?!.,:;"


def _maybe_fm(text: str, vowelless_words: bool) -> bool:
    """Cheap text-level test that some word might carry an FM cue."""
    return bool(
        _FM_MARK.search(text)
        or _FM_LETTERS.search(text.lower())
        or _FM_PUNCT_INSIDE.search(text)
        or _CASE_SWITCH.search(text)
        or _FM_START_IN_TEXT.search(text)
        or (vowelless_words and _VOWELLESS_IN_TEXT.search(text))
    )


def _is_neutral(token: str, next_token: str) -> bool:
    """True for numbers, codes, URLs and other tokens that carry no FM evidence."""
    if token.isalpha():  # the common case, without the big regex
        neutral = len(token) > 1 and token.isupper() and token.isascii()
    else:
        neutral = _NEUTRAL.match(token) is not None
    if neutral or token[:2].lower() not in _VARIETY_PREFIXES or not _VARIETY.match(token):
        return neutral
    return any(c.isdigit() for c in token + next_token[:1])


@lru_cache(maxsize=8192)
def _has_fm_cue(token: str, vowelless_words: bool) -> bool:
    """True if ``token`` has a trait of FM-encoded Sinhala that English words lack."""
    core = token.strip(_WORD_EDGES)
    if core.lower() in _NO_VOWEL_ENGLISH:
        return False
    if _FM_START.search(token) or _FM_LETTERS.search(core.lower()):
        return True
    if _FM_MARK.search(token) and _FM_GLYPH_OR_KEY.search(token):
        return True
    if ("." in core or "," in core or ";" in core) and _FM_PUNCT_INSIDE.search(core):
        pieces = [p for p in _FM_PIECE.findall(core) if p]
        if any(len(p) < 2 or not _VOWEL.search(p) for p in pieces):
            return True
    if not core.islower() and _CASE_SWITCH.search(core) and not _CAMEL_CASE.match(core):
        return True
    return vowelless_words and _NO_VOWEL.match(core) is not None


def looks_like_fm(text: str, *, vowelless_words: bool = True) -> bool:
    """Guess whether ``text`` is Sinhala typed with an FM-Abhaya-style font.

    Such text arrives as ASCII and Latin-1 that only renders as Sinhala in the
    font (``isxy,`` = සිංහල). At least a third of the words must show an FM
    trait and outnumber the English words, so English, Singlish, numbers, URLs
    and text already in Sinhala script are left alone.

    Args:
        text: The message as typed.
        vowelless_words: Count words without a vowel (lr = කර) as FM. Turn it
            off for casefolded text, where acronyms (rpc, ssd) look the same.

    Example:
        >>> looks_like_fm("jS j.dj"), looks_like_fm("What is the capital of France?")
        (True, False)
    """
    if _SINHALA.search(text):
        return False
    if not _maybe_fm(text, vowelless_words):
        return False
    tokens = text.split()
    words = cues = english = 0
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if _is_neutral(token, following):
            continue
        words += 1
        if _has_fm_cue(token, vowelless_words):
            cues += 1
        elif token.strip(_WORD_EDGES).lower() in ENGLISH_WORDS:
            english += 1
    return cues >= 1 and cues > english and 3 * cues >= words


def fm_to_unicode(text: str) -> str:
    """Convert FM-Abhaya text to Unicode Sinhala (via ``sinhalanorm``).

    Digits and spaces pass through; every other ASCII character is read as a
    glyph, so call it only on text that :func:`looks_like_fm` accepts.

    Example:
        >>> fm_to_unicode("isxy,")
        'සිංහල'
    """
    return legacy_to_unicode(text, font="fm-abhaya")
