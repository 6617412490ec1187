"""`agribot bench`'s benchmarks, and the fake Telegram Bot API that they and the tests use.

Like `cli.py`, an edge: its modules may import `bot.telegram`. Nothing is imported here,
so `from bot.bench.fake_bot_api import FakeBotApi` loads no model and no Telegram code.
"""
