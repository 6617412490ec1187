"""The typed handler context: `context.services`, `context.batcher`, `context.guard`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telegram import Bot
from telegram.ext import Application, CallbackContext

from bot.telegram.inbox import RecordingBot

if TYPE_CHECKING:
    from bot.service.bank_listener import BankListener
    from bot.service.batching import QuestionBatcher
    from bot.service.replicas import UpdateClaims
    from bot.service.review import AnswerDraft
    from bot.service.runtime import Services
    from bot.service.throttle import ChatGuard
    from bot.telegram.inbox import UpdateInbox


# Something served beside the bot (the web desk): started with the bot once it is up,
# it returns the coroutine function that stops it.
Companion = Callable[[Bot], Awaitable[Callable[[], Awaitable[None]]]]


class BotData:
    """What every handler shares; filled in once by `build_application`."""

    services: Services
    batcher: QuestionBatcher
    guard: ChatGuard
    admin_ids: frozenset[int]
    inbox: UpdateInbox | None
    claims: UpdateClaims | None  # on PostgreSQL, which replicas can share

    def __init__(self) -> None:
        self.inbox = None
        self.claims = None
        self.bank_listener: BankListener | None = None
        self.retrain_task: asyncio.Task[None] | None = None
        self.start_companion: Companion | None = None
        self.stop_companion: Callable[[], Awaitable[None]] | None = None
        self.last_alert = float("-inf")
        self.last_queue_alert = float("-inf")  # when officers last heard of new questions
        # officers' answers waiting for their choice: replace the bank's answer, or not
        self.pending_answers: dict[tuple[int, int], tuple[str, int]] = {}
        # officers' answers shown in a preview, waiting for ✅: (officer, queue item) -> draft
        self.drafts: dict[tuple[int, int], AnswerDraft] = {}


class CustomContext(CallbackContext[RecordingBot, dict[Any, Any], dict[Any, Any], BotData]):
    """PTB's context with properties for agribot's services, like examples/contexttypesbot.py."""

    def __init__(
        self,
        application: BotApplication,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)

    @property
    def services(self) -> Services:
        return self.bot_data.services

    @property
    def batcher(self) -> QuestionBatcher:
        return self.bot_data.batcher

    @property
    def guard(self) -> ChatGuard:
        return self.bot_data.guard

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.bot_data.admin_ids


# The Application `build_application` makes. Its job queue's type is left open: the
# builder types it loosely, and `application.job_queue` is typed by the context anyway.
BotApplication = Application[
    RecordingBot, CustomContext, dict[Any, Any], dict[Any, Any], BotData, Any
]
