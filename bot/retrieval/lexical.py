"""Character n-gram TF-IDF over the bank's normalized texts: matching by spelling.

The sentence encoder matches by meaning and can miss what a farmer spelled exactly: a
variety code ("bg 358" vs "bg 360"), a week number, a rare pest name, or Singlish that
transliterates badly. Character n-grams within words catch those, and survive the
suffixes Sinhala piles onto a stem (පොහොර, පොහොරවලට, පොහොරත්). Scores are cosines in
[0, 1], so they fuse with the encoder's on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfVectorizer

NGRAMS = (2, 4)


def make_vectorizer() -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    # char_wb keeps n-grams inside words (padded with a space), so "කවදද" and "කවද්ද"
    # still share most of theirs; sublinear tf stops a repeated word from dominating.
    return TfidfVectorizer(
        analyzer="char_wb", ngram_range=NGRAMS, sublinear_tf=True, lowercase=False, dtype=np.float32
    )


class LexicalIndex:
    """Rows of text, each belonging to a pair, scored against queries by n-gram cosine.

    Immutable like `VectorIndex`: `with_pairs` and `without_pair` return new indexes that
    share the fitted vocabulary, so an edit never waits for a refit (n-grams the
    vocabulary lacks are ignored until the next full build).

    Example:
        >>> index = LexicalIndex.build(["bg 358 වයස", "bg 360 වයස"], [1, 2])
        >>> int(index.pairs[index.pair_scores(["bg 360"]).argmax()])
        2
    """

    def __init__(self, vectorizer: TfidfVectorizer, rows: csr_matrix, pair_ids: np.ndarray):
        pair_ids = np.asarray(pair_ids, dtype=np.int64)
        order = np.argsort(pair_ids, kind="stable")
        self.vectorizer = vectorizer
        self.rows = rows[order].tocsr()
        # The transpose, kept as CSR: `queries @ rows.T` would convert it on every search
        # (55 ms for a 5,000-pair bank, against well under 1 ms for the product itself).
        self._columns = self.rows.T.tocsr()
        self.pair_ids = pair_ids[order]
        self.pairs, self._starts = np.unique(self.pair_ids, return_index=True)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["_columns"]  # as big as the rows; rebuilt in milliseconds
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._columns = self.rows.T.tocsr()

    @classmethod
    def build(cls, texts: Sequence[str], pair_ids: Sequence[int]) -> LexicalIndex:
        vectorizer = make_vectorizer()
        if not texts:
            vectorizer.fit(["-"])
            return cls(vectorizer, _transform(vectorizer, []), np.zeros(0, dtype=np.int64))
        rows = vectorizer.fit_transform(list(texts))
        return cls(vectorizer, rows, np.asarray(pair_ids, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.pair_ids)

    def pair_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's best row cosine for every pair: shape (texts, len(self.pairs))."""
        if len(self) == 0:
            return np.zeros((len(texts), 0), dtype=np.float32)
        queries = _transform(self.vectorizer, texts)
        scores = (queries @ self._columns).toarray()
        return np.maximum.reduceat(scores, self._starts, axis=1).astype(np.float32, copy=False)

    def with_pairs(self, texts: Sequence[str], pair_ids: Sequence[int]) -> LexicalIndex:
        """A new index where each pair in `pair_ids` has exactly the given texts."""
        from scipy.sparse import vstack

        ids = np.asarray(pair_ids, dtype=np.int64)
        keep = ~np.isin(self.pair_ids, ids)
        rows = vstack([self.rows[keep], _transform(self.vectorizer, texts)]).tocsr()
        return LexicalIndex(self.vectorizer, rows, np.concatenate([self.pair_ids[keep], ids]))

    def without_pair(self, pair_id: int) -> LexicalIndex:
        keep = self.pair_ids != pair_id
        return LexicalIndex(self.vectorizer, self.rows[keep], self.pair_ids[keep])


def _transform(vectorizer: TfidfVectorizer, texts: Sequence[str]) -> csr_matrix:
    """`vectorizer.transform`, which refuses an empty list, for any number of texts."""
    if not texts:
        from scipy.sparse import csr_matrix

        return csr_matrix(np.zeros((0, len(vectorizer.vocabulary_)), dtype=np.float32))
    rows: csr_matrix = vectorizer.transform(list(texts))  # sklearn is untyped
    return rows
