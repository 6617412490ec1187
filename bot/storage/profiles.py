"""Farmers' profiles: the district each chat chose, hence the zone its answers are for."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bot.storage.models import FarmerProfile, utcnow


def get_profile(session: Session, chat_id: int) -> FarmerProfile | None:
    return session.get(FarmerProfile, chat_id)


def set_district(
    session: Session, chat_id: int, user_id: int | None, district: str, zone: str
) -> FarmerProfile:
    """Remember (or change) the chat's district; the caller commits."""
    profile = session.get(FarmerProfile, chat_id)
    if profile is None:
        profile = FarmerProfile(chat_id=chat_id)
        session.add(profile)
    profile.user_id, profile.district, profile.zone = user_id, district, zone
    profile.updated_at = utcnow()
    session.flush()
    return profile


def forget_profile(session: Session, chat_id: int) -> None:
    session.execute(delete(FarmerProfile).where(FarmerProfile.chat_id == chat_id))
