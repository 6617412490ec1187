"""The int8 first pass over a big index: its error bound holds, and the two-pass search
returns exactly what the float search returns."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import bot.retrieval.index as index_module
from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion, HybridIndex
from bot.retrieval.index import VectorIndex
from bot.retrieval.int8_rows import Int8Rows, product_graph
from bot.retrieval.lexical import LexicalIndex

WORDS = ["වී", "පොහොර", "යූරියා", "වගා", "කන්නය", "bg", "358", "ගොයම්", "කවදද", "කීයද"]


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def clustered_bank(pairs: int, dim: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows in tight clusters (a pair's phrasings and near-duplicate pairs), so many
    scores sit within the int8 error of each other, as in a real bank."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(max(pairs // 6, 1), dim)))
    owners = np.repeat(np.arange(pairs), rng.integers(1, 6, size=pairs))
    rows = centres[owners % len(centres)] + rng.normal(0, 0.04, size=(len(owners), dim))
    return unit(rows), owners


def test_the_graph_is_valid_onnx(tmp_path):
    (tmp_path / "int8-rows").write_bytes(np.zeros((16, 5), np.int8).tobytes())
    path = tmp_path / "product.onnx"
    path.write_bytes(product_graph(16, 5))
    model = onnx.load(str(path), load_external_data=False)
    onnx.checker.check_model(str(path), full_check=True)  # shapes inferred too
    [node] = model.graph.node
    assert node.op_type == "MatMulInteger"
    assert list(model.graph.initializer[1].dims) == [16, 5]


def test_scores_stay_within_their_bound():
    rows, _ = clustered_bank(400, dim=384)
    rng = np.random.default_rng(1)
    # a spiky row (one large component: a coarse int8 step) and a near-zero query part
    rows = np.vstack([rows, unit(np.eye(1, 384) * 10 + rng.normal(0, 0.01, (1, 384)))])
    queries = unit(rows[:8] + rng.normal(0, 0.1, size=(8, 384)))
    int8 = Int8Rows(rows)
    scores, error = int8.scores(queries)
    bound = error.at(int8.scales)
    off = np.abs(scores - queries @ rows.T)
    assert np.all(off <= bound)
    assert off.max() > 1e-4  # it is an approximation: the test would see a wrong bound
    assert np.all(bound[:, :-1] < 0.03)  # tight enough to shortlist a handful of pairs
    assert np.all(bound[:, -1] > 0.03)  # the spiky row's coarse step is its own


@pytest.fixture
def shortlisting(monkeypatch):
    """Every index, however small, is searched in two passes."""
    monkeypatch.setattr(index_module, "SHORTLIST_ROWS", 1)


def one_pass(monkeypatch, index: HybridIndex, *args, **kwargs):
    """`index.search_many(*args, **kwargs)` in float alone, as the index searched before."""
    monkeypatch.setattr(index_module, "SHORTLIST_ROWS", 10**9)
    try:
        return index.search_many(*args, **kwargs)
    finally:
        monkeypatch.setattr(index_module, "SHORTLIST_ROWS", 1)


def hybrid_bank(pairs: int, seed: int = 0) -> tuple[HybridIndex, np.ndarray]:
    rows, owners = clustered_bank(pairs, seed=seed)
    rng = np.random.default_rng(seed + 1)
    firsts = rows[np.unique(owners, return_index=True)[1]]
    answers = unit(firsts + rng.normal(0, 0.2, firsts.shape))
    texts = [" ".join(rng.choice(WORDS, size=4)) for _ in owners]
    index = HybridIndex(
        VectorIndex(rows, owners + 100),
        VectorIndex(answers, np.arange(pairs) + 100),
        LexicalIndex.build(texts, list(owners + 100)),
    )
    return index, rows


@pytest.mark.parametrize("fusion", [QUESTIONS_ONLY, Fusion(0.3, 0.5), Fusion(0.1, 0.0)])
def test_two_passes_find_the_one_pass_matches(shortlisting, monkeypatch, fusion):
    index, rows = hybrid_bank(600)
    rng = np.random.default_rng(2)
    queries = unit(rows[rng.choice(len(rows), 40)] + rng.normal(0, 0.05, (40, rows.shape[1])))
    texts = [" ".join(rng.choice(WORDS, size=3)) for _ in queries]
    for k in (1, 5, 10):
        fast = index.search_many(queries, texts, k=k, fusion=fusion)
        slow = one_pass(monkeypatch, index, queries, texts, k=k, fusion=fusion)
        for got, want in zip(fast, slow, strict=True):
            assert [m.pair_id for m in got] == [m.pair_id for m in want]
            for a, b in zip(got, want, strict=True):
                assert (a.score, a.question, a.answer, a.lexical) == pytest.approx(
                    (b.score, b.question, b.answer, b.lexical), abs=1e-5
                )


def test_two_passes_keep_each_querys_best_view(shortlisting, monkeypatch):
    index, rows = hybrid_bank(300, seed=3)
    vectors = unit(np.vstack([rows[5], rows[40] + 0.01, rows[41], rows[90]]))
    texts = ["වී පොහොර", "bg 358", "යූරියා කවදද", "ගොයම්"]
    owners = [0, 0, 1, 1]  # two questions, two views each
    fusion = Fusion(0.3, 0.5)
    fast = index.search_many(vectors, texts, owners, k=5, fusion=fusion)
    slow = one_pass(monkeypatch, index, vectors, texts, owners, k=5, fusion=fusion)
    assert len(fast) == 2
    assert [[m.pair_id for m in q] for q in fast] == [[m.pair_id for m in q] for q in slow]
    assert [m.score for m in fast[1]] == pytest.approx([m.score for m in slow[1]], abs=1e-5)


def test_an_edited_index_searches_its_own_rows(shortlisting):
    index, rows = hybrid_bank(200, seed=4)
    before = index.search_many(rows[:1], ["වී"], k=1, fusion=Fusion(0.1, 0.1))  # copy made
    moved = unit(-rows[:1])
    edited = index.with_pairs([100], moved, [100], moved, ["වී"], [100])
    [[top]] = edited.search_many(moved, ["වී"], k=1, fusion=Fusion(0.1, 0.1))
    assert before[0][0].pair_id == 100
    assert top.pair_id == 100 and top.question == pytest.approx(1.0, abs=1e-5)
    assert index.search_many(moved, ["වී"], k=1)[0][0].pair_id != 100  # the old one untouched


def test_a_failing_first_pass_leaves_the_float_search(shortlisting, monkeypatch, caplog):
    index, rows = hybrid_bank(200, seed=5)
    expected = one_pass(monkeypatch, index, rows[:3], ["වී", "bg", "ගොයම්"], k=5)

    def broken(self, queries):
        raise RuntimeError("no MatMulInteger kernel here")

    monkeypatch.setattr(Int8Rows, "scores", broken)
    assert index.search_many(rows[:3], ["වී", "bg", "ගොයම්"], k=5) == expected
    assert "searched in float" in caplog.text
    assert index.questions.approximate_pair_scores(rows[:1]) is None  # not tried again


def test_the_int8_copy_is_made_with_the_index_not_by_a_farmers_question(
    shortlisting, monkeypatch, caplog
):
    made = []
    monkeypatch.setattr(Int8Rows, "prepare", lambda self: made.append(len(self)))
    index, rows = hybrid_bank(100, seed=6)
    assert len(made) == 2  # phrasings and answers, before any search

    def broken(self):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Int8Rows, "prepare", broken)
    index, rows = hybrid_bank(100, seed=7)  # built all the same, searched in float
    expected = one_pass(monkeypatch, index, rows[:2], ["වී", "bg"], k=3)
    assert index.search_many(rows[:2], ["වී", "bg"], k=3) == expected
    assert "no int8 first pass" in caplog.text


def test_a_small_index_is_searched_in_float_alone():
    index, rows = hybrid_bank(50)
    assert len(index) < index_module.SHORTLIST_ROWS
    assert index.questions.approximate_pair_scores(rows[:1]) is None
