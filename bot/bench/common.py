"""What the benches share: JSON reports, percentiles, and a synthetic bank with cached vectors.

The synthetic bank repeats the bundled questions with a numbered suffix; its vectors are
the real vectors of those questions with a little noise, written straight into the
embedding cache, so the bank costs seconds to build while search and start-up see
realistic sizes.
"""

from __future__ import annotations

import json
from dataclasses import Field, asdict
from typing import Any, ClassVar

import numpy as np
from sqlalchemy.orm import Session

from bot.retrieval.encoder import Encoder
from bot.service.chit_chat import example_texts, read_intents
from bot.service.indexing import encode_cached
from bot.storage.embeddings import store_vectors, text_hash
from bot.storage.importer import PairRow
from bot.text.normalize import normalize


class JsonReport:
    """A bench's figures, printed as JSON (each report is a dataclass)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # what @dataclass gives each one

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


def percentile(values: list[float], percent: int, digits: int = 2) -> float:
    """The `percent`th percentile of `values` (nearest rank), rounded to `digits`."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))], digits)


def synthetic_rows(base: list[PairRow], count: int) -> list[PairRow]:
    """`count` distinct pairs built from `base`, each keeping its alternates' shape."""
    rows = []
    for number in range(count):
        source = base[number % len(base)]
        tag = f" ({number // len(base) + 1})" if number >= len(base) else ""
        rows.append(
            PairRow(
                line=number + 2,
                question=source.question + tag,
                answer=source.answer + tag,
                alternates=[alt + tag for alt in source.alternates],
                topic=source.topic,
            )
        )
    return rows


def fill_cache(
    session: Session, encoder: Encoder, base: list[PairRow], rows: list[PairRow]
) -> None:
    """Cache vectors for every synthetic text and answer: the real base vector plus a
    little noise (answers with the passage prompt, as the index encodes them); and the
    small-talk examples, so a warm start re-encodes nothing."""
    base_texts = sorted({normalize(t) for r in base for t in (r.question, *r.alternates)})
    base_vectors = dict(zip(base_texts, encoder.encode_queries(base_texts), strict=True))
    base_answers = sorted({normalize(r.answer) for r in base})
    answer_vectors = dict(
        zip(base_answers, encoder.encode_passages(base_answers, show_progress=True), strict=True)
    )
    rng = np.random.default_rng(0)
    fresh: dict[str, np.ndarray] = {}

    def noisy(vector: np.ndarray) -> np.ndarray:
        vector = vector + rng.normal(0, 0.01, encoder.dim)
        unit: np.ndarray = (vector / np.linalg.norm(vector)).astype(np.float32)
        return unit

    for row, source in zip(rows, (base[i % len(base)] for i in range(len(rows))), strict=True):
        originals = (source.question, *source.alternates)
        for text, original in zip((row.question, *row.alternates), originals, strict=True):
            vector = noisy(base_vectors[normalize(original)])
            fresh[text_hash(encoder.query_prompt, normalize(text))] = vector
        answer = noisy(answer_vectors[normalize(source.answer)])
        fresh[text_hash(encoder.passage_prompt, normalize(row.answer))] = answer
    store_vectors(session, encoder.vectors_id, fresh)
    encode_cached(session, encoder, example_texts(read_intents()))  # small talk, as a bot has
