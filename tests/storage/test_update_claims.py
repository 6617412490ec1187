"""One replica handles each Telegram update; a dead replica's unfinished update is taken over."""

from __future__ import annotations

from datetime import timedelta

from bot.storage import update_claims
from bot.storage.models import utcnow

STALE = timedelta(minutes=2)


def claim(session, update_id: int, replica: str, *, minutes_later: float = 0) -> bool:
    now = utcnow() + timedelta(minutes=minutes_later)
    taken = update_claims.claim(session, update_id, replica, stale_after=STALE, now=now)
    session.commit()
    return taken


def test_the_first_replica_takes_an_update_and_keeps_it(session):
    assert claim(session, 41, "one")
    assert claim(session, 41, "one")  # its own inbox replaying after a restart
    assert not claim(session, 41, "two")  # Telegram's retry reaching the other replica
    assert claim(session, 42, "two")


def test_an_unfinished_update_is_taken_over_only_once_its_replica_looks_dead(session):
    assert claim(session, 41, "one")
    assert not claim(session, 41, "two", minutes_later=1)
    assert claim(session, 41, "two", minutes_later=3)
    assert not claim(session, 41, "one", minutes_later=3.5)  # it is two's now


def test_a_finished_update_is_never_handled_again(session):
    assert claim(session, 41, "one")
    update_claims.finish(session, 41, "one")
    session.commit()
    assert not claim(session, 41, "two", minutes_later=60)


def test_old_claims_are_pruned(session):
    assert claim(session, 41, "one")
    assert update_claims.prune(session, utcnow() - timedelta(days=2)) == 0
    assert update_claims.prune(session, utcnow() + timedelta(seconds=1)) == 1
