"""The bank's texts to vectors through the embedding cache, and into a hybrid index."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import HybridIndex
from bot.retrieval.index import VectorIndex
from bot.retrieval.lexical import LexicalIndex
from bot.storage import bank
from bot.storage.embeddings import load_vectors, store_vectors, text_hash
from bot.storage.models import QAPair
from bot.text.normalize import normalize
from bot.text.romanize import romanized_variants

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger(__name__)

ENCODE_CHUNK = 256
_PARENTHESES = re.compile(r"\(([A-Za-z][A-Za-z0-9 \-,;./]*)\)")
_SOURCE_NAMES = frozenset({"irri", "doa", "rrdi", "fao", "who", "aaib", "asc", "arpa", "ai"})


@dataclass(frozen=True)
class PairSummary:
    """What a reply needs of a pair, kept in memory so answering never waits on SQL.

    `variants` maps a zone to its own (answer, source), for pairs whose answer differs
    by zone; `answer` is the general one.
    """

    question: str
    answer: str
    source: str | None = None
    variants: dict[str, tuple[str, str | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class PairTexts:
    """What the index reads of a pair (`QAPair` has the same fields), copied out of the ORM."""

    id: int
    answer: str
    texts: list[str]

    @classmethod
    def of(cls, pair: QAPair | PairTexts) -> PairTexts:
        return cls(pair.id, pair.answer, pair.texts)


@dataclass
class IndexRows:
    """The texts each pair contributes: phrasings to encode, its answer, spellings to match.

    Romanized spellings of every phrasing go to the lexical index, where a Singlish
    message meets them letter by letter; the encoder sees the Sinhala phrasings only.
    """

    pair_ids: list[int] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    question_owners: list[int] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    spellings: list[str] = field(default_factory=list)
    spelling_owners: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, pairs: Iterable[QAPair | PairTexts], *, romanized: bool = True) -> IndexRows:
        rows = cls()
        for pair in pairs:
            texts = pair_texts(pair)
            if not texts:
                continue
            rows.pair_ids.append(pair.id)
            rows.questions += texts
            rows.question_owners += [pair.id] * len(texts)
            rows.answers.append(normalize(pair.answer) or pair.answer)
            latin = romanized_spellings(texts) if romanized else []
            spellings = list(dict.fromkeys([*texts, *latin, *english_terms(pair.answer)]))
            rows.spellings += spellings
            rows.spelling_owners += [pair.id] * len(spellings)
        return rows


def pair_texts(pair: QAPair | PairTexts) -> list[str]:
    """The pair's question and phrasings, normalized, each once."""
    return list(dict.fromkeys(text for text in map(normalize, pair.texts) if text))


def english_terms(answer: str) -> list[str]:
    """The English names an answer gives in parentheses: "කොපු අංගමාරය (sheath blight)".

    Farmers often type exactly these in Latin letters ("sheath blight වලට මොකද කරන්නෙ"),
    so each becomes one more spelling the lexical index matches its pair by.
    """
    terms = []
    for inside in _PARENTHESES.findall(answer):
        for part in re.split(r"[,;]", inside):
            term = part.strip().lower()
            if 2 < len(term) <= 40 and term not in _SOURCE_NAMES:
                terms.append(term)
    return list(dict.fromkeys(terms))


def romanized_spellings(texts: Sequence[str]) -> list[str]:
    """Singlish spellings of normalized Sinhala texts, several habits each."""
    return [variant for text in texts for variant in romanized_variants(text)]


def summarize(pair: QAPair) -> PairSummary:
    return PairSummary(
        pair.question,
        pair.answer,
        pair.source,
        {variant.zone: (variant.answer, variant.source) for variant in pair.variants},
    )


def encode_cached(
    session: Session,
    encoder: Encoder,
    texts: Sequence[str],
    *,
    passages: bool = False,
    show_progress: bool = False,
) -> np.ndarray:
    """Vectors for normalized `texts`, encoding only those the cache lacks (and caching them).

    `passages`: encode with the passage prompt (answers) rather than the query prompt.
    """
    prompt = encoder.passage_prompt if passages else encoder.query_prompt
    encode = encoder.encode_passages if passages else encoder.encode_queries
    hashes = [text_hash(prompt, text) for text in texts]
    cached = load_vectors(session, encoder.vectors_id, hashes)
    missing = list(dict.fromkeys(t for t, h in zip(texts, hashes, strict=True) if h not in cached))
    if missing:
        started = time.perf_counter()
        progress = _progress(len(missing), show_progress, "answers" if passages else "bank")
        for start in range(0, len(missing), ENCODE_CHUNK):
            chunk = missing[start : start + ENCODE_CHUNK]
            vectors = encode(chunk)
            fresh = {
                text_hash(prompt, text): vector for text, vector in zip(chunk, vectors, strict=True)
            }
            store_vectors(session, encoder.vectors_id, fresh)
            cached.update(fresh)
            progress.update(len(chunk))
        progress.close()
        logger.info("encoded %d new text(s) in %.1fs", len(missing), time.perf_counter() - started)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.stack([cached[h] for h in hashes])


