"""The models page: versions with their figures side by side, activate, roll back, retrain.

Activation and rollback run `agribot model activate` / `rollback` in a child process (an
export and the bank's encoding are no work for the process answering farmers), then the
running answerer swaps the model in (`Services.reload_model`); other processes follow the
registry within 30 s. A retrain runs `agribot train --promote` in a child process, as
`/retrain` does, and its progress lines are shown here as they come.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import AgribotError
from bot.training.background import switch_model
from bot.web.app import DeskState, desk_state, guarded, render, run, see_other
from bot.web.auth import Officer

logger = logging.getLogger(__name__)


@dataclass
class RetrainWatch:
    """One desk-started retraining: its progress lines and how it ended."""

    lines: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    outcome: str | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


def routes() -> list[Route]:
    return [
        Route("/models", guarded(models_page)),
        Route("/models/progress", guarded(progress)),
        Route("/models/rollback", guarded(rollback), methods=["POST"]),
        Route("/models/retrain", guarded(retrain), methods=["POST"]),
        Route("/models/{name:str}/activate", guarded(activate), methods=["POST"]),
    ]


def _watch(request: Request) -> RetrainWatch:
    app_state = request.app.state
    if not hasattr(app_state, "retrain"):
        app_state.retrain = RetrainWatch()
    watch: RetrainWatch = app_state.retrain
    return watch


async def models_page(request: Request, officer: Officer) -> Response:
    from bot.training.promotion import list_models

    state = desk_state(request)
    versions = await run(list_models, state.services.session_factory)
    flat = {v.name: flat_figures(v.metrics) for v in versions}
    context = {
        "versions": versions,
        "figures": sorted({name for figures in flat.values() for name in figures}),
        "flat": flat,
        "in_use": state.services.answerer.state.model_id,
        "watch": _watch(request),
        "error": request.query_params.get("error"),
        "note": _note(request),
    }
    return render(request, officer, "models.html", context)


def flat_figures(metrics: dict[str, object], prefix: str = "") -> dict[str, float]:
    """A version's figures (nested as training stores them) by dotted name, numbers only.

    Example:
        >>> flat_figures({"after": {"eval": {"acc_at_1": 0.83}, "note": "x"}, "epochs": 1})
        {'after.eval.acc_at_1': 0.83, 'epochs': 1.0}
    """
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_figures(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _note(request: Request) -> str | None:
    from bot.web import labels

    return labels.NOTES.get(request.query_params.get("note", ""))


async def progress(request: Request, officer: Officer) -> Response:
    """HTMX: the retraining's progress so far (polled every few seconds while it runs)."""
    return render(request, officer, "_progress.html", {"watch": _watch(request)})


async def _switch(state: DeskState, admin_id: int, name: str | None) -> str:
    """Activate `name` (None: roll back) in a child process, then answer with it here."""
    services = state.services
    before = services.answerer.state.model_id
    said = await switch_model(state.settings, name)
    now: str = await asyncio.to_thread(services.reload_model)
    logger.info("desk: %s (admin %d): %s", "activate" if name else "rollback", admin_id, said)
    await run(
        state.desk.record, admin_id, "activate", f"model:{now}", {"model": before}, {"model": now}
    )
    return now


async def activate(request: Request, officer: Officer) -> Response:
    return await _switched(request, officer, request.path_params["name"])


async def rollback(request: Request, officer: Officer) -> Response:
    return await _switched(request, officer, None)


async def _switched(request: Request, officer: Officer, name: str | None) -> Response:
    try:
        await _switch(desk_state(request), officer.admin_id, name)
    except AgribotError as error:
        logger.warning("desk: model switch refused: %s", error)
        return see_other("/models?error=" + str(error)[:200])
    return see_other("/models?note=activated")


async def retrain(request: Request, officer: Officer) -> Response:
    state, watch = desk_state(request), _watch(request)
    if watch.running:
        return see_other("/models")
    try:
        from bot.training.background import retrain_in_background
    except ImportError:
        return see_other("/models?error=retraining is not available here")
    watch.lines, watch.outcome = [], None

    async def report(text: str) -> None:
        watch.lines.append(text)

    async def work() -> None:
        try:
            outcome = await retrain_in_background(state.settings, report)
            if outcome.promoted:
                await run(state.services.reload_model)
            watch.outcome = outcome.summary
            state.desk.record(
                officer.admin_id, "retrain", "models", None, {"promoted": outcome.promoted}
            )
        except Exception:
            logger.exception("desk retraining failed")
            watch.outcome = "failed: see the bot's log"

    watch.task = asyncio.create_task(work(), name="agribot-desk-retrain")
    return see_other("/models")
