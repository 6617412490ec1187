"""Bank files (CSV, JSONL) to validated pairs and back; an import is all or nothing.

CSV is UTF-8 (a BOM is fine) with a header holding `question` and `answer` and,
optionally, `alternates` (phrasings separated by `|`), `topic`, `source`, `zone`,
`review_by` (YYYY-MM-DD) and `id` (ignored on import). JSONL holds one object per line
with the same keys; `alternates` may be a list.

A pair whose answer differs by agro-ecological zone has one row per zone (`zone` =
wet, intermediate or dry) besides its general row (no zone): the same question on each.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.errors import ImportRejected, RowError
from bot.storage import bank
from bot.storage.models import QAPair
from bot.text.normalize import normalize_key

COLUMNS = ("question", "answer", "alternates", "topic", "source", "zone", "review_by", "id")
REQUIRED = ("question", "answer")
ZONES = ("wet", "intermediate", "dry")
MAX_QUESTION = 1000
MAX_ANSWER = 4000
MAX_SHORT = 100  # topic
MAX_SOURCE = 500
ALTERNATE_SEPARATOR = " | "
# A spreadsheet runs a cell that starts with one of these as a formula.
FLUSH_EVERY = 1000  # new pairs written per flush on import
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class OnDuplicate(StrEnum):
    """What to do with a question the file repeats, or the bank already has.

    FAIL: reject the import. SKIP: keep the first (or the bank's). MERGE: when the answers
    agree, the repeat's phrasings join the pair; when they differ, reject with both lines.
    UPDATE: the file's answer replaces the bank's (repeats within the file still fail).
    """

    FAIL = "fail"
    SKIP = "skip"
    MERGE = "merge"
    UPDATE = "update"
    ERROR = "error"  # the old name of FAIL


@dataclass
class VariantRow:
    """A zone's own answer to a pair's question."""

    line: int
    zone: str
    answer: str
    source: str | None = None
    review_by: date | None = None


@dataclass
class PairRow:
    """One validated pair of a bank file: its general row plus any zone rows."""

    line: int
    question: str
    answer: str
    alternates: list[str] = field(default_factory=list)
    topic: str | None = None
    source: str | None = None
    review_by: date | None = None
    variants: list[VariantRow] = field(default_factory=list)
    merged_lines: list[int] = field(default_factory=list)  # repeats folded into this pair


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    merged: int = 0
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (line, existing pair id)
    pair_ids: list[int] = field(default_factory=list)
    repeats: list[tuple[int, int]] = field(default_factory=list)  # (line, first line) in file
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def read_bank_file(
    path: Path, data: bytes | None = None, *, on_duplicate: OnDuplicate = OnDuplicate.FAIL
) -> list[PairRow]:
    """Read and validate a whole CSV or JSONL file; ImportRejected lists every bad row.

    `on_duplicate` decides what a question repeated within the file does (see
    `OnDuplicate`); zone rows of one question are not repeats.
    """
    raw = path.read_bytes() if data is None else data
    errors: list[RowError] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ImportRejected([RowError(line, "not UTF-8 text (save the file as UTF-8)")]) from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        flat = list(_jsonl_rows(text, errors))
    elif suffix in (".csv", ".txt", ""):
        flat = list(_csv_rows(text, errors))
    else:
        raise ImportRejected([RowError(0, f"unknown file type {suffix!r}: use .csv or .jsonl")])
    rows = _group(flat, errors, on_duplicate)
    if not rows and not errors:
        errors.append(RowError(1, "the file holds no QA pairs"))
    if errors:
        raise ImportRejected(sorted(errors, key=lambda error: error.line))
    return rows


@dataclass
class _FlatRow:
    line: int
    question: str
    answer: str
    alternates: list[str]
    topic: str | None
    source: str | None
    zone: str
    review_by: date | None


def _csv_rows(text: str, errors: list[RowError]) -> Iterator[_FlatRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        errors.append(RowError(1, f"unreadable header: {error}"))
        return
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        problems = [f"missing column(s): {', '.join(missing)}"] if missing else []
        if unknown:
            problems.append(f"unknown column(s): {', '.join(unknown)}")
        errors.append(RowError(1, "; ".join(problems) + f" (expected {', '.join(COLUMNS)})"))
        return
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            errors.append(RowError(line, f"broken CSV: {error}"))
            return
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            errors.append(RowError(line, f"has {len(cells)} fields, the header has {len(header)}"))
            continue
        row = _validated(line, dict(zip(header, cells, strict=True)), errors)
        if row is not None:
            yield row


def _jsonl_rows(text: str, errors: list[RowError]) -> Iterator[_FlatRow]:
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            item = json.loads(content)
        except json.JSONDecodeError as error:
            errors.append(RowError(line, f"not valid JSON: {error.msg}"))
            continue
        except RecursionError:
            errors.append(RowError(line, "not valid JSON: nested too deeply"))
            continue
        if not isinstance(item, dict):
            errors.append(RowError(line, "each line must be a JSON object"))
            continue
        unknown = sorted(set(item) - set(COLUMNS))
        if unknown:
            errors.append(RowError(line, f"unknown key(s): {', '.join(unknown)}"))
            continue
        row = _validated(line, item, errors)
        if row is not None:
            yield row


def _validated(line: int, item: dict[str, Any], errors: list[RowError]) -> _FlatRow | None:
    problems = []
    question, answer = item.get("question"), item.get("answer")
    for name, value, limit in (
        ("question", question, MAX_QUESTION),
        ("answer", answer, MAX_ANSWER),
    ):
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} is empty")
        elif len(value) > limit:
            problems.append(f"{name} is longer than {limit} characters")
    alternates = item.get("alternates") or []
    if isinstance(alternates, str):
        alternates = alternates.split("|")
    if not isinstance(alternates, list) or not all(isinstance(a, str) for a in alternates):
        problems.append("alternates must be text separated by | or a list of text")
        alternates = []
    elif any(len(a.strip()) > MAX_QUESTION for a in alternates):
        problems.append(f"an alternate is longer than {MAX_QUESTION} characters")
    for name, limit in (("topic", MAX_SHORT), ("source", MAX_SOURCE), ("zone", 20)):
        value = item.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(f"{name} must be text")
        elif value and len(value) > limit:
            problems.append(f"{name} is longer than {limit} characters")
    zone = str(item.get("zone") or "").strip().lower()
    if zone and zone not in ZONES:
        problems.append(f"zone must be empty or one of {', '.join(ZONES)}, not {zone!r}")
    review_by = _date(item.get("review_by"), problems)
    if any("\x00" in str(value) for value in item.values()):
        problems.append("holds a NUL character")
    if problems:
        errors.append(RowError(line, "; ".join(problems)))
        return None
    assert isinstance(question, str) and isinstance(answer, str)  # or problems said so
    return _FlatRow(
        line=line,
        question=question.strip(),
        answer=answer.strip(),
        alternates=[a.strip() for a in alternates if a.strip()],
        topic=(item.get("topic") or "").strip() or None,
        source=(item.get("source") or "").strip() or None,
        zone=zone,
        review_by=review_by,
    )


def _date(value: object, problems: list[str]) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        problems.append(f"review_by must be a date like 2026-03-31, not {value!r}")
        return None


def _group(rows: list[_FlatRow], errors: list[RowError], mode: OnDuplicate) -> list[PairRow]:
    """Fold zone rows into their pair and deal with repeated questions by `mode`."""
    pairs: dict[str, PairRow] = {}
    owner: dict[str, str] = {}  # any text key -> the question key of the pair that has it
    lines: dict[str, int] = {}  # a pair's question key -> its first line
    zones: dict[str, dict[str, int]] = {}
    for row in rows:
        key = normalize_key(row.question)
        home = owner.get(key)
        if row.zone:
            if home is None:
                pairs.setdefault(key, _pending(row))
                owner[key] = home = key
            taken = zones.setdefault(home, {})
            if row.zone in taken:
                errors.append(RowError(row.line, f"zone {row.zone} repeats line {taken[row.zone]}"))
                continue
            taken[row.zone] = row.line
            pair = pairs[home]
            pair.variants.append(
                VariantRow(row.line, row.zone, row.answer, row.source, row.review_by)
            )
            _add_alternates(pair, row, owner, home, errors, mode, lines)
            pair.topic = pair.topic or row.topic
            continue
        if home is not None and pairs[home].answer:
            _repeat(pairs[home], row, errors, mode, owner, home, lines)
            continue
        if home is not None:  # zone rows came first; this is the general row
            pair = pairs[home]
            pair.line, pair.question, pair.answer = row.line, row.question, row.answer
            pair.source, pair.review_by = row.source, row.review_by
            pair.topic = row.topic or pair.topic
        else:
            pair = pairs[key] = _pending(row)
            pair.answer, pair.source, pair.review_by = row.answer, row.source, row.review_by
            owner[key] = key
            home = key
        _add_alternates(pair, row, owner, home, errors, mode, lines)
    for pair in pairs.values():
        if not pair.answer:
            errors.append(
                RowError(pair.line, "zone rows need a general row (no zone) with the same question")
            )
    return [pair for pair in pairs.values() if pair.answer]


def _pending(row: _FlatRow) -> PairRow:
    return PairRow(line=row.line, question=row.question, answer="", topic=row.topic)


def _add_alternates(
    pair: PairRow,
    row: _FlatRow,
    owner: dict[str, str],
    home: str,
    errors: list[RowError],
    mode: OnDuplicate,
    lines: dict[str, int],
) -> None:
    """Add the row's phrasings; one another pair already has is an error (fail) or dropped."""
    lines.setdefault(home, pair.line)
    for text in row.alternates:
        key = normalize_key(text)
        other = owner.get(key)
        if other is None:
            owner[key] = home
            pair.alternates.append(text)
        elif other != home and mode in (OnDuplicate.FAIL, OnDuplicate.ERROR, OnDuplicate.UPDATE):
            errors.append(
                RowError(row.line, f"'{text}' repeats a question from line {lines[other]}")
            )


def _repeat(
    pair: PairRow,
    row: _FlatRow,
    errors: list[RowError],
    mode: OnDuplicate,
    owner: dict[str, str],
    home: str,
    lines: dict[str, int],
) -> None:
    if mode is OnDuplicate.SKIP:
        pair.merged_lines.append(row.line)
        return
    if mode is OnDuplicate.MERGE:
        if normalize_key(row.answer) != normalize_key(pair.answer):
            errors.append(
                RowError(
                    row.line,
                    f"repeats the question of line {pair.line} with a different answer "
                    "(merge needs the answers to agree)",
                )
            )
            return
        pair.merged_lines.append(row.line)
        if normalize_key(row.question) != normalize_key(pair.question):
            row = _FlatRow(**{**row.__dict__, "alternates": [row.question, *row.alternates]})
        _add_alternates(pair, row, owner, home, errors, mode, lines)
        return
    errors.append(
        RowError(row.line, f"'{row.question}' repeats a question from line {lines[home]}")
    )


def import_rows(
    session: Session,
    rows: Iterable[PairRow],
    *,
    on_duplicate: OnDuplicate = OnDuplicate.SKIP,
    created_by: str | None = None,
) -> ImportReport:
    """Add validated rows in the caller's transaction; FAIL rejects all on any duplicate.

    The bank's question keys are read once and new pairs are flushed in chunks, so a
    100,000-row file costs a few queries per chunk rather than several per row.
    """
    report = ImportReport()
    errors = []
    known = bank.question_keys(session)
    pending: list[QAPair] = []

    def flush_pending() -> None:
        session.flush()
        report.pair_ids.extend(pair.id for pair in pending)
        pending.clear()

    added: dict[str, QAPair] = {}  # the keys of pairs this file adds
    for row in rows:
        report.repeats += [(line, row.line) for line in row.merged_lines]
        key = bank.text_key(row.question)
        existing_id, earlier = known.get(key), added.get(key)
        if existing_id is None and earlier is None:
            pair = bank.new_pair(
                row.question,
                row.answer,
                row.alternates,
                topic=row.topic,
                source=row.source,
                created_by=created_by,
                review_by=row.review_by,
                variants=row.variants,
            )
            session.add(pair)
            pending.append(pair)
            if len(pending) >= FLUSH_EVERY:
                flush_pending()
            for text_key in _keys(pair):
                added.setdefault(text_key, pair)
            report.added += 1
            continue
        flush_pending()  # rows that touch a pair keep the file's order
        existing = bank.get_pair(session, existing_id) if existing_id is not None else earlier
        assert existing is not None
        report.duplicates.append((row.line, existing.id))
        if on_duplicate in (OnDuplicate.FAIL, OnDuplicate.ERROR):
            errors.append(
                RowError(row.line, f"the bank already has this question (pair {existing.id})")
            )
        elif on_duplicate is OnDuplicate.MERGE:
            if normalize_key(row.answer) != normalize_key(existing.answer):
                errors.append(
                    RowError(
                        row.line,
                        f"the bank has this question as pair {existing.id} with another answer",
                    )
                )
                continue
            for text in row.alternates:
                bank.add_phrasing(session, existing.id, text, "bank")
            report.merged += 1
            report.pair_ids.append(existing.id)
        elif on_duplicate is OnDuplicate.UPDATE:
            for text_key in _keys(existing):
                if known.get(text_key) == existing.id:
                    del known[text_key]
            bank.update_pair(
                session,
                existing.id,
                answer=row.answer,
                alternates=row.alternates or None,  # a row without any keeps the bank's
                topic=row.topic,
                source=row.source,
                review_by=row.review_by,
                variants=row.variants,
                updated_by=created_by,
            )
            for text_key in _keys(existing):
                known[text_key] = min(existing.id, known.get(text_key, existing.id))
            report.updated += 1
            report.pair_ids.append(existing.id)
    flush_pending()
    if errors:
        raise ImportRejected(errors)
    return report


def _keys(pair: QAPair) -> list[str]:
    return [pair.question_key, *(phrasing.text_key for phrasing in pair.phrasings)]


def write_bank_file(pairs: Iterable[QAPair], path: Path) -> int:
    """Write pairs as CSV (UTF-8 with BOM, so spreadsheet programs show Sinhala) or JSONL."""
    pairs = list(pairs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        lines = (
            json.dumps(record, ensure_ascii=False) + "\n"
            for pair in pairs
            for record in _records(pair)
        )
        path.write_text("".join(lines), encoding="utf-8")
    else:
        path.write_bytes(bank_csv_bytes(pairs))
    return len(pairs)


def bank_csv_bytes(pairs: Iterable[QAPair]) -> bytes:
    """The bank as CSV bytes with a BOM, ready to save or send as a document.

    Cells that a spreadsheet would run as a formula (starting with = + - @ or a tab) get
    a leading apostrophe, so a farmer's "=HYPERLINK(...)" reaches an officer as text.
    """
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for pair in pairs:
        for record in _records(pair):
            record["alternates"] = ALTERNATE_SEPARATOR.join(record["alternates"])
            writer.writerow({key: defuse_formula(value) for key, value in record.items()})
    return buffer.getvalue().encode("utf-8-sig")


def defuse_formula(value: object) -> object:
    """A spreadsheet cell's text with a leading apostrophe if it would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _records(pair: QAPair) -> list[dict[str, Any]]:
    general = {
        "id": pair.id,
        "question": pair.question,
        "answer": pair.answer,
        "alternates": [p.text for p in pair.phrasings],
        "topic": pair.topic or "",
        "source": pair.source or "",
        "zone": "",
        "review_by": pair.review_by.isoformat() if pair.review_by else "",
    }
    variants = [
        {
            "id": pair.id,
            "question": pair.question,
            "answer": variant.answer,
            "alternates": [],
            "topic": "",
            "source": variant.source or "",
            "zone": variant.zone,
            "review_by": variant.review_by.isoformat() if variant.review_by else "",
        }
        for variant in pair.variants
    ]
    return [general, *variants]