@dataclass(frozen=True)
class EncodedRows:
    """`IndexRows` with their vectors, ready to go into an index (built or extended)."""

    rows: IndexRows
    question_vectors: np.ndarray
    answer_vectors: np.ndarray


def encode_rows(
    session: Session,
    encoder: Encoder,
    pairs: Iterable[QAPair],
    *,
    show_progress: bool = False,
    romanized: bool = True,
    rows: IndexRows | None = None,
) -> EncodedRows:
    """The pairs' index rows (or `rows`, already built for them) with their vectors."""
    rows = rows if rows is not None else IndexRows.of(pairs, romanized=romanized)
    questions = encode_cached(session, encoder, rows.questions, show_progress=show_progress)
    answers = encode_cached(
        session, encoder, rows.answers, passages=True, show_progress=show_progress
    )
    return EncodedRows(rows, questions, answers)


def new_index(encoded: EncodedRows, dim: int, lexical: LexicalIndex | None = None) -> HybridIndex:
    rows = encoded.rows
    if not rows.pair_ids:
        return HybridIndex.empty(dim)
    return HybridIndex(
        VectorIndex(encoded.question_vectors, np.asarray(rows.question_owners), rows.questions),
        VectorIndex(encoded.answer_vectors, np.asarray(rows.pair_ids)),
        lexical or LexicalIndex.build(rows.spellings, rows.spelling_owners),
    )


def extend_index(index: HybridIndex, encoded: EncodedRows) -> HybridIndex:
    rows = encoded.rows
    return index.with_pairs(
        rows.pair_ids,
        encoded.question_vectors,
        rows.question_owners,
        encoded.answer_vectors,
        rows.spellings,
        rows.spelling_owners,
        rows.questions,
    )


def build_index(
    session_factory: sessionmaker[Session],
    encoder: Encoder,
    *,
    cache: sessionmaker[Session] | None = None,
    show_progress: bool = False,
    romanized: bool = True,
    cache_dir: Path | None = None,
) -> tuple[HybridIndex, dict[int, PairSummary]]:
    """Index every active pair; stale or new texts are encoded and cached, the rest loaded.

    `cache`: keep the vectors in another database (the eval's throwaway banks share one).
    `cache_dir`: keep the index's texts and fitted spelling index there between starts
    (`bot.service.index_cache`).
    """
    from bot.service import index_cache

    with session_factory() as session:
        summaries: dict[int, PairSummary] = {}
        texts: list[PairTexts] = []
        for pair in bank.active_pairs(session):  # see there why not all at once
            summaries[pair.id] = summarize(pair)
            texts.append(PairTexts.of(pair))
        key = index_cache.bank_key(texts, romanized=romanized) if cache_dir else ""
        kept = index_cache.load(cache_dir, key) if cache_dir else None
        rows = kept.rows if kept else IndexRows.of(texts, romanized=romanized)
        del texts
        vectors_session = cache() if cache is not None else session
        try:
            encoded = encode_rows(
                vectors_session, encoder, (), show_progress=show_progress, rows=rows
            )
            vectors_session.commit()
        finally:
            if cache is not None:
                vectors_session.close()
    index = new_index(encoded, encoder.dim, kept.lexical if kept else None)
    if cache_dir and kept is None and rows.pair_ids:
        index_cache.save(cache_dir, key, index_cache.CachedIndex(rows, index.lexical))
    return index, summaries


def bank_texts(pairs: Iterable[QAPair]) -> tuple[list[str], list[str]]:
    """Every text the index encodes for `pairs`: (phrasings, answers)."""
    rows = IndexRows.of(pairs)
    return rows.questions, rows.answers


def _progress(total: int, enabled: bool, what: str) -> tqdm[NoReturn]:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"encoding {what}", unit="text", disable=not enabled)
