"""Bank files (CSV, JSONL) to validated pairs and back; an import is all or nothing.

CSV is UTF-8 (a BOM is fine) with a header holding `question` and `answer` and, optionally,
`alternates` (phrasings separated by `|`), `topic`, `source` and `id` (ignored on import).
JSONL holds one object per line with the same keys; `alternates` may be a list.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sqlalchemy.orm import Session

from bot.errors import ImportRejected, RowError
from bot.storage import bank
from bot.storage.models import QAPair
from bot.text.normalize import normalize_key

COLUMNS = ("question", "answer", "alternates", "topic", "source", "id")
REQUIRED = ("question", "answer")
MAX_QUESTION = 1000
MAX_ANSWER = 4000
ALTERNATE_SEPARATOR = " | "


@dataclass
class PairRow:
    """One validated row of a bank file."""

    line: int
    question: str
    answer: str
    alternates: list[str] = field(default_factory=list)
    topic: str | None = None
    source: str | None = None


class OnDuplicate(StrEnum):
    """What to do with a row whose question the bank already has."""

    SKIP = "skip"
    UPDATE = "update"
    ERROR = "error"


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (line, existing pair id)
    pair_ids: list[int] = field(default_factory=list)


def read_bank_file(path: Path, data: bytes | None = None) -> list[PairRow]:
    """Read and validate a whole CSV or JSONL file; ImportRejected lists every bad row."""
    raw = path.read_bytes() if data is None else data
    errors: list[RowError] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ImportRejected([RowError(line, "not UTF-8 text (save the file as UTF-8)")]) from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = list(_jsonl_rows(text, errors))
    elif suffix in (".csv", ".txt", ""):
        rows = list(_csv_rows(text, errors))
    else:
        raise ImportRejected([RowError(0, f"unknown file type {suffix!r}: use .csv or .jsonl")])
    errors.extend(_duplicates_within(rows))
    if not rows and not errors:
        errors.append(RowError(1, "the file holds no QA pairs"))
    if errors:
        raise ImportRejected(sorted(errors, key=lambda error: error.line))
    return rows


def _csv_rows(text: str, errors: list[RowError]) -> Iterator[PairRow]:
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


def _jsonl_rows(text: str, errors: list[RowError]) -> Iterator[PairRow]:
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            item = json.loads(content)
        except json.JSONDecodeError as error:
            errors.append(RowError(line, f"not valid JSON: {error.msg}"))
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


def _validated(line: int, item: dict, errors: list[RowError]) -> PairRow | None:
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
        alternates = [part for part in alternates.split("|")]
    if not isinstance(alternates, list) or not all(isinstance(a, str) for a in alternates):
        problems.append("alternates must be text separated by | or a list of text")
        alternates = []
    for name in ("topic", "source"):
        if item.get(name) is not None and not isinstance(item[name], str):
            problems.append(f"{name} must be text")
    if problems:
        errors.append(RowError(line, "; ".join(problems)))
        return None
    return PairRow(
        line=line,
        question=question.strip(),
        answer=answer.strip(),
        alternates=[a.strip() for a in alternates if a.strip()],
        topic=(item.get("topic") or "").strip() or None,
        source=(item.get("source") or "").strip() or None,
    )


def _duplicates_within(rows: list[PairRow]) -> Iterator[RowError]:
    first_line: dict[str, int] = {}
    for row in rows:
        for text in (row.question, *row.alternates):
            key = normalize_key(text)
            if key in first_line and first_line[key] != row.line:
                yield RowError(row.line, f"'{text}' repeats a question from line {first_line[key]}")
            first_line.setdefault(key, row.line)


def import_rows(
    session: Session,
    rows: Iterable[PairRow],
    *,
    on_duplicate: OnDuplicate = OnDuplicate.SKIP,
    created_by: str | None = None,
) -> ImportReport:
    """Add validated rows in the caller's transaction; with ERROR, any duplicate rejects all."""
    report = ImportReport()
    errors = []
    for row in rows:
        existing = bank.find_pair_by_question(session, row.question)
        if existing is None:
            pair = bank.add_pair(
                session,
                row.question,
                row.answer,
                row.alternates,
                topic=row.topic,
                source=row.source,
                created_by=created_by,
            )
            report.added += 1
            report.pair_ids.append(pair.id)
            continue
        report.duplicates.append((row.line, existing.id))
        if on_duplicate is OnDuplicate.ERROR:
            errors.append(
                RowError(row.line, f"the bank already has this question (pair {existing.id})")
            )
        elif on_duplicate is OnDuplicate.UPDATE:
            bank.update_pair(
                session,
                existing.id,
                answer=row.answer,
                alternates=row.alternates,
                topic=row.topic,
                source=row.source,
                updated_by=created_by,
            )
            report.updated += 1
            report.pair_ids.append(existing.id)
    if errors:
        raise ImportRejected(errors)
    return report


def write_bank_file(pairs: Iterable[QAPair], path: Path) -> int:
    """Write pairs as CSV (UTF-8 with BOM, so spreadsheet programs show Sinhala) or JSONL."""
    pairs = list(pairs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        lines = (json.dumps(_as_dict(pair), ensure_ascii=False) + "\n" for pair in pairs)
        path.write_text("".join(lines), encoding="utf-8")
    else:
        path.write_bytes(bank_csv_bytes(pairs))
    return len(pairs)


def bank_csv_bytes(pairs: Iterable[QAPair]) -> bytes:
    """The bank as CSV bytes with a BOM, ready to save or send as a document."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for pair in pairs:
        row = _as_dict(pair)
        row["alternates"] = ALTERNATE_SEPARATOR.join(row["alternates"])
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8-sig")


def _as_dict(pair: QAPair) -> dict:
    return {
        "id": pair.id,
        "question": pair.question,
        "answer": pair.answer,
        "alternates": [p.text for p in pair.phrasings],
        "topic": pair.topic or "",
        "source": pair.source or "",
    }
