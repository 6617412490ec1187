"""Who may use the desk: a one-time link from /web, a session cookie, a CSRF token on
every POST; everything else is refused and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.service.web_login import WebLogins, load_web_secret
from bot.storage.models import WebLoginToken, utcnow
from bot.telegram import texts
from bot.web.auth import COOKIE
from tests.telegram.conftest import ADMIN, ANSWERED
from tests.web.conftest import Desk

STRANGER = 4242

PAGES = [
    "/queue",
    "/bank",
    "/bank/1",
    "/bank/1/delete",
    "/bank/new",
    "/bank/near?question=x",
    "/bank/export",
    "/stats",
    "/models",
    "/models/progress",
    "/media/1",
    "/audit",
]
ACTIONS = [
    "/queue/1/answer",
    "/queue/1/link",
    "/queue/1/dismiss",
    "/bank/1",
    "/bank/1/delete",
    "/bank/new",
    "/bank/1/delete",
    "/bank/import",
    "/audit/1/undo",
    "/models/rollback",
    "/models/retrain",
    "/models/x/activate",
    "/logout",
]


async def test_every_page_and_action_refuses_without_a_session(desk: Desk):
    for path in PAGES:
        response = await desk.client.get(path)
        assert response.status_code == 401, path
        assert "/web" in response.text
    for path in ACTIONS:
        response = await desk.client.post(path, data={"csrf": "0" * 32})
        assert response.status_code == 401, path


async def test_the_link_from_web_logs_in_once(desk: Desk):
    token = await desk.link()
    first = await desk.client.get(f"/login?token={token}")  # a GET (a link preview) spends nothing
    assert first.status_code == 200 and token in first.text
    assert first.headers["referrer-policy"] == "no-referrer"  # the token stays on this page
    assert "script-src 'self'" in first.headers["content-security-policy"]
    logged_in = await desk.client.post("/login", data={"token": token})
    assert logged_in.status_code == 303
    cookie = logged_in.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert (await desk.client.get("/queue")).status_code == 200
    log = (await desk.client.get("/audit")).text
    assert "login" in log and str(ADMIN) in log  # who came in, and when

    desk.client.cookies.clear()
    again = await desk.client.post("/login", data={"token": token})
    assert again.status_code == 403 and COOKIE not in again.headers.get("set-cookie", "")
    assert (await desk.client.get("/queue")).status_code == 401


async def test_an_expired_or_forged_link_is_refused(desk: Desk):
    token = await desk.link()
    with desk.bot.services.session_factory() as session:
        session.execute(update(WebLoginToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert (await desk.client.post("/login", data={"token": token})).status_code == 403
    nonce, _, signature = (await desk.link()).partition(".")
    forged = f"{nonce}.{'0' * len(signature)}"
    assert (await desk.client.post("/login", data={"token": forged})).status_code == 403
    assert (await desk.client.post("/login", data={})).status_code == 403


async def test_a_non_admin_gets_no_link_and_a_link_made_for_one_is_refused(desk: Desk):
    [reply] = await desk.bot.send(STRANGER, "/web", user_id=STRANGER)
    assert reply["text"] == texts.ADMINS_ONLY and "token=" not in reply["text"]
    settings = desk.bot.services.settings
    logins = WebLogins(
        desk.bot.services.session_factory, load_web_secret(settings), settings.desk_url
    )
    link = logins.issue_link(STRANGER)  # as if they had been an admin once
    token = link.split("token=", 1)[1]
    assert (await desk.client.post("/login", data={"token": token})).status_code == 403


async def test_a_post_without_the_right_csrf_token_changes_nothing(desk: Desk):
    csrf = await desk.login()
    [pair] = desk.bot.services.bank.find(ANSWERED, 1)
    before = desk.bot.services.bank.get(pair.pair_id)
    form = {"question": before.question, "answer": "වෙනස් කළ පිළිතුර", "alternates": ""}
    for token in (None, "0" * 32, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        data = form if token is None else {**form, "csrf": token}
        response = await desk.client.post(f"/bank/{pair.pair_id}", data=data)
        assert response.status_code == 403, token
    assert desk.bot.services.bank.get(pair.pair_id) == before
    wrong_header = {"X-CSRF-Token": "0" * 32}
    response = await desk.client.post(f"/bank/{pair.pair_id}", data=form, headers=wrong_header)
    assert response.status_code == 403


@pytest.mark.parametrize("secret", [None, "s" * 40])
def test_the_secret_comes_from_the_environment_or_a_private_file(make_settings, secret):
    settings = make_settings(web_secret=secret)
    first = load_web_secret(settings)
    assert first == load_web_secret(settings)
    if secret is None:
        assert settings.web_secret_path.stat().st_mode & 0o777 == 0o600
    else:
        assert first == secret.encode() and not settings.web_secret_path.exists()


async def test_a_session_ends_when_its_admin_is_removed(desk: Desk):
    await desk.login()
    app_state = desk.client._transport.app.state.desk  # type: ignore[attr-defined]
    app_state.auth.admin_ids = frozenset({ADMIN + 1})
    assert (await desk.client.get("/queue")).status_code == 401


def test_every_route_is_checked_above(desk: Desk):
    """A new page or action must join PAGES or ACTIONS, so its refusal is tested."""
    from starlette.routing import Route

    app = desk.client._transport.app  # type: ignore[attr-defined]
    checked = {(path.split("?")[0], "GET") for path in PAGES} | {(p, "POST") for p in ACTIONS}
    public = {("/", "GET"), ("/login", "GET"), ("/login", "POST")}
    for route in app.routes:
        if not isinstance(route, Route):
            continue  # the static files
        example = route.path.replace("{item_id:int}", "1").replace("{pair_id:int}", "1")
        example = example.replace("{entry_id:int}", "1").replace("{name:str}", "x")
        for method in route.methods - {"HEAD"}:
            assert (example, method) in checked | public, (route.path, method)


async def test_logging_out_ends_the_session_on_the_server(desk: Desk):
    csrf = await desk.login()
    cookie = desk.client.cookies[COOKIE]
    out = await desk.client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 200
    desk.client.cookies.set(COOKIE, cookie)  # a copy kept from before (a stolen cookie)
    assert (await desk.client.get("/queue")).status_code == 401


async def test_a_signed_cookie_for_a_session_never_opened_is_refused(desk: Desk):
    await desk.login()
    auth = desk.client._transport.app.state.desk.auth  # type: ignore[attr-defined]
    desk.client.cookies.set(COOKIE, auth.cookie_value(ADMIN, "never-opened"))
    assert (await desk.client.get("/queue")).status_code == 401
