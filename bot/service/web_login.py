"""The desk's secret and its one-time login links, which `/web` sends an admin in Telegram.

A link carries a random token signed with the desk's secret; the database keeps only the
token's hash, the admin it was made for, when it expires and whether it was used, so a
link works once, for ten minutes, for that admin only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from datetime import timedelta
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.storage import web_logins
from bot.storage.models import utcnow

logger = logging.getLogger(__name__)

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)  # a working day; then a new /web link
LOGIN_PATH = "/login"


def load_web_secret(settings: Settings) -> bytes:
    """AGRIBOT_WEB_SECRET, or the one kept in `data_dir/web-secret` (made on first use,
    readable by this user only), so the bot and `agribot web` on one host agree."""
    if settings.web_secret is not None:
        return settings.web_secret.get_secret_value().encode()
    path = settings.web_secret_path
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48).encode()
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as file:
        file.write(secret)
    logger.info("generated the desk's secret in %s", path)
    return secret


def sign(secret: bytes, purpose: str, value: str) -> str:
    """A short HMAC-SHA256 of `value` for one `purpose` (login, session, csrf)."""
    digest = hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:32]


class WebLogins:
    """Issues and redeems one-time login links."""

    def __init__(
        self, session_factory: sessionmaker[Session], secret: bytes, base_url: str
    ) -> None:
        self.session_factory = session_factory
        self.secret = secret
        self.base_url = base_url.rstrip("/")

    def issue_link(self, admin_id: int) -> str:
        """A new link for `admin_id` (the caller checks that they are an admin)."""
        nonce = secrets.token_urlsafe(24)
        token = f"{nonce}.{sign(self.secret, 'login', nonce)}"
        with self.session_factory() as session:
            web_logins.add_token(session, _hash(nonce), admin_id, utcnow() + LINK_TTL)
            session.commit()
        return f"{self.base_url}{LOGIN_PATH}?token={quote(token)}"

    def redeem(self, token: str) -> int | None:
        """The admin a link was made for, once; None for a forged, expired or used one."""
        nonce, _, signature = token.partition(".")
        if not nonce or not hmac.compare_digest(signature, sign(self.secret, "login", nonce)):
            logger.warning(
                "desk login link with a bad signature: forged, or made by a process with "
                "another secret (replicas must share AGRIBOT_WEB_SECRET)"
            )
            return None
        with self.session_factory() as session:
            admin_id = web_logins.redeem_token(session, _hash(nonce), utcnow())
            session.commit()
        return admin_id

    def open_session(self, admin_id: int) -> str:
        """A new session for `admin_id`; returns its nonce (for the signed cookie)."""
        nonce = secrets.token_urlsafe(24)
        with self.session_factory() as session:
            web_logins.add_session(session, _hash(nonce), admin_id)
            session.commit()
        return nonce

    def session_admin(self, nonce: str) -> int | None:
        """The admin whose session this is, while it is open and younger than SESSION_TTL."""
        with self.session_factory() as session:
            return web_logins.live_session(session, _hash(nonce), utcnow() - SESSION_TTL)

    def end_session(self, nonce: str) -> None:
        with self.session_factory() as session:
            web_logins.end_session(session, _hash(nonce), utcnow())
            session.commit()


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()
