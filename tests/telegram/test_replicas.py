"""Two bot processes on one database: what an officer changes on one, the other answers;
an update Telegram delivers to both is handled by one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.bench.fake_bot_api import FakeBotApi
from bot.storage.models import UpdateClaim
from tests.telegram.conftest import ADMIN, ANSWERED, ANSWERED_TEXT, BotHarness, times_logged

FARMER = 7301
RAT_QUESTION = "කුඹුරේ මීයන් වැඩිවෙලා, මොකද කරන්නේ?"
RAT_ANSWER = "අසල්වැසි ගොවීන් සමඟ එක්ව, වගාවට පෙර සිට සති 3 ක් යනතුරු මී පාලනය කරන්න."


@pytest.fixture
async def replicas(
    start_bot: Callable[..., Awaitable[BotHarness]], tmp_path
) -> AsyncIterator[tuple[BotHarness, BotHarness]]:
    """Two replicas on one database, each with its own data directory. Each polls its own
    fake Telegram, standing for the load balancer's share of one bot's updates: update ids
    are the bot's, so the second fake numbers its own far above the first's."""
    with FakeBotApi(first_update_id=10**9) as second_telegram:
        one = await start_bot(data_dir=tmp_path / "one")
        other = await start_bot(
            data_dir=tmp_path / "two",
            telegram_token=second_telegram.token,
            telegram_base_url=second_telegram.base_url,
            telegram_base_file_url=second_telegram.base_file_url,
        )
        yield one, BotHarness(second_telegram, other.app, other.services)


async def test_an_officers_add_on_one_replica_is_answered_by_the_other_within_5_s(replicas):
    one, two = replicas
    [declined] = await two.send(FARMER, RAT_QUESTION)
    assert declined["text"] != RAT_ANSWER

    await one.send(ADMIN, f"/add {RAT_QUESTION} || {RAT_ANSWER}")
    added = time.monotonic()
    [pair] = one.services.bank.list(search="මීයන්")
    await two.fake.wait_until(
        lambda: pair.id in two.services.answerer.state.pairs,
        timeout=5,
        describe=lambda: "the other replica to index the new pair",
    )
    assert time.monotonic() - added < 5
    [answered] = await two.send(FARMER + 1, RAT_QUESTION)
    assert answered["text"] == RAT_ANSWER


async def test_an_update_delivered_to_both_replicas_is_handled_once(replicas, db_url):
    one, two = replicas
    delivered = one.fake.push_text(FARMER, ANSWERED)
    two.fake.redeliver(delivered)  # Telegram's retry, through the load balancer

    def replies() -> list[str]:
        return [m["text"] for bot in (one, two) for m in bot.fake.sent_messages(FARMER)]

    await one.fake.wait_until(lambda: bool(replies()), describe=lambda: "an answer")
    await asyncio.sleep(0.5)  # time for a second answer, were one coming
    with one.services.session_factory() as session:
        logged = times_logged(session, FARMER)
        claims = session.scalars(select(UpdateClaim)).all()
    if make_url(db_url).get_backend_name() != "postgresql":
        # SQLite serves one process: there are no replicas to share updates with
        assert len(replies()) == 2 and not claims
        return
    [reply] = replies()
    assert reply.startswith(ANSWERED_TEXT)
    assert list(logged.values()) == [1]
    [claim] = claims
    assert claim.update_id == delivered["update_id"] and claim.done_at is not None
