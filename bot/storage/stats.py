"""How the bot is doing: volumes, decision shares, feedback and the commonest open questions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.storage.models import (
    Decision,
    Feedback,
    FeedbackKind,
    QuestionLog,
    QueueStatus,
    UnansweredQuestion,
    utcnow,
)


@dataclass(frozen=True)
class Stats:
    today: int
    week: int
    decisions: dict[str, int]  # over 7 days
    helpful: int
    not_helpful: int
    open_queue: int
    top_unanswered: list[tuple[str, int]] = field(default_factory=list)
    median_latency_ms: float | None = None
    stale_pairs: list[int] = field(default_factory=list)  # review_by passed, to check again

    def share(self, decision: Decision) -> float:
        return self.decisions.get(decision.value, 0) / self.week if self.week else 0.0

    @property
    def helpful_ratio(self) -> float | None:
        total = self.helpful + self.not_helpful
        return self.helpful / total if total else None


def compute_stats(session: Session, now: datetime | None = None) -> Stats:
    now = now or utcnow()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = now - timedelta(days=7)

    def count_since(since: datetime) -> int:
        return (
            session.scalar(
                select(func.count()).select_from(QuestionLog).where(QuestionLog.asked_at >= since)
            )
            or 0
        )

    decisions = dict(
        session.execute(
            select(QuestionLog.decision, func.count())
            .where(QuestionLog.asked_at >= week_start)
            .group_by(QuestionLog.decision)
        ).all()
    )
    feedback = dict(
        session.execute(
            select(Feedback.kind, func.count())
            .where(Feedback.created_at >= week_start)
            .group_by(Feedback.kind)
        ).all()
    )
    open_queue = (
        session.scalar(
            select(func.count())
            .select_from(UnansweredQuestion)
            .where(UnansweredQuestion.status == QueueStatus.OPEN)
        )
        or 0
    )
    top = session.execute(
        select(
            UnansweredQuestion.normalized_text,
            func.count().label("n"),
            func.min(UnansweredQuestion.text),
        )
        .where(UnansweredQuestion.status == QueueStatus.OPEN)
        .group_by(UnansweredQuestion.normalized_text)
        .order_by(func.count().desc(), func.min(UnansweredQuestion.id))
        .limit(5)
    ).all()
    latencies = sorted(
        session.scalars(
            select(QuestionLog.latency_ms)
            .where(QuestionLog.asked_at >= week_start, QuestionLog.latency_ms.is_not(None))
            .order_by(QuestionLog.id.desc())
            .limit(1000)
        )
    )
    return Stats(
        stale_pairs=stale_pair_ids(session, now.date()),
        today=count_since(day_start),
        week=count_since(week_start),
        decisions=decisions,
        helpful=feedback.get(FeedbackKind.HELPFUL.value, 0),
        not_helpful=feedback.get(FeedbackKind.NOT_HELPFUL.value, 0),
        open_queue=open_queue,
        top_unanswered=[(text, count) for _, count, text in top],
        median_latency_ms=latencies[len(latencies) // 2] if latencies else None,
    )


def stale_pair_ids(session: Session, today: date) -> list[int]:
    """Active pairs with a `review_by` date (general or a zone's answer) that has passed."""
    from bot.storage.models import AnswerVariant, QAPair

    general = select(QAPair.id).where(QAPair.active.is_(True), QAPair.review_by < today)
    zoned = (
        select(AnswerVariant.pair_id)
        .join(QAPair, QAPair.id == AnswerVariant.pair_id)
        .where(QAPair.active.is_(True), AnswerVariant.review_by < today)
    )
    return sorted(set(session.scalars(general)) | set(session.scalars(zoned)))
