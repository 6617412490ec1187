"""The desk's Starlette app: built from the same Services the bot answers with.

`create_app(settings, services, line)` shares the live answerer, so an edit made here is
in the index the bot answers from as soon as it commits; `line` tells farmers (over
Telegram) what an officer did in their queue.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.config import Settings
from bot.errors import QueueItemNotFound
from bot.service.desk import Desk
from bot.service.review import Notification, QueueItem
from bot.service.runtime import Services
from bot.service.web_login import WebLogins, load_web_secret
from bot.storage.models import DismissReason
from bot.storage.stats import COLOMBO
from bot.web import labels
from bot.web.auth import COOKIE, CSRF_FIELD, SESSION_S, DeskAuth, Officer

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
Page = Callable[[Request, Officer], Awaitable[Response]]
# Scripts only from the desk itself (htmx; no inline script anywhere), no framing, no
# Referer (the login page's address holds its token), nothing cached.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; media-src 'self'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class FarmerLine(Protocol):
    """How the desk reaches farmers: Telegram in the bot (bot/telegram/desk_line.py)."""

    async def answered(self, note: Notification) -> bool: ...

    async def dismissed(self, items: list[QueueItem], reason: DismissReason) -> None: ...


@dataclass
class DeskState:
    """What every page uses; kept on `app.state.desk`."""

    settings: Settings
    services: Services
    desk: Desk
    auth: DeskAuth
    logins: WebLogins
    line: FarmerLine | None
    templates: Jinja2Templates


def create_app(settings: Settings, services: Services, line: FarmerLine | None) -> Starlette:
    """The desk over `services`; `line` None: answers are recorded but no farmer is told.

    Example (what `agribot web` does, in `bot/web/server.py`)::

        app = create_app(settings, services, TelegramFarmerLine(bot))
        uvicorn.Server(desk_config(app, settings)).run()
    """
    from bot.web import bank_pages, model_pages, queue_pages, stats_pages, transfer_pages

    secret = load_web_secret(settings)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True
    )
    env.globals.update(labels=labels, csrf_field=CSRF_FIELD)
    env.filters["colombo"] = colombo_time
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}
    state = DeskState(
        settings=settings,
        services=services,
        desk=Desk(services.session_factory, services.bank, services.reviewer),
        auth=DeskAuth(
            secret,
            frozenset(settings.admin_ids),
            secure=settings.desk_url.startswith("https://"),
        ),
        logins=WebLogins(services.session_factory, secret, settings.desk_url),
        line=line,
        templates=Jinja2Templates(env=env),
    )
    routes: list[BaseRoute] = [
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", guarded(logout), methods=["POST"]),
        Route("/media/{item_id:int}", guarded(media)),
        *queue_pages.routes(),
        *transfer_pages.routes(),
        *bank_pages.routes(),
        *stats_pages.routes(),
        *model_pages.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.desk = state
    return app


def colombo_time(moment: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time as Sri Lankan officers read it (a naive one is UTC, as SQLite keeps it).

    Example:
        >>> colombo_time(datetime(2026, 12, 3, 18, 45))
        '2026-12-04 00:15'
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(COLOMBO).strftime(fmt)


def desk_state(request: Request) -> DeskState:
    state: DeskState = request.app.state.desk
    return state


def guarded(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """Only a logged-in admin reaches `page`; a POST must carry the session's CSRF token."""

    @functools.wraps(page)
    async def endpoint(request: Request) -> Response:
        state = desk_state(request)
        officer = state.auth.officer(request)
        if officer is not None and await run(state.logins.session_admin, officer.nonce) != (
            officer.admin_id
        ):
            officer = None  # logged out, or a session this database never opened
        if officer is None:
            return render(request, None, "refused.html", {"why": labels.NOT_LOGGED_IN}, 401)
        if request.method == "POST" and not await state.auth.csrf_ok(request, officer):
            logger.warning("desk: CSRF token refused for admin %s", officer.admin_id)
            return render(request, officer, "refused.html", {"why": labels.BAD_CSRF}, 403)
        return await page(request, officer)

    return endpoint


def render(
    request: Request,
    officer: Officer | None,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    values = {"officer": officer, "csrf": officer.csrf if officer else "", **(context or {})}
    response = desk_state(request).templates.TemplateResponse(
        request, template, values, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Service calls (SQL, encoding) off the event loop, as the bot's handlers do."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def home(request: Request) -> Response:
    return see_other("/queue")


async def login_form(request: Request) -> Response:
    """The link from /web opens a button: a GET never uses the link up, so a link preview
    or a browser prefetching it cannot spend it."""
    token = request.query_params.get("token", "")
    return render(request, None, "login.html", {"token": token})


async def login(request: Request) -> Response:
    state = desk_state(request)
    form = await request.form()
    token = form.get("token")
    admin_id = await run(state.logins.redeem, token) if isinstance(token, str) else None
    if admin_id is None or admin_id not in state.auth.admin_ids:
        logger.warning("desk: login refused (admin %s)", admin_id)
        return render(request, None, "refused.html", {"why": labels.BAD_LINK}, 403)
    agent = request.headers.get("user-agent", "")[:200]
    await run(state.desk.record, admin_id, "login", "desk", None, {"browser": agent})
    response = see_other("/queue")
    nonce = await run(state.logins.open_session, admin_id)
    response.set_cookie(
        COOKIE,
        state.auth.cookie_value(admin_id, nonce),
        max_age=SESSION_S,
        httponly=True,
        samesite="strict",
        secure=state.auth.secure,
    )
    return response


async def logout(request: Request, officer: Officer) -> Response:
    await run(desk_state(request).logins.end_session, officer.nonce)
    await run(desk_state(request).desk.record, officer.admin_id, "logout", "desk", None, None)
    response = render(request, None, "refused.html", {"why": labels.LOGGED_OUT})
    response.delete_cookie(COOKIE)
    return response


async def media(request: Request, officer: Officer) -> Response:
    """A queued voice note or photo, from the bot's own copy under `media_dir`."""
    state = desk_state(request)
    try:
        item = await run(state.services.reviewer.get, request.path_params["item_id"])
    except QueueItemNotFound:
        return Response(status_code=404)
    folder = state.settings.media_dir.resolve()
    path = Path(item.media_path or "").resolve()
    if not item.media_path or not path.is_relative_to(folder) or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path)
