"""`agribot serve` hands the bot the desk when AGRIBOT_WEB_PORT is set, and not otherwise;
`agribot web` serves the desk alone."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from bot import cli as cli_module
from bot.cli import cli
from bot.telegram import app as telegram_app
from bot.web import server


@pytest.fixture
def launched(monkeypatch, tmp_path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setenv("AGRIBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AGRIBOT_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setattr(cli_module, "_services", lambda settings, **kw: "services")

    def run_bot(settings, services, companion=None):
        seen.update(settings=settings, services=services, companion=companion)

    def run_desk(settings, services):
        seen.update(settings=settings, services=services, desk=True)

    monkeypatch.setattr(telegram_app, "run_bot", run_bot)
    monkeypatch.setattr(server, "run_desk", run_desk)
    return seen


def test_serve_starts_the_desk_beside_the_bot_only_with_a_port(launched, monkeypatch):
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 0
    assert launched["companion"] is None
    monkeypatch.setenv("AGRIBOT_WEB_PORT", "8081")
    assert CliRunner().invoke(cli, ["serve"]).exit_code == 0
    assert callable(launched["companion"]) and launched["settings"].web_port == 8081


def test_web_serves_the_desk_alone_on_the_options_host_and_port(launched):
    result = CliRunner().invoke(cli, ["web", "--host", "0.0.0.0", "--port", "8090"])
    assert result.exit_code == 0, result.output
    assert launched["desk"] and launched["settings"].web_host == "0.0.0.0"
    assert launched["settings"].desk_url == "http://0.0.0.0:8090"
