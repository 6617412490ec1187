"""A pair's history as the desk keeps it: its editable fields as JSON, and audit rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from bot.storage.importer import VariantRow
from bot.storage.models import AuditEntry, QAPair

UNDOABLE = ("add", "edit", "delete")


@dataclass(frozen=True)
class AuditView:
    """One audit row, detached from its session, for showing in the page."""

    id: int
    at: datetime
    admin_id: int
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditView:
        return cls(
            entry.id,
            entry.at,
            entry.admin_id,
            entry.action,
            entry.target,
            entry.before,
            entry.after,
        )

    @property
    def undoable(self) -> bool:
        return self.action in UNDOABLE and self.target.startswith("pair:")


def snapshot(pair: QAPair) -> dict[str, Any]:
    """A pair's editable fields as JSON for the audit log (and for undo)."""
    return {
        "question": pair.question,
        "answer": pair.answer,
        "alternates": [p.text for p in pair.phrasings if p.origin == "bank"],
        "topic": pair.topic,
        "source": pair.source,
        "review_by": pair.review_by.isoformat() if pair.review_by else None,
        "variants": {
            v.zone: {
                "answer": v.answer,
                "source": v.source,
                "review_by": v.review_by.isoformat() if v.review_by else None,
            }
            for v in pair.variants
        },
    }


def variant_rows(variants: dict[str, dict[str, Any]] | None) -> list[VariantRow] | None:
    """A snapshot's or a form's zone answers as the bank takes them (None: leave as is)."""
    if variants is None:
        return None
    rows = []
    for zone, fields in sorted(variants.items()):
        answer = (fields.get("answer") or "").strip()
        if not answer:
            continue
        review_by = fields.get("review_by")
        rows.append(
            VariantRow(
                line=0,
                zone=zone,
                answer=answer,
                source=(fields.get("source") or "").strip() or None,
                review_by=date.fromisoformat(review_by) if review_by else None,
            )
        )
    return rows
