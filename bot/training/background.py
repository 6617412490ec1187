"""Retraining for the bot's `/retrain`: `agribot train --promote` in a child process.

Training takes minutes of CPU, so it never runs on the bot's event loop nor in its
threads: a child process does it at a lower priority, its `PROGRESS` lines are passed on
to the admin as they come, and its final `RESULT` line says what happened. The bot then
switches models with `Services.reload_model()` (it loads from the cache the child filled).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config import REPO_ROOT, Settings
from bot.errors import ModelSwitchRefused

logger = logging.getLogger(__name__)

PROGRESS = "PROGRESS "
RESULT = "RESULT "
NICENESS = 10
# The learning rate the bundled model was tuned with (README, "The model"): with the seed
# card's 5e-5 a retrained model scores 1.8 points lower acc@1 and would never be promoted.
BUNDLED_RECIPE = ("--lr", "1e-4")
_ERROR_LINES = 15
_running = asyncio.Lock()


@dataclass(frozen=True)
class RetrainOutcome:
    """What a background retraining did: promoted or not, and the figures as text."""

    promoted: bool
    summary: str
    version: str | None


def train_command(settings: Settings) -> list[str]:
    """The child's command line: train, promote if better, report in lines."""
    return [
        sys.executable,
        "-m",
        "bot",
        "train",
        "--promote",
        *BUNDLED_RECIPE,
        "--progress-lines",
        "--nice",
        str(NICENESS),
        # Leave a core to the bot: its farmers are answered while the child trains.
        "--threads",
        str(max(1, (os.cpu_count() or 2) - 1)),
    ]


async def retrain_in_background(
    settings: Settings, report: Callable[[str], Awaitable[None]]
) -> RetrainOutcome:
    """Run `agribot train --promote` as a child process, passing its progress to `report`.

    Returns when the child ends. One retraining runs at a time; a second call while one
    runs returns at once, not promoted. When the outcome is promoted, the caller swaps the
    live model in: `await asyncio.to_thread(services.reload_model)`.
    """
    if _running.locked():
        return RetrainOutcome(False, "a retraining is already running", None)
    async with _running:
        return await _run(settings, report)


async def _run(settings: Settings, report: Callable[[str], Awaitable[None]]) -> RetrainOutcome:
    process = await asyncio.create_subprocess_exec(
        *train_command(settings),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(settings),
    )
    logger.info("retraining in child process %d", process.pid)
    errors: deque[str] = deque(maxlen=_ERROR_LINES)
    drain = asyncio.create_task(_collect(process.stderr, errors))
    result: dict[str, object] | None = None
    try:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(PROGRESS):
                message = _message(line[len(PROGRESS) :])
                if message:
                    await _safe_report(report, message)
            elif line.startswith(RESULT):
                result = json.loads(line[len(RESULT) :])
        code = await process.wait()
        await drain
    except BaseException:
        # Cancelled (the bot is stopping) or the report failed: do not leave a trainer behind.
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        drain.cancel()
        raise
    if code != 0 or result is None:
        detail = "\n".join(errors) or "no output"
        logger.error("retraining failed with exit code %s: %s", code, detail)
        return RetrainOutcome(False, f"retraining failed (exit code {code}):\n{detail}", None)
    return RetrainOutcome(bool(result["promoted"]), str(result["summary"]), str(result["version"]))


async def switch_model(settings: Settings, name: str | None) -> str:
    """`agribot model activate NAME` (None: `agribot model rollback`) in a child process.

    Activation may export the model for ONNX Runtime (torch) and encodes the bank with it:
    minutes of CPU that do not belong in the process answering farmers. Returns what the
    child printed; raises `ModelSwitchRefused` with its error when it refuses. The caller
    then swaps the live model in with `Services.reload_model()`.
    """
    action = ["activate", name] if name is not None else ["rollback"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "model",
        *action,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(settings),
    )
    try:
        out, err = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines()]
        said = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
        reason = said[-1] if said else next((line for line in reversed(lines) if line), "")
        logger.warning("model %s refused: %s", " ".join(action), reason)
        raise ModelSwitchRefused(reason or f"agribot model {action[0]} failed")
    return out.decode("utf-8", "replace").strip()


def _child_env(settings: Settings) -> dict[str, str]:
    """This process's environment with the settings the child must share, secrets removed."""
    env = {k: v for k, v in os.environ.items() if k != "AGRIBOT_TELEGRAM_TOKEN"}
    env.update(
        AGRIBOT_DATA_DIR=str(settings.data_dir),
        AGRIBOT_DATABASE_URL=settings.database_url,
        AGRIBOT_MODEL=settings.model,
        AGRIBOT_BANK_PATH=str(settings.bank_path),
        AGRIBOT_DEVICE=settings.device,
        AGRIBOT_LOG_LEVEL=settings.log_level,
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    for name in ("answer_threshold", "suggest_threshold"):
        value = getattr(settings, name)
        if value is not None:
            env[f"AGRIBOT_{name.upper()}"] = str(value)
    return env


def _message(payload: str) -> str | None:
    try:
        return str(json.loads(payload)["message"])
    except (ValueError, KeyError, TypeError):
        return None


async def _safe_report(report: Callable[[str], Awaitable[None]], message: str) -> None:
    """A failed progress message (Telegram down) must not stop the training."""
    try:
        await report(message)
    except Exception:
        logger.warning("could not report retraining progress", exc_info=True)


async def _collect(stream: asyncio.StreamReader | None, lines: deque[str]) -> None:
    if stream is None:
        return
    async for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            lines.append(line)
