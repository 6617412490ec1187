"""The fake Bot API (one server per session) and the real Application polling it."""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from telegram.ext import Application

from bot.bench.fake_bot_api import FakeBotApi
from bot.config import Settings
from bot.service.runtime import Services, open_services
from bot.storage.db import make_engine, upgrade
from bot.storage.models import Embedding, QuestionLog
from bot.telegram.app import build_application
from tests.conftest import QUESTION_SCORES_ONLY, SMALL_BANK
from tests.hashed_encoder import ANSWER_AT as HASHED_ANSWER_AT
from tests.hashed_encoder import SUGGEST_AT as HASHED_SUGGEST_AT

ADMIN = 9001
# The bot in these tests encodes with the hashed n-gram encoder (tests/hashed_encoder.py):
# a bank phrasing scores 1.0, the grey-zone rewording GREY 0.41 (the harvest pair), the
# off-topic questions 0.22 at most. The flows are tested, not the model's judgement.
ANSWER_AT = HASHED_ANSWER_AT
SUGGEST_AT = HASHED_SUGGEST_AT
ANSWERED = "බිත්තර වී පොඟවන්න ඕන කොච්චර වෙලාවක්ද?"
ANSWERED_TEXT = "බීජ වී අවම වශයෙන් පැය 24"
GREY = "ගොයම කපන්න සුදුසු කාලය මොකක්ද"
HARVEST = "වී අස්වනු නෙළන්නේ කවදාද?"
OFF_TOPIC = "ලංකාවේ ක්‍රිකට් කණ්ඩායමේ නායකයා කවුද?"
OFF_TOPIC_2 = "මගේ එළදෙන කිරි දෙන්නේ නැහැ"


@pytest.fixture(scope="session")
def fake_api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh_fake(fake_api: FakeBotApi) -> Iterator[FakeBotApi]:
    """A clean fake per test; afterwards, nothing the bot sent was what Telegram refuses."""
    fake_api.reset()
    yield fake_api
    refused = [(call.method, call.params.get("text", "")[:80]) for call in fake_api.rejected]
    assert not refused, f"the bot sent what Telegram would refuse: {refused}"


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory, hashed_encoder) -> Path:
    """The small bank with its vectors cached, built once; each test gets a copy."""
    folder = tmp_path_factory.mktemp("seeded")
    services = open_services(
        Settings(
            data_dir=folder, database_url=f"sqlite:///{folder / 'seed.db'}", bank_path=SMALL_BANK
        ),
        encoder=hashed_encoder,
    )
    services.close()
    return folder / "seed.db"


@pytest.fixture
def db_url(database_url: str, seeded_sqlite: Path) -> str:
    """A copy of the seeded SQLite file; on PostgreSQL, the seed's vector cache copied in."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        shutil.copyfile(seeded_sqlite, url.database)
        return database_url
    seed, target = make_engine(f"sqlite:///{seeded_sqlite}"), make_engine(database_url)
    upgrade(target)
    with seed.connect() as source, target.begin() as destination:
        rows = [row._asdict() for row in source.execute(select(Embedding.__table__))]
        destination.execute(insert(Embedding.__table__), rows)
    seed.dispose()
    target.dispose()
    return database_url


@pytest.fixture
def make_settings(db_url: str, tmp_path: Path, fake_api: FakeBotApi) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values = {
            "data_dir": tmp_path / "data",
            "database_url": db_url,
            "bank_path": SMALL_BANK,
            "answer_threshold": ANSWER_AT,
            "suggest_threshold": SUGGEST_AT,
            "telegram_token": fake_api.token,
            "admin_ids": [ADMIN],
            "telegram_base_url": fake_api.base_url,
            "telegram_base_file_url": fake_api.base_file_url,
            "batch_window_ms": 2.0,
            **QUESTION_SCORES_ONLY,
            **overrides,
        }
        return Settings(**values)

    return make


@dataclass
class BotHarness:
    """The running bot and the fake Telegram around it, with a farmer's-eye helpers."""

    fake: FakeBotApi
    app: Application  # type: ignore[type-arg]
    services: Services

    async def send(
        self, chat_id: int, text: str, *, user_id: int | None = None, expect: int = 1
    ) -> list[dict[str, Any]]:
        """Send a text (or /command) and return the `expect` messages the bot sends back."""
        before = len(self.fake.sent_messages(chat_id))
        self.fake.push_text(chat_id, text, user_id=user_id)
        return (await self.fake.wait_for_messages(chat_id, before + expect))[before:]

    async def press(self, chat_id: int, message: dict[str, Any], data: str, **kw: Any) -> None:
        """Press a button and wait until the bot has answered the press."""
        before = len(self.fake.calls_to("answerCallbackQuery"))
        self.fake.push_callback(chat_id, message, data, **kw)
        await self.fake.wait_for_call("answerCallbackQuery", before + 1)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        return next(m for m in self.fake.sent_messages(chat_id) if m["message_id"] == message_id)


