"""`agribot qa check`: lint a bank (a file or the database) before farmers read it.

Errors (the command exits non-zero): a source code that `knowledge/SOURCES.md` lacks, a
pair with no source. Warnings: near-duplicate questions across pairs, near-identical
questions whose answers give different numbers (likely contradictions), pairs without
alternates, Latin-only technical terms with no Sinhala name, a `review_by` date that has
passed, a pair with no zone answers where a sibling pair (same topic, similar question)
has them, and spellings `knowledge/GLOSSARY.md` lists as wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.storage.importer import PairRow
from bot.storage.models import QAPair
from bot.storage.sources import Source, split_codes
from bot.text.normalize import normalize_key

GLOSSARY_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "GLOSSARY.md"
CONTRADICTION = 80  # questions this alike (0-100), differing only in spelling, are one
SAME_ANSWER = 85  # two pairs whose answers are this alike probably answer one question
SIBLING = 70  # same topic and this alike: siblings, which should agree on zone answers

ERROR, WARNING = "error", "warning"

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_PARENTHESES = re.compile(r"\([^()]*\)")
# Latin words a farmer meets as they are: variety codes, units, chemical and product
# abbreviations the DOA itself prints in Latin letters.
_ALLOWED_LATIN = frozenset(
    [
        "bg",
        "at",
        "bw",
        "ld",
        "h",
        "kg",
        "g",
        "ml",
        "l",
        "ha",
        "mm",
        "cm",
        "m",
        "km",
        "t",
        "ppm",
        "rs",
        "ec",
        "wp",
        "sc",
        "wg",
        "gr",
        "sl",
        "ew",
        "ww",
        "urea",
        "tsp",
        "mop",
        "npk",
        "zn",
        "lcc",
        "ipm",
        "awd",
        "bph",
        "blb",
        "etl",
        "igr",
        "doa",
        "rrdi",
        "aaib",
        "arpa",
        "ai",
    ]
)
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z\-']*(?:\s+[A-Za-z][A-Za-z\-']*)*")


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    where: str  # "line 12" (a file) or "pair 12" (the database)
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


@dataclass(frozen=True)
class CheckedPair:
    """What the checks need of a pair, from a file row or a database row."""

    where: str
    question: str
    answer: str
    alternates: tuple[str, ...]
    topic: str | None
    sources: tuple[str | None, ...]  # the general answer's and each zone answer's
    answers: tuple[str, ...]  # the general answer and each zone answer
    zones: tuple[str, ...]
    review_by: tuple[date, ...]

    @classmethod
    def of_row(cls, row: PairRow) -> CheckedPair:
        return cls(
            f"line {row.line}",
            row.question,
            row.answer,
            tuple(row.alternates),
            row.topic,
            (row.source, *(v.source or row.source for v in row.variants)),
            (row.answer, *(v.answer for v in row.variants)),
            tuple(v.zone for v in row.variants),
            tuple(d for d in (row.review_by, *(v.review_by for v in row.variants)) if d),
        )

    @classmethod
    def of_pair(cls, pair: QAPair) -> CheckedPair:
        return cls(
            f"pair {pair.id}",
            pair.question,
            pair.answer,
            tuple(p.text for p in pair.phrasings),
            pair.topic,
            (pair.source, *(v.source or pair.source for v in pair.variants)),
            (pair.answer, *(v.answer for v in pair.variants)),
            tuple(v.zone for v in pair.variants),
            tuple(d for d in (pair.review_by, *(v.review_by for v in pair.variants)) if d),
        )


def check_bank(
    pairs: Sequence[CheckedPair],
    sources: dict[str, Source],
    *,
    today: date | None = None,
    glossary: dict[str, str] | None = None,
) -> list[Finding]:
    """Every finding for the bank, errors first, each group in bank order."""
    today = today or date.today()
    glossary = read_glossary() if glossary is None else glossary
    findings: list[Finding] = []
    for pair in pairs:
        findings += _check_sources(pair, sources)
        if not pair.alternates:
            findings.append(Finding(WARNING, pair.where, "no alternate phrasings"))
        findings += _check_latin(pair)
        findings += _check_spelling(pair, glossary)
        stale = [d for d in pair.review_by if d < today]
        if stale:
            findings.append(
                Finding(WARNING, pair.where, f"review_by {min(stale).isoformat()} has passed")
            )
    findings += _check_across(pairs)
    return sorted(findings, key=lambda f: f.level != ERROR)


def read_glossary(path: Path = GLOSSARY_PATH) -> dict[str, str]:
    """Spellings to avoid -> the one to write, from the glossary's last column."""
    wrong: dict[str, str] = {}
    if not path.is_file():
        return wrong
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[2] or cells[0].startswith(("Sinhala", "---")):
            continue
        for spelling in cells[2].split(","):
            if spelling.strip():
                wrong[spelling.strip()] = cells[0]
    return wrong


