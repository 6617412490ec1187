"""The bank pages: search, edit with live near-duplicates, history and undo, delete,
import and export."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import (
    DuplicateQuestion,
    InvalidPair,
    NothingToUndo,
    PairNotFound,
)
from bot.storage.importer import ZONES
from bot.web.app import desk_state, guarded, render, run, see_other
from bot.web.auth import Officer

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
AUDIT_SHOWN = 300


def routes() -> list[Route]:
    return [
        Route("/bank", guarded(bank_page)),
        Route("/bank/new", guarded(new_pair_form)),
        Route("/bank/new", guarded(add_pair), methods=["POST"]),
        Route("/bank/near", guarded(near_duplicates)),
        Route("/bank/{pair_id:int}", guarded(pair_page)),
        Route("/bank/{pair_id:int}", guarded(save_pair), methods=["POST"]),
        Route("/bank/{pair_id:int}/delete", guarded(confirm_delete)),
        Route("/bank/{pair_id:int}/delete", guarded(delete_pair), methods=["POST"]),
        Route("/audit", guarded(audit_page)),
        Route("/audit/{entry_id:int}/undo", guarded(undo), methods=["POST"]),
    ]


async def bank_page(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    params = request.query_params
    text = params.get("q", "").strip()
    meaning = params.get("how") == "meaning"
    topic = params.get("topic") or None
    zone = params.get("zone") or None
    source = params.get("source", "").strip() or None
    stale = params.get("stale") == "1"
    asked_page = params.get("page", "1")
    page = int(asked_page) if asked_page.isdigit() and int(asked_page) > 0 else 1
    rows, matched = await run(
        state.desk.search,
        text,
        meaning=meaning,
        topic=topic,
        zone=zone,
        source=source,
        stale_only=stale,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    others = {k: v for k, v in params.items() if k != "page" and v}
    context = {
        "rows": rows,
        "q": text,
        "meaning": meaning,
        "topic": topic,
        "zone": zone,
        "source": source or "",
        "stale": stale,
        "topics": await run(state.desk.topics),
        "count": await run(state.services.bank.count),
        "matched": matched,
        "page": page,
        "pages": max(1, -(-matched // PAGE_SIZE)),
        "query": urlencode(others),
        "note": _note(request),
        "import_errors": None,
    }
    return render(request, officer, "bank.html", context)


def _note(request: Request) -> str | None:
    from bot.web import labels

    return labels.NOTES.get(request.query_params.get("note", ""))


def _fields(form: FormData) -> dict[str, Any]:
    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    lines = text("alternates").splitlines()
    variants = {
        zone: {
            "answer": text(f"variant_{zone}_answer"),
            "source": text(f"variant_{zone}_source"),
            "review_by": text(f"variant_{zone}_review_by"),
        }
        for zone in ZONES
    }
    return {
        "variants": variants,
        "question": text("question"),
        "answer": text("answer"),
        "alternates": [line.strip() for line in lines if line.strip()],
        "topic": text("topic"),
        "source": text("source"),
        "review_by": text("review_by"),
    }


def _form_problem(fields: dict[str, Any]) -> str | None:
    if not fields["question"] or not fields["answer"]:
        return "ප්‍රශ්නය සහ පිළිතුර දෙකම අවශ්‍යයි. (Question and answer are both needed.)"
    dates = [fields["review_by"], *(v["review_by"] for v in fields["variants"].values())]
    for value in dates:
        try:
            if value:
                date.fromisoformat(value)
        except ValueError:
            return "සමාලෝචන දිනය YYYY-MM-DD ලෙස දෙන්න. (Review date as YYYY-MM-DD.)"
    return None


async def _pair_form(
    request: Request,
    officer: Officer,
    pair_id: int | None,
    fields: dict[str, Any],
    error: str | None = None,
    status: int = 200,
) -> Response:
    state = desk_state(request)
    history = await run(state.desk.history, pair_id) if pair_id is not None else []
    context = {
        "pair_id": pair_id,
        "fields": fields,
        "error": error,
        "history": history,
        "audit": history,
        "topics": await run(state.desk.topics),
        "zones": ZONES,
        "note": _note(request),
    }
    return render(request, officer, "pair.html", context, status)


async def new_pair_form(request: Request, officer: Officer) -> Response:
    empty = {"question": "", "answer": "", "alternates": [], "topic": "", "source": ""}
    return await _pair_form(request, officer, None, {**empty, "review_by": "", "variants": {}})


async def add_pair(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    fields = _fields(await request.form())
    problem = _form_problem(fields)
    if problem:
        return await _pair_form(request, officer, None, fields, problem, 400)
    try:
        pair_id = await run(state.desk.add_pair, officer.admin_id, fields)
    except DuplicateQuestion as error:
        return await _pair_form(request, officer, None, fields, _duplicate(error), 409)
    except InvalidPair as error:
        return await _pair_form(request, officer, None, fields, str(error), 400)
    return see_other(f"/bank/{pair_id}?note=added")


def _duplicate(error: DuplicateQuestion) -> str:
    return (
        f"බැංකුවේ මේ ප්‍රශ්නය දැනටමත් ඇත: #{error.existing_id}. "
        f"(The bank already asks this question: pair {error.existing_id}.)"
    )


async def pair_page(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    pair_id = request.path_params["pair_id"]
    try:
        fields = await run(state.desk.pair_snapshot, pair_id)
    except PairNotFound:
        return see_other("/bank?note=gone")
    return await _pair_form(
        request, officer, pair_id, {**fields, "review_by": fields["review_by"] or ""}
    )


async def save_pair(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    pair_id = request.path_params["pair_id"]
    fields = _fields(await request.form())
    problem = _form_problem(fields)
    if problem:
        return await _pair_form(request, officer, pair_id, fields, problem, 400)
    try:
        await run(state.desk.edit_pair, officer.admin_id, pair_id, fields)
    except PairNotFound:
        return see_other("/bank?note=gone")
    except DuplicateQuestion as error:
        return await _pair_form(request, officer, pair_id, fields, _duplicate(error), 409)
    except InvalidPair as error:
        return await _pair_form(request, officer, pair_id, fields, str(error), 400)
    return see_other(f"/bank/{pair_id}?note=saved")


async def near_duplicates(request: Request, officer: Officer) -> Response:
    """HTMX: the bank's pairs closest to the question being typed."""
    state = desk_state(request)
    question = request.query_params.get("question", "")
    exclude = request.query_params.get("pair_id", "")
    near = await run(
        state.desk.near_duplicates, question, exclude=int(exclude) if exclude.isdigit() else None
    )
    close = any(is_close for _, is_close in near)
    return render(request, officer, "_near.html", {"near": near, "close": close})


