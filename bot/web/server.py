"""Serving the desk: alone (`agribot web`) or beside the bot on its event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import uvicorn
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from telegram import Bot

from bot.config import Settings
from bot.errors import ConfigurationError
from bot.service.runtime import Services
from bot.telegram.desk_line import TelegramFarmerLine
from bot.web.app import create_app

logger = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]


class DeskServer(uvicorn.Server):
    """uvicorn without its signal handlers: the bot's own handle Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def desk_config(app: Starlette, settings: Settings) -> uvicorn.Config:
    if settings.web_base_url is None and settings.web_host not in ("127.0.0.1", "localhost"):
        logger.warning(
            "AGRIBOT_WEB_BASE_URL is not set: /web links will point at %s", settings.desk_url
        )
    return uvicorn.Config(
        app,
        host=settings.web_host,
        port=settings.web_port or 8080,
        log_level="warning",
        access_log=False,  # request lines would carry login tokens
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


async def start_beside_bot(settings: Settings, services: Services, bot: Bot) -> Stop:
    """Start the desk on the running event loop, sharing the bot's services (so its live
    answerer) and telling farmers through the bot; returns the coroutine that stops it."""
    app = create_app(settings, services, TelegramFarmerLine(bot))
    server = DeskServer(desk_config(app, settings))

    async def serve() -> None:
        try:
            await server.serve()
        except SystemExit as error:  # uvicorn exits when it cannot listen
            where = f"{settings.web_host}:{settings.web_port}"
            raise ConfigurationError(f"the web desk could not listen on {where}") from error

    task = asyncio.create_task(serve(), name="agribot-desk")
    while not server.started:  # listening before the bot says it is up
        if task.done():
            task.result()  # raises why it stopped
            raise ConfigurationError("the web desk stopped as it started")
        await asyncio.sleep(0.02)
    logger.info("web desk on %s", settings.desk_url)

    async def stop() -> None:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop


def run_desk(settings: Settings, services: Services) -> None:
    """`agribot web`: the desk on its own until Ctrl-C."""
    try:
        desk_alone(settings, services).run()
    finally:
        services.close()


def desk_alone(settings: Settings, services: Services) -> uvicorn.Server:
    """The desk as its own process serves it: its answerer follows the bank (and the
    registry) as the bot changes them, and its own Bot reaches farmers."""
    bot = None
    if settings.telegram_token is not None:
        bot = Bot(
            settings.telegram_token.get_secret_value(),
            base_url=settings.telegram_base_url,
            base_file_url=settings.telegram_base_file_url,
        )
    app = create_app(settings, services, TelegramFarmerLine(bot) if bot else None)
    app.router.lifespan_context = _lifespan(settings, services, bot)
    logger.info("web desk on %s", settings.desk_url)
    return uvicorn.Server(desk_config(app, settings))


def _lifespan(
    settings: Settings, services: Services, bot: Bot | None
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if bot is not None:
            await bot.initialize()
        follow = asyncio.create_task(_follow(settings, services), name="agribot-desk-follow")
        try:
            yield
        finally:
            follow.cancel()
            if bot is not None:
                await bot.shutdown()

    return lifespan


async def _follow(settings: Settings, services: Services) -> None:
    """Index what the bot and other processes change in the bank, as the bot does."""
    while True:
        await asyncio.sleep(settings.bank_follow_every_s)
        try:
            await asyncio.to_thread(services.follow_bank)
            if await asyncio.to_thread(services.active_model_changed):
                await asyncio.to_thread(services.reload_model)
        except SQLAlchemyError as error:
            logger.warning("desk could not follow the bank: %s", error.__class__.__name__)
