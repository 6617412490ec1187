"""Every committed change to the bank takes a revision and names the pairs it touched."""

from __future__ import annotations

from bot.storage import bank, importer
from bot.storage.revisions import changed_pair_ids, current_revision
from tests.conftest import SMALL_BANK


def changes(session_factory, after: int = 0) -> tuple[int, list[int]]:
    with session_factory() as session:
        latest = current_revision(session)
        return latest, changed_pair_ids(session, after, latest)


def test_add_edit_wording_and_delete_each_take_a_revision(session_factory):
    with session_factory() as session:
        first = bank.add_pair(session, "වී පොඟවන්නේ කොහොමද?", "පැය 24 ක්.", ["වී පොඟවන හැටි"])
        other = bank.add_pair(session, "යූරියා දාන්නේ කවදාද?", "සති 2 දී.")
        session.commit()
    assert changes(session_factory) == (1, sorted([first.id, other.id]))

    with session_factory() as session:
        bank.update_pair(session, first.id, answer="පැය 24 ක් පිරිසිදු වතුරේ.")
        session.commit()
    assert changes(session_factory, 1) == (2, [first.id])

    with session_factory() as session:
        bank.add_phrasing(session, other.id, "යූරියා යොදන කාලය", "admin")
        session.commit()
    assert changes(session_factory, 2) == (3, [other.id])

    with session_factory() as session:
        bank.delete_pair(session, first.id)
        session.commit()
    assert changes(session_factory, 3) == (4, [first.id])


def test_a_rolled_back_change_and_a_read_take_no_revision(session_factory):
    with session_factory() as session:
        bank.add_pair(session, "වී පොඟවන්නේ කොහොමද?", "පැය 24 ක්.")
        session.rollback()
    with session_factory() as session:
        bank.list_pairs(session)
        session.commit()
    assert changes(session_factory) == (0, [])


def test_a_waiting_wording_changes_nothing_until_it_is_approved(session_factory):
    with session_factory() as session:
        pair = bank.add_pair(session, "වී පොඟවන්නේ කොහොමද?", "පැය 24 ක්.")
        session.commit()
    with session_factory() as session:
        waiting = bank.add_pending_phrasing(session, pair.id, "බිත්තර වී පොඟවන හැටි", "farmer")
        rejected = bank.add_pending_phrasing(session, pair.id, "වී පොඟවන්න කීයක්", "farmer")
        session.commit()
    with session_factory() as session:
        bank.review_phrasing(session, rejected.id, approve=False)
        session.commit()
    assert changes(session_factory)[0] == 1
    with session_factory() as session:
        bank.review_phrasing(session, waiting.id, approve=True)
        session.commit()
    assert changes(session_factory, 1) == (2, [pair.id])


def test_an_import_is_one_revision_for_all_its_pairs(session_factory):
    rows = importer.read_bank_file(SMALL_BANK)
    with session_factory() as session:
        report = importer.import_rows(session, rows)
        session.commit()
    assert changes(session_factory) == (1, sorted(report.pair_ids))
