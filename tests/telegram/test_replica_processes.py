"""Two `agribot serve` processes on one PostgreSQL database act as one bot.

Each replica polls its own fake Bot API (one bot token cannot be long-polled twice); an
officer's /add on one is answered by the other within 5 s, and `agribot qa import` run
from a shell reaches both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.bench.fake_bot_api import FakeBotApi
from bot.bench.serve import stop_serving
from tests.conftest import SMALL_BANK
from tests.telegram.conftest import ADMIN

FOLLOW_WITHIN_S = 5.0
RAT_QUESTION = "කුඹුරේ මීයන් පාලනය කරන්නේ කොහොමද?"
RAT_ANSWER = "අසල්වැසි ගොවීන් සමඟ එක්ව, වගාවට පෙර සිට සති 3 ක් යනතුරු මී පාලනය කරන්න."
SNAIL_QUESTION = "ගොළුබෙලි හානිය වළක්වන්නේ කොහොමද?"
SNAIL_ANSWER = "කුඹුරේ ජලය බැස යන්නට සලස්වා ගොළුබෙලි අතින් එකතු කර විනාශ කරන්න."


@pytest.fixture
def second_api() -> Iterator[FakeBotApi]:
    """The second replica's Telegram. Replicas claim updates by id in the database, as
    behind one webhook they see the same ones: this one's ids must not meet the first's."""
    with FakeBotApi(
        "654321:TEST-replica-two", username="agribot_two_bot", first_update_id=1_000_000
    ) as fake:
        yield fake


def _environment(db_url: str, data_dir: Path, base_model_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AGRIBOT_DATABASE_URL": db_url,
        "AGRIBOT_DATA_DIR": str(data_dir),
        "AGRIBOT_MODEL": str(base_model_dir),
        "AGRIBOT_ENCODER_BACKEND": "onnx",
        "AGRIBOT_BANK_PATH": str(SMALL_BANK),
        # A bank phrasing scores 1.0 on the base model; nothing else comes near 0.97.
        "AGRIBOT_ANSWER_THRESHOLD": "0.97",
        "AGRIBOT_SUGGEST_THRESHOLD": "0.90",
        "AGRIBOT_ANSWER_WEIGHT": "0",
        "AGRIBOT_LEXICAL_WEIGHT": "0",
        "AGRIBOT_MARGIN": "0",
        "AGRIBOT_CHIT_CHAT_THRESHOLD": "1.01",
        "AGRIBOT_ADMIN_IDS": str(ADMIN),
        "AGRIBOT_WEBHOOK_URL": "",
    }


def _serve(env: dict[str, str], fake: FakeBotApi, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **env,
        "AGRIBOT_TELEGRAM_TOKEN": fake.token,
        "AGRIBOT_TELEGRAM_BASE_URL": fake.base_url,
        "AGRIBOT_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=env, stdout=output, stderr=subprocess.STDOUT
        )


async def _answer(fake: FakeBotApi, chat: int, question: str) -> str:
    """The text of the bot's reply to a farmer's `question`, waited for up to 5 s."""
    before = len(fake.sent_messages(chat))
    fake.push_text(chat, question)
    await fake.wait_until(lambda: len(fake.sent_messages(chat)) > before, FOLLOW_WITHIN_S)
    return str(fake.sent_messages(chat)[-1].get("text", ""))


async def _answered_within(fake: FakeBotApi, chat: int, question: str, answer: str) -> float:
    """Ask until the reply is `answer`, for at most FOLLOW_WITHIN_S; the seconds it took."""
    began = time.monotonic()
    while True:
        if (await _answer(fake, chat, question)).startswith(answer[:30]):
            return time.monotonic() - began
        if time.monotonic() - began > FOLLOW_WITHIN_S:
            raise AssertionError(f"chat {chat} was not answered {answer[:30]!r} in time")
        chat += 1  # a new farmer: the same one repeating would be told it asked already


async def test_two_serve_processes_follow_each_others_bank(
    fake_api, second_api, db_url, base_model_dir, tmp_path
):
    if not db_url.startswith("postgresql"):
        pytest.skip("replicas share PostgreSQL")
    from bot.retrieval.serving_model import ensure_serving_model

    ensure_serving_model(base_model_dir)  # as bootstrap does: not twice at once in the test
    log = tmp_path / "replicas.log"
    envs = [_environment(db_url, tmp_path / name, base_model_dir) for name in ("one", "two")]
    one = _serve(envs[0], fake_api, log)  # seeds the empty database: the other waits
    two = None
    try:
        await fake_api.wait_for_call("getUpdates", 1, timeout=240)
        two = _serve(envs[1], second_api, log)
        await second_api.wait_for_call("getUpdates", 1, timeout=240)
        assert not (await _answer(second_api, 500, RAT_QUESTION)).startswith(RAT_ANSWER[:30])

        fake_api.push_text(ADMIN, f"/add {RAT_QUESTION} || {RAT_ANSWER}")
        assert await _answered_within(second_api, 600, RAT_QUESTION, RAT_ANSWER) < 5

        bank = tmp_path / "snails.csv"
        bank.write_text(f"question,answer\n{SNAIL_QUESTION},{SNAIL_ANSWER}\n", encoding="utf-8")
        imported = subprocess.run(
            [sys.executable, "-m", "bot", "qa", "import", str(bank)],
            env={**envs[0], "AGRIBOT_DATA_DIR": str(tmp_path / "shell")},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr[-2000:]
        for fake, chat in ((fake_api, 700), (second_api, 800)):
            assert await _answered_within(fake, chat, SNAIL_QUESTION, SNAIL_ANSWER) < 5
    finally:
        stop_serving(one)
        if two is not None:
            stop_serving(two)
    assert one.returncode == 0 and two is not None and two.returncode == 0, log.read_text()[-3000:]
