"""How the bot is doing: volumes, decision shares, feedback and the commonest open questions.

Days are Sri Lankan days: "today" starts at midnight in Colombo, not in UTC, and the daily
series is keyed by Colombo dates. Timestamps are stored in UTC (SQLite hands them back
naive, PostgreSQL aware); bounds are passed as UTC so SQLite's text comparison holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.retrieval.decision import Decision
from bot.storage.models import (
    Feedback,
    FeedbackKind,
    QAPair,
    QuestionLog,
    QueueStatus,
    UnansweredQuestion,
    utcnow,
)

COLOMBO = ZoneInfo("Asia/Colombo")  # UTC+5:30, no daylight saving
SERIES_DAYS = 30
MOST_DISLIKED = 5
THUMBS = (FeedbackKind.HELPFUL.value, FeedbackKind.NOT_HELPFUL.value)


def local_date(moment: datetime) -> date:
    """The Colombo date of a moment (a naive one is UTC, as SQLite returns stored ones)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(COLOMBO).date()


def day_start(day: date) -> datetime:
    """Midnight in Colombo at the start of `day`, in UTC."""
    return datetime.combine(day, time(), COLOMBO).astimezone(UTC)


@dataclass(frozen=True)
class DayStats:
    """One Colombo date: questions by decision, and the 👍/👎 given that day."""

    day: date
    decisions: dict[str, int] = field(default_factory=dict)
    helpful: int = 0
    not_helpful: int = 0

    @property
    def questions(self) -> int:
        return sum(self.decisions.values())

    @property
    def answer_rate(self) -> float | None:
        """Answered share of the day's questions, greetings and thanks left out."""
        asked = self.questions - self.decisions.get(Decision.CHIT_CHAT.value, 0)
        return self.decisions.get(Decision.ANSWER.value, 0) / asked if asked else None

    @property
    def helpful_ratio(self) -> float | None:
        total = self.helpful + self.not_helpful
        return self.helpful / total if total else None


@dataclass(frozen=True)
class DislikedPair:
    """A pair whose answer farmers gave 👎, with its 👍 for balance."""

    pair_id: int
    question: str
    not_helpful: int
    helpful: int


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
    days: list[DayStats] = field(default_factory=list)  # the last SERIES_DAYS, oldest first
    most_disliked: list[DislikedPair] = field(default_factory=list)  # over SERIES_DAYS

    def share(self, decision: Decision) -> float:
        return self.decisions.get(decision.value, 0) / self.week if self.week else 0.0

    @property
    def helpful_ratio(self) -> float | None:
        total = self.helpful + self.not_helpful
        return self.helpful / total if total else None


