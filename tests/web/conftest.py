"""The desk over the real bot: the bot polls the fake Bot API, the desk shares its services."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from bot.telegram.desk_line import TelegramFarmerLine
from bot.web.app import create_app

# The Telegram fixtures: one fake Bot API per session, the real Application polling it.
from tests.telegram.conftest import (  # noqa: F401
    ADMIN,
    BotHarness,
    bot,
    db_url,
    fake_api,
    fresh_fake,
    make_settings,
    seeded_sqlite,
    start_bot,
)

TOKEN = re.compile(r"token=([A-Za-z0-9_.%-]+)")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@dataclass
class Desk:
    """The bot and an HTTP client on its desk (ASGI, in this event loop)."""

    bot: BotHarness
    client: httpx.AsyncClient

    async def link(self, admin_id: int = ADMIN) -> str:
        """The one-time link the bot sends for /web."""
        [reply] = await self.bot.send(admin_id, "/web", user_id=admin_id)
        found = TOKEN.search(reply["text"])
        assert found, reply["text"]
        return found.group(1)

    async def login(self, admin_id: int = ADMIN) -> str:
        """Log in through the link the bot sent; returns the page's CSRF token."""
        response = await self.client.post("/login", data={"token": await self.link(admin_id)})
        assert response.status_code == 303, response.text
        return await self.csrf()

    async def csrf(self) -> str:
        page = await self.client.get("/queue")
        found = CSRF.search(page.text)
        assert found, page.text[:500]
        return found.group(1)


@pytest.fixture
async def desk(bot: BotHarness) -> AsyncIterator[Desk]:  # noqa: F811
    app = create_app(bot.services.settings, bot.services, TelegramFarmerLine(bot.app.bot))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as client:
        yield Desk(bot, client)
