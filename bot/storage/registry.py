"""The model registry: which encoder versions exist, how they scored, and which is active."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import ModelVersionNotFound
from bot.storage.models import ModelStatus, ModelVersion, utcnow


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.id)))


def get_version(session: Session, name: str) -> ModelVersion:
    version = session.scalar(select(ModelVersion).where(ModelVersion.name == name))
    if version is None:
        raise ModelVersionNotFound(f"no model version named {name!r}")
    return version


def find_version(session: Session, name: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.name == name))


def active_version(session: Session) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.status == ModelStatus.ACTIVE)
        .order_by(ModelVersion.activated_at.desc())
    )


def register(
    session: Session,
    name: str,
    path: str,
    *,
    parent: str | None = None,
    metrics: dict[str, Any] | None = None,
    answer_threshold: float | None = None,
    suggest_threshold: float | None = None,
    tuning: dict[str, Any] | None = None,
    notes: str | None = None,
) -> ModelVersion:
    """Add a version as a candidate, or refresh its path and figures if it exists."""
    version = find_version(session, name)
    if version is None:
        version = ModelVersion(name=name, path=path, status=ModelStatus.CANDIDATE)
        session.add(version)
    version.path = path
    version.parent = parent if parent is not None else version.parent
    version.metrics = metrics if metrics is not None else (version.metrics or {})
    if answer_threshold is not None:
        version.answer_threshold = answer_threshold
    if suggest_threshold is not None:
        version.suggest_threshold = suggest_threshold
    if tuning is not None:
        version.tuning = dict(tuning)
    if notes is not None:
        version.notes = notes
    session.flush()
    return version


def activate(session: Session, name: str) -> ModelVersion:
    """Make `name` the one active version; the previous one is retired."""
    version = get_version(session, name)
    for other in session.scalars(
        select(ModelVersion).where(ModelVersion.status == ModelStatus.ACTIVE)
    ):
        if other.id != version.id:
            other.status = ModelStatus.RETIRED
    version.status = ModelStatus.ACTIVE
    version.activated_at = utcnow()
    session.flush()
    return version


def previous_version(session: Session, before: ModelVersion) -> ModelVersion | None:
    """The version that was active most recently before `before`."""
    return session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.id != before.id,
            ModelVersion.activated_at.is_not(None),
            ModelVersion.status == ModelStatus.RETIRED,
        )
        .order_by(ModelVersion.activated_at.desc())
        .limit(1)
    )


def mark_missing(session: Session, version: ModelVersion) -> None:
    version.status = ModelStatus.MISSING
    version.notes = (version.notes or "") + f"\n{utcnow().isoformat()}: directory missing"
    session.flush()


def save_recalibrated(
    session: Session, name: str, thresholds: Any, precision: str = "float32"
) -> None:
    """Keep thresholds re-calibrated after bank changes beside the dev-calibrated ones
    (of the model's int8 tuning, for `precision` "int8").

    The columns keep what was chosen on the eval's dev split (the floor of any later
    re-calibration); the running bots follow the re-calibrated ones.
    """
    version = find_version(session, name)
    if version is None:
        return
    recalibrated = {
        "recalibrated": {
            "answer": thresholds.answer,
            "suggest": thresholds.suggest,
            "margin": thresholds.margin,
            **(
                {"confidence": thresholds.confidence_threshold}
                if thresholds.confidence_threshold is not None
                else {}
            ),
        }
    }
    tuning = dict(version.tuning or {})
    if precision == "float32":
        tuning.update(recalibrated)
    else:
        tuning[precision] = {**(tuning.get(precision) or {}), **recalibrated}
    version.tuning = tuning
