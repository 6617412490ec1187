"""What a start would otherwise rebuild from the bank's text, kept on disk between starts.

Vectors are cached in the database; but normalizing every phrasing, spelling the bank in
Singlish and fitting the spelling index took 10 of the 12 s a 5,000-pair bank needed to
start. They depend only on the bank's texts and the code that reads them, so they are stored
under a hash of both: any edit, import or change of that code simply misses the cache.
The file lives in the bot's own data directory and is written by the bot alone.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.retrieval.lexical import LexicalIndex
from bot.service.indexing import IndexRows, PairTexts
from bot.storage.models import QAPair

logger = logging.getLogger(__name__)

FORMAT = "agribot-index-cache-2"  # 2: the spelling index without scikit-learn
FILE_PREFIX = "index-"


@dataclass(frozen=True)
class CachedIndex:
    rows: IndexRows
    lexical: LexicalIndex


@functools.cache
def code_fingerprint() -> str:
    """A hash of the code that turns bank text into index rows: normalization, Singlish
    spellings, the row layout and the spelling index (and scipy's version)."""
    import scipy

    package = Path(__file__).resolve().parents[1]
    sources = [
        *sorted((package / "text").glob("*.py")),
        package / "service" / "indexing.py",
        package / "retrieval" / "lexical.py",
    ]
    digest = hashlib.sha256(scipy.__version__.encode())
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()


def bank_key(pairs: Sequence[QAPair | PairTexts], *, romanized: bool) -> str:
    """A hash of every text the index is built from (and of how it is built)."""
    digest = hashlib.sha256(f"{FORMAT}|{code_fingerprint()}|romanized={romanized}".encode())
    for pair in sorted(pairs, key=lambda p: p.id):
        digest.update(f"\x1e{pair.id}\x1f{pair.answer}".encode())
        for text in pair.texts:
            digest.update(f"\x1f{text}".encode())
    return digest.hexdigest()[:32]


def load(folder: Path, key: str) -> CachedIndex | None:
    path = folder / f"{FILE_PREFIX}{key}.pickle"
    if not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            cached = pickle.load(handle)
    except Exception as error:  # a file cut short, or from another version of a library
        logger.warning("index cache %s unreadable (%s); rebuilding", path.name, error)
        return None
    return cached if isinstance(cached, CachedIndex) else None


def save(folder: Path, key: str, cached: CachedIndex) -> None:
    """Write atomically and drop older files (only the current bank's is ever useful)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{FILE_PREFIX}{key}.pickle"
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with partial.open("wb") as handle:
            pickle.dump(cached, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)
        for old in folder.glob(f"{FILE_PREFIX}*.pickle"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as error:  # a read-only data directory: start slower, never fail
        logger.warning("could not keep the index cache in %s: %s", folder, error)
