"""One-time desk login links (kept as hashes, each redeemed at most once before it expires)
and the desk sessions they open."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.storage.models import WebLoginToken, WebSession


def add_token(session: Session, token_hash: str, admin_id: int, expires_at: datetime) -> None:
    session.add(WebLoginToken(token_hash=token_hash, admin_id=admin_id, expires_at=expires_at))
    session.flush()


def redeem_token(session: Session, token_hash: str, now: datetime) -> int | None:
    """Mark the token used and return its admin's id; None when it is unknown, expired or
    used already. One UPDATE decides, so two redeemers racing cannot both win."""
    used = session.execute(
        update(WebLoginToken)
        .where(
            WebLoginToken.token_hash == token_hash,
            WebLoginToken.used_at.is_(None),
            WebLoginToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(WebLoginToken.admin_id)
    ).first()
    return int(used[0]) if used is not None else None


def add_session(session: Session, nonce_hash: str, admin_id: int) -> None:
    session.add(WebSession(nonce_hash=nonce_hash, admin_id=admin_id))
    session.flush()


def live_session(session: Session, nonce_hash: str, since: datetime) -> int | None:
    """The admin of a session opened after `since` and not ended; None otherwise."""
    found = session.scalar(
        select(WebSession.admin_id).where(
            WebSession.nonce_hash == nonce_hash,
            WebSession.ended_at.is_(None),
            WebSession.created_at > since,
        )
    )
    return int(found) if found is not None else None


def end_session(session: Session, nonce_hash: str, now: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.nonce_hash == nonce_hash, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )
