"""Building the Telegram Application (the one place handlers are registered) and running it."""

from __future__ import annotations

import asyncio
import logging
import os
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.config import Settings
from bot.errors import ConfigurationError
from bot.service.bank_listener import BankListener
from bot.service.batching import MAX_BATCH, QuestionBatcher
from bot.service.replicas import PRUNE_EVERY_S, UpdateClaims, replica_id
from bot.service.runtime import Services
from bot.service.throttle import ChatGuard
from bot.telegram import admin, farmer, keyboards, media, privacy, review, texts
from bot.telegram.context import BotApplication, BotData, Companion, CustomContext
from bot.telegram.errors import handle_error
from bot.telegram.inbox import RecordingBot, UpdateInbox, claim_update, mark_done
from bot.telegram.webhook import serve_webhook

logger = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 3
JOURNAL_REPLAY_EVERY_S = 60.0
REGISTRY_CHECK_EVERY_S = 30.0
TELEGRAM_MESSAGES_PER_SECOND = 30.0
CONNECTION_POOL_SIZE = 256  # what ApplicationBuilder gives concurrent updates
INBOX_FILE = "inbox.jsonl"

ADMIN_HANDLERS = {
    "add": admin.add_pair,
    "edit": admin.edit_pair,
    "delete": admin.delete_pair,
    "find": admin.find_pairs,
    "export": admin.export_bank,
    "unanswered": review.list_unanswered,
    "answer": review.answer_queued,
    "link": review.link_queued,
    "dismiss": review.dismiss_queued,
    "alerts": review.set_alerts,
    "pending": review.list_pending,
    "stats": admin.show_stats,
    "retrain": admin.retrain,
    "web": admin.web_link,
}

NON_TEXT = (
    filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.PHOTO
    | filters.Sticker.ALL
    | filters.LOCATION
    | filters.VENUE
    | filters.Document.ALL
    | filters.CONTACT
    | filters.ANIMATION
)


def build_application(
    settings: Settings,
    services: Services,
    *,
    max_messages_per_second: float = TELEGRAM_MESSAGES_PER_SECOND,
) -> BotApplication:
    """The bot with every handler, talking to `settings.telegram_base_url`.

    `max_messages_per_second` is Telegram's overall limit for a bot; the bench lifts it to
    measure the bot itself.
    """
    if settings.telegram_token is None:
        raise ConfigurationError("AGRIBOT_TELEGRAM_TOKEN is not set")
    # httpx logs every request URL at INFO, and each URL holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.device == "cpu" and services.answerer.state.encoder.backend == "torch":
        leave_a_core_to_the_loop()
    inbox = UpdateInbox(settings.data_dir / INBOX_FILE)
    bot = RecordingBot(
        settings.telegram_token.get_secret_value(),
        base_url=settings.telegram_base_url,
        base_file_url=settings.telegram_base_file_url,
        request=HTTPXRequest(connection_pool_size=CONNECTION_POOL_SIZE),
        get_updates_request=HTTPXRequest(connection_pool_size=1),
        rate_limiter=AIORateLimiter(
            overall_max_rate=max_messages_per_second, max_retries=RATE_LIMIT_RETRIES
        ),
    )
    bot.set_inbox(inbox)
    application = (
        ApplicationBuilder()
        .bot(bot)
        .concurrent_updates(True)
        .context_types(ContextTypes(context=CustomContext, bot_data=BotData))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    data: BotData = application.bot_data
    data.services = services
    data.batcher = QuestionBatcher(services.answerer, settings.batch_window_ms, MAX_BATCH)
    data.guard = ChatGuard(settings.repeat_window_s, settings.flood_limit, settings.flood_window_s)
    data.admin_ids = frozenset(settings.admin_ids)
    data.inbox = inbox
    if shares_database(settings):
        # the database replicas can share: each update is handled by one of them
        data.claims = UpdateClaims(services.session_factory, replica_id(settings.data_dir))
    _register(application, data.admin_ids)
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            farmer.replay_pending_questions,
            interval=JOURNAL_REPLAY_EVERY_S,
            first=JOURNAL_REPLAY_EVERY_S,
            name="replay-journal",
        )
        application.job_queue.run_repeating(
            review.announce_new_questions,
            interval=min(review.ALERT_CHECK_S, settings.alert_every_s),
            first=min(review.ALERT_CHECK_S, settings.alert_every_s),
            name="announce-new-questions",
        )
        application.job_queue.run_repeating(
            follow_bank,
            interval=settings.bank_follow_every_s,
            first=settings.bank_follow_every_s,
            name="follow-bank",
        )
        application.job_queue.run_repeating(
            follow_model_registry,
            interval=REGISTRY_CHECK_EVERY_S,
            first=REGISTRY_CHECK_EVERY_S,
            name="follow-model-registry",
        )
        if data.claims is not None:
            application.job_queue.run_repeating(
                prune_update_claims, interval=PRUNE_EVERY_S, first=60, name="prune-update-claims"
            )
        application.job_queue.run_repeating(
            privacy.purge_expired_data,
            interval=privacy.PURGE_EVERY_S,
            first=privacy.PURGE_FIRST_S,
            name="purge-expired-data",
        )
    return application


