"""kill -9 under load, then a restart: every question is answered and logged once.

The bot runs as `agribot serve` in a subprocess against the fake Bot API. Before the
inbox, updates were confirmed to Telegram while their handlers still ran, and two kills
lost 22 and 8 of 400 questions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.storage.db import make_engine
from tests.conftest import SMALL_BANK
from tests.telegram.conftest import (
    ANSWERED,
    GREY,
    OFF_TOPIC,
    times_logged,
)

CHATS = 40
# The child bot runs the real base model: a bank phrasing scores 1.0 on it, the grey-zone
# rewording GREY ~0.958, the off-topic question ~0.85.
ANSWER_AT = 0.97
SUGGEST_AT = 0.90
QUESTIONS = [ANSWERED, GREY, OFF_TOPIC]


def start_bot(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_a_killed_bot_answers_after_restart_what_it_had_taken(
    fake_api, db_url, base_model_dir, tmp_path
):
    env = {
        **os.environ,
        "AGRIBOT_TELEGRAM_TOKEN": fake_api.token,
        "AGRIBOT_TELEGRAM_BASE_URL": fake_api.base_url,
        "AGRIBOT_TELEGRAM_BASE_FILE_URL": fake_api.base_file_url,
        "AGRIBOT_DATABASE_URL": db_url,
        "AGRIBOT_DATA_DIR": str(tmp_path / "data"),
        "AGRIBOT_MODEL": str(base_model_dir),
        "AGRIBOT_ENCODER_BACKEND": "onnx",
        "AGRIBOT_BANK_PATH": str(SMALL_BANK),
        "AGRIBOT_ANSWER_THRESHOLD": str(ANSWER_AT),
        "AGRIBOT_SUGGEST_THRESHOLD": str(SUGGEST_AT),
        "AGRIBOT_ANSWER_WEIGHT": "0",
        "AGRIBOT_LEXICAL_WEIGHT": "0",
        "AGRIBOT_MARGIN": "0",
        "AGRIBOT_CHIT_CHAT_THRESHOLD": "1.01",
        "AGRIBOT_ADMIN_IDS": "",
    }
    log = tmp_path / "bot.log"
    first = start_bot(env, log)
    try:
        await fake_api.wait_for_call("getUpdates", 1, timeout=120)
        pushed = {
            chat: fake_api.push_text(chat, f"{QUESTIONS[chat % 3]} {chat}")["message"]["message_id"]
            for chat in range(7000, 7000 + CHATS)
        }
        await fake_api.wait_until(lambda: len(fake_api.calls_to("sendMessage")) >= 3, timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    answered_before = {c for c in pushed if fake_api.sent_messages(c)}
    assert len(answered_before) < CHATS, "the kill came too late to test anything"

    second = start_bot(env, log)
    try:
        await fake_api.wait_until(
            lambda: all(fake_api.sent_messages(chat) for chat in pushed), timeout=180
        )
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=60)
        except subprocess.TimeoutExpired:
            second.kill()
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            counts = times_logged(connection, 7000)
    finally:
        engine.dispose()
    assert counts == {message_id: 1 for message_id in pushed.values()}, log.read_text()[-3000:]
