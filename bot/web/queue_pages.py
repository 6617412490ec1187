"""The queue page: grouped open questions with their closest pairs; answer, link, dismiss."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import AnswerWouldReplace, PairNotFound, QueueItemNotFound
from bot.service.answering import Candidate
from bot.service.bank_admin import PairView
from bot.service.review import Notification, QueueItem, public_question
from bot.storage.models import DismissReason
from bot.text.normalize import normalize
from bot.web import labels
from bot.web.app import desk_state, guarded, render, run, see_other
from bot.web.auth import Officer

logger = logging.getLogger(__name__)

CLOSEST = 3


@dataclass(frozen=True)
class QueueRow:
    """One grouped item as the page shows it."""

    item: QueueItem
    closest: list[tuple[Candidate, str]]  # each with its score in words
    given: PairView | None  # a 👎: the pair whose answer the farmer got
    question: str  # the public wording its answer would get


def routes() -> list[Route]:
    return [
        Route("/queue", guarded(queue_page)),
        Route("/queue/{item_id:int}/answer", guarded(answer_item), methods=["POST"]),
        Route("/queue/{item_id:int}/link", guarded(link_item), methods=["POST"]),
        Route("/queue/{item_id:int}/dismiss", guarded(dismiss_item), methods=["POST"]),
    ]


def _best_others(found: list[Candidate]) -> list[float]:
    """Each candidate's runner-up as the bot would see it: the best score of the others."""
    scores = [c.score for c in found]
    return [max(scores[:i] + scores[i + 1 :], default=0.0) for i in range(len(scores))]


def _rows(request: Request) -> list[QueueRow]:
    state = desk_state(request)
    thresholds = state.services.answerer.state.thresholds
    rows = []
    for item in state.services.reviewer.groups():
        found = state.services.bank.find(item.text, CLOSEST + 1) if item.captioned else []
        text = normalize(item.text)
        closest = [
            (c, labels.score_words(c.score, thresholds, runner_up=other, text=text))
            for c, other in zip(found, _best_others(found), strict=True)
            if c.pair_id != item.given_pair_id
        ][:CLOSEST]
        given = None
        if item.given_pair_id is not None:
            try:
                given = state.services.bank.get(item.given_pair_id)
            except PairNotFound:
                given = None
        question = public_question(item.text) if not item.is_media else ""
        rows.append(QueueRow(item, closest, given, question))
    return rows


async def queue_page(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    rows = await run(_rows, request)
    audit = await run(state.desk.recent, 15)
    return render(
        request,
        officer,
        "queue.html",
        {"rows": rows, "audit": audit, "note": _note(request), "replace": None},
    )


def _note(request: Request) -> str | None:
    return labels.NOTES.get(request.query_params.get("note", ""))


async def _told(request: Request, note: Notification) -> str:
    line = desk_state(request).line
    if line is None:
        return "no_line"
    return "answered" if await line.answered(note) else "unreachable"


async def answer_item(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    item_id = request.path_params["item_id"]
    form = await request.form()
    answer = str(form.get("answer") or "").strip()
    question = str(form.get("question") or "").strip() or None
    if not answer:
        return see_other("/queue")
    try:
        note = await run(
            state.desk.answer,
            officer.admin_id,
            item_id,
            answer,
            question=question,
            replace=form.get("replace") == "1",
        )
    except QueueItemNotFound:
        return see_other("/queue?note=gone")
    except AnswerWouldReplace as existing:
        rows = await run(_rows, request)
        audit = await run(state.desk.recent, 15)
        replace = {"item_id": item_id, "answer": answer, "question": question, "existing": existing}
        context = {"rows": rows, "audit": audit, "note": None, "replace": replace}
        return render(request, officer, "queue.html", context, 409)
    outcome = await _told(request, note)
    return see_other(f"/queue?note={outcome}")


async def link_item(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    form = await request.form()
    pair = str(form.get("pair_id") or "")
    if not pair.isdigit():
        return see_other("/queue")
    try:
        note = await run(
            state.desk.link, officer.admin_id, request.path_params["item_id"], int(pair)
        )
    except (QueueItemNotFound, PairNotFound):
        return see_other("/queue?note=gone")
    outcome = await _told(request, note)
    return see_other(f"/queue?note={'linked' if outcome == 'answered' else outcome}")


async def dismiss_item(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    form = await request.form()
    try:
        reason = DismissReason(str(form.get("reason") or ""))
    except ValueError:
        return see_other("/queue")
    if reason is DismissReason.WITHDRAWN:
        return see_other("/queue")
    try:
        items = await run(
            state.desk.dismiss, officer.admin_id, request.path_params["item_id"], reason
        )
    except QueueItemNotFound:
        return see_other("/queue?note=gone")
    if state.line is not None:
        await state.line.dismissed(items, reason)
    return see_other("/queue?note=dismissed")