def _check_sources(pair: CheckedPair, sources: dict[str, Source]) -> list[Finding]:
    findings = []
    codes = [code for source in pair.sources for code in split_codes(source)]
    if not codes:
        findings.append(Finding(ERROR, pair.where, "no source"))
    for code in dict.fromkeys(codes):
        if code not in sources:
            findings.append(
                Finding(ERROR, pair.where, f"source code {code!r} is not in SOURCES.md")
            )
    return findings


def latin_terms(answer: str) -> list[str]:
    """Latin-script words of an answer outside parentheses that are not codes or units.

    "දුඹුරු පැළ කීඩෑවා (brown planthopper)" is fine: the Sinhala name comes first.
    """
    outside = _PARENTHESES.sub(" ", answer)
    terms = []
    for run in _LATIN_RUN.findall(outside):
        words = [w for w in run.lower().split() if w not in _ALLOWED_LATIN and len(w) > 1]
        if words:
            terms.append(run.strip())
    return list(dict.fromkeys(terms))


def _check_latin(pair: CheckedPair) -> list[Finding]:
    terms = [term for answer in pair.answers for term in latin_terms(answer)]
    if not terms:
        return []
    shown = ", ".join(dict.fromkeys(terms[:5]))
    return [Finding(WARNING, pair.where, f"Latin-only term(s) without a Sinhala name: {shown}")]


def _check_spelling(pair: CheckedPair, glossary: dict[str, str]) -> list[Finding]:
    # alternates keep farmers' own spellings on purpose: what farmers read is checked
    text = " ".join((pair.question, *pair.answers))
    return [
        Finding(WARNING, pair.where, f"write '{right}', not '{wrong}' (GLOSSARY.md)")
        for wrong, right in glossary.items()
        if wrong in text
    ]


def _check_across(pairs: Sequence[CheckedPair]) -> list[Finding]:
    """Near-duplicates, likely contradictions and missing zone answers, pair against pair."""
    from rapidfuzz import fuzz, process

    keys = [normalize_key(pair.question) for pair in pairs]
    scores = process.cdist(keys, keys, scorer=fuzz.ratio, workers=-1)
    answers = [normalize_key(pair.answer) for pair in pairs]
    answer_scores = process.cdist(answers, answers, scorer=fuzz.ratio, workers=-1)
    findings = []
    for i, pair in enumerate(pairs):
        for j in range(i + 1, len(pairs)):
            if answer_scores[i][j] >= SAME_ANSWER and _numbers(pair.answer) == _numbers(
                pairs[j].answer
            ):
                findings.append(
                    Finding(
                        WARNING,
                        pair.where,
                        f"its answer nearly repeats {pairs[j].where}'s "
                        f"({answer_scores[i][j]:.0f}%): one pair with both questions?",
                    )
                )
            score = scores[i][j]
            if score < SIBLING:
                continue
            other = pairs[j]
            if score >= CONTRADICTION and same_question(keys[i], keys[j]):
                differ = _numbers(pair.answer) != _numbers(other.answer)
                findings.append(
                    Finding(
                        WARNING,
                        pair.where,
                        (
                            f"asks what {other.where} asks, but its answer gives other numbers: "
                            "a contradiction?"
                            if differ
                            else f"question nearly repeats {other.where} ({score:.0f}%)"
                        )
                        + f" ({pair.question} / {other.question})",
                    )
                )
            if pair.topic == other.topic and bool(pair.zones) != bool(other.zones):
                lacking, having = (pair, other) if not pair.zones else (other, pair)
                findings.append(
                    Finding(
                        WARNING,
                        lacking.where,
                        f"no zone answers, but its sibling {having.where} has them",
                    )
                )
    return findings


def same_question(first: str, second: str) -> bool:
    """Whether two normalized questions differ only in spelling, not in what they ask.

    Words in one and not the other must each have a look-alike on the other side
    (කවදාද / කවදද); a differing number or word (week 2 / week 4, යල / මහ) makes
    them different questions, as the bank's neighbours often are on purpose.
    """
    from rapidfuzz import fuzz

    a, b = set(first.split()), set(second.split())
    only_a, only_b = a - b, b - a
    if not only_a and not only_b:
        return True
    if any(_NUMBER.search(word) for word in only_a | only_b):
        return False
    return all(any(fuzz.ratio(word, other) >= 75 for other in only_b) for word in only_a) and all(
        any(fuzz.ratio(word, other) >= 75 for other in only_a) for word in only_b
    )


def _numbers(text: str) -> frozenset[str]:
    return frozenset(_NUMBER.findall(text))
