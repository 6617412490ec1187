"""Questions about another crop or animal: the bot knows paddy only.

"ළූණු වගාවට යූරියා කොච්චර දාන්නද" (how much urea for onions?) is worded like a paddy
question and scores like one, so a threshold alone answers it with the paddy dose. A
message that names another crop or farm animal and nothing of paddy is declined instead
(and queued for an officer, as every declined question is). Names are matched as whole
words or, for the longer Sinhala names, as the start of a word ("පොල්ගස්වල").
"""

from __future__ import annotations

import re

# Sinhala names matched at the start of a word (inflections follow them).
_OTHER_STEMS = (
    "පොල්", "රබර්", "කුරුඳු", "ගම්මිරිස්", "කරාබු", "එනසාල්", "කෝපි", "කොකෝවා", "කජු",
    "රටකජු", "මිරිස්", "ළූණු", "ලූණු", "තක්කාලි", "බෝංචි", "බණ්ඩක්කා", "වට්ටක්කා", "කරවිල",
    "පතෝල", "කැරට්", "අර්තාපල්", "ගෝවා", "වම්බටු", "මුකුණුවැන්න", "කංකුං", "එළවළු",
    "කෙසෙල්", "පැපොල්", "අන්නාසි", "දොඩම්", "කොමඩු", "ඉරිඟු", "කව්පි", "කුරක්කන්",
    "මඤ්ඤොක්කා", "සෝයා", "බුලත්", "බිම්මල්", "එළදෙන", "හරක්", "ගවයා", "ගවයින්",
    "එළු", "කුකුළ", "කුකුල", "තාරා", "මාළු", "ඉස්සො", "ඉස්සන්", "මීමැසි", "මී මැසි",
    "තේවත", "තේදළු", "තේ දළු", "තේපැළ", "තේ පැළ", "තේ කොළ", "තේ වගා", "තේ ගස්",
)
# Whole words only (short names that begin other words too).
_OTHER_WORDS = (
    "මුං", "උඳු", "තල", "උක්", "අඹ", "දෙහි", "බතල",
    "coconut", "coconuts", "pol", "rubber", "cinnamon", "pepper", "chili", "chilli",
    "chillies", "onion", "onions", "tomato", "tomatoes", "banana", "bananas", "maize",
    "corn", "vegetable", "vegetables", "potato", "potatoes", "mango", "papaya", "cattle",
    "cow", "cows", "goat", "goats", "chicken", "chickens", "poultry", "fish", "kukul",
    "kukulo", "miris", "lunu", "thakkali", "kesel", "elawalu", "eluwo", "harak",
)
# Any of these keeps the question a paddy one ("කුඹුර කපලා මුං දාන්න පුළුවන්ද").
_PADDY_STEMS = (
    "කුඹුර", "ගොයම", "බිත්තර වී", "වීවල", "වී වල", "ඩැපොග්", "තවාන", "වල් පැළ",
    # gall midge's "onion leaf", and manure a paddy farmer asks about
    "ළූණු කොළ", "ළූණු දළු", "onion leaf", "onion shoot", "කුකුළු පොහොර", "කුකුල් පොහොර",
    "ගව පොහොර", "ගොම",
)
_PADDY_WORDS = (
    "වී", "ගොයම්", "හාල්", "සහල්", "paddy", "rice", "wee", "vee", "goyam", "goyama",
    "kumbura", "kumburu", "kumbure",
)

_SINHALA_BOUNDARY = r"(?<![\u0D80-\u0DFF\u200d])"
_WORD_END = r"(?![\u0D80-\u0DFF\u200dA-Za-z])"


def _alternatives(names: tuple[str, ...]) -> str:
    return "|".join(re.escape(name) for name in sorted(set(names), key=len, reverse=True))


def _pattern(stems: tuple[str, ...], words: tuple[str, ...]) -> re.Pattern[str]:
    """Sinhala stems at a word's start, Sinhala words whole, Latin words whole."""
    latin = tuple(w for w in words if w.isascii())
    sinhala = tuple(w for w in words if not w.isascii())
    latin_stems = tuple(s for s in stems if s.isascii())
    sinhala_stems = tuple(s for s in stems if not s.isascii())
    parts = []  # an empty alternative would match every message
    if sinhala_stems:
        parts.append(rf"{_SINHALA_BOUNDARY}(?:{_alternatives(sinhala_stems)})")
    if sinhala:
        parts.append(rf"{_SINHALA_BOUNDARY}(?:{_alternatives(sinhala)}){_WORD_END}")
    if latin or latin_stems:
        parts.append(rf"\b(?:{_alternatives(latin + latin_stems)})\b")
    return re.compile("|".join(parts), re.IGNORECASE)


_OTHER = _pattern(_OTHER_STEMS, _OTHER_WORDS)
_PADDY = _pattern(_PADDY_STEMS, _PADDY_WORDS)


def names_another_crop(normalized: str) -> bool:
    """Whether a (normalized) message names another crop or farm animal and no paddy.

    Example:
        >>> names_another_crop("ළූණු වගාවට යූරියා කොච්චර දාන්නද")
        True
        >>> names_another_crop("කුඹුර කපලා මුං දාන්න පුළුවන්ද")
        False
        >>> names_another_crop("වී වලට යූරියා කවදද")
        False
    """
    return bool(_OTHER.search(normalized)) and not _PADDY.search(normalized)
