from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.storage.importer import read_bank_file
from tests.conftest import DATA, REPO_ROOT, SMALL_BANK


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize(
    ("path", "command"),
    list(all_commands(cli)),
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_every_command_has_help(path, command):
    assert command.help, f"agribot {' '.join(path)} has no help text"
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.fixture
def cli_env(tmp_path, database_url, base_model_dir, monkeypatch):
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AGRIBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("AGRIBOT_MODEL", str(base_model_dir))
    monkeypatch.setenv("AGRIBOT_BANK_PATH", str(SMALL_BANK))
    return tmp_path


def test_import_rejects_a_bad_file_with_line_numbers(cli_env):
    bad = cli_env / "bad.csv"
    bad.write_text("question,answer\nප්‍රශ්නය,\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["qa", "import", str(bad)])
    assert result.exit_code == 1
    assert "line 2: answer is empty" in result.output


def test_import_list_export_and_delete(cli_env):
    runner = CliRunner()
    good = cli_env / "good.csv"
    good.write_text(
        "question,answer,alternates\nවල් පැළෑටි පාලනය?,පිළිතුර,වල් පාලනය | වල් මර්දනය\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["qa", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "added 1" in result.output
    listed = runner.invoke(cli, ["qa", "list", "--json", "--search", "වල්"])
    [row] = [json.loads(line) for line in listed.output.splitlines()]
    assert row["alternates"] == ["වල් පාලනය", "වල් මර්දනය"]
    out = cli_env / "export.jsonl"
    assert runner.invoke(cli, ["qa", "export", str(out)]).exit_code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1
    assert runner.invoke(cli, ["qa", "delete", str(row["id"])]).exit_code == 0
    missing = runner.invoke(cli, ["qa", "delete", str(row["id"])])
    assert missing.exit_code == 1 and "no QA pair" in missing.output


def test_ask_prints_decision_and_candidates_as_json(cli_env):
    result = CliRunner().invoke(cli, ["ask", "--json", "බිත්තර වී පොඟවන්න ඕන කොච්චර වෙලාවක්ද"])
    assert result.exit_code == 0, result.output
    reply = json.loads(result.output[result.output.index("{") :])
    assert reply["decision"] == "answer"
    assert reply["candidates"][0]["question"] == "වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?"


# Runs `python -m bot ask` in a fresh interpreter and says, as it exits, which of the
# torch libraries it imported.
ASK_AND_LIST_IMPORTS = """
import atexit, json, runpy, sys
HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn")
atexit.register(lambda: print(json.dumps([m for m in HEAVY if m in sys.modules])))
sys.argv = ["agribot", "ask", "--json", sys.argv[1]]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


def test_ask_answers_without_importing_torch(tmp_path, base_model_dir):
    """The answering path runs on ONNX Runtime, `tokenizers` and numpy: torch, transformers
    and sentence-transformers are for training, conversion and export only, and
    scikit-learn is not needed at all."""
    from bot.retrieval.onnx_backend import ONNX_FILE
    from bot.retrieval.onnx_export import export_model_dir
    from bot.retrieval.serving_model import ensure_serving_model

    export_model_dir(base_model_dir, base_model_dir / ONNX_FILE)  # conversion, done ahead
    ensure_serving_model(base_model_dir)  # as `agribot model bootstrap` does
    env = {
        **os.environ,
        "AGRIBOT_DATA_DIR": str(tmp_path / "data"),
        "AGRIBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'agribot.db'}",
        "AGRIBOT_MODEL": str(base_model_dir),
        "AGRIBOT_BANK_PATH": str(SMALL_BANK),
        "AGRIBOT_DEVICE": "cpu",
        "AGRIBOT_ENCODER_BACKEND": "auto",
    }
    done = subprocess.run(
        [sys.executable, "-c", ASK_AND_LIST_IMPORTS, "බිත්තර වී පොඟවන්න ඕන කොච්චර වෙලාවක්ද"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output, _, imported = done.stdout.rstrip("\n").rpartition("\n")
    reply = json.loads(output[output.index("{") :])
    assert reply["decision"] == "answer"
    assert reply["answer"].startswith("බීජ වී අවම වශයෙන් පැය 24")
    assert json.loads(imported) == []


def test_eval_json_has_the_contract_keys(cli_env):
    result = CliRunner().invoke(
        cli,
        ["eval", "--json", "--bank", str(SMALL_BANK), "--queries", str(DATA / "eval_small.jsonl")],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["queries"] == 7 and report["ood"] == 3


def test_a_bad_setting_is_one_line_and_help_still_works():
    """`agribot train --help` printed a pydantic traceback when an AGRIBOT_* value was bad."""
    from click.testing import CliRunner

    from bot.cli import cli

    env = {"AGRIBOT_FLOOD_LIMIT": "abc"}
    helped = CliRunner().invoke(cli, ["train", "--help"], env=env)
    assert helped.exit_code == 0 and "train [OPTIONS]" in helped.output
    failed = CliRunner().invoke(cli, ["qa", "list"], env=env)
    assert failed.exit_code == 1
    assert "AGRIBOT_FLOOD_LIMIT should be a valid integer" in failed.output
    assert "Traceback" not in failed.output and "pydantic" not in failed.output


def test_import_bench_times_each_stage(tmp_path, base_model_dir, monkeypatch):
    """The bench makes its own SQLite database, so it runs once, not per database."""
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AGRIBOT_MODEL", str(base_model_dir))
    monkeypatch.setenv("AGRIBOT_BANK_PATH", str(SMALL_BANK))
    monkeypatch.delenv("AGRIBOT_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["bench", "--import-rows", "60"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["rows"] == 60
    stages = ("validate_s", "encode_cached_s", "write_s", "index_s")
    assert all(report[stage] >= 0 for stage in stages)
    assert report["total_s"] >= report["write_s"]
    assert report["encode_estimate_s"] > 0 and report["texts"] >= 120


def test_bench_times_the_question_path_alone_and_in_batches(tmp_path, base_model_dir, monkeypatch):
    """One question at a time (the latency a farmer sees) and in the bot's batches of 16
    (what the answering path alone can do under load, and its CPU a question)."""
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AGRIBOT_MODEL", str(base_model_dir))
    monkeypatch.setenv("AGRIBOT_BANK_PATH", str(SMALL_BANK))
    monkeypatch.delenv("AGRIBOT_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["bench", "--pairs", "40", "--questions", "20"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["pairs"] == 40 and report["index_rows"] >= 40
    assert 0 < report["question_p50_ms"] <= report["question_p95_ms"]
    assert report["batch_questions_per_second"] > 0 and report["batch_cpu_ms_per_question"] > 0
    assert report["search_5k_p50_ms"] > 0 and report["encode_per_second"] > 0


def test_serve_bench_starts_the_bot_twice_and_weighs_it(tmp_path, base_model_dir, monkeypatch):
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AGRIBOT_MODEL", str(base_model_dir))
    monkeypatch.setenv("AGRIBOT_BANK_PATH", str(SMALL_BANK))
    monkeypatch.delenv("AGRIBOT_DATABASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["bench", "--serve-memory", "--questions", "12"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["questions"] == 12 and report["replies"] >= 12
    assert report["warm_start_s"] > 0 and report["first_start_s"] > 0
    assert 50 < report["rss_mb"] <= report["peak_rss_mb"]
    assert report["first_start_rss_mb"] > 50
    assert report["pairs"] == len(read_bank_file(SMALL_BANK))


def test_serve_bench_serves_a_synthetic_bank_of_the_pairs_asked(
    tmp_path, base_model_dir, monkeypatch
):
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AGRIBOT_MODEL", str(base_model_dir))
    monkeypatch.setenv("AGRIBOT_BANK_PATH", str(SMALL_BANK))
    monkeypatch.delenv("AGRIBOT_DATABASE_URL", raising=False)
    args = ["bench", "--serve-memory", "--questions", "6", "--pairs", "25"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["pairs"] == 25 and report["bank"].endswith("bank-25.csv")
    assert report["questions"] == 6 and report["replies"] >= 6


def test_db_purge_dry_run_counts_and_keeps_then_purge_deletes(cli_env, database_url):
    from datetime import timedelta

    from sqlalchemy import func, insert, select

    from bot.storage.db import make_engine
    from bot.storage.models import QuestionLog, utcnow

    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(database_url)
    asked = [utcnow() - timedelta(days=400), utcnow() - timedelta(days=10)]
    row = {"chat_id": 1, "raw_text": "q", "normalized_text": "q", "decision": "answer"}
    with engine.begin() as connection:
        connection.execute(
            insert(QuestionLog), [{**row, "candidates": [], "asked_at": at} for at in asked]
        )

    def questions() -> int:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(QuestionLog))

    dry = runner.invoke(cli, ["db", "purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "older than 365 days, would delete:" in dry.output and "questions: 1" in dry.output
    assert questions() == 2
    done = runner.invoke(cli, ["db", "purge"])
    assert done.exit_code == 0 and "deleted:" in done.output and "questions: 1" in done.output
    assert questions() == 1
    refused = runner.invoke(cli, ["db", "purge"], env={"AGRIBOT_RETENTION_DAYS": "0"})
    assert refused.exit_code == 1 and "AGRIBOT_RETENTION_DAYS" in refused.output
    engine.dispose()


def test_calibrate_prints_the_figures_and_refuses_to_save_for_an_unregistered_model(cli_env):
    queries = str(DATA / "eval_split.jsonl")
    result = CliRunner().invoke(cli, ["calibrate", "--bank", str(SMALL_BANK), "--queries", queries])
    assert result.exit_code == 1
    assert '"dev"' in result.output and '"test"' in result.output
    assert "is not registered; nothing saved (--no-save)" in result.output


def test_calibrate_and_eval_run_the_model_in_the_precision_asked(cli_env):
    queries = str(DATA / "eval_split.jsonl")
    args = ["--bank", str(SMALL_BANK), "--queries", queries, "--precision", "int8"]
    result = CliRunner().invoke(cli, ["calibrate", *args, "--no-save"])
    assert result.exit_code == 0, result.output
    assert '"dev"' in result.output and '"test"' in result.output
    result = CliRunner().invoke(cli, ["eval", *args, "--split", "dev"])
    assert result.exit_code == 0, result.output
    assert "scored the dev split" in result.output and "in int8" in result.output
    result = CliRunner().invoke(cli, ["eval", *args[:4], "--split", "dev"])
    assert result.exit_code == 0 and "in float32" in result.output


def test_model_trim_prints_rows_sizes_and_with_check_the_lowest_cosine(tmp_path):
    from tests.tiny_model import KEPT, PIECES, build_tiny_model

    source = build_tiny_model(tmp_path / "tiny")
    args = ["model", "trim", str(source), str(tmp_path / "small"), "--check"]
    args += ["--bank", str(SMALL_BANK), "--queries", str(DATA / "eval_small.jsonl")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"kept {len(KEPT)} of {len(PIECES) + 3} embedding rows" in result.output
    assert "weights " in result.output and "onnx " in result.output
    lowest = re.search(r"min cosine ([\d.]+) over (\d+) questions", result.output)
    assert lowest and float(lowest[1]) >= 0.9999 and int(lowest[2]) > 10
    assert (tmp_path / "small" / "onnx" / "encoder.onnx").is_file()


def test_a_blank_line_of_a_copied_env_example_means_unset(tmp_path, monkeypatch):
    from bot.config import Settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "AGRIBOT_TELEGRAM_TOKEN=123:abc\nAGRIBOT_ADMIN_IDS=\nAGRIBOT_WEBHOOK_SECRET=\n"
        "AGRIBOT_DOMAIN=\nPOSTGRES_PASSWORD=\n",
        encoding="utf-8",
    )
    for name in ("AGRIBOT_TELEGRAM_TOKEN", "AGRIBOT_ADMIN_IDS", "AGRIBOT_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.webhook_secret is None and settings.admin_ids == []
    assert settings.telegram_token is not None


def test_telegram_bench_runs_the_farmers_in_their_own_process(
    tmp_path, base_model_dir, monkeypatch
):
    """Both runs (Telegram's limit lifted and in place) get every reply back from the
    fake Bot API, which runs with the farmers in a child process, and say what CPU time
    each process spent a reply."""
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AGRIBOT_MODEL", str(base_model_dir))
    monkeypatch.setenv("AGRIBOT_BANK_PATH", str(SMALL_BANK))
    monkeypatch.delenv("AGRIBOT_DATABASE_URL", raising=False)
    args = ["bench", "--telegram", "--pairs", "40", "--chats", "3", "--messages", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    for run in (report["bot"], report["at_telegram_limit"]):
        assert run["replies"] == 6 and 0 <= run["answered"] <= 6
        assert 0 < run["latency_p50_ms"] <= run["latency_p95_ms"] <= run["latency_max_ms"]
        assert run["batches"] >= 1
        # each process's CPU a reply, measured over the run: both do work for every reply
        assert run["bot_cpu_ms_per_reply"] > 0 and run["farmers_cpu_ms_per_reply"] > 0
