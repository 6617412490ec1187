"""`agribot bench --serve-memory`: `agribot serve` as its own process, timed and weighed.

The bot runs in a child process polling the fake Bot API (which stays in this one), twice:
on an empty database (first start: migrate, seed the bank, encode and index it) and again
on the same files (warm start). Each start is timed to its first answer, and the first
one's resident memory read then (a new bot keeps it); the warm one then answers
`questions` farmers' questions from the eval file, and its resident memory is read from
/proc afterwards (VmRSS) along with its peak (VmHWM). The models directory is the
configured one, so nothing is converted.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.bench.common import JsonReport
from bot.bench.fake_bot_api import FakeBotApi
from bot.config import BUNDLED_BANK, BUNDLED_EVAL, Settings

FIRST_CHAT = 10_000
START_TIMEOUT_S = 600.0


@dataclass
class ServeReport(JsonReport):
    bank: str
    pairs: int
    model: str
    first_start_s: float  # process start to the first answer, empty database
    first_start_rss_mb: float  # resident memory just after that first answer
    warm_start_s: float  # the same, with everything built and cached
    questions: int
    replies: int
    answering_s: float  # from the first question pushed to the last reply
    rss_mb: float  # resident memory after the questions
    peak_rss_mb: float  # the process's high-water mark
    cpus: int


def run_serve_bench(
    settings: Settings, *, questions: int = 200, chats: int = 20, pairs: int | None = None
) -> ServeReport:
    """Serve the configured bank, or a synthetic bank of `pairs` pairs made from it (the
    bundled bank's questions numbered, `bot.bench.common.synthetic_rows`)."""
    texts = farmer_questions(settings.bank_path, questions)
    with tempfile.TemporaryDirectory(prefix="agribot-serve-bench-") as tmp, FakeBotApi() as fake:
        bank_path, served = _bank(settings.bank_path, pairs, Path(tmp))
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "models").symlink_to(settings.models_dir.resolve(), target_is_directory=True)
        environment = {
            **os.environ,
            "AGRIBOT_DATA_DIR": str(data_dir),
            "AGRIBOT_DATABASE_URL": f"sqlite:///{Path(tmp) / 'serve.db'}",
            "AGRIBOT_BANK_PATH": str(bank_path),
            "AGRIBOT_MODEL": settings.model,
            "AGRIBOT_TELEGRAM_TOKEN": fake.token,
            "AGRIBOT_TELEGRAM_BASE_URL": fake.base_url,
            "AGRIBOT_TELEGRAM_BASE_FILE_URL": fake.base_file_url,
            "AGRIBOT_ADMIN_IDS": "",
            "AGRIBOT_WEBHOOK_URL": "",
        }
        log = Path(tmp) / "serve.log"
        first_start, first_rss = _time_to_first_answer(environment, fake, log, FIRST_CHAT - 1)
        child, warm_start = _start_answering(environment, fake, log, chat=FIRST_CHAT - 2)
        try:
            began = time.perf_counter()
            for number, text in enumerate(texts):
                fake.push_text(FIRST_CHAT + number % chats, f"{text} ({number})")
            replies = _wait_for_replies(fake, chats, len(texts), child, log)
            answering = time.perf_counter() - began
            rss, peak = resident_memory_mb(child.pid)
        finally:
            stop_serving(child)
    return ServeReport(
        bank=str(bank_path),
        pairs=served,
        model=settings.model,
        first_start_s=round(first_start, 2),
        first_start_rss_mb=first_rss,
        warm_start_s=round(warm_start, 2),
        questions=len(texts),
        replies=replies,
        answering_s=round(answering, 2),
        rss_mb=rss,
        peak_rss_mb=peak,
        cpus=os.cpu_count() or 1,
    )


def _bank(bank_path: Path, pairs: int | None, folder: Path) -> tuple[Path, int]:
    """The bank to serve and its size: `bank_path`, or `pairs` synthetic pairs made from it
    and written as a CSV in `folder`."""
    from bot.bench.common import synthetic_rows
    from bot.storage.importer import ALTERNATE_SEPARATOR, read_bank_file

    base = read_bank_file(bank_path)
    if pairs is None:
        return bank_path, len(base)
    path = folder / f"bank-{pairs}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer", "alternates", "topic"])
        for row in synthetic_rows(base, pairs):
            alternates = ALTERNATE_SEPARATOR.join(row.alternates)
            writer.writerow([row.question, row.answer, alternates, row.topic or ""])
    return path, pairs


def farmer_questions(bank_path: Path, count: int) -> list[str]:
    """In-domain questions of the eval file's test split (the bank's own first questions
    for a bank the eval file was not written for), cycled to `count`."""
    from bot.storage.importer import read_bank_file

    texts: list[str] = []
    if bank_path.resolve() == BUNDLED_BANK.resolve():
        for line in BUNDLED_EVAL.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if item.get("split") == "test" and item.get("answer"):
                texts.append(item["query"])
    if not texts:
        texts = [row.question for row in read_bank_file(bank_path)]
    return [texts[i % len(texts)] for i in range(count)]


def resident_memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a running process, in MB."""
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value

    def megabytes(name: str) -> float:
        return round(int(fields[name].split()[0]) / 1024, 1)  # "123456 kB"

    return megabytes("VmRSS"), megabytes("VmHWM")


def _time_to_first_answer(
    environment: dict[str, str], fake: FakeBotApi, log: Path, chat: int
) -> tuple[float, float]:
    """Seconds to the first answer, and resident MB then (what a new bot keeps running)."""
    child, seconds = _start_answering(environment, fake, log, chat)
    try:
        rss, _ = resident_memory_mb(child.pid)
    finally:
        stop_serving(child)
    return seconds, rss


def _start_answering(
    environment: dict[str, str], fake: FakeBotApi, log: Path, chat: int
) -> tuple[subprocess.Popen[bytes], float]:
    """Start `agribot serve` with a question already waiting; seconds to its answer."""
    before = len(fake.sent_messages(chat))
    began = time.perf_counter()
    with log.open("ab") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    fake.push_text(chat, "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?")
    deadline = began + START_TIMEOUT_S
    while len(fake.sent_messages(chat)) <= before:
        if child.poll() is not None or time.perf_counter() > deadline:
            stop_serving(child)
            raise RuntimeError(f"agribot serve did not answer: {log.read_text()[-2000:]}")
        time.sleep(0.02)
    return child, time.perf_counter() - began


def _wait_for_replies(
    fake: FakeBotApi, chats: int, expected: int, child: subprocess.Popen[bytes], log: Path
) -> int:
    deadline = time.perf_counter() + START_TIMEOUT_S

    def replies() -> int:
        return sum(len(fake.sent_messages(FIRST_CHAT + chat)) for chat in range(chats))

    while replies() < expected:
        if child.poll() is not None or time.perf_counter() > deadline:
            raise RuntimeError(f"agribot serve stopped answering: {log.read_text()[-2000:]}")
        time.sleep(0.02)
    return replies()


def stop_serving(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a service manager stops the bot; SIGKILL if it has not ended in 30 s."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
