"""The bundled eval file is a fair yardstick: fixed splits, every slice in both, no near
copies of the bank, out-of-domain questions mostly in Sinhala like the farmers' own."""

from __future__ import annotations

from collections import Counter

import pytest
from rapidfuzz import fuzz, process

from bot.config import BUNDLED_BANK, BUNDLED_EVAL
from bot.service.evaluation import read_queries
from bot.storage.importer import read_bank_file
from bot.text.normalize import has_sinhala, normalize_key

IN_DOMAIN_SLICES = (
    "colloquial",
    "singlish",
    "code_mixed",
    "short",
    "typo",
    "long",
    "hard_negative",
)


@pytest.fixture(scope="module")
def queries():
    return read_queries(BUNDLED_EVAL)


def test_every_line_has_a_split_and_a_slice_and_each_slice_is_in_both_splits(queries):
    assert {q.split for q in queries} == {"dev", "test"}
    assert {q.slice for q in queries} == {*IN_DOMAIN_SLICES, "ood", "chit_chat"}
    both = Counter((q.slice, q.split) for q in queries)
    for name in (*IN_DOMAIN_SLICES, "ood", "chit_chat"):
        assert both[name, "dev"] >= 20 and both[name, "test"] >= 20, name
    for name in IN_DOMAIN_SLICES:
        assert both[name, "dev"] + both[name, "test"] >= 100, name


def test_out_of_domain_questions_are_mostly_sinhala(queries):
    ood = [q for q in queries if q.slice == "ood"]
    assert not any(q.in_domain for q in ood)
    assert sum(has_sinhala(q.query) for q in ood) / len(ood) >= 0.85


def test_no_query_is_a_near_copy_of_bank_text(queries):
    texts = [
        normalize_key(text)
        for pair in read_bank_file(BUNDLED_BANK)
        for text in (pair.question, *pair.alternates)
    ]
    for query in (q for q in queries if q.in_domain):
        best = process.extractOne(normalize_key(query.query), texts, scorer=fuzz.ratio)
        assert best[1] < 85, query.query
