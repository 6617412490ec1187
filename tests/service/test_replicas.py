"""A replica keeps its name across restarts, and a database outage never stops an update."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bot.service.replicas import UpdateClaims, replica_id


def test_a_replica_keeps_its_name_across_restarts(tmp_path):
    first = replica_id(tmp_path / "data")
    assert first == replica_id(tmp_path / "data") != replica_id(tmp_path / "other")


def test_an_update_is_handled_when_the_database_cannot_say_whose_it_is(session_factory, engine):
    claims = UpdateClaims(session_factory, "one")
    assert claims.claim(7) and not UpdateClaims(session_factory, "two").claim(7)

    def refuse(*args):
        raise OperationalError("connect", {}, ConnectionError("the database went away"))

    event.listen(engine, "do_connect", refuse)
    engine.dispose()  # no pooled connection survives: the next checkout must connect
    assert UpdateClaims(session_factory, "two").claim(8)
    claims.finish(8)  # logged, not raised
