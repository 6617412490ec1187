"""Test helpers shipped with the package, so tests and `agribot bench --telegram` share them."""

from bot.testing.fake_bot_api import ApiCall, FakeBotApi

__all__ = ["ApiCall", "FakeBotApi"]
