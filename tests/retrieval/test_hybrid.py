from __future__ import annotations

import numpy as np
import pytest

from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion, HybridIndex
from bot.retrieval.index import VectorIndex
from bot.retrieval.lexical import LexicalIndex


def unit(rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def small_index() -> HybridIndex:
    # pairs 7 and 8 mean nearly the same to the encoder; only the spelling tells them apart
    questions = VectorIndex(unit([[1, 0.05, 0], [1, 0, 0.05], [0, 1, 0]]), np.array([7, 8, 9]))
    answers = VectorIndex(unit([[1, 0, 0], [0.9, 0.3, 0], [0, 0, 1]]), np.array([7, 8, 9]))
    lexical = LexicalIndex.build(
        ["bg 358 වයස කීයද", "bg 360 වයස කීයද", "වී පොඟවන්නේ කොහොමද"], [7, 8, 9]
    )
    return HybridIndex(questions, answers, lexical)


def test_pair_scores_are_each_pairs_best_row():
    index = VectorIndex(unit([[1, 0], [0, 1], [0.6, 0.8]]), np.array([5, 3, 5]))
    scores = index.pair_scores(unit([[0, 1]]))
    assert list(index.pairs) == [3, 5]
    assert scores[0] == pytest.approx([1.0, 0.8])


def test_spelling_breaks_a_tie_the_encoder_cannot():
    index = small_index()
    query = unit([[1, 0.025, 0.025]])  # equally near 7 and 8 by meaning
    by_meaning = index.search_many(query, ["bg 360 වයස"], k=2, fusion=QUESTIONS_ONLY)
    with_spelling = index.search_many(query, ["bg 360 වයස"], k=2, fusion=Fusion(0, 0.3))
    assert with_spelling[0][0].pair_id == 8
    assert with_spelling[0][0].lexical > with_spelling[0][1].lexical
    assert by_meaning[0][0].score == pytest.approx(by_meaning[0][1].score, abs=1e-3)


def test_fused_score_is_the_weighted_mean_of_its_parts():
    index = small_index()
    fusion = Fusion(answer_weight=0.2, lexical_weight=0.3)
    [top, *_] = index.search_many(unit([[0, 1, 0]]), ["වී පොඟවන්නේ"], k=3, fusion=fusion)[0]
    expected = (top.question + 0.2 * top.answer + 0.3 * top.lexical) / 1.5
    assert top.pair_id == 9 and top.score == pytest.approx(expected)


def test_a_query_keeps_the_best_of_its_views():
    index = small_index()
    vectors = unit([[0, 0, 1], [0, 1, 0]])  # two views of one query
    scored = index.scores(vectors, ["x", "වී පොඟවන්නේ කොහොමද"], owners=[0, 0])
    assert scored.question.shape == (1, 3)
    assert scored.question[0, 2] == pytest.approx(1.0)  # pair 9, from the second view
    assert scored.lexical[0, 2] == pytest.approx(1.0)


def test_edits_keep_the_three_indexes_aligned_and_leave_the_old_one_alone():
    index = small_index()
    grown = index.with_pairs(
        [10], unit([[0, 0, 1]]), [10], unit([[0, 0, 1]]), ["ගොයම් කපන්නේ කවදද"], [10]
    )
    assert list(grown.pairs) == [7, 8, 9, 10] and list(index.pairs) == [7, 8, 9]
    shrunk = grown.without_pair(8)
    assert list(shrunk.pairs) == [7, 9, 10]
    [top] = shrunk.search_many(unit([[0, 0, 1]]), ["ගොයම් කපන්නේ"], k=1, fusion=Fusion(0.1, 0.1))[0]
    assert top.pair_id == 10


def test_misaligned_indexes_are_refused():
    questions = VectorIndex(unit([[1, 0]]), np.array([1]))
    with pytest.raises(ValueError, match="every pair"):
        HybridIndex(questions, None, LexicalIndex.build(["x"], [2]))


def test_negative_weights_are_refused():
    with pytest.raises(ValueError):
        Fusion(answer_weight=-0.1)


def test_lexical_index_matches_suffixed_sinhala_words():
    index = LexicalIndex.build(["පොහොර දාන්නේ කවදද", "වතුර බදින්නේ කවදද"], [1, 2])
    scores = index.pair_scores(["පොහොරවලට දාන කාලය"])
    assert scores[0, 0] > scores[0, 1]
    assert scores.min() >= 0.0 and scores.max() <= 1.0 + 1e-6


def test_spelling_index_weighs_ngrams_as_scikit_learn_does():
    from pathlib import Path

    from sklearn.feature_extraction.text import TfidfVectorizer

    from bot.retrieval.lexical import NGRAMS, NgramTfidf
    from bot.storage.importer import read_bank_file
    from bot.text.normalize import normalize
    from bot.text.romanize import romanized_variants

    bank = Path(__file__).resolve().parents[1] / "data" / "bank_small.csv"
    texts = [normalize(t) for row in read_bank_file(bank) for t in (row.question, *row.alternates)]
    texts += [variant for text in texts for variant in romanized_variants(text)]
    queries = [*texts[:20], "bg 358 වී   කීයද?", "urea kiyada", "x", "", "水稻"]
    reference = TfidfVectorizer(
        analyzer="char_wb", ngram_range=NGRAMS, sublinear_tf=True, lowercase=False,
        dtype=np.float32,
    ).fit(texts)  # fmt: skip
    ours = NgramTfidf.fit(texts)
    assert ours.vocabulary == reference.vocabulary_
    assert np.allclose(ours.idf, reference.idf_, atol=1e-6)
    want, got = reference.transform(queries), ours.transform(queries)
    assert got.shape == want.shape and got.dtype == np.float32
    assert abs(want - got).max() < 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_views_collapse_to_each_querys_best_score_per_pair(seed):
    """Any number of views per query, in any order: each query keeps, per pair, the
    largest score of its own views, as a plain loop over the views says."""
    from bot.retrieval.hybrid import _best_views

    rng = np.random.default_rng(seed)
    queries = int(rng.integers(1, 20))
    owners = rng.permutation(np.r_[np.arange(queries), rng.integers(0, queries, queries * 2)])
    parts = [rng.uniform(-1, 1, (len(owners), 50)).astype(np.float32) for _ in range(3)]
    expected = [np.full((queries, 50), -1.0, dtype=np.float32) for _ in parts]
    for view, owner in enumerate(owners):
        for part, best in zip(parts, expected, strict=True):
            best[owner] = np.maximum(best[owner], part[view])
    for got, want in zip(_best_views(parts, owners), expected, strict=True):
        assert np.array_equal(got, want)
