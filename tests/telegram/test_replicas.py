"""Two bot processes on one database: what an officer changes on one, the other answers."""

from __future__ import annotations

import time

from bot.bench.fake_bot_api import FakeBotApi
from tests.telegram.conftest import ADMIN, BotHarness

FARMER = 7301
RAT_QUESTION = "කුඹුරේ මීයන් වැඩිවෙලා, මොකද කරන්නේ?"
RAT_ANSWER = "අසල්වැසි ගොවීන් සමඟ එක්ව, වගාවට පෙර සිට සති 3 ක් යනතුරු මී පාලනය කරන්න."


async def test_an_officers_add_on_one_replica_is_answered_by_the_other_within_5_s(
    start_bot, tmp_path
):
    with FakeBotApi() as other_telegram:
        one = await start_bot(data_dir=tmp_path / "one")
        other = await start_bot(
            data_dir=tmp_path / "two",
            telegram_token=other_telegram.token,
            telegram_base_url=other_telegram.base_url,
            telegram_base_file_url=other_telegram.base_file_url,
        )
        two = BotHarness(other_telegram, other.app, other.services)
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
