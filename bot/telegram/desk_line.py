"""The web desk's line to farmers: an officer's answer or dismissal sent over Telegram."""

from __future__ import annotations

from telegram import Bot

from bot.service.review import Notification, QueueItem
from bot.storage.models import DismissReason
from bot.telegram.review import notify_farmer, tell_dismissed


class TelegramFarmerLine:
    """Sends what an officer did on the desk to the farmers, as the Telegram review does."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def answered(self, note: Notification) -> bool:
        return await notify_farmer(self.bot, note)

    async def dismissed(self, items: list[QueueItem], reason: DismissReason) -> None:
        await tell_dismissed(self.bot, items, reason)