def times_logged(connectable: Any, first_chat: int) -> dict[int, int]:
    """message id -> how many question-log rows it has, for chats from `first_chat` up
    (`connectable`: a Session or a Connection)."""
    counted = (
        select(QuestionLog.message_id, func.count())
        .where(QuestionLog.chat_id >= first_chat)
        .group_by(QuestionLog.message_id)
    )
    return dict(connectable.execute(counted).all())


async def edited_to(bot: BotHarness, chat_id: int, message: dict[str, Any], text: str) -> None:
    """Wait until the bot has edited `message` to read `text`."""
    await bot.fake.wait_until(
        lambda: bot.message(chat_id, message["message_id"])["text"] == text,
        describe=lambda: f"message {message['message_id']} to read {text!r}",
    )


async def send_previewed(bot: BotHarness, preview: dict[str, Any]) -> dict[str, Any]:
    """Press ✅ under an officer's answer preview; returns the officer's confirmation."""
    assert preview["text"].startswith("👀"), preview["text"]
    [send] = [data for _, data in buttons(preview) if re.fullmatch(r"pv:\d+:s", data)]
    before = len(bot.fake.sent_messages(ADMIN))
    await bot.press(ADMIN, preview, send)
    return (await bot.fake.wait_for_messages(ADMIN, before + 1))[before]


async def previewed_reply(bot: BotHarness, replied: dict[str, Any], text: str) -> dict[str, Any]:
    """An officer's reply to `replied`, then ✅ under the preview; the confirmation."""
    before = len(bot.fake.sent_messages(ADMIN))
    quoted = {key: value for key, value in replied.items() if key != "reply_markup"}
    bot.fake.push_message(ADMIN, ADMIN, text=text, reply_to_message=quoted)
    preview = (await bot.fake.wait_for_messages(ADMIN, before + 1))[before]
    return await send_previewed(bot, preview)


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, callback data) of every inline button, row by row."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(button["text"], button.get("callback_data", "")) for row in rows for button in row]


@pytest.fixture
async def start_bot(
    make_settings: Callable[..., Settings], fake_api: FakeBotApi, hashed_encoder
) -> AsyncIterator[Callable[..., Awaitable[BotHarness]]]:
    """Start the real Application (polling the fake) with settings overrides."""
    running: list[Application] = []  # type: ignore[type-arg]

    async def start(**overrides: Any) -> BotHarness:
        settings = make_settings(**overrides)
        services = open_services(settings, encoder=hashed_encoder)
        app = build_application(settings, services)
        await app.initialize()
        await app.updater.start_polling(timeout=1)  # type: ignore[union-attr]
        await app.start()
        running.append(app)
        return BotHarness(fake_api, app, services)

    yield start
    for app in running:
        if app.updater.running:  # type: ignore[union-attr]
            await app.updater.stop()  # type: ignore[union-attr]
        if app.running:
            await app.stop()
        await app.shutdown()
        await app.post_shutdown(app)  # type: ignore[misc]  # closes the batcher and the database


@pytest.fixture
async def bot(start_bot: Callable[..., Awaitable[BotHarness]]) -> BotHarness:
    return await start_bot()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app(bot: BotHarness) -> Application:  # type: ignore[type-arg]
    """The running Application built by `build_application`, polling the fake."""
    return bot.app
