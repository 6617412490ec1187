"""Webhook mode: a small HTTP server that Telegram posts updates to, behind a reverse proxy.

python-telegram-bot's own webhook server reads the whole body before it checks the secret,
so anyone could make it buffer large bodies, and malformed JSON with the right secret got
a 500. This one checks the secret as soon as the headers arrive (403, the body is never
read), caps the body (413), refuses what is not an update (400), and hands each update to
the Application's queue, as PTB's custom-webhook example does.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from types import TracebackType
from typing import TYPE_CHECKING, Any

import tornado.web
from telegram import Update
from tornado.http1connection import HTTP1Connection
from tornado.httpserver import HTTPServer

if TYPE_CHECKING:
    from bot.telegram.context import BotApplication

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few kilobytes (a 4,096-character message with its entities is
# under 100 kB even with every character escaped); the proxy should cap bodies too.
MAX_UPDATE_BYTES = 1024 * 1024


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """POST one update: checked before the body is read, then queued for the Application."""

    def initialize(self, bot_application: BotApplication, secret: str) -> None:
        self.bot_application = bot_application
        self.secret = secret
        self.body = bytearray()
        self.too_large = False

    def prepare(self) -> None:
        if self.request.method != "POST":
            raise tornado.web.HTTPError(405)
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            logger.warning("webhook request from %s with a wrong secret", self.request.remote_ip)
            raise tornado.web.HTTPError(403)
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_UPDATE_BYTES):
            raise tornado.web.HTTPError(413)
        connection = self.request.connection
        assert isinstance(connection, HTTP1Connection)  # what tornado's HTTPServer makes
        connection.set_max_body_size(MAX_UPDATE_BYTES)

    def data_received(self, chunk: bytes) -> None:
        if len(self.body) + len(chunk) > MAX_UPDATE_BYTES:
            self.too_large = True
            return
        self.body.extend(chunk)

    async def post(self) -> None:
        if self.too_large:
            raise tornado.web.HTTPError(413)
        try:
            data: Any = json.loads(self.body)
        except (ValueError, RecursionError):
            raise tornado.web.HTTPError(400, "the body is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise tornado.web.HTTPError(400, "the body is not a Telegram update")
        try:
            update = Update.de_json(data, self.bot_application.bot)
        except Exception:
            logger.warning("webhook body is not a valid update", exc_info=True)
            raise tornado.web.HTTPError(400, "the body is not a Telegram update") from None
        inbox = self.bot_application.bot_data.inbox
        if inbox is not None:  # on disk before Telegram hears 200
            await asyncio.to_thread(inbox.record, [data])
        await self.bot_application.update_queue.put(update)
        self.set_status(200)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"ok": False, "status": status_code})

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)


class WebhookServer:
    """Listens on `host:port` for updates posted to `path`."""

    def __init__(
        self,
        application: BotApplication,
        host: str,
        port: int,
        path: str,
        secret: str,
    ) -> None:
        route = "/" + path.strip("/")
        app = tornado.web.Application(
            [(rf"{route}/?", UpdateHandler, {"bot_application": application, "secret": secret})]
        )
        self.http = HTTPServer(app, max_body_size=MAX_UPDATE_BYTES, body_timeout=30)
        self.host, self.port = host, port

    async def start(self) -> None:
        self.http.listen(self.port, address=self.host)
        logger.info("webhook listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        self.http.stop()
        await self.http.close_all_connections()


async def serve_webhook(
    application: BotApplication,
    *,
    host: str,
    port: int,
    url: str,
    path: str,
    secret: str,
) -> None:
    """Run the bot in webhook mode until SIGINT or SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = WebhookServer(application, host, port, path, secret)
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await server.start()
    await application.bot.set_webhook(
        url, secret_token=secret, allowed_updates=Update.ALL_TYPES, max_connections=40
    )
    await application.start()
    try:
        await stop.wait()
    finally:
        logger.info("stopping the webhook")
        await server.stop()
        await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