async def confirm_delete(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    pair_id = request.path_params["pair_id"]
    try:
        fields = await run(state.desk.pair_snapshot, pair_id)
    except PairNotFound:
        return see_other("/bank?note=gone")
    return render(request, officer, "delete.html", {"pair_id": pair_id, "fields": fields})


async def delete_pair(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    form = await request.form()
    pair_id = request.path_params["pair_id"]
    if form.get("confirm") != "yes":
        return see_other(f"/bank/{pair_id}")
    try:
        await run(state.desk.delete_pair, officer.admin_id, pair_id)
    except PairNotFound:
        return see_other("/bank?note=gone")
    return see_other("/bank?note=deleted")


async def audit_page(request: Request, officer: Officer) -> Response:
    """Every desk change, newest first (the last AUDIT_SHOWN)."""
    entries = await run(desk_state(request).desk.recent, AUDIT_SHOWN)
    return render(request, officer, "audit.html", {"audit": entries, "note": _note(request)})


async def undo(request: Request, officer: Officer) -> Response:
    state = desk_state(request)
    try:
        target = await run(state.desk.undo, officer.admin_id, request.path_params["entry_id"])
    except (NothingToUndo, PairNotFound, DuplicateQuestion):
        return see_other("/bank?note=gone")
    if target.startswith("pair:"):
        pair_id = target.split(":", 1)[1]
        return see_other(f"/bank/{pair_id}?note=undone")
    return see_other("/bank?note=undone")
