"""One-time desk login links: kept as hashes, each redeemed at most once before it expires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.storage.models import WebLoginToken


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
