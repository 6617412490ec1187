"""Checks that a trimmed model gives the full model's vectors for every bank text and eval query."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.retrieval.encoder import Encoder
from bot.service.evaluation import read_queries
from bot.storage.importer import read_bank_file

logger = logging.getLogger(__name__)

# Same text, same rows, a different graph: what is left is float noise (measured ~1e-7).
IDENTICAL_COSINE = 0.9999


@dataclass(frozen=True)
class CheckTexts:
    """Questions (bank questions, alternates, eval queries) and passages (answers)."""

    queries: list[str]
    passages: list[str]


@dataclass(frozen=True)
class TrimCheck:
    """The lowest cosine between the two models' vectors of one text, and where it was."""

    queries: int
    passages: int
    min_cosine: float
    worst: str  # "query 12" or "passage 3": an index into CheckTexts, not the text
    seconds: float

    @property
    def identical(self) -> bool:
        return self.min_cosine >= IDENTICAL_COSINE


def read_check_texts(bank: Path, queries: Path) -> CheckTexts:
    """Every question, alternate and answer (zones' answers too) of `bank`, and every query
    of the eval file `queries`, each once."""
    rows = read_bank_file(bank)
    questions = [text for row in rows for text in (row.question, *row.alternates)]
    questions += [query.query for query in read_queries(queries)]
    answers = [text for row in rows for text in (row.answer, *(v.answer for v in row.variants))]
    return CheckTexts(list(dict.fromkeys(questions)), list(dict.fromkeys(answers)))


def check_trim(source: Path, trimmed: Path, texts: CheckTexts, backend: str = "onnx") -> TrimCheck:
    """Encode `texts` with both models as the bot would (questions with the query prompt,
    answers with the passage prompt) and compare each text's two vectors."""
    started = time.perf_counter()
    full, cut = (_encode(path, texts, backend) for path in (source, trimmed))
    worst = ("query", 0, 1.0)
    for kind, a, b in (("query", full[0], cut[0]), ("passage", full[1], cut[1])):
        cosines = _cosines(a, b)
        if len(cosines) and cosines.min() < worst[2]:
            worst = (kind, int(cosines.argmin()), float(cosines.min()))
    seconds = time.perf_counter() - started
    logger.info("checked %s against %s in %.1fs", trimmed, source, seconds)
    return TrimCheck(
        queries=len(texts.queries),
        passages=len(texts.passages),
        min_cosine=worst[2],
        worst=f"{worst[0]} {worst[1]}",
        seconds=seconds,
    )


def _encode(path: Path, texts: CheckTexts, backend: str) -> tuple[np.ndarray, np.ndarray]:
    encoder = Encoder.load(path, backend=backend)
    return encoder.encode_queries(texts.queries), encoder.encode_passages(texts.passages)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.asarray((a64 * b64).sum(axis=1) / np.maximum(norms, 1e-12))
