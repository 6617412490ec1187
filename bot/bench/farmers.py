"""Farmers in a process of their own: the fake Bot API and the chats that ask through it.

`agribot bench --telegram` measures the bot, so nothing else should share its process:
the fake Bot API's HTTP threads and the farmers' bookkeeping would take the bot's GIL
and skew its figures. `FarmersProcess` starts them in a child process; the bot under
test, in the bench's process, polls the child's fake server like any Bot API.

The child talks to the bench over a pipe: it sends the fake's addresses, then "warmed"
once one chat has had its warm-up questions answered, waits for "go" (the bench resets
its counters in between), lets every chat ask its questions and sends back one latency
sample per reply.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bot.bench.fake_bot_api import FakeAddress

REPLY_TIMEOUT_S = 120.0
WARM_CHAT = 1
FIRST_CHAT = 1000


@dataclass
class FarmerSample:
    latency_ms: float  # from getUpdates handing the question over to the bot's reply
    answered: bool  # the reply carries feedback buttons: an answer, not a "did you mean"


@dataclass
class FarmersResult:
    samples: list[FarmerSample]
    elapsed_s: float  # from the first measured question to the last reply
    cpu_s: float  # CPU time this process (the fake Bot API and the farmers) used meanwhile


class FarmersProcess:
    """The fake Bot API and `len(plan)` chats in a child process.

    `plan` maps each chat to the questions it asks in turn, each after the last one's
    reply; `warm_up` are asked first, by one chat, to load everything. Update ids start at
    `first_update_id`: a second run against the same bot continues where the first ended,
    as Telegram's ids do.
    """

    def __init__(
        self, plan: dict[int, list[str]], warm_up: list[str], first_update_id: int = 1
    ) -> None:
        context = multiprocessing.get_context("spawn")  # no forked copy of the bot's state
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=run_farmers,
            args=(child_end, plan, warm_up, first_update_id),
            name="farmers",
            daemon=True,
        )
        self._process.start()
        child_end.close()
        self.address: FakeAddress = self._receive(60.0)

    def wait_until_warm(self) -> None:
        """Block until the warm-up questions are answered."""
        message = self._receive(REPLY_TIMEOUT_S * 2)
        if message != "warmed":
            raise RuntimeError(f"farmers' process sent {message!r}, not 'warmed'")

    def go(self) -> None:
        """Let every chat start asking."""
        self._connection.send("go")

    def result(self, timeout: float) -> FarmersResult:
        """Block until every chat has its replies, or raise after `timeout` seconds."""
        result = self._receive(timeout)
        if not isinstance(result, FarmersResult):
            raise RuntimeError(f"farmers' process sent {result!r}")
        return result

    def close(self) -> None:
        self._connection.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def __enter__(self) -> FarmersProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _receive(self, timeout: float) -> Any:
        if not self._connection.poll(timeout):
            raise RuntimeError(f"farmers' process sent nothing in {timeout:.0f} s")
        message = self._connection.recv()
        if isinstance(message, BaseException):
            raise RuntimeError("farmers' process failed") from message
        return message


def run_farmers(
    connection: Connection, plan: dict[int, list[str]], warm_up: list[str], first_update_id: int
) -> None:
    """The child process: serve the fake Bot API and play the farmers."""
    from bot.bench.fake_bot_api import FakeBotApi

    try:
        with FakeBotApi(first_update_id=first_update_id) as fake:
            connection.send(fake.address)
            result = asyncio.run(_ask(fake, connection, plan, warm_up))
        connection.send(result)
    except BaseException as error:  # the bench reports it; a bare traceback would be lost
        connection.send(RuntimeError(f"{type(error).__name__}: {error}"))
    finally:
        connection.close()


async def _ask(
    fake: Any, connection: Connection, plan: dict[int, list[str]], warm_up: list[str]
) -> FarmersResult:
    from bot.bench.fake_http import ApiCall

    loop = asyncio.get_running_loop()
    waiting: dict[int, asyncio.Future[tuple[float, dict[str, Any]]]] = {}

    def on_call(call: ApiCall, result: dict[str, Any] | None) -> None:
        future = waiting.get(call.params.get("chat_id", 0))
        if call.method == "sendMessage" and future is not None and result is not None:
            loop.call_soon_threadsafe(settle, future, (call.at, result))

    async def farmer(chat_id: int, texts: list[str], samples: list[FarmerSample]) -> None:
        for text in texts:
            future = waiting[chat_id] = loop.create_future()
            update = fake.push_text(chat_id, text)
            replied_at, message = await asyncio.wait_for(future, timeout=REPLY_TIMEOUT_S)
            update_id = update["update_id"]
            delivered = fake.delivered_at.get(update_id, fake.pushed_at(update_id))
            samples.append(FarmerSample((replied_at - delivered) * 1000, has_feedback(message)))

    fake.listeners.append(on_call)
    await farmer(WARM_CHAT, warm_up, [])
    connection.send("warmed")
    await loop.run_in_executor(None, connection.recv)  # "go"
    samples: list[FarmerSample] = []
    began, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(farmer(chat, texts, samples) for chat, texts in plan.items()))
    return FarmersResult(samples, time.perf_counter() - began, time.process_time() - cpu)


def settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def has_feedback(message: dict[str, Any]) -> bool:
    """Whether a sent message has the feedback buttons that come with an answer."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return any(button.get("callback_data", "").startswith("fb:") for row in rows for button in row)