def compute_stats(session: Session, now: datetime | None = None) -> Stats:
    """Today and the last 7 days (today and the 6 before, Colombo dates), with the daily
    series and the most-👎 pairs of the last SERIES_DAYS."""
    today = local_date(now or utcnow())
    today_start = day_start(today)
    week_start = day_start(today - timedelta(days=6))

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
    latencies = sorted(
        latency  # never None (the query says so; the column type cannot)
        for latency in session.scalars(
            select(QuestionLog.latency_ms)
            .where(QuestionLog.asked_at >= week_start, QuestionLog.latency_ms.is_not(None))
            .order_by(QuestionLog.id.desc())
            .limit(1000)
        )
        if latency is not None
    )
    return Stats(
        stale_pairs=stale_pair_ids(session, today),
        today=count_since(today_start),
        week=count_since(week_start),
        decisions=decisions,
        helpful=feedback.get(FeedbackKind.HELPFUL.value, 0),
        not_helpful=feedback.get(FeedbackKind.NOT_HELPFUL.value, 0),
        open_queue=open_queue,
        top_unanswered=top_unanswered(session),
        median_latency_ms=latencies[len(latencies) // 2] if latencies else None,
        days=daily_series(session, today),
        most_disliked=most_disliked_pairs(session, day_start(today - timedelta(SERIES_DAYS - 1))),
    )


def top_unanswered(
    session: Session, since: datetime | None = None, limit: int = 5
) -> list[tuple[str, int]]:
    """The open questions asked most often (by their normalized words), with how many
    farmers asked each; `since` keeps those queued from then on."""
    query = (
        select(
            UnansweredQuestion.normalized_text,
            func.count().label("n"),
            func.min(UnansweredQuestion.text),
        )
        .where(
            UnansweredQuestion.status == QueueStatus.OPEN,
            UnansweredQuestion.normalized_text != "",  # a voice note or photo without words
        )
        .group_by(UnansweredQuestion.normalized_text)
        .order_by(func.count().desc(), func.min(UnansweredQuestion.id))
        .limit(limit)
    )
    if since is not None:
        query = query.where(UnansweredQuestion.created_at >= since)
    return [(text, count) for _, count, text in session.execute(query).all()]


def daily_series(session: Session, today: date, days: int = SERIES_DAYS) -> list[DayStats]:
    """Questions by decision and 👍/👎 for each Colombo date of the `days` ending `today`.

    The day bounds come from zoneinfo and the database counts between them, so SQLite
    and PostgreSQL agree without date functions of their own: 90,000 questions (3,000 a
    day) take about 0.3 s on SQLite, against 0.8 s for bucketing the rows in Python.
    """
    first = today - timedelta(days=days - 1)
    bounds = [day_start(first + timedelta(n)) for n in range(days + 1)]
    asked = _count_by_day(session, QuestionLog.asked_at, QuestionLog.decision, bounds)
    thumbs = _count_by_day(
        session, Feedback.created_at, Feedback.kind, bounds, Feedback.kind.in_(THUMBS)
    )
    return [
        DayStats(
            first + timedelta(n),
            {kind: count for (day, kind), count in asked.items() if day == n},
            helpful=thumbs.get((n, FeedbackKind.HELPFUL.value), 0),
            not_helpful=thumbs.get((n, FeedbackKind.NOT_HELPFUL.value), 0),
        )
        for n in range(days)
    ]


def _count_by_day(
    session: Session,
    moment: InstrumentedAttribute[datetime],
    kind: InstrumentedAttribute[str],
    bounds: list[datetime],
    *where: ColumnElement[bool],
) -> dict[tuple[int, str], int]:
    """(day index, kind) -> rows whose `moment` falls in [bounds[day], bounds[day + 1])."""
    day = case(*[(moment < end, n) for n, end in enumerate(bounds[1:])])
    counted = (
        select(day, kind, func.count())
        .where(moment >= bounds[0], moment < bounds[-1], *where)
        .group_by(day, kind)
    )
    return {(int(n), k): count for n, k, count in session.execute(counted)}


def most_disliked_pairs(
    session: Session, since: datetime, limit: int = MOST_DISLIKED
) -> list[DislikedPair]:
    """Active pairs with the most 👎 since `since` (fewer 👍 first on a tie)."""
    down = func.sum(case((Feedback.kind == FeedbackKind.NOT_HELPFUL.value, 1), else_=0))
    up = func.sum(case((Feedback.kind == FeedbackKind.HELPFUL.value, 1), else_=0))
    rows = session.execute(
        select(QAPair.id, QAPair.question, down, up)
        .join(Feedback, Feedback.pair_id == QAPair.id)
        .where(QAPair.active.is_(True), Feedback.created_at >= since, Feedback.kind.in_(THUMBS))
        .group_by(QAPair.id, QAPair.question)
        .having(down > 0)
        .order_by(down.desc(), up, QAPair.id)
        .limit(limit)
    ).all()
    return [DislikedPair(pair_id, question, int(n), int(m)) for pair_id, question, n, m in rows]


def stale_pair_ids(session: Session, today: date) -> list[int]:
    """Active pairs with a `review_by` date (general or a zone's answer) that has passed."""
    from bot.storage.models import AnswerVariant

    general = select(QAPair.id).where(QAPair.active.is_(True), QAPair.review_by < today)
    zoned = (
        select(AnswerVariant.pair_id)
        .join(QAPair, QAPair.id == AnswerVariant.pair_id)
        .where(QAPair.active.is_(True), AnswerVariant.review_by < today)
    )
    return sorted(set(session.scalars(general)) | set(session.scalars(zoned)))


def thumbs_down_by_pair(session: Session, pair_ids: list[int]) -> dict[int, int]:
    """How many 👎 each of these pairs' answers has had (ever)."""
    if not pair_ids:
        return {}
    rows = session.execute(
        select(Feedback.pair_id, func.count())
        .where(Feedback.pair_id.in_(pair_ids), Feedback.kind == FeedbackKind.NOT_HELPFUL.value)
        .group_by(Feedback.pair_id)
    )
    return {int(pair_id): int(count) for pair_id, count in rows if pair_id is not None}


def questions_by_topic(session: Session, since: datetime) -> list[tuple[str, int]]:
    """Questions answered or suggested since `since`, by the topic of the pair they got."""
    rows = session.execute(
        select(QAPair.topic, func.count())
        .select_from(QuestionLog)
        .join(QAPair, QAPair.id == QuestionLog.top_pair_id)
        .where(
            QuestionLog.asked_at >= since,
            QuestionLog.decision.in_((Decision.ANSWER.value, Decision.SUGGEST.value)),
        )
        .group_by(QAPair.topic)
        .order_by(func.count().desc())
    )
    return [(topic or "—", int(count)) for topic, count in rows]


def questions_by_district(session: Session, since: datetime) -> list[tuple[str, int]]:
    """Questions since `since` by the district their farmer gave (unknown ones left out)."""
    from bot.storage.models import FarmerProfile

    rows = session.execute(
        select(FarmerProfile.district, func.count())
        .select_from(QuestionLog)
        .join(FarmerProfile, FarmerProfile.chat_id == QuestionLog.chat_id)
        .where(QuestionLog.asked_at >= since)
        .group_by(FarmerProfile.district)
        .order_by(func.count().desc())
    )
    return [(district, int(count)) for district, count in rows]
