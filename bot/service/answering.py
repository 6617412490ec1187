"""The farmer's path: normalize, encode, search, decide, log. No Telegram types here."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session, sessionmaker

from bot.retrieval.decision import SUGGESTION_COUNT, Thresholds, decide
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion, HybridIndex
from bot.retrieval.index import Match
from bot.service.chit_chat import ChitChat, SmallTalk, empty_message
from bot.service.indexing import PairSummary, encode_rows, extend_index, summarize
from bot.storage.journal import QuestionJournal
from bot.storage.models import Decision, QAPair
from bot.storage.questions import QuestionRecord, RecordedQuestion, record_question
from bot.text.normalize import normalize, romanized_view

logger = logging.getLogger(__name__)

LOGGED_CANDIDATES = 5


@dataclass(frozen=True)
class Candidate:
    pair_id: int
    score: float
    question: str
    answer: str
    match: Match | None = None


@dataclass(frozen=True)
class RetrievalState:
    """One model with the index built by it: swapped whole, so no reply mixes two models.

    `fusion` and `thresholds` are the model's own, chosen on the eval's dev split.
    """

    encoder: Encoder
    index: HybridIndex
    pairs: dict[int, PairSummary]
    thresholds: Thresholds
    fusion: Fusion = QUESTIONS_ONLY
    chit_chat: ChitChat | None = None

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    def candidates(self, matches: Sequence[Match]) -> list[Candidate]:
        """Matches with their texts, one per distinct answer (the best-scoring pair keeps
        it); pairs deleted since the search are left out."""
        seen: set[str] = set()
        found = []
        for match in matches:
            pair = self.pairs.get(match.pair_id)
            if pair is None or pair.answer in seen:
                continue
            seen.add(pair.answer)
            found.append(Candidate(match.pair_id, match.score, pair.question, pair.answer, match))
        return found


@dataclass(frozen=True)
class Question:
    text: str
    chat_id: int | None = None
    user_id: int | None = None
    message_id: int | None = None
    channel: str = "telegram"


@dataclass(frozen=True)
class Reply:
    """What the bot decided for one question, with what it needs to say so."""

    decision: Decision
    candidates: list[Candidate]
    normalized: str
    model_id: str | None
    latency_ms: float
    question_id: int | None = None
    queue_id: int | None = None
    journaled: bool = False
    failed: bool = False
    client_ref: str = field(default="")
    small_talk: SmallTalk | None = None

    @property
    def answer(self) -> Candidate | None:
        return self.candidates[0] if self.decision is Decision.ANSWER else None

    @property
    def suggestions(self) -> list[Candidate]:
        return self.candidates[:SUGGESTION_COUNT] if self.decision is Decision.SUGGEST else []


class Answerer:
    """Answers questions from the in-memory index and logs every decision.

    The bank's vectors are built once (from the cache) and kept in sync on edits, so a
    question costs one encoding of its own text and one matrix product. If the database
    cannot take the log, the reply still goes out and the record waits in the journal.

    Example:
        >>> reply = answerer.answer(Question("වී වලට පොහොර දාන්නේ කවදද?", chat_id=42))
        >>> reply.decision, reply.answer.answer
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        state: RetrievalState,
        journal: QuestionJournal,
        *,
        top_k: int = 10,
    ) -> None:
        self.session_factory = session_factory
        self.state = state
        self.journal = journal
        self.top_k = top_k
        self._write_lock = threading.Lock()

    def answer(self, question: Question) -> Reply:
        return self.answer_many([question])[0]

    def answer_many(self, questions: Sequence[Question]) -> list[Reply]:
        """Answer a batch with one encoder call; every question is logged."""
        started = time.perf_counter()
        state = self.state  # one snapshot for the whole batch
        normalized = [normalize(q.text) for q in questions]
        failed = False
        try:
            texts, owners = query_views(normalized, [q.text for q in questions])
            vectors = state.encoder.encode_queries(texts)
            found = state.index.search_many(
                vectors, texts, owners, k=self.top_k, fusion=state.fusion
            )
            small_talk = (
                state.chit_chat.best(vectors, texts, owners, state.fusion)
                if state.chit_chat is not None
                else [None] * len(questions)
            )
        except Exception:
            logger.exception("encoding or search failed; declining %d question(s)", len(questions))
            found = [[] for _ in questions]
            small_talk = [None] * len(questions)
            failed = True
        latency_ms = (time.perf_counter() - started) * 1000
        replies = [
            self._reply(state, text, matches, chat, latency_ms, failed)
            for text, matches, chat in zip(normalized, found, small_talk, strict=True)
        ]
        return self._log(questions, replies)

    def _reply(
        self,
        state: RetrievalState,
        normalized: str,
        matches: list[Match],
        small_talk: SmallTalk | None,
        latency_ms: float,
        failed: bool,
    ) -> Reply:
        candidates = state.candidates(matches)
        if not normalized and not failed:
            return Reply(
                Decision.CHIT_CHAT,
                [],
                normalized,
                state.model_id,
                latency_ms,
                small_talk=empty_message(),
            )
        best = candidates[0].score if candidates else 0.0
        if (
            small_talk is not None
            and small_talk.score >= state.thresholds.chit_chat
            and small_talk.score > best
        ):
            return Reply(
                Decision.CHIT_CHAT,
                candidates,
                normalized,
                state.model_id,
                latency_ms,
                small_talk=small_talk,
            )
        ranked = [c.match or Match(c.pair_id, c.score) for c in candidates]
        decision = decide(ranked, state.thresholds)
        return Reply(decision, candidates, normalized, state.model_id, latency_ms, failed=failed)

    def _log(self, questions: Sequence[Question], replies: list[Reply]) -> list[Reply]:
        records = [
            QuestionRecord(
                raw_text=q.text,
                normalized_text=r.normalized,
                decision=r.decision.value,
                candidates=[
                    {"pair_id": c.pair_id, "score": round(c.score, 5)}
                    for c in r.candidates[:LOGGED_CANDIDATES]
                ],
                latency_ms=round(r.latency_ms, 2),
                model_id=r.model_id,
                chat_id=q.chat_id,
                user_id=q.user_id,
                message_id=q.message_id,
                channel=q.channel,
            )
            for q, r in zip(questions, replies, strict=True)
        ]
        try:
            with self._write_lock, self.session_factory() as session:
                recorded = [record_question(session, record) for record in records]
                session.commit()
        except Exception:
            logger.exception("could not log %d question(s); journaling them", len(records))
            for record in records:
                self.journal.append(record)
            return [
                replace(reply, journaled=True, client_ref=record.client_ref)
                for reply, record in zip(replies, records, strict=True)
            ]
        return [
            replace(
                reply,
                question_id=done.question_id,
                queue_id=done.queue_id,
                client_ref=record.client_ref,
            )
            for reply, done, record in zip(replies, recorded, records, strict=True)
        ]

    def replay_journal(self) -> int:
        """Write journaled questions to the database; returns how many were written."""

        def write(record: QuestionRecord) -> RecordedQuestion:
            with self._write_lock, self.session_factory() as session:
                done = record_question(session, record)
                session.commit()
                return done

        return self.journal.replay(write)

    # Keeping the index in step with the bank ------------------------------------------

    def refresh_pairs(
        self, session: Session, pairs: Sequence[QAPair], *, show_progress: bool = False
    ) -> None:
        """Encode (through the cache) new or edited pairs and put them in the index."""
        if not pairs:
            return
        state = self.state
        encoded = encode_rows(session, state.encoder, pairs, show_progress=show_progress)
        with self._write_lock:
            current = self.state
            if current.encoder is not state.encoder:
                return  # a model swap happened meanwhile and indexed the bank afresh
            summaries = {pair.id: summarize(pair) for pair in pairs}
            self.state = replace(
                current,
                index=extend_index(current.index, encoded),
                pairs={**current.pairs, **summaries},
            )

    def forget_pair(self, pair_id: int) -> None:
        with self._write_lock:
            current = self.state
            pairs = {k: v for k, v in current.pairs.items() if k != pair_id}
            self.state = replace(current, index=current.index.without_pair(pair_id), pairs=pairs)

    def swap(self, state: RetrievalState) -> None:
        """Switch to another model and its index at once; replies in flight keep the old one."""
        with self._write_lock:
            self.state = state
        logger.info("now answering with model %s (%d rows)", state.model_id, len(state.index))

    def set_thresholds(self, thresholds: Thresholds, fusion: Fusion | None = None) -> None:
        with self._write_lock:
            self.state = replace(
                self.state, thresholds=thresholds, fusion=fusion or self.state.fusion
            )


def query_views(normalized: Sequence[str], raw: Sequence[str]) -> tuple[list[str], list[int]]:
    """The texts to search for each question, and which question each belongs to.

    A Singlish message is searched twice: transliterated to Sinhala (what the encoder
    reads best) and as typed, which the romanized spellings in the lexical index meet
    letter by letter. An empty message is searched as typed, to keep the batch aligned.
    """
    texts: list[str] = []
    owners: list[int] = []
    for number, (text, typed) in enumerate(zip(normalized, raw, strict=True)):
        texts.append(text or typed)
        owners.append(number)
        latin = romanized_view(typed) if text else None
        if latin and latin != text:
            texts.append(latin)
            owners.append(number)
    return texts, owners
