"""`agribot bench --telegram`: the real Application against the fake Bot API, many chats at once.

Each chat is a farmer who asks, waits for the answer, and asks the next question (a
closed loop), so `chats` questions are in flight at any time. Latency runs from the
moment `getUpdates` hands the update to the bot to the moment its `sendMessage` reaches
the fake server. The run is made twice: with Telegram's overall limit of 30 messages a
second lifted (what the bot itself can do) and with it in place (what Telegram allows).
The fake Bot API and the farmers run in a process of their own (`bot.bench.farmers`), so
the bot's process holds only the bot.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from telegram.ext import Application

from bot.bench.common import JsonReport, fill_cache, percentile, synthetic_rows
from bot.bench.fake_bot_api import FakeAddress
from bot.bench.farmers import FIRST_CHAT, FarmerSample, FarmersProcess
from bot.config import Settings
from bot.retrieval.encoder import Encoder
from bot.service.runtime import Services, open_database, open_services
from bot.storage import importer
from bot.telegram.app import TELEGRAM_MESSAGES_PER_SECOND, build_application

UNLIMITED = 100_000.0
WARM_UP = 8
RUN_TIMEOUT_S = 600.0


@dataclass
class RunFigures:
    answered: int
    replies: int
    elapsed_s: float
    answered_per_second: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    batches: int
    mean_batch: float
    largest_batch: int
    answering_busy_share: float  # of the run, the answer thread spent in answer_many
    batch_ms: float  # mean time of one answer_many call (encode, search, log)
    # CPU time a reply, all threads: the bot's process, and the fake Bot API and farmers'
    # (on a machine of `cpus` cores, R replies a second need R * their sum <= cpus * 1000)
    bot_cpu_ms_per_reply: float
    farmers_cpu_ms_per_reply: float


@dataclass
class TelegramBenchReport(JsonReport):
    pairs: int
    chats: int
    messages_per_chat: int
    bot: RunFigures  # Telegram's overall rate limit lifted
    at_telegram_limit: RunFigures  # AIORateLimiter at 30 messages/s, as in production
    model: str
    cpus: int
    load_average_1m: float


def run_telegram_bench(
    settings: Settings, encoder: Encoder, *, pairs: int = 5000, chats: int = 50, messages: int = 10
) -> TelegramBenchReport:
    """Build a `pairs`-pair bank, then let `chats` farmers ask `messages` questions each."""
    base = importer.read_bank_file(settings.bank_path)
    rows = synthetic_rows(base, pairs)
    with tempfile.TemporaryDirectory(prefix="agribot-tg-bench-") as tmp:
        bench_settings = throwaway(settings, Path(tmp), messages * 4 + WARM_UP)
        engine, session_factory = open_database(bench_settings)
        with session_factory() as session:
            importer.import_rows(session, rows)
            fill_cache(session, encoder, base, rows)
            session.commit()
        engine.dispose()
        services = open_services(bench_settings, seed_bank=False, encoder=encoder)
        questions = [row.question for row in rows]
        try:
            lifted = _run(bench_settings, services, questions, chats, messages, UNLIMITED, 0)
            offset = chats * messages + WARM_UP
            limited = _run(
                bench_settings,
                services,
                questions,
                chats,
                messages,
                TELEGRAM_MESSAGES_PER_SECOND,
                offset,
            )
        finally:
            services.close()
    return TelegramBenchReport(
        pairs=pairs,
        chats=chats,
        messages_per_chat=messages,
        bot=lifted,
        at_telegram_limit=limited,
        model=encoder.model_id,
        cpus=os.cpu_count() or 0,
        load_average_1m=round(os.getloadavg()[0], 2),
    )


def throwaway(settings: Settings, folder: Path, flood_limit: int) -> Settings:
    """Settings for a throwaway bot: a SQLite file in `folder`, no admins, no webhook."""
    return settings.model_copy(
        update={
            "data_dir": folder,
            "database_url": f"sqlite:///{folder / 'bench.db'}",
            "admin_ids": [],
            "flood_limit": flood_limit,
            "webhook_url": None,
        }
    )


def against_fake(settings: Settings, fake: FakeAddress) -> Settings:
    """`settings` with the bot polling the fake Bot API at `fake`."""
    return settings.model_copy(
        update={
            "telegram_token": SecretStr(fake.token),
            "telegram_base_url": fake.base_url,
            "telegram_base_file_url": fake.base_file_url,
        }
    )


def _run(
    settings: Settings,
    services: Services,
    questions: list[str],
    chats: int,
    messages: int,
    rate: float,
    offset: int,
) -> RunFigures:
    """One run: the farmers (and the fake Bot API) in their own process, the bot in this one."""
    warm_up = questions[offset : offset + WARM_UP]
    start = offset + WARM_UP
    plan = {
        FIRST_CHAT + chat: [
            questions[(start + chat * messages + m) % len(questions)] for m in range(messages)
        ]
        for chat in range(chats)
    }
    # ids (updates and messages share the fake's counter) continue past the earlier run's
    first_update_id = 1 + offset * 10
    with FarmersProcess(plan, warm_up, first_update_id) as farmers:
        application = build_application(
            against_fake(settings, farmers.address), services, max_messages_per_second=rate
        )
        return asyncio.run(_answer(application, farmers))


async def _answer(
    application: Application[Any, Any, Any, Any, Any, Any], farmers: FarmersProcess
) -> RunFigures:
    loop = asyncio.get_running_loop()
    assert application.updater is not None  # build_application keeps PTB's updater
    async with application:
        await application.updater.start_polling(timeout=1)
        await application.start()
        try:
            await loop.run_in_executor(None, farmers.wait_until_warm)
            batcher = application.bot_data.batcher
            batcher.stats = type(batcher.stats)()
            cpu = time.process_time()
            farmers.go()
            result = await loop.run_in_executor(None, farmers.result, RUN_TIMEOUT_S)
            bot_cpu_s = time.process_time() - cpu
            stats = batcher.stats
        finally:
            await application.updater.stop()
            await application.stop()
    await application.bot_data.batcher.close()
    samples, elapsed = result.samples, result.elapsed_s
    latencies = sorted(sample.latency_ms for sample in samples)
    answered = sum(sample.answered for sample in samples)
    return RunFigures(
        answered=answered,
        replies=len(samples),
        elapsed_s=round(elapsed, 2),
        answered_per_second=round(answered / elapsed, 1),
        latency_p50_ms=percentile(latencies, 50, digits=1),
        latency_p95_ms=percentile(latencies, 95, digits=1),
        latency_max_ms=round(latencies[-1], 1) if latencies else 0.0,
        batches=stats.batches,
        mean_batch=round(stats.mean_size, 2),
        largest_batch=stats.largest,
        answering_busy_share=round(stats.busy_s / elapsed, 2),
        batch_ms=round(stats.busy_s / stats.batches * 1000, 1) if stats.batches else 0.0,
        bot_cpu_ms_per_reply=per_reply(bot_cpu_s, samples),
        farmers_cpu_ms_per_reply=per_reply(result.cpu_s, samples),
    )


def per_reply(seconds: float, samples: list[FarmerSample]) -> float:
    return round(seconds * 1000 / len(samples), 2) if samples else 0.0
