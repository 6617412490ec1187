"""The bank's texts to vectors through the embedding cache, and into a search index."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from bot.retrieval.encoder import Encoder
from bot.retrieval.index import VectorIndex
from bot.storage import bank
from bot.storage.embeddings import load_vectors, store_vectors, text_hash
from bot.storage.models import QAPair
from bot.text.normalize import normalize

logger = logging.getLogger(__name__)

ENCODE_CHUNK = 256


@dataclass(frozen=True)
class PairSummary:
    """What a reply needs of a pair, kept in memory so answering never waits on SQL."""

    question: str
    answer: str


def pair_texts(pair: QAPair) -> list[str]:
    """The pair's question and phrasings, normalized, each once."""
    return list(dict.fromkeys(normalize(text) for text in pair.texts if normalize(text)))


def encode_cached(
    session: Session, encoder: Encoder, texts: Sequence[str], *, show_progress: bool = False
) -> np.ndarray:
    """Vectors for normalized `texts`, encoding only those the cache lacks (and caching them)."""
    hashes = [text_hash(encoder.query_prompt, text) for text in texts]
    cached = load_vectors(session, encoder.model_id, hashes)
    missing = list(dict.fromkeys(t for t, h in zip(texts, hashes, strict=True) if h not in cached))
    if missing:
        started = time.perf_counter()
        progress = _progress(len(missing), show_progress)
        for start in range(0, len(missing), ENCODE_CHUNK):
            chunk = missing[start : start + ENCODE_CHUNK]
            vectors = encoder.encode_queries(chunk)
            fresh = {
                text_hash(encoder.query_prompt, text): vector
                for text, vector in zip(chunk, vectors, strict=True)
            }
            store_vectors(session, encoder.model_id, fresh)
            cached.update(fresh)
            progress.update(len(chunk))
        progress.close()
        logger.info("encoded %d new text(s) in %.1fs", len(missing), time.perf_counter() - started)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.stack([cached[h] for h in hashes])


def build_index(
    session_factory: sessionmaker[Session], encoder: Encoder, *, show_progress: bool = False
) -> tuple[VectorIndex, dict[int, PairSummary]]:
    """Index every active pair; stale or new texts are encoded and cached, the rest loaded."""
    with session_factory() as session:
        pairs = bank.list_pairs(session)
        texts, owners = pair_rows(pairs)
        vectors = encode_cached(session, encoder, texts, show_progress=show_progress)
        session.commit()
    summaries = {pair.id: PairSummary(pair.question, pair.answer) for pair in pairs}
    if not texts:
        return VectorIndex.empty(encoder.dim), summaries
    return VectorIndex(vectors, np.asarray(owners)), summaries


def pair_rows(pairs: Iterable[QAPair]) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    owners: list[int] = []
    for pair in pairs:
        for text in pair_texts(pair):
            texts.append(text)
            owners.append(pair.id)
    return texts, owners


def _progress(total: int, enabled: bool):  # type: ignore[no-untyped-def]
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="encoding bank", unit="text", disable=not enabled)
