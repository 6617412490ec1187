"""A fake Telegram Bot API over real HTTP on 127.0.0.1, for end-to-end tests and the bench.

The real `Application` reaches it through `ApplicationBuilder().base_url(fake.base_url)`.
It answers the methods agribot uses, records every call, lets a test push updates (text,
commands, button presses, documents, voice...) and wait for what the bot sent, and can
answer the next call of a method with an error (400, 403, 429 with retry_after). What
real Telegram refuses (text over 4,096 UTF-16 units, empty text, button data over 64
bytes, a photo missing or not a PNG/JPEG within Telegram's size limits, a file id it never
issued or of another type than the method sends, getFile on a file over 20 MB) it refuses
too, and keeps in `rejected`.

A test pushes an update and awaits what the bot sent: `fake.push_text(42, "...")`, then
`await fake.wait_for_messages(42, 1)`, all inside `with FakeBotApi() as fake:`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.bench.fake_http import ApiCall, BotApiHandler, FakeBotServer
from bot.bench.fake_images import image_size

TRUE_METHODS = frozenset(
    {
        "deleteWebhook",
        "setWebhook",
        "setMyCommands",
        "deleteMyCommands",
        "answerCallbackQuery",
        "sendChatAction",
        "close",
        "logOut",
    }
)

# The smallest files the fake hands out by default: an OGG page header and a 90x90 JPEG
# header (enough for magic numbers and `image_size`).
SAMPLE_OGG = b"OggS\x00\x02" + bytes(22) + b"\x01\x13OpusHead"
SAMPLE_JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xc0\x00\x11\x08\x00\x5a\x00\x5a\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    b"\xff\xd9"
)


@dataclass(frozen=True)
class FakeAddress:
    """Where a bot reaches a fake Bot API (it may run in another process)."""

    token: str
    base_url: str
    base_file_url: str


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None


class FakeBotApi:
    """The fake server; start it with `start()` or `with FakeBotApi() as fake:`."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        username: str = "agribot_test_bot",
        first_update_id: int = 1,
    ):
        self.token = token
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Agribot",
            "username": username,
        }
        self.calls: list[ApiCall] = []
        self.rejected: list[ApiCall] = []  # calls real Telegram would refuse (400)
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.listeners: list[Callable[[ApiCall, dict[str, Any] | None], None]] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(first_update_id)
        self._updates: deque[dict[str, Any]] = deque()
        self._pushed_at: dict[int, float] = {}
        self.delivered_at: dict[int, float] = {}
        self._messages: dict[int, dict[str, Any]] = {}
        self._sent: dict[int, list[int]] = defaultdict(list)
        self._files: dict[str, tuple[str, bytes]] = {}
        self._file_kinds: dict[str, str] = {}  # file id -> "voice", "audio", "photo", ...
        self.downloads: list[str] = []  # file paths the bot fetched
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._server: FakeBotServer | None = None
        self._stopping = False

    # Life cycle -------------------------------------------------------------------------

    def start(self) -> FakeBotApi:
        self._server = FakeBotServer(("127.0.0.1", 0), BotApiHandler)
        self._server.daemon_threads = True
        self._server.fake = self
        threading.Thread(
            target=self._server.serve_forever, daemon=True, name="fake-bot-api"
        ).start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget calls, updates, messages, files, failures and commands (between tests)."""
        with self._cond:
            self.calls.clear()
            self.rejected.clear()
            self.commands.clear()
            self.listeners.clear()
            self._updates.clear()
            self._messages.clear()
            self._sent.clear()
            self._files.clear()
            self._file_kinds.clear()
            self.downloads.clear()
            self._failures.clear()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return self._server.server_address[1]

    @property
    def address(self) -> FakeAddress:
        return FakeAddress(self.token, self.base_url, self.base_file_url)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # Steering the bot -------------------------------------------------------------------

    def fail_next(
        self, method: str, status: int = 429, description: str = "", *, retry_after: int = 1
    ) -> None:
        """Answer the next call of `method` with an error instead of doing it."""
        text = description or {
            429: f"Too Many Requests: retry after {retry_after}",
            403: "Forbidden: bot was blocked by the user",
        }.get(status, "Bad Request: injected failure")
        with self._cond:
            self._failures[method].append(
                _Failure(status, text, retry_after if status == 429 else None)
            )

    def push_update(self, payload: dict[str, Any], update_id: int | None = None) -> dict[str, Any]:
        """Queue an update for getUpdates (`update_id`: one Telegram gave out already, as
        when it delivers an update again)."""
        with self._cond:
            update = {"update_id": next(self._ids) if update_id is None else update_id, **payload}
            self._updates.append(update)
            self._pushed_at[update["update_id"]] = time.perf_counter()
            self._cond.notify_all()
        return update

    def redeliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver, with its id, an update another fake gave out: what a second replica
        sees when Telegram retries a webhook delivery through the load balancer."""
        message = update.get("message") or update.get("edited_message")
        if message is not None:
            with self._cond:
                self._messages[message["message_id"]] = message
        payload = {key: value for key, value in update.items() if key != "update_id"}
        return self.push_update(payload, update_id=update["update_id"])

    def push_message(
        self,
        chat_id: int,
        user_id: int | None = None,
        *,
        chat_type: str = "private",
        edited: dict[str, Any] | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        """A farmer's message of any kind (`text=...`, `voice=...`); returns the Update dict.

        `chat_type` "group" sends it in a group; `edited` (an earlier pushed message) sends
        it as that message edited.
        """
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        chat.update({"first_name": "Farmer"} if chat_type == "private" else {"title": "Group"})
        message = {
            "message_id": edited["message_id"] if edited else next(self._ids),
            "date": edited["date"] if edited else int(time.time()),
            "chat": chat,
            "from": _user(user_id or chat_id),
            **content,
        }
        if edited:
            message["edit_date"] = int(time.time())
        with self._cond:
            self._messages[message["message_id"]] = message
        return self.push_update({"edited_message" if edited else "message": message})

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        edited: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(None, 1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push_message(chat_id, user_id, chat_type=chat_type, edited=edited, **content)

    def push_callback(
        self, chat_id: int, message: dict[str, Any], data: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """A press on a button of `message` (one of the bot's sent messages)."""
        query = {
            "id": str(next(self._ids)),
            "from": _user(user_id or chat_id),
            "chat_instance": str(chat_id),
            "data": data,
            "message": message,
        }
        return self.push_update({"callback_query": query})

    def add_file(self, data: bytes, file_path: str, kind: str | None = None) -> dict[str, Any]:
        """A file Telegram holds; `kind` ("voice", "photo"...) is what its id may be sent as."""
        file_id = f"file-{next(self._ids)}"
        with self._cond:
            self._files[file_id] = (file_path, data)
            if kind is not None:
                self._file_kinds[file_id] = kind
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data)}

    def push_document(
        self,
        chat_id: int,
        file_name: str,
        data: bytes,
        *,
        user_id: int | None = None,
        mime_type: str = "text/csv",
    ) -> dict[str, Any]:
        document = {
            **self.add_file(data, f"documents/{file_name}", "document"),
            "file_name": file_name,
            "mime_type": mime_type,
        }
        return self.push_message(chat_id, user_id, document=document)

    def push_voice(
        self,
        chat_id: int,
        data: bytes = SAMPLE_OGG,
        *,
        mime_type: str | None = "audio/ogg",
        file_size: int | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """A voice note; `file_size` overrides the size Telegram declares for it."""
        voice = {**self.add_file(data, f"voice/file_{next(self._ids)}.oga", "voice"), "duration": 3}
        if mime_type is not None:
            voice["mime_type"] = mime_type
        if file_size is not None:
            voice["file_size"] = file_size
        return self.push_message(chat_id, voice=voice, **kw)

    def push_audio(
        self, chat_id: int, data: bytes, *, mime_type: str = "audio/mpeg", **kw: Any
    ) -> dict[str, Any]:
        """A recording sent as a music file (Telegram's Audio, not a voice note)."""
        path = f"music/file_{next(self._ids)}.mp3"
        audio = {**self.add_file(data, path, "audio"), "duration": 3, "mime_type": mime_type}
        return self.push_message(chat_id, audio=audio, **kw)

    def push_photo(
        self,
        chat_id: int,
        *sizes: bytes,
        caption: str | None = None,
        file_sizes: list[int | None] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """A photo as Telegram sends it: one PhotoSize per size in `sizes` (smallest first;
        SAMPLE_JPEG if none), each with its own file id; `file_sizes` overrides the sizes
        declared."""
        photo = []
        for number, data in enumerate(sizes or (SAMPLE_JPEG,)):
            width, height = image_size(data) or (90, 90)
            size = {
                **self.add_file(data, f"photos/file_{next(self._ids)}.jpg", "photo"),
                "width": width,
                "height": height,
            }
            if file_sizes is not None:
                size["file_size"] = file_sizes[number]
            photo.append(size)
        if caption is not None:
            kw["caption"] = caption
        return self.push_message(chat_id, photo=photo, **kw)

    def push_sticker(self, chat_id: int, **kw: Any) -> dict[str, Any]:
        sticker = {
            **self.add_file(b"RIFF", "stickers/s.webp"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self.push_message(chat_id, sticker=sticker, **kw)

    def push_location(self, chat_id: int, **kw: Any) -> dict[str, Any]:
        return self.push_message(chat_id, location={"latitude": 7.29, "longitude": 80.63}, **kw)

    # What the bot did -------------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._cond:
            return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages to a chat in the order sent, with later edits applied."""
        with self._cond:
            return [dict(self._messages[mid]) for mid in self._sent.get(chat_id, [])]

    def uploaded(self, message: dict[str, Any]) -> tuple[str, bytes]:
        """File name and bytes of a document, photo, voice note or audio the bot sent."""
        if "photo" in message:
            path, data = self._files[message["photo"][-1]["file_id"]]
            return path.rsplit("/", 1)[-1], data
        for kind in ("voice", "audio"):
            if kind in message:
                path, data = self._files[message[kind]["file_id"]]
                return path.rsplit("/", 1)[-1], data
        document = message["document"]
        return document["file_name"], self._files[document["file_id"]][1]

    async def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """At least `count` messages sent to `chat_id`, waiting without blocking the loop."""
        await self.wait_until(
            lambda: len(self._sent.get(chat_id, [])) >= count,
            timeout,
            lambda: (
                f"{count} message(s) for chat {chat_id}, got "
                f"{[m.get('text') for m in self.sent_messages(chat_id)]}"
            ),
        )
        return self.sent_messages(chat_id)

    async def wait_for_call(
        self, method: str, count: int = 1, timeout: float = 10.0
    ) -> list[ApiCall]:
        await self.wait_until(
            lambda: len(self.calls_to(method)) >= count,
            timeout,
            lambda: f"{count} call(s) to {method}",
        )
        return self.calls_to(method)

    async def wait_until(
        self,
        check: Callable[[], bool],
        timeout: float = 10.0,
        describe: Callable[[], str] = lambda: "condition",
    ) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {describe()}")
            await asyncio.sleep(0.02)

    # The API ----------------------------------------------------------------------------

    def handle(self, call: ApiCall) -> tuple[int, dict[str, Any]]:
        with self._cond:
            self.calls.append(call)
            failure = self._failures[call.method].popleft() if self._failures[call.method] else None
        if failure is not None:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": failure.status,
                "description": failure.description,
            }
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return failure.status, body
        if call.method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(call.params)}
        refusal = telegram_refusal(call) or self._unknown_file(call)
        if refusal is not None:
            with self._cond:
                self.rejected.append(call)
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {refusal}"}
        handler = getattr(self, f"_api_{call.method}", None)
        if handler is not None:
            result = handler(call)
        elif call.method in TRUE_METHODS:
            result = True
        else:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": f"Bad Request: fake has no method {call.method}",
            }
        for listener in list(self.listeners):
            listener(call, result if isinstance(result, dict) else None)
        return 200, {"ok": True, "result": result}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, timeout = int(params.get("offset") or 0), float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        with self._cond:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
            self._cond.wait_for(lambda: self._updates or self._stopping, timeout=timeout)
            batch = list(itertools.islice(self._updates, limit))
            now = time.perf_counter()
            for update in batch:
                self.delivered_at.setdefault(update["update_id"], now)
            return batch

    def pushed_at(self, update_id: int) -> float:
        return self._pushed_at[update_id]

    def _api_getMe(self, call: ApiCall) -> dict[str, Any]:
        return self.bot_user

    def _api_setMyCommands(self, call: ApiCall) -> bool:
        scope = call.params.get("scope") or {"type": "default"}
        key = scope["type"] + (f":{scope['chat_id']}" if "chat_id" in scope else "")
        with self._cond:
            self.commands[key] = call.params["commands"]
        return True

    def _new_message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self.bot_user,
        }
        message.update({k: v for k, v in content.items() if v is not None})
        with self._cond:
            self._messages[message["message_id"]] = message
            self._sent[chat_id].append(message["message_id"])
        return message

    def _api_sendMessage(self, call: ApiCall) -> dict[str, Any]:
        p = call.params
        replied = (p.get("reply_parameters") or {}).get("message_id")
        return self._new_message(
            p["chat_id"],
            text=p["text"],
            reply_markup=_inline_only(p.get("reply_markup")),
            reply_to_message=self._messages.get(replied) if replied else None,
        )

    def _api_sendDocument(self, call: ApiCall) -> dict[str, Any]:
        name, data = call.files["document"]
        document = {**self.add_file(data, f"documents/{name}", "document"), "file_name": name}
        return self._new_message(
            call.params["chat_id"], document=document, caption=call.params.get("caption")
        )

    def _api_sendPhoto(self, call: ApiCall) -> dict[str, Any]:
        photo, data = self._sent_file(call, "photo", "photos")
        width, height = image_size(data) or (0, 0)
        return self._new_message(
            call.params["chat_id"],
            photo=[{**photo, "width": width, "height": height}],
            caption=call.params.get("caption"),
            reply_markup=_inline_only(call.params.get("reply_markup")),
        )

    def _api_sendVoice(self, call: ApiCall) -> dict[str, Any]:
        voice, _ = self._sent_file(call, "voice", "voice")
        return self._new_message(
            call.params["chat_id"],
            voice={**voice, "duration": 3},
            caption=call.params.get("caption"),
            reply_markup=_inline_only(call.params.get("reply_markup")),
        )

    def _api_sendAudio(self, call: ApiCall) -> dict[str, Any]:
        audio, _ = self._sent_file(call, "audio", "music")
        return self._new_message(
            call.params["chat_id"],
            audio={**audio, "duration": 3},
            caption=call.params.get("caption"),
            reply_markup=_inline_only(call.params.get("reply_markup")),
        )

    def _sent_file(self, call: ApiCall, kind: str, folder: str) -> tuple[dict[str, Any], bytes]:
        """The file a send method carries: uploaded (a new file id), or a file id given."""
        if kind in call.files:
            name, data = call.files[kind]
            return self.add_file(data, f"{folder}/file_{next(self._ids)}_{name}", kind), data
        file_id = call.params[kind]
        with self._cond:
            data = self._files[file_id][1]
        sent = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data)}
        return sent, data

    def _unknown_file(self, call: ApiCall) -> str | None:
        """A file id Telegram never issued, or one of another kind than the method sends."""
        if call.method == "getFile":
            with self._cond:
                found = self._files.get(call.params.get("file_id", ""))
            if found is None:
                return "invalid file_id"
            return "file is too big" if len(found[1]) > MAX_DOWNLOAD_BYTES else None
        kind = FILE_METHODS.get(call.method)
        file_id = call.params.get(kind) if kind is not None and kind not in call.files else None
        if file_id is None:
            return None
        with self._cond:
            known, actual = file_id in self._files, self._file_kinds.get(file_id)
        if not known:
            return "wrong file identifier/HTTP URL specified"
        if actual is not None and actual != kind:
            return "type of file mismatch"
        return None

    def _edit(self, call: ApiCall, **changes: Any) -> dict[str, Any]:
        with self._cond:
            message = self._messages[call.params["message_id"]]
            message.update(changes, edit_date=int(time.time()))
            if changes.get("reply_markup") is None:
                message.pop("reply_markup", None)  # Telegram drops buttons not sent again
            return dict(message)

    def _api_editMessageText(self, call: ApiCall) -> dict[str, Any]:
        return self._edit(
            call, text=call.params["text"], reply_markup=call.params.get("reply_markup")
        )

    def _api_editMessageReplyMarkup(self, call: ApiCall) -> dict[str, Any]:
        return self._edit(call, reply_markup=call.params.get("reply_markup"))

    def _api_getFile(self, call: ApiCall) -> dict[str, Any]:
        file_id = call.params["file_id"]
        path, data = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_path": path,
            "file_size": len(data),
        }

    def file_by_path(self, path: str) -> bytes | None:
        """A download (GET) of a file getFile named; recorded in `downloads`."""
        with self._cond:
            self.downloads.append(path)
            return next((data for p, data in self._files.values() if p == path), None)


MAX_TEXT_UNITS = 4096  # message text, in UTF-16 code units as Telegram counts
MAX_CAPTION_UNITS = 1024
MAX_CALLBACK_ANSWER_CHARS = 200
MAX_CALLBACK_DATA_BYTES = 64
# sendPhoto: at most 10 MB, width + height at most 10,000, one side at most 20 times the other
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_SIDES = 10_000
MAX_PHOTO_RATIO = 20
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile serves bots files up to 20 MB
FILE_METHODS = {"sendPhoto": "photo", "sendVoice": "voice", "sendAudio": "audio"}


def telegram_refusal(call: ApiCall) -> str | None:
    """What real Telegram would answer 400 for, of what the bot sends: too long or empty
    text, oversized button data or alerts, a missing or unreadable photo."""
    p = call.params
    if call.method in ("sendMessage", "editMessageText"):
        text = p.get("text") or ""
        if not text.strip():
            return "message text is empty"
        if _utf16_units(text) > MAX_TEXT_UNITS:
            return "message is too long"
    if call.method in ("sendDocument", "sendPhoto", "sendVoice", "sendAudio") and (
        _utf16_units(p.get("caption") or "") > MAX_CAPTION_UNITS
    ):
        return "message caption is too long"
    if call.method == "sendPhoto":
        refusal = _photo_refusal(call)
        if refusal is not None:
            return refusal
    for method, kind in (("sendVoice", "voice"), ("sendAudio", "audio")):
        if call.method == method and kind not in call.files and not p.get(kind):
            return f"there is no {kind} in the request"
    alert = (p.get("text") or "") if call.method == "answerCallbackQuery" else ""
    if len(alert) > MAX_CALLBACK_ANSWER_CHARS:
        return "MESSAGE_TOO_LONG"
    markup = p.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                return "BUTTON_DATA_INVALID"
    return None


def _inline_only(markup: Any) -> Any:
    """A sent message carries its inline keyboard; Telegram does not echo a ForceReply or
    a reply keyboard back in the Message it returns."""
    parsed = json.loads(markup) if isinstance(markup, str) else markup
    return markup if parsed and "inline_keyboard" in parsed else None


def _photo_refusal(call: ApiCall) -> str | None:
    if "photo" not in call.files:
        return None if call.params.get("photo") else "there is no photo in the request"
    data = call.files["photo"][1]
    if len(data) > MAX_PHOTO_BYTES:
        return "PHOTO_SAVE_FILE_INVALID"
    size = image_size(data)
    if size is None or min(size) == 0:
        return "IMAGE_PROCESS_FAILED"
    if sum(size) > MAX_PHOTO_SIDES or max(size) > MAX_PHOTO_RATIO * min(size):
        return "PHOTO_INVALID_DIMENSIONS"
    return None


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Farmer", "language_code": "si"}