def shares_database(settings: Settings) -> bool:
    """PostgreSQL: the database several replicas can share (SQLite serves one process)."""
    return make_url(settings.database_url).get_backend_name() == "postgresql"


async def prune_update_claims(context: CustomContext) -> None:
    """Job: forget update claims older than Telegram's redeliveries."""
    claims = context.bot_data.claims
    if claims is None:
        return
    try:
        await asyncio.to_thread(claims.prune)
    except SQLAlchemyError as error:
        logger.warning("could not prune update claims: %s", error.__class__.__name__)


async def follow_bank(context: CustomContext) -> None:
    """Job: index the pairs another process (a replica, `agribot qa import`) changed.

    On PostgreSQL its first run also starts a listener that follows each change as it
    commits; this poll stays as the fallback for what a reconnecting listener missed.
    """
    data: BotData = context.bot_data
    if data.bank_listener is None and shares_database(data.services.settings):
        url = data.services.settings.database_url
        data.bank_listener = BankListener(url, data.services.follow_bank).start()
    try:
        await asyncio.to_thread(context.bot_data.services.follow_bank)
    except SQLAlchemyError as error:  # the database is away: the next run catches up
        logger.warning("could not follow the bank's changes: %s", error.__class__.__name__)


async def follow_model_registry(context: CustomContext) -> None:
    """Job: swap in the model `agribot model activate` or `rollback` made active meanwhile."""
    services = context.bot_data.services
    if context.bot_data.retrain_task is not None and not context.bot_data.retrain_task.done():
        return  # /retrain swaps the model itself when it finishes
    if not await asyncio.to_thread(services.active_model_changed):
        return
    model_id = await asyncio.to_thread(services.reload_model)
    logger.info("now answering with model %s, as the registry says", model_id)


def leave_a_core_to_the_loop() -> int:
    """Let a torch model use every core but one, so the event loop is never starved.

    On the 2-core target, two torch intra-op threads plus the event loop oversubscribe the
    CPU: OpenMP's threads spin-wait on each other while preempted, and the bench measured
    7-10 answered messages a second with 2 threads against 26 with 1 under the same load.
    ONNX Runtime (the default on a CPU) is told not to spin, and there every core helps:
    60 answered messages a second with 2 threads against 49 with 1.
    """
    import torch

    threads = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
        logger.info("the model uses %d CPU thread(s)", threads)
    return threads


def _register(application: BotApplication, admin_ids: frozenset[int]) -> None:
    application.add_handler(TypeHandler(Update, claim_update), group=-1)
    application.add_handler(TypeHandler(Update, mark_done), group=1)
    # New messages in private chats only: an edited /add must not add a second pair, and
    # /export or /stats sent in a group must not post the bank or the queue there.
    private = filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE
    application.add_handler(CommandHandler("start", farmer.start, filters=private))
    application.add_handler(CommandHandler("help", farmer.help_command, filters=private))
    application.add_handler(CommandHandler("district", farmer.district_command, filters=private))
    application.add_handler(CommandHandler("forget", privacy.forget_command, filters=private))
    for command, handler in ADMIN_HANDLERS.items():
        application.add_handler(CommandHandler(command, handler, filters=private))
    if admin_ids:
        from_admin = filters.User(user_id=admin_ids) & filters.Document.ALL & private
        application.add_handler(MessageHandler(from_admin, admin.import_bank))
    text = filters.TEXT & ~filters.COMMAND & private
    if admin_ids:  # an officer's reply to an alert or a prompt answers that question
        officer_reply = filters.User(user_id=admin_ids) & filters.REPLY & text
        application.add_handler(MessageHandler(officer_reply, review.answer_by_reply))
    application.add_handler(MessageHandler(text, farmer.answer_question))
    voice_or_photo = (filters.VOICE | filters.AUDIO | filters.PHOTO) & private
    application.add_handler(MessageHandler(voice_or_photo, media.media_question))
    application.add_handler(MessageHandler(NON_TEXT & private, farmer.unsupported_message))
    application.add_handler(CallbackQueryHandler(farmer.record_feedback, pattern=r"^fb:"))
    application.add_handler(CallbackQueryHandler(farmer.choose_suggestion, pattern=r"^s[gn]:"))
    application.add_handler(CallbackQueryHandler(farmer.show_topic, pattern=r"^tp:"))
    application.add_handler(CallbackQueryHandler(farmer.answer_topic_question, pattern=r"^tq:"))
    application.add_handler(CallbackQueryHandler(review.work_queue, pattern=r"^uq:"))
    application.add_handler(
        CallbackQueryHandler(review.work_officer_buttons, pattern=keyboards.OFFICER_PATTERN)
    )
    application.add_handler(CallbackQueryHandler(review.review_wording, pattern=r"^pw:"))
    application.add_handler(CallbackQueryHandler(farmer.choose_district, pattern=r"^dz:"))
    application.add_handler(CallbackQueryHandler(privacy.confirm_forget, pattern=r"^fg:"))
    application.add_handler(
        CallbackQueryHandler(farmer.acknowledge, pattern=rf"^{keyboards.THANKS}$")
    )
    application.add_error_handler(handle_error)


