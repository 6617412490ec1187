"""The embedding cache: vectors by model id and a hash of prompt plus normalized text."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.db import insert_or_skip
from bot.storage.models import Embedding, utcnow

_CHUNK = 500


def text_hash(prompt: str, text: str) -> str:
    return hashlib.sha256(f"{prompt}\x00{text}".encode()).hexdigest()


def load_vectors(session: Session, model_id: str, hashes: Iterable[str]) -> dict[str, np.ndarray]:
    """The cached vectors among `hashes`, read in chunks to keep IN lists short."""
    wanted = list(dict.fromkeys(hashes))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(
            select(Embedding.text_hash, Embedding.vector).where(
                Embedding.model_id == model_id, Embedding.text_hash.in_(chunk)
            )
        )
        for digest, blob in rows:
            found[digest] = np.frombuffer(blob, dtype=np.float32)
    return found


def store_vectors(session: Session, model_id: str, vectors: dict[str, np.ndarray]) -> None:
    """Add vectors not yet cached; the caller commits. Another process caching the same
    text meanwhile (a replica following a change the writer is still encoding) is fine:
    the first row stays."""
    if not vectors:
        return
    rows = [
        {
            "model_id": model_id,
            "text_hash": digest,
            "dim": int(vector.shape[0]),
            "vector": np.asarray(vector, dtype=np.float32).tobytes(),
            "created_at": utcnow(),
        }
        for digest, vector in vectors.items()
    ]
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert_or_skip(session, Embedding), rows[start : start + _CHUNK])


def count_vectors(session: Session, model_id: str) -> int:
    from sqlalchemy import func

    return (
        session.scalar(
            select(func.count()).select_from(Embedding).where(Embedding.model_id == model_id)
        )
        or 0
    )
