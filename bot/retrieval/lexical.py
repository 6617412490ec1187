"""Character n-gram TF-IDF over the bank's normalized texts: matching by spelling.

The sentence encoder matches by meaning and can miss what a farmer spelled exactly: a
variety code ("bg 358" vs "bg 360"), a week number, a rare pest name, or Singlish that
transliterates badly. Character n-grams within words catch those, and survive the
suffixes Sinhala piles onto a stem (පොහොර, පොහොරවලට, පොහොරත්). Scores are cosines in
[0, 1], so they fuse with the encoder's on one scale.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

NGRAMS = (2, 4)
_SPACES = re.compile(r"\s\s+")


def char_ngrams(text: str, low: int = NGRAMS[0], high: int = NGRAMS[1]) -> list[str]:
    """scikit-learn's `char_wb` n-grams: within each word padded with a space, a word
    shorter than `low` counted once.

    Example:
        >>> char_ngrams("bg 35", 2, 3)
        [' b', 'bg', 'g ', ' bg', 'bg ', ' 3', '35', '5 ', ' 35', '35 ']
    """
    grams = []
    for word in _SPACES.sub(" ", text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            last = max(len(padded) - n, 0)
            grams += [padded[start : start + n] for start in range(last + 1)]
            if last == 0:
                break
    return grams


class NgramTfidf:
    """Character n-gram TF-IDF as scikit-learn's `TfidfVectorizer(analyzer="char_wb",
    ngram_range=NGRAMS, sublinear_tf=True, lowercase=False, dtype=float32)` computes it
    (smooth idf, l2 rows), in a few lines of numpy.

    scikit-learn (and the pandas and pyarrow it imports) held 123 MB of the bot's memory
    and took 1.3 s of each start only for this; a test checks the two agree.
    """

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float32)

    @classmethod
    def fit(cls, texts: Sequence[str]) -> NgramTfidf:
        """Every n-gram of `texts` (in sorted order), weighted ln((1 + n) / (1 + df)) + 1."""
        documents = [set(char_ngrams(text)) for text in texts]
        frequency: dict[str, int] = {}
        for grams in documents:
            for gram in grams:
                frequency[gram] = frequency.get(gram, 0) + 1
        terms = sorted(frequency)
        idf = [math.log((1 + len(documents)) / (1 + frequency[term])) + 1 for term in terms]
        return cls({term: column for column, term in enumerate(terms)}, np.asarray(idf))

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """One l2-normalized row per text; n-grams outside the vocabulary are ignored."""
        from scipy.sparse import csr_matrix

        starts, columns, counts = [0], [], []
        for text in texts:
            found: dict[int, int] = {}
            for gram in char_ngrams(text):
                column = self.vocabulary.get(gram)
                if column is not None:
                    found[column] = found.get(column, 0) + 1
            ordered = sorted(found)
            columns += ordered
            counts += [found[column] for column in ordered]
            starts.append(len(columns))
        data = np.asarray(counts, dtype=np.float32)
        indices = np.asarray(columns, dtype=np.int32)
        np.log(data, out=data)
        data += 1.0
        data *= self.idf[indices]
        lengths = np.diff(starts)
        squares = np.zeros(len(texts), dtype=np.float64)
        np.add.at(squares, np.repeat(np.arange(len(texts)), lengths), data.astype(np.float64) ** 2)
        norms = np.sqrt(squares)
        norms[norms == 0] = 1.0
        data /= np.repeat(norms, lengths).astype(np.float32)
        shape = (len(texts), len(self.idf))
        return csr_matrix((data, indices, np.asarray(starts, dtype=np.int32)), shape=shape)


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

    def __init__(self, vectorizer: NgramTfidf, rows: csr_matrix, pair_ids: np.ndarray):
        pair_ids = np.asarray(pair_ids, dtype=np.int64)
        order = np.argsort(pair_ids, kind="stable")
        self.vectorizer = vectorizer
        # Only the transpose is kept, as CSR: `queries @ rows.T` would convert it on every
        # search (55 ms for a 5,000-pair bank, against well under 1 ms for the product),
        # and the rows themselves (69 MB for 5,000 pairs) are needed only for an edit.
        self._columns = rows[order].T.tocsr()
        self.pair_ids = pair_ids[order]
        self.pairs, self._starts = np.unique(self.pair_ids, return_index=True)

    @property
    def columns(self) -> csr_matrix:
        """The transpose of `rows`: one row per n-gram, for `queries @ columns`."""
        return self._columns

    @property
    def rows(self) -> csr_matrix:
        """One row per text, in `pair_ids` order (made from the transpose, for edits)."""
        rows: csr_matrix = self._columns.T.tocsr()
        return rows

    def __getstate__(self) -> dict[str, object]:
        state = {key: value for key, value in self.__dict__.items() if key != "_columns"}
        state["rows"] = self.rows  # the index cache's format: rows, as before
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        rows = state.pop("rows")
        self.__dict__.update(state)
        self._columns = rows.T.tocsr()  # type: ignore[attr-defined]

    @classmethod
    def build(cls, texts: Sequence[str], pair_ids: Sequence[int]) -> LexicalIndex:
        vectorizer = NgramTfidf.fit(texts)
        rows = vectorizer.transform(texts)
        return cls(vectorizer, rows, np.asarray(pair_ids, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.pair_ids)

    def pair_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's best row cosine for every pair: shape (texts, len(self.pairs))."""
        if len(self) == 0:
            return np.zeros((len(texts), 0), dtype=np.float32)
        queries = self.vectorizer.transform(texts)
        scores = (queries @ self._columns).toarray()
        return np.maximum.reduceat(scores, self._starts, axis=1).astype(np.float32, copy=False)

    def with_pairs(self, texts: Sequence[str], pair_ids: Sequence[int]) -> LexicalIndex:
        """A new index where each pair in `pair_ids` has exactly the given texts."""
        from scipy.sparse import vstack

        ids = np.asarray(pair_ids, dtype=np.int64)
        keep = ~np.isin(self.pair_ids, ids)
        rows = vstack([self.rows[keep], self.vectorizer.transform(texts)]).tocsr()
        return LexicalIndex(self.vectorizer, rows, np.concatenate([self.pair_ids[keep], ids]))

    def without_pair(self, pair_id: int) -> LexicalIndex:
        keep = self.pair_ids != pair_id
        return LexicalIndex(self.vectorizer, self.rows[keep], self.pair_ids[keep])
