"""The HTTP side of the fake Bot API: decoding PTB's form and multipart bodies, replying JSON."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from bot.bench.fake_bot_api import FakeBotApi

JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "commands",
        "scope",
        "reply_parameters",
        "entities",
        "caption_entities",
        "link_preview_options",
    }
)
INT_FIELDS = frozenset({"chat_id", "message_id", "offset", "timeout", "limit", "user_id"})


@dataclass
class ApiCall:
    """One request the bot made: the method, its decoded parameters and uploaded files."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    at: float = field(default_factory=time.perf_counter)


def decode_field(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        return json.loads(value)
    if name in INT_FIELDS and value.lstrip("-").isdigit():
        return int(value)
    return value


class FakeBotServer(ThreadingHTTPServer):
    """The fake's HTTP server; its handlers reach the fake through `fake`."""

    fake: FakeBotApi


class BotApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    server: FakeBotServer

    def do_POST(self) -> None:
        fake = self.server.fake
        prefix = f"/bot{fake.token}/"
        path = unquote(urlsplit(self.path).path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:  # the client died mid-request (a test's kill -9)
            self.close_connection = True
            return
        if not path.startswith(prefix):
            return self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        params, files = self._parse(body)
        status, payload = fake.handle(ApiCall(path[len(prefix) :], params, files))
        self._reply(status, payload)

    def do_GET(self) -> None:
        fake = self.server.fake
        prefix = f"/file/bot{fake.token}/"
        path = unquote(urlsplit(self.path).path)  # httpx sends the token's ':' as %3A
        data = fake.file_by_path(path[len(prefix) :]) if path.startswith(prefix) else None
        if data is None:
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _parse(self, body: bytes) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/"):
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            return {k: decode_field(k, v) for k, v in pairs}, {}
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            assert isinstance(name, str) and isinstance(data, bytes)  # PTB names each part
            filename = part.get_filename()
            if filename:
                files[name] = (filename, data)
            else:
                params[name] = decode_field(name, data.decode("utf-8"))
        return params, files

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        try:
            data = json.dumps(payload, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate: JSON can still carry it as \udXXX
            data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the bot gave up on a long poll while stopping

    def log_message(self, format: str, *args: Any) -> None:
        pass
