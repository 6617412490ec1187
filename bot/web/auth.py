"""Desk sessions and CSRF: a signed cookie names the admin; every form carries a token.

The cookie holds `admin_id.issued.nonce.signature` (HttpOnly, SameSite=Strict, Secure
behind https); each request checks the signature, its age and that the id is still in
AGRIBOT_ADMIN_IDS, then (in `bot.web.app.guarded`) that the session is still open in the
database, so logging out ends it on the server too. The CSRF token is the session nonce
signed for another purpose, so it needs no storage and changes with each login.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass

from starlette.requests import Request

from bot.service.web_login import SESSION_TTL, sign

COOKIE = "agribot_desk"
SESSION_S = int(SESSION_TTL.total_seconds())
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Officer:
    """The admin a request's session belongs to."""

    admin_id: int
    nonce: str
    csrf: str


class DeskAuth:
    """Makes and checks session cookies and CSRF tokens with the desk's secret."""

    def __init__(self, secret: bytes, admin_ids: frozenset[int], *, secure: bool) -> None:
        self.secret = secret
        self.admin_ids = admin_ids
        self.secure = secure

    def cookie_value(self, admin_id: int, nonce: str, issued: int | None = None) -> str:
        body = f"{admin_id}.{issued if issued is not None else int(time.time())}.{nonce}"
        return f"{body}.{sign(self.secret, 'session', body)}"

    def officer(self, request: Request) -> Officer | None:
        """The request's officer, or None (no cookie, forged, too old, no longer an admin)."""
        value = request.cookies.get(COOKIE, "")
        body, _, signature = value.rpartition(".")
        if not body or not hmac.compare_digest(signature, sign(self.secret, "session", body)):
            return None
        admin, issued, nonce = [*body.split(".", 2), "", ""][:3]
        if not admin.isdigit() or not issued.isdigit() or not nonce:
            return None
        if time.time() - int(issued) > SESSION_S or int(admin) not in self.admin_ids:
            return None
        return Officer(int(admin), nonce, sign(self.secret, "csrf", nonce))

    @staticmethod
    async def csrf_ok(request: Request, officer: Officer) -> bool:
        """The form's or HTMX header's token matches the session's."""
        given = request.headers.get(CSRF_HEADER)
        if given is None:
            form = await request.form()
            field = form.get(CSRF_FIELD)
            given = field if isinstance(field, str) else None
        return given is not None and hmac.compare_digest(given, officer.csrf)