async def _post_init(application: BotApplication) -> None:
    """Command menus: /start and /help for everyone, the officer commands for each admin;
    then the updates a crash left unhandled are queued again; then the web desk, if any."""
    await set_commands(application)
    await replay_inbox(application)
    data: BotData = application.bot_data
    if data.start_companion is not None:
        data.stop_companion = await data.start_companion(application.bot)


async def replay_inbox(application: BotApplication) -> int:
    """Queue the updates recorded but not handled before the last stop; returns how many."""
    inbox = application.bot_data.inbox
    assert inbox is not None  # build_application gives every Application one
    pending = await asyncio.to_thread(inbox.unfinished)
    for raw in pending:
        await application.update_queue.put(Update.de_json(raw, application.bot))
    await asyncio.to_thread(inbox.compact)
    if pending:
        logger.warning("handling %d update(s) a crash left unanswered", len(pending))
    return len(pending)


async def set_commands(application: BotApplication) -> None:
    farmer_menu = [BotCommand(name, text) for name, text in texts.FARMER_COMMANDS]
    admin_menu = farmer_menu + [BotCommand(name, text) for name, text in texts.ADMIN_COMMANDS]
    await application.bot.set_my_commands(farmer_menu, scope=BotCommandScopeDefault())
    for admin_id in application.bot_data.admin_ids:
        try:
            await application.bot.set_my_commands(admin_menu, scope=BotCommandScopeChat(admin_id))
        except TelegramError as error:  # e.g. the admin has not opened a chat with the bot
            logger.warning("could not set the admin menu for %s: %s", admin_id, error)


async def _post_shutdown(application: BotApplication) -> None:
    """Answer what is still queued, stop retraining, close the database."""
    data: BotData = application.bot_data
    if data.stop_companion is not None:
        await data.stop_companion()
        data.stop_companion = None
    if data.retrain_task is not None and not data.retrain_task.done():
        data.retrain_task.cancel()
    await data.batcher.close()
    if data.bank_listener is not None:
        await asyncio.to_thread(data.bank_listener.stop)
    await asyncio.to_thread(data.services.close)


def run_bot(settings: Settings, services: Services, companion: Companion | None = None) -> None:
    """Long polling by default; a webhook behind a reverse proxy when `webhook_url` is set.

    `companion` (the web desk) is started on the bot's event loop once the bot is up,
    given the bot to reach farmers with, and stopped before the bot closes its services.

    Webhook mode listens on `listen_host:listen_port` (plain HTTP; the proxy terminates
    TLS) and refuses to start without `webhook_secret`, which Telegram sends back in the
    `X-Telegram-Bot-Api-Secret-Token` header of every update.
    """
    if settings.webhook_url:
        problem = _webhook_problem(settings)
        if problem:
            services.close()
            raise ConfigurationError(problem)
    application = build_application(settings, services)
    if companion is not None:
        application.bot_data.start_companion = companion
    if not settings.webhook_url:
        logger.info("starting long polling")
        application.run_polling(allowed_updates=Update.ALL_TYPES)
        return
    assert settings.webhook_secret is not None
    logger.info("starting webhook on %s:%d", settings.listen_host, settings.listen_port)
    asyncio.run(
        serve_webhook(
            application,
            host=settings.listen_host,
            port=settings.listen_port,
            url=settings.webhook_url,
            path=urlsplit(settings.webhook_url).path,
            secret=settings.webhook_secret.get_secret_value(),
        )
    )


def _webhook_problem(settings: Settings) -> str | None:
    if settings.webhook_secret is None:
        return (
            "webhook mode needs AGRIBOT_WEBHOOK_SECRET (16+ characters of A-Z, a-z, 0-9, _ "
            "and -) so that only Telegram can post updates; unset AGRIBOT_WEBHOOK_URL to poll"
        )
    if not (settings.webhook_url or "").startswith("https://"):
        return "AGRIBOT_WEBHOOK_URL must be the public https:// address of the reverse proxy"
    return None
