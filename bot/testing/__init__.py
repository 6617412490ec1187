"""Test helpers shipped with the package, so tests and `agribot bench --telegram` share them."""

from bot.testing._http import ApiCall
from bot.testing.fake_bot_api import FakeBotApi

__all__ = ["ApiCall", "FakeBotApi"]
