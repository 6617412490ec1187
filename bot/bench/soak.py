"""`agribot bench --soak MINUTES`: the real Application under steady load, with hostile
messages mixed in and a database outage in the middle, counting what was lost.

50 farmers each ask, wait for the reply and ask again, with the eval file's questions; one
message in twenty is hostile (zero-width and control floods, RTL overrides, 4,096+
characters, emoji only, lone surrogates). A third of the way in, every write to the
database fails for `outage_s` seconds. At the end the journal is replayed and every
question sent is looked up in the database: lost (not there), duplicated (there twice).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, func, select

from bot.bench.common import JsonReport, percentile
from bot.bench.fake_bot_api import FakeBotApi
from bot.bench.fake_http import ApiCall
from bot.bench.farmers import settle
from bot.bench.telegram import against_fake, throwaway
from bot.config import BUNDLED_EVAL, Settings
from bot.retrieval.encoder import Encoder
from bot.service.evaluation import read_queries
from bot.service.runtime import open_services
from bot.storage.models import QuestionLog
from bot.telegram import texts
from bot.telegram.app import build_application

HOSTILE_SHARE = 0.05
REPLY_TIMEOUT_S = 60.0


@dataclass
class SoakReport(JsonReport):
    minutes: float
    chats: int
    sent: int
    hostile: int
    repeats: int  # not logged on purpose: the same text from the chat within 30 s
    replied: int
    logged: int
    lost: int
    duplicated: int
    unhandled_errors: int
    refused_by_telegram: int
    outage_s: float
    journaled_during_outage: int
    latency_p50_ms: float
    latency_p95_ms: float
    peak_rss_mb: float
    model: str
    cpus: int


def hostile_message(rng: random.Random) -> str:
    """One of the kinds of message the probe sent, chosen and sized at random."""
    kind = rng.randrange(7)
    if kind == 0:
        return "වී" + rng.choice(["\u200d", "\u200b", "\u200c", "\ufeff"]) * rng.randint(100, 4000)
    if kind == 1:
        return "".join(chr(rng.randint(1, 31)) for _ in range(rng.randint(5, 500))) + "?"
    if kind == 2:
        return "\u202e" + "පොහොර දාන්නේ කවදාද" + "\u202d" * rng.randint(1, 200)
    if kind == 3:
        return ("යූරියා " * 1000)[: rng.randint(4096, 6000)]
    if kind == 4:
        return "".join(rng.choice("🙏👍🌾😀❤️") for _ in range(rng.randint(1, 60)))
    if kind == 5:
        return "වී " + chr(rng.randint(0xD800, 0xDFFF)) + " බීජ"
    return " " * rng.randint(1, 4000) + "?" + " " * rng.randint(1, 4000)


def run_soak(
    settings: Settings, encoder: Encoder, *, minutes: float, chats: int = 50
) -> SoakReport:
    """Run the soak for `minutes` against the bundled bank in a throwaway database."""
    questions = [q.query for q in read_queries(BUNDLED_EVAL)]
    with tempfile.TemporaryDirectory(prefix="agribot-soak-") as tmp, FakeBotApi() as fake:
        soak_settings = against_fake(throwaway(settings, Path(tmp), 10_000), fake.address)
        services = open_services(soak_settings, encoder=encoder)
        try:
            return asyncio.run(_soak(soak_settings, services, fake, questions, minutes, chats))
        finally:
            services.close()


class _ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("bot.telegram") or record.name.startswith("telegram"):
            self.count += 1


async def _soak(
    settings: Settings,
    services: Any,
    fake: FakeBotApi,
    questions: list[str],
    minutes: float,
    chats: int,
) -> SoakReport:
    rng = random.Random(42)
    application = build_application(settings, services, max_messages_per_second=100_000.0)
    loop = asyncio.get_running_loop()
    waiting: dict[int, asyncio.Future[tuple[float, str]]] = {}
    errors = _ErrorCounter()
    logging.getLogger().addHandler(errors)
    outage = {"down": False}

    def refuse(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if outage["down"] and not statement.lstrip().upper().startswith("SELECT"):
            raise exc.OperationalError(statement, parameters, Exception("database is down"))

    event.listen(services.engine, "before_cursor_execute", refuse)

    def on_call(call: ApiCall, result: dict[str, Any] | None) -> None:
        future = waiting.get(call.params.get("chat_id", 0))
        if call.method == "sendMessage" and future is not None and result is not None:
            loop.call_soon_threadsafe(settle, future, (call.at, call.params.get("text", "")))

    sent: list[int] = []  # message ids
    repeats: set[int] = set()  # the chat's guard answered "you asked that already"
    hostile = replied = 0
    latencies: list[float] = []
    deadline = time.monotonic() + minutes * 60
    outage_s = min(30.0, minutes * 60 / 10)
    journaled_during_outage = 0

    async def farmer(chat_id: int) -> None:
        nonlocal hostile, replied
        step = 0
        while time.monotonic() < deadline:
            if rng.random() < HOSTILE_SHARE:
                text = hostile_message(rng)
                hostile += 1
            else:
                text = questions[(chat_id * 97 + step) % len(questions)]
            step += 1
            future = waiting[chat_id] = loop.create_future()
            update = fake.push_text(chat_id, text)
            sent.append(update["message"]["message_id"])
            try:
                replied_at, reply = await asyncio.wait_for(future, timeout=REPLY_TIMEOUT_S)
            except TimeoutError:
                continue
            replied += 1
            if reply == texts.ALREADY_ASKED:
                repeats.add(update["message"]["message_id"])
            delivered = fake.delivered_at.get(
                update["update_id"], fake.pushed_at(update["update_id"])
            )
            latencies.append((replied_at - delivered) * 1000)

    async def database_outage() -> None:
        nonlocal journaled_during_outage
        await asyncio.sleep(minutes * 60 / 3)
        before = len(services.journal.pending())
        outage["down"] = True
        await asyncio.sleep(outage_s)
        outage["down"] = False
        journaled_during_outage = len(services.journal.pending()) - before

    fake.listeners.append(on_call)
    assert application.updater is not None  # build_application keeps PTB's updater
    try:
        async with application:
            await application.updater.start_polling(timeout=1)
            await application.start()
            try:
                await asyncio.gather(database_outage(), *(farmer(10_000 + c) for c in range(chats)))
            finally:
                await application.updater.stop()
                await application.stop()
        await application.bot_data.batcher.close()
        await asyncio.to_thread(services.answerer.replay_journal)
    finally:
        logging.getLogger().removeHandler(errors)
        event.remove(services.engine, "before_cursor_execute", refuse)
    with services.session_factory() as session:
        counts = dict(
            session.execute(
                select(QuestionLog.message_id, func.count()).group_by(QuestionLog.message_id)
            ).all()
        )
    latencies.sort()
    return SoakReport(
        minutes=minutes,
        chats=chats,
        sent=len(sent),
        hostile=hostile,
        repeats=len(repeats),
        replied=replied,
        logged=sum(1 for m in sent if counts.get(m, 0) >= 1),
        lost=sum(1 for m in sent if counts.get(m, 0) == 0 and m not in repeats),
        duplicated=sum(1 for m in sent if counts.get(m, 0) > 1),
        unhandled_errors=errors.count,
        refused_by_telegram=len(fake.rejected),
        outage_s=outage_s,
        journaled_during_outage=journaled_during_outage,
        latency_p50_ms=percentile(latencies, 50, digits=1),
        latency_p95_ms=percentile(latencies, 95, digits=1),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        model=services.answerer.state.model_id,
        cpus=os.cpu_count() or 0,
    )
