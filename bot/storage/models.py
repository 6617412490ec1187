"""Typed ORM tables: QA bank, embedding cache, question log, queue, feedback, model registry."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[Any]: JSON}


class QueueStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    LINKED = "linked"
    DISMISSED = "dismissed"


class QueueKind(enum.StrEnum):
    QUESTION = "question"  # the bot had no answer
    FEEDBACK = "feedback"  # a 👎 on an answer the bot gave
    VOICE = "voice"  # a voice note: officers listen to it
    PHOTO = "photo"  # a photo, with or without a caption


class DismissReason(enum.StrEnum):
    OFF_TOPIC = "off_topic"  # the farmer is told kindly
    NOT_PADDY = "not_paddy"  # the farmer is told kindly
    DUPLICATE = "duplicate"
    SPAM = "spam"
    WITHDRAWN = "withdrawn"  # a 👎 the farmer turned into a 👍


class FeedbackKind(enum.StrEnum):
    HELPFUL = "helpful"
    NOT_HELPFUL = "not_helpful"
    CHOSE_SUGGESTION = "chose_suggestion"
    REJECTED_SUGGESTIONS = "rejected_suggestions"


class ModelStatus(enum.StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"
    MISSING = "missing"


class QAPair(Base):
    """One question with its answer; `phrasings` are the other ways farmers ask it."""

    __tablename__ = "qa_pairs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    question_key: Mapped[str] = mapped_column(String(1000), index=True)
    answer: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(500))
    review_by: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(default=True, index=True)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    # approved phrasings only: what the index, exports and training see
    phrasings: Mapped[list[Phrasing]] = relationship(
        primaryjoin="and_(QAPair.id == Phrasing.pair_id, Phrasing.approved.is_(True))",
        back_populates="pair",
        cascade="all, delete-orphan",
        order_by="Phrasing.id",
    )
    variants: Mapped[list[AnswerVariant]] = relationship(
        back_populates="pair", cascade="all, delete-orphan", order_by="AnswerVariant.zone"
    )

    @property
    def texts(self) -> list[str]:
        """The question and every alternate phrasing, in order."""
        return [self.question, *(p.text for p in self.phrasings)]


class AnswerVariant(Base):
    """A pair's answer for one agro-ecological zone (fertilizer doses differ by zone).

    The pair's own `answer` is the general one, for farmers whose zone is not known.
    """

    __tablename__ = "answer_variants"
    __table_args__ = (UniqueConstraint("pair_id", "zone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("qa_pairs.id", ondelete="CASCADE"), index=True)
    zone: Mapped[str] = mapped_column(String(20))
    answer: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(500))
    review_by: Mapped[date | None] = mapped_column(Date)

    pair: Mapped[QAPair] = relationship(back_populates="variants")


class Phrasing(Base):
    """An alternate way of asking a pair's question: from the bank, an admin or a farmer."""

    __tablename__ = "phrasings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("qa_pairs.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    text_key: Mapped[str] = mapped_column(String(1000), index=True)
    origin: Mapped[str] = mapped_column(String(20), default="bank")
    # a farmer's "did you mean" choice waits for an officer before it is indexed or trained on
    approved: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    pair: Mapped[QAPair] = relationship(back_populates="phrasings")


class Embedding(Base):
    """A cached vector for one normalized text under one model.

    Keyed by model id and a hash of the prompt and normalized text, so an edit or a model
    change re-encodes only what is stale and a restart re-encodes nothing.
    """

    __tablename__ = "embeddings"

    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QuestionLog(Base):
    """Every incoming question with what the bot decided and how long it took."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), default="telegram")
    chat_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    raw_text: Mapped[str] = mapped_column(Text)
    normalized_text: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(20), index=True)  # a retrieval.decision.Decision
    top_pair_id: Mapped[int | None] = mapped_column(ForeignKey("qa_pairs.id", ondelete="SET NULL"))
    top_score: Mapped[float | None] = mapped_column(Float)
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    model_id: Mapped[str | None] = mapped_column(String(200))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    client_ref: Mapped[str | None] = mapped_column(String(64), unique=True)


class UnansweredQuestion(Base):
    """A question waiting for an agricultural officer; their answer goes back to the farmer."""

    __tablename__ = "unanswered"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("questions.id", ondelete="SET NULL"), index=True
    )
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    normalized_text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=QueueStatus.OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[int | None] = mapped_column(BigInteger)
    pair_id: Mapped[int | None] = mapped_column(ForeignKey("qa_pairs.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20), default=QueueKind.QUESTION)
    reason: Mapped[str | None] = mapped_column(String(20))  # why it was dismissed
    alerted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # for 👎 feedback: the pair whose answer the farmer found unhelpful
    given_pair_id: Mapped[int | None] = mapped_column(
        ForeignKey("qa_pairs.id", ondelete="SET NULL")
    )
    # voice and photos: Telegram's file id (to show officers) and the copy kept here
    file_id: Mapped[str | None] = mapped_column(String(200))
    media_path: Mapped[str | None] = mapped_column(Text)


class Feedback(Base):
    """A farmer's 👍/👎 on an answer, or their choice among "did you mean" suggestions."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("questions.id", ondelete="SET NULL"), index=True
    )
    pair_id: Mapped[int | None] = mapped_column(ForeignKey("qa_pairs.id", ondelete="SET NULL"))
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    """A registered encoder: where it lives, how it scored, and its calibrated thresholds."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=ModelStatus.CANDIDATE, index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    answer_threshold: Mapped[float | None] = mapped_column(Float)
    suggest_threshold: Mapped[float | None] = mapped_column(Float)
    # margin, chit_chat threshold and fusion weights, chosen with the thresholds
    tuning: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FarmerProfile(Base):
    """What a farmer told the bot about themselves: their district, hence their zone."""

    __tablename__ = "farmer_profiles"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    district: Mapped[str] = mapped_column(String(40))
    zone: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class BankRevision(Base):
    """One row: the bank's revision, bumped by every transaction that changes a pair.

    The bump holds this row's lock until the transaction ends, so bank writers take
    revisions in commit order and a process following them never skips one.
    """

    __tablename__ = "bank_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


class BankChange(Base):
    """A pair touched (added, edited, deleted) by the transaction that took `revision`."""

    __tablename__ = "bank_changes"

    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    pair_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UpdateClaim(Base):
    """A Telegram update taken by one replica: a redelivery to another is not handled twice."""

    __tablename__ = "update_claims"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    replica: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Officer(Base):
    """An admin's preferences: whether new questions in the queue are announced to them."""

    __tablename__ = "officers"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    alerts_muted: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class WebLoginToken(Base):
    """A one-time desk login link sent to an admin by `/web`: only its hash is kept."""

    __tablename__ = "web_login_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A desk session opened by a login link; logging out ends it on the server too."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One change an officer made on the desk: who, when, what, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    admin_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(100), index=True)  # "pair:12", "queue:7"
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


Index("ix_unanswered_status_created", UnansweredQuestion.status, UnansweredQuestion.created_at)
