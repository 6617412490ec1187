"""The /retrain plumbing: a stand-in child process for each path, then the real `train`."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap

from bot.config import Settings
from bot.training import background
from bot.training.background import RetrainOutcome, retrain_in_background

CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    def line(kind, payload):
        print(kind, json.dumps(payload, ensure_ascii=False), flush=True)
    print("some log line", file=sys.stderr, flush=True)
    line("PROGRESS", {"stage": "info", "message": "2768 training rows"})
    line("PROGRESS", {"stage": "train", "step": 9, "total": 88, "message": "training 10%"})
    print("not a progress line", flush=True)
    time.sleep(float(os.environ.get("CHILD_SLEEP", "0")))
    line("RESULT", {"version": "ft-1", "promoted": True,
                    "summary": os.environ["AGRIBOT_DATA_DIR"] + " better"})
    """
)


def fake_child(monkeypatch, script: str) -> None:
    monkeypatch.setattr(
        background, "train_command", lambda settings: [sys.executable, "-c", script]
    )


async def test_progress_lines_reach_the_admin_and_the_result_is_parsed(monkeypatch, tmp_path):
    fake_child(monkeypatch, CHILD)
    monkeypatch.setenv("AGRIBOT_TELEGRAM_TOKEN", "123:secret")
    seen: list[str] = []

    async def report(message: str) -> None:
        seen.append(message)

    outcome = await retrain_in_background(Settings(data_dir=tmp_path / "d"), report)
    assert outcome == RetrainOutcome(True, f"{tmp_path / 'd'} better", "ft-1")
    assert seen == ["2768 training rows", "training 10%"]


async def test_a_failed_child_is_reported_with_its_last_errors(monkeypatch, tmp_path):
    fake_child(monkeypatch, "import sys; print('Error: no bank', file=sys.stderr); sys.exit(1)")

    async def report(message: str) -> None:
        raise AssertionError("no progress expected")

    outcome = await retrain_in_background(Settings(data_dir=tmp_path), report)
    assert not outcome.promoted and outcome.version is None
    assert "exit code 1" in outcome.summary and "Error: no bank" in outcome.summary


async def test_a_second_retrain_while_one_runs_is_turned_away(monkeypatch, tmp_path):
    fake_child(monkeypatch, CHILD)
    monkeypatch.setenv("CHILD_SLEEP", "1")
    settings = Settings(data_dir=tmp_path)

    async def report(message: str) -> None:
        return None

    first = asyncio.create_task(retrain_in_background(settings, report))
    await asyncio.sleep(0.2)
    second = await retrain_in_background(settings, report)
    assert (second.promoted, second.summary) == (False, "a retraining is already running")
    assert (await first).promoted


async def test_a_failing_report_does_not_stop_training(monkeypatch, tmp_path):
    fake_child(monkeypatch, CHILD)

    async def report(message: str) -> None:
        raise ConnectionError("telegram is down")

    outcome = await retrain_in_background(Settings(data_dir=tmp_path), report)
    assert outcome.promoted


def test_child_gets_the_bots_settings_but_not_its_token(monkeypatch, tmp_path):
    monkeypatch.setenv("AGRIBOT_TELEGRAM_TOKEN", "123:secret")
    settings = Settings(data_dir=tmp_path, database_url="sqlite:////x.db", answer_threshold=0.9)
    env = background._child_env(settings)
    assert "AGRIBOT_TELEGRAM_TOKEN" not in env
    assert env["AGRIBOT_DATABASE_URL"] == "sqlite:////x.db"
    assert env["AGRIBOT_ANSWER_THRESHOLD"] == "0.9"
    command = background.train_command(settings)
    assert command[1:5] == ["-m", "bot", "train", "--promote"]
    assert "--progress-lines" in command and command[command.index("--lr") + 1] == "1e-4"
    assert json.dumps(command)


async def test_the_real_train_command_runs_as_a_child_and_reports(
    monkeypatch, tmp_path, base_model_dir
):
    """`agribot train --promote --progress-lines` for real, cut to two small steps."""
    from bot.service.runtime import open_database, seed_bundled_bank
    from tests.training.conftest import (
        FERTILIZER_BANK,
        FERTILIZER_EVAL,
        HOLDOUT,
        SPLIT_SEED,
        make_settings,
        register_base,
    )

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'agribot.db'}")
    engine, session_factory = open_database(settings)
    seed_bundled_bank(session_factory, FERTILIZER_BANK)
    register_base(session_factory, base_model_dir)
    engine.dispose()
    real = background.train_command
    quick = ["--max-steps", "2", "--batch-size", "8", "--queries", str(FERTILIZER_EVAL)]
    quick += ["--holdout", str(HOLDOUT), "--split-seed", str(SPLIT_SEED)]
    monkeypatch.setattr(background, "train_command", lambda s: real(s) + quick)
    seen: list[str] = []

    async def report(message: str) -> None:
        seen.append(message)

    outcome = await retrain_in_background(settings, report)
    assert outcome.version is not None and outcome.version.startswith("ft-"), outcome.summary
    assert "held-out" in outcome.summary and "mrr_at_10" in outcome.summary
    assert any("training rows" in message for message in seen)
    assert any(message.startswith("training ") for message in seen)
