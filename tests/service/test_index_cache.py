"""The index's texts and spelling index are kept between starts, and any bank change
misses the kept copy."""

from __future__ import annotations

import pytest

from bot.service import indexing
from bot.service.answering import Question

ASKED = "ගොයම කපන්න සුදුසු කාලය මොකක්ද"


def test_a_second_start_reuses_the_index_and_answers_the_same(make_services, monkeypatch):
    first = make_services()
    before = first.answerer.answer(Question(ASKED))
    [kept] = list(first.settings.index_cache_dir.glob("index-*.pickle"))
    first.close()

    def no_rebuild(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the index was rebuilt from the bank's text")

    with monkeypatch.context() as patched:
        patched.setattr(indexing.IndexRows, "of", no_rebuild)
        second = make_services()
        after = second.answerer.answer(Question(ASKED))
    assert [(c.pair_id, round(c.score, 5)) for c in after.candidates] == [
        (c.pair_id, round(c.score, 5)) for c in before.candidates
    ]

    second.bank.add("කුඹුරට වතුර බඳින්නේ කොහොමද?", "නියරවල් හොඳට බැඳලා වතුර පාලනය කරන්න.")
    second.close()
    with monkeypatch.context() as patched:
        patched.setattr(indexing.IndexRows, "of", no_rebuild)
        with pytest.raises(AssertionError, match="rebuilt"):
            make_services()  # the bank changed: the kept index no longer fits
    third = make_services()
    assert third.answerer.answer(Question("කුඹුරට වතුර බඳින්නේ කොහොමද?")).candidates
    assert not kept.exists()  # only the current bank's file is kept


def test_a_start_that_encodes_shows_its_progress_when_asked(services, scoring, monkeypatch):
    asked: list[tuple[str, bool]] = []
    real_progress = indexing._progress

    def progress(total: int, enabled: bool, what: str):  # type: ignore[no-untyped-def]
        asked.append((what, enabled))
        return real_progress(total, False, what)

    monkeypatch.setattr(indexing, "_progress", progress)
    monkeypatch.setattr(indexing, "load_vectors", lambda *args: {})  # nothing cached yet
    for shown in (True, False):
        asked.clear()
        index, _ = indexing.build_index(
            services.session_factory, scoring.encoder, show_progress=shown
        )
        assert len(index.questions) and asked == [("bank", shown), ("answers", shown)]
