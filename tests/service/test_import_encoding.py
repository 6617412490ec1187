"""A big import must not hold the write lock while the model encodes (a 3,000-row upload
held it 31 s and farmers' questions waited): encoding happens first, in its own chunks."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event

from bot.errors import ImportTooLarge
from bot.service.answering import Question

ROWS = 40


def bank_csv(tmp_path, rows: int = ROWS):
    lines = ["question,answer,alternates"]
    for n in range(rows):
        lines.append(f"කුඹුරේ ප්‍රශ්නය අංක {n} මොකක්ද?,උත්තරය අංක {n} මෙන්න.,{n} වෙනි ප්‍රශ්නය")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_import_encodes_before_its_write_transaction(services, tmp_path, monkeypatch):
    encoder = services.answerer.state.encoder
    encoded_at: list[float] = []
    first_pair_insert: list[float] = []
    for name in ("encode_queries", "encode_passages"):
        real = getattr(encoder, name)

        def timed(texts, *args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            vectors = _real(texts, *args, **kwargs)
            if texts:
                encoded_at.append(time.perf_counter())
            return vectors

        monkeypatch.setattr(encoder, name, timed)

    def note_insert(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO qa_pairs") and not first_pair_insert:
            first_pair_insert.append(time.perf_counter())

    def note_commit(conn):  # type: ignore[no-untyped-def]
        if first_pair_insert and len(first_pair_insert) == 1:
            first_pair_insert.append(time.perf_counter())

    event.listen(services.engine, "before_cursor_execute", note_insert)
    event.listen(services.engine, "commit", note_commit)
    try:
        report = services.bank.import_file(bank_csv(tmp_path))
    finally:
        event.remove(services.engine, "before_cursor_execute", note_insert)
        event.remove(services.engine, "commit", note_commit)
    assert report.added == ROWS
    opened, committed = first_pair_insert
    assert encoded_at and not [at for at in encoded_at if opened < at < committed]
    reply = services.answerer.answer(Question("7 වෙනි ප්‍රශ්නය"))
    assert reply.candidates[0].answer == "උත්තරය අංක 7 මෙන්න."


def test_an_upload_over_the_cap_is_refused_whole(services, tmp_path):
    before = services.bank.count()
    with pytest.raises(ImportTooLarge, match="41 pairs, over the 40"):
        services.bank.import_file(bank_csv(tmp_path, ROWS + 1), max_rows=ROWS)
    assert services.bank.count() == before
