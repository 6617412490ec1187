"""English farming words typed in Latin letters, read as the bank's Sinhala names.

Farmers mix English terms into Sinhala ("BPH වලට spray කරන්නද", "urea kg kiyada"). The
model reads the bank's Sinhala best, so a message with such terms is also searched with
each term replaced by the name the bank uses (`knowledge/english_terms.csv`, spelled as
`knowledge/GLOSSARY.md` says); in a romanized message the Latin words left over are
transliterated as Singlish.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.errors import ImportRejected, RowError
from bot.text.normalize import has_sinhala, normalize
from bot.text.singlish import singlish_to_sinhala

__all__ = ["ENGLISH_TERMS_PATH", "EnglishTerms", "bundled_terms", "sinhala_view"]

ENGLISH_TERMS_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "english_terms.csv"

_JOINERS = re.compile(r"[\s\-]+")
_LATIN_TERM = re.compile(r"[a-z][a-z\s\-]*[a-z]|[a-z]")
# Latin words joined by spaces or hyphens, not touching a digit or another letter.
_LATIN_RUN = re.compile(r"(?<![a-z0-9])[a-z](?:[a-z\s\-]*[a-z])?(?![a-z0-9])", re.IGNORECASE)


def _compact(term: str) -> str:
    """The key a term is known by: "Pre-harvest  interval" → "preharvestinterval"."""
    return _JOINERS.sub("", term.casefold())


@dataclass(frozen=True)
class EnglishTerms:
    """English term → the bank's Sinhala name, and one pattern that finds them all.

    Words of a term may be joined by spaces, hyphens or nothing ("leaf folder",
    "leaf-folder", "leaffolder"); the longest term wins; a term inside a longer Latin
    word ("rain" in "drain") is not one.

    Example:
        >>> terms = EnglishTerms.from_pairs([("leaf folder", "කොළ හකුලන දළඹුවා"), ("spray", "ඉසින්න")])
        >>> terms.replace("leaf-folder වලට spray කරන්නද")
        'කොළ හකුලන දළඹුවා වලට ඉසින්න කරන්නද'
    """

    names: dict[str, str]
    pattern: re.Pattern[str]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> EnglishTerms:
        names = {_compact(english): sinhala for english, sinhala in pairs}
        words = sorted(
            (_JOINERS.split(english.casefold().strip()) for english, _ in pairs),
            key=lambda parts: -len("".join(parts)),
        )
        alternatives = "|".join(r"[\s\-]*".join(map(re.escape, parts)) for parts in words)
        pattern = re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])", re.IGNORECASE)
        return cls(names, pattern)

    @classmethod
    def read(cls, path: Path = ENGLISH_TERMS_PATH) -> EnglishTerms:
        """Read a two-column CSV (english, sinhala); every bad row is reported by line."""
        pairs: list[tuple[str, str]] = []
        errors: list[RowError] = []
        seen: dict[str, int] = {}
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames != ["english", "sinhala"]:
                raise ImportRejected([RowError(1, "the header must be: english,sinhala")])
            for line, row in enumerate(reader, start=2):
                english = (row["english"] or "").strip()
                sinhala = (row["sinhala"] or "").strip()
                key = _compact(english)
                if not _LATIN_TERM.fullmatch(english.casefold()):
                    errors.append(RowError(line, f"'{english}' is not an English term"))
                elif not has_sinhala(sinhala):
                    errors.append(RowError(line, f"'{english}' needs its Sinhala name"))
                elif key in seen:
                    errors.append(RowError(line, f"'{english}' repeats line {seen[key]}"))
                else:
                    seen[key] = line
                    pairs.append((english, sinhala))
        if errors:
            raise ImportRejected(errors)
        return cls.from_pairs(pairs)

    def replace(self, text: str) -> str:
        # The big pattern is tried only on runs of Latin words: most messages have none.
        return _LATIN_RUN.sub(lambda run: self.pattern.sub(self._name, run.group()), text)

    def _name(self, match: re.Match[str]) -> str:
        return self.names[_compact(match.group())]


@lru_cache(maxsize=1)
def bundled_terms() -> EnglishTerms:
    return EnglishTerms.read()


def sinhala_view(
    normalized: str, romanized: str | None = None, terms: EnglishTerms | None = None
) -> str | None:
    """The message with its English terms in Sinhala, or None if it has none.

    `romanized` is a Singlish message as typed (`romanized_view`): its terms are
    replaced before the rest is transliterated, which would otherwise spell "certified"
    in Sinhala letters. Latin text that stayed Latin after normalizing is treated the
    same way: romanized Sinhala the Singlish detector was unsure of.

    Example:
        >>> sinhala_view("bph වලට spray කරන්නද")
        'දුඹුරු පැළ කීඩෑවා වලට ඉසින්න කරන්නද'
        >>> sinhala_view("certified seed paddy ganne koheda")
        'සහතික කළ බිත්තර වී වී ගන්නේ කොහේද'
        >>> sinhala_view("වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද") is None
        True
    """
    terms = terms or bundled_terms()
    if romanized is None and not has_sinhala(normalized):
        romanized = normalized
    source = romanized if romanized is not None else normalized
    replaced = terms.replace(source)
    if replaced == source:
        return None
    if romanized is not None:
        replaced = singlish_to_sinhala(replaced)
    view = normalize(replaced)
    return view if view != normalized else None
