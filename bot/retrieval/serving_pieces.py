"""Which vocabulary pieces the serving model keeps: Sinhala, Latin, digits, punctuation, symbols."""

from __future__ import annotations

import unicodedata

METASPACE = "\u2581"  # SentencePiece's mark for a word's start
_SINHALA = (0x0D80, 0x0DFF)
_JOINERS = (0x200C, 0x200D)  # ZWNJ, ZWJ: inside Sinhala conjuncts and rakaransaya
_GENERAL_PUNCTUATION = (0x2000, 0x206F)
# Symbols and emoji farmers type: with only Latin-1's and General Punctuation's symbols,
# 13 texts of the bank and eval file (🙏, 👍, →, ❤️ ...) lost pieces. These add 1,103 rows.
_SYMBOL_BLOCKS = (
    (0x2070, 0x218F),  # superscripts, currency (₹), letterlike (℃), number forms
    (0x2190, 0x27BF),  # arrows, math, technical, shapes, misc symbols, dingbats
    (0xFE00, 0xFE0F),  # variation selectors (the emoji style of ❤️)
    (0x1F1E6, 0x1F1FF),  # regional indicators (flags)
    (0x1F300, 0x1FAFF),  # emoji
)


def serving_char(char: str) -> bool:
    """Whether the serving model keeps pieces with this character.

    Example:
        >>> [serving_char(c) for c in "වීaé7,→🙏"]
        [True, True, True, True, True, True, True, True]
        >>> [serving_char(c) for c in "稻Жب२"]
        [False, False, False, False]
    """
    code = ord(char)
    if _SINHALA[0] <= code <= _SINHALA[1] or code in _JOINERS:
        return True
    kind = unicodedata.category(char)[0]
    if code < 0x100:  # Basic Latin and Latin-1: letters, ASCII digits, punctuation, symbols
        return kind in "LPS" or "0" <= char <= "9"
    if _GENERAL_PUNCTUATION[0] <= code <= _GENERAL_PUNCTUATION[1]:
        return kind in "PS"
    return any(low <= code <= high for low, high in _SYMBOL_BLOCKS)


def serving_piece(piece: str) -> bool:
    """Whether every character of `piece`, the metaspace aside, is a `serving_char`.

    Example:
        >>> serving_piece("▁වී"), serving_piece("▁rice"), serving_piece("▁"), serving_piece("▁稻")
        (True, True, True, False)
    """
    return all(serving_char(char) for char in piece.replace(METASPACE, ""))
