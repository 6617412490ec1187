"""The QA bank: add, edit, delete, find and list pairs and their alternate phrasings."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from bot.errors import DuplicateQuestion, InvalidPair, PairNotFound, PhrasingNotFound
from bot.storage.models import AnswerVariant, Phrasing, QAPair, utcnow
from bot.text.normalize import normalize_key

KEY_CHARS = 1000  # the key columns' size; a longer question is keyed by its start

if TYPE_CHECKING:
    from bot.storage.importer import VariantRow

_LOAD = (selectinload(QAPair.phrasings), selectinload(QAPair.variants))


def get_pair(session: Session, pair_id: int) -> QAPair:
    pair = session.get(QAPair, pair_id, options=list(_LOAD))
    if pair is None or not pair.active:
        raise PairNotFound(f"no QA pair with id {pair_id}")
    return pair


def get_pairs(session: Session, pair_ids: Sequence[int], chunk: int = 500) -> list[QAPair]:
    """The active pairs with these ids, in that order, loaded a chunk of ids per query."""
    found: dict[int, QAPair] = {}
    for start in range(0, len(pair_ids), chunk):
        ids = pair_ids[start : start + chunk]
        query = select(QAPair).where(QAPair.id.in_(ids), QAPair.active.is_(True)).options(*_LOAD)
        found.update((pair.id, pair) for pair in session.scalars(query))
    return [found[pair_id] for pair_id in dict.fromkeys(pair_ids) if pair_id in found]


def find_pair_by_question(session: Session, question: str) -> QAPair | None:
    """The active pair whose question or alternate phrasing normalizes like `question`."""
    key = text_key(question)
    by_phrasing = select(Phrasing.pair_id).where(
        Phrasing.text_key == key, Phrasing.approved.is_(True)
    )
    return session.scalars(
        select(QAPair)
        .where(QAPair.active.is_(True))
        .where(or_(QAPair.question_key == key, QAPair.id.in_(by_phrasing)))
        .order_by(QAPair.id)
        .limit(1)
    ).first()


def add_pair(
    session: Session,
    question: str,
    answer: str,
    alternates: Sequence[str] = (),
    **details: Any,
) -> QAPair:
    """Add a pair (`details` as `new_pair` takes them); raises DuplicateQuestion if the bank
    already asks this (after normalization).
    """
    existing = find_pair_by_question(session, question)
    if existing is not None:
        raise DuplicateQuestion(question, existing.id)
    pair = new_pair(question, answer, alternates, **details)
    session.add(pair)
    session.flush()
    return pair


def new_pair(
    question: str,
    answer: str,
    alternates: Sequence[str] = (),
    *,
    topic: str | None = None,
    source: str | None = None,
    created_by: str | None = None,
    origin: str = "bank",
    review_by: date | None = None,
    variants: Sequence[VariantRow] = (),
) -> QAPair:
    """A pair object, not yet added to a session nor checked against the bank."""
    question, answer = question.strip(), answer.strip()
    if not question or not answer:
        raise InvalidPair("question and answer must not be empty")
    pair = QAPair(
        question=question,
        question_key=text_key(question),
        answer=answer,
        topic=topic or None,
        source=source or None,
        created_by=created_by,
        updated_by=created_by,
        review_by=review_by,
    )
    pair.phrasings = [_phrasing(text, origin) for text in _distinct(question, alternates)]
    pair.variants = [_variant(row) for row in variants]
    return pair


def question_keys(session: Session) -> dict[str, int]:
    """Every active pair's question and phrasing keys, each with its pair's id (the lowest
    id where keys repeat, as `find_pair_by_question` picks)."""
    active = select(QAPair.id).where(QAPair.active.is_(True))
    rows = session.execute(
        select(QAPair.question_key, QAPair.id)
        .where(QAPair.active.is_(True))
        .union_all(
            select(Phrasing.text_key, Phrasing.pair_id).where(
                Phrasing.pair_id.in_(active), Phrasing.approved.is_(True)
            )
        )
    )
    keys: dict[str, int] = {}
    for key, pair_id in rows:
        keys[key] = min(pair_id, keys.get(key, pair_id))
    return keys


class PairChanges(TypedDict, total=False):
    """The fields `update_pair` can change, for callers that pass them on as `**changes`."""

    question: str | None
    answer: str | None
    alternates: Sequence[str] | None
    topic: str | None
    source: str | None
    review_by: date | None
    variants: Sequence[VariantRow] | None


def update_pair(
    session: Session,
    pair_id: int,
    *,
    question: str | None = None,
    answer: str | None = None,
    alternates: Sequence[str] | None = None,
    topic: str | None = None,
    source: str | None = None,
    updated_by: str | None = None,
    review_by: date | None = None,
    variants: Sequence[VariantRow] | None = None,
) -> QAPair:
    """Change the given fields; `alternates` and `variants`, when given, replace the bank's
    phrasings and zone answers."""
    pair = get_pair(session, pair_id)
    if question is not None and question.strip() != pair.question:
        other = find_pair_by_question(session, question)
        if other is not None and other.id != pair.id:
            raise DuplicateQuestion(question, other.id)
        pair.question = question.strip()
        pair.question_key = text_key(pair.question)
    if answer is not None:
        if not answer.strip():
            raise InvalidPair("answer must not be empty")
        pair.answer = answer.strip()
    if alternates is not None:
        kept = [p for p in pair.phrasings if p.origin != "bank"]
        pair.phrasings = kept + [
            _phrasing(text, "bank")
            for text in _distinct(pair.question, alternates, [p.text for p in kept])
        ]
    if topic is not None:
        pair.topic = topic or None
    if source is not None:
        pair.source = source or None
    if review_by is not None:
        pair.review_by = review_by
    if variants is not None:
        pair.variants = [_variant(row) for row in variants]
    pair.updated_by = updated_by
    pair.updated_at = utcnow()
    session.flush()
    return pair


def add_phrasing(session: Session, pair_id: int, text: str, origin: str) -> Phrasing | None:
    """Add a farmer's or admin's wording to a pair; None if the pair already has it."""
    pair = get_pair(session, pair_id)
    if not _distinct(pair.question, [text], [p.text for p in pair.phrasings]):
        return None
    phrasing = _phrasing(text.strip(), origin)
    pair.phrasings.append(phrasing)
    session.flush()
    return phrasing


def add_pending_phrasing(
    session: Session, pair_id: int, text: str, origin: str
) -> Phrasing | None:
    """A farmer's wording for a pair, kept apart until an officer approves it; None if the
    pair has it already (approved or waiting)."""
    pair = get_pair(session, pair_id)
    waiting = [p.text for p in pending_phrasings(session, pair_id)]
    if not _distinct(pair.question, [text], [p.text for p in pair.phrasings] + waiting):
        return None
    phrasing = Phrasing(
        pair_id=pair_id, text=text.strip(), text_key=text_key(text), origin=origin, approved=False
    )
    session.add(phrasing)
    session.flush()
    return phrasing


def pending_phrasings(session: Session, pair_id: int | None = None) -> list[Phrasing]:
    """Wordings waiting for approval (of one pair, or of every active pair), oldest first."""
    query = (
        select(Phrasing)
        .join(QAPair, QAPair.id == Phrasing.pair_id)
        .where(Phrasing.approved.is_(False), QAPair.active.is_(True))
        .order_by(Phrasing.id)
    )
    if pair_id is not None:
        query = query.where(Phrasing.pair_id == pair_id)
    return list(session.scalars(query))


def review_phrasing(
    session: Session, phrasing_id: int, *, approve: bool
) -> tuple[QAPair, Phrasing]:
    """Approve a waiting wording (it joins its pair) or reject it (it is deleted); returns
    the pair and the wording. PhrasingNotFound if it is not waiting."""
    phrasing = session.get(Phrasing, phrasing_id)
    if phrasing is None or phrasing.approved:
        raise PhrasingNotFound(f"no wording {phrasing_id} waiting for approval")
    pair_id = phrasing.pair_id
    if approve:
        phrasing.approved = True
    else:
        session.delete(phrasing)
    session.flush()
    pair = get_pair(session, pair_id)
    session.refresh(pair, ["phrasings"])
    return pair, phrasing


def delete_pair(session: Session, pair_id: int) -> None:
    session.delete(get_pair(session, pair_id))
    session.flush()


def list_pairs(
    session: Session,
    *,
    search: str | None = None,
    topic: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[QAPair]:
    """Active pairs by id, optionally filtered by a substring of question or answer."""
    query = select(QAPair).where(QAPair.active.is_(True)).options(*_LOAD).order_by(QAPair.id)
    if topic:
        query = query.where(QAPair.topic == topic)
    if search:
        pattern = f"%{search.strip()}%"
        query = query.where(or_(QAPair.question.like(pattern), QAPair.answer.like(pattern)))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query.offset(offset)))


def active_pairs(session: Session, chunk: int = 500) -> Iterator[QAPair]:
    """Every active pair by id, read `chunk` at a time, for a start that reads the bank.

    Each chunk's ORM objects are freed before the next is read, which reuses their
    memory. Loaded all at once, a 5,000-pair bank's filled 41 MB of Python's small-object
    arenas, and the few objects that outlived them (the strings the index keeps) kept
    33 MB of those arenas resident for good.
    """
    last = 0
    while True:
        query = (
            select(QAPair)
            .where(QAPair.active.is_(True), QAPair.id > last)
            .options(*_LOAD)
            .order_by(QAPair.id)
            .limit(chunk)
        )
        pairs = list(session.scalars(query))
        if not pairs:
            return
        last = pairs[-1].id
        yield from pairs
        del pairs


def topics(session: Session) -> list[str]:
    """The topics the active pairs use, sorted."""
    query = select(QAPair.topic).where(QAPair.active.is_(True), QAPair.topic.is_not(None))
    return sorted({topic for topic in session.scalars(query.distinct()) if topic})


def count_pairs(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(QAPair).where(QAPair.active.is_(True))) or 0
    )


def answer_for_zone(pair: QAPair, zone: str | None) -> tuple[str, str | None]:
    """The pair's answer and source for a farmer in `zone` (the general one if it has none)."""
    for variant in pair.variants:
        if variant.zone == zone:
            return variant.answer, variant.source or pair.source
    return pair.answer, pair.source


def _variant(row: VariantRow) -> AnswerVariant:
    return AnswerVariant(
        zone=row.zone, answer=row.answer.strip(), source=row.source, review_by=row.review_by
    )


def _phrasing(text: str, origin: str) -> Phrasing:
    return Phrasing(text=text, text_key=text_key(text), origin=origin)


def _distinct(question: str, texts: Sequence[str], existing: Sequence[str] = ()) -> list[str]:
    """Non-empty texts whose key differs from the question's, existing ones' and each other's."""
    seen = {text_key(question), *(text_key(text) for text in existing)}
    kept = []
    for text in texts:
        text = text.strip()
        key = text_key(text)
        if text and key not in seen:
            seen.add(key)
            kept.append(text)
    return kept


@functools.lru_cache(maxsize=4096)
def text_key(text: str) -> str:
    """The stored de-duplication key of a question or phrasing (cached: an import asks
    for each text's key several times)."""
    return normalize_key(text)[:KEY_CHARS]
