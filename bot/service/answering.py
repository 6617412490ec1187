"""The farmer's path: normalize, encode, search, decide, log. No Telegram types here."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from bot.retrieval.decision import SUGGESTION_COUNT, Decision, Thresholds, decide
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion, HybridIndex
from bot.retrieval.index import Match
from bot.service.chit_chat import ChitChat, SmallTalk, empty_message
from bot.service.indexing import PairSummary, encode_rows, extend_index, summarize
from bot.storage.journal import QuestionJournal, is_transient
from bot.storage.models import QAPair
from bot.storage.questions import QuestionRecord, RecordedQuestion, record_question
from bot.text.english_terms import sinhala_view
from bot.text.normalize import clean_incoming, normalize, romanized_view
from bot.text.other_crops import names_another_crop

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
    bank_revision: int = 0  # the bank revision read before the index was built
    english_terms: bool = True  # also search English terms as Sinhala (off: ablation)
    other_crops: bool = True  # decline questions about another crop (off: ablation)

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
    """A farmer's message as it arrived; `ref` names it in the log and the journal, so it is
    written once however often a failure makes the bot retry.

    The text is cleaned at the door (`clean_incoming`): no NUL, no lone surrogates, at most
    4,096 characters.
    """

    text: str
    chat_id: int | None = None
    user_id: int | None = None
    message_id: int | None = None
    channel: str = "telegram"
    ref: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clean_incoming(self.text))

    def record(self, reply: Reply | None = None) -> QuestionRecord:
        """What is logged about it: the reply's decision, or, without one, a decline."""
        candidates = reply.candidates[:LOGGED_CANDIDATES] if reply is not None else []
        return QuestionRecord(
            raw_text=self.text,
            normalized_text=reply.normalized if reply is not None else self.text.strip(),
            decision=(reply.decision if reply is not None else Decision.DECLINE).value,
            candidates=[{"pair_id": c.pair_id, "score": round(c.score, 5)} for c in candidates],
            latency_ms=round(reply.latency_ms, 2) if reply is not None else None,
            model_id=reply.model_id if reply is not None else None,
            chat_id=self.chat_id,
            user_id=self.user_id,
            message_id=self.message_id,
            channel=self.channel,
            client_ref=self.ref,
        )


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
    other_crop: bool = False  # declined because it asks about another crop

    @property
    def answer(self) -> Candidate | None:
        return self.candidates[0] if self.decision is Decision.ANSWER else None

    @property
    def suggestions(self) -> list[Candidate]:
        return self.candidates[:SUGGESTION_COUNT] if self.decision is Decision.SUGGEST else []


class Answerer:
    """Answers questions from the in-memory index and logs every decision.

    The bank's vectors are built once (from the cache) and kept in sync on edits, so a
    question costs one encoding of its own text and one matrix product. The spelling
    scores need only the text, so a thread computes them while the encoder runs (ONNX
    Runtime lets go of the GIL): 0.7-0.9 ms less a question at 5,000 pairs. If the
    database cannot take the log, the reply still goes out and the record waits in the
    journal.
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
        self._spelling = ThreadPoolExecutor(1, thread_name_prefix="spelling")

    def answer(self, question: Question) -> Reply:
        return self.answer_many([question])[0]

    def answer_many(self, questions: Sequence[Question]) -> list[Reply]:
        """Answer a batch with one encoder call; every question is logged exactly once.

        If the batch fails, each question is tried alone, so one bad text costs only its
        own answer: it is declined, logged and queued for an officer.
        """
        started = time.perf_counter()
        state = self.state  # one snapshot for the whole batch
        try:
            replies = self._answer_batch(state, questions, started)
        except Exception:
            logger.exception("a batch of %d failed; answering each alone", len(questions))
            replies = [self._answer_alone(state, question) for question in questions]
        return self._log(questions, replies)

    def _answer_alone(self, state: RetrievalState, question: Question) -> Reply:
        started = time.perf_counter()
        try:
            return self._answer_batch(state, [question], started)[0]
        except Exception:
            logger.exception("question %s cannot be answered; declining it", question.ref)
            latency_ms = (time.perf_counter() - started) * 1000
            return Reply(
                Decision.DECLINE, [], question.text.strip(), state.model_id, latency_ms, failed=True
            )

    def _answer_batch(
        self, state: RetrievalState, questions: Sequence[Question], started: float
    ) -> list[Reply]:
        normalized = [normalize(q.text) for q in questions]
        texts, owners = query_views(
            normalized, [q.text for q in questions], english_terms=state.english_terms
        )
        spelling = self._spelling.submit(spelling_scores, state, texts)
        vectors = state.encoder.encode_queries(texts)
        bank_spelling, chat_spelling = spelling.result()
        found = state.index.search_many(
            vectors, texts, owners, k=self.top_k, fusion=state.fusion, spelling=bank_spelling
        )
        small_talk = (
            state.chit_chat.best(vectors, texts, owners, state.fusion, spelling=chat_spelling)
            if state.chit_chat is not None
            else [None] * len(questions)
        )
        latency_ms = (time.perf_counter() - started) * 1000
        return [
            self._reply(state, text, matches, chat, latency_ms)
            for text, matches, chat in zip(normalized, found, small_talk, strict=True)
        ]

    def _reply(
        self,
        state: RetrievalState,
        normalized: str,
        matches: list[Match],
        small_talk: SmallTalk | None,
        latency_ms: float,
    ) -> Reply:
        candidates = state.candidates(matches)
        if not normalized:
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
        if state.other_crops and names_another_crop(normalized):
            # coconut or onions worded like a paddy question: an officer, not a paddy dose
            return Reply(
                Decision.DECLINE,
                candidates,
                normalized,
                state.model_id,
                latency_ms,
                other_crop=True,
            )
        ranked = [c.match or Match(c.pair_id, c.score) for c in candidates]
        decision = decide(ranked, state.thresholds, normalized)
        return Reply(decision, candidates, normalized, state.model_id, latency_ms)

    def _log(self, questions: Sequence[Question], replies: list[Reply]) -> list[Reply]:
        """Write the batch in one transaction; if that fails, each record alone, and what
        the database still refuses goes to the journal (each record once, by its ref)."""
        records = [q.record(r) for q, r in zip(questions, replies, strict=True)]
        try:
            with self._write_lock, self.session_factory() as session:
                recorded: list[RecordedQuestion | None] = [
                    record_question(session, record) for record in records
                ]
                session.commit()
        except Exception as error:
            if is_transient(error):  # the database is down or busy: expected, no traceback
                logger.warning("could not log a batch of %d (%s)", len(records), error)
            else:
                logger.exception("could not log a batch of %d; writing each alone", len(records))
            recorded = [self._log_alone(record) for record in records]
        return [
            replace(reply, client_ref=record.client_ref, journaled=True)
            if done is None
            else replace(
                reply,
                question_id=done.question_id,
                queue_id=done.queue_id,
                client_ref=record.client_ref,
            )
            for reply, done, record in zip(replies, recorded, records, strict=True)
        ]

    def log_picked(self, question: Question, pair_id: int) -> Reply:
        """Log a question the farmer tapped in a list instead of typing, as the bot's answer
        with `pair_id` (so 👍/👎 and the stats treat it like a typed one); journaled if the
        database cannot take it. No model ran: no latency or model id is logged."""
        summary = self.state.pairs.get(pair_id)
        answer = summary.answer if summary is not None else ""
        picked = Reply(
            Decision.ANSWER,
            [Candidate(pair_id, 1.0, question.text, answer)],
            normalize(question.text),
            None,
            0.0,
        )
        record = replace(question.record(picked), latency_ms=None, model_id=None)
        done = self._log_alone(record)
        if done is None:
            return replace(picked, client_ref=record.client_ref, journaled=True)
        return replace(picked, question_id=done.question_id, client_ref=record.client_ref)

    def _log_alone(self, record: QuestionRecord) -> RecordedQuestion | None:
        try:
            with self._write_lock, self.session_factory() as session:
                done = record_question(session, record)
                session.commit()
                return done
        except Exception as error:
            logger.warning("question %s waits in the journal: %s", record.client_ref, error)
        self.journal.append(record)
        return None

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
        self,
        session: Session,
        pairs: Sequence[QAPair],
        *,
        own_revision: int | None = None,
        show_progress: bool = False,
    ) -> None:
        """Encode (through the cache) new or edited pairs and put them in the index."""
        if pairs:
            self.apply_bank_changes(
                session, pairs, own_revision=own_revision, show_progress=show_progress
            )

    def apply_bank_changes(
        self,
        session: Session,
        pairs: Sequence[QAPair],
        gone: Sequence[int] = (),
        *,
        revision: int | None = None,
        own_revision: int | None = None,
        show_progress: bool = False,
    ) -> bool:
        """Index `pairs` (encoded through the cache) and drop the pairs `gone`.

        `revision`: the index now holds the bank as of that revision (what the follower
        read). `own_revision`: the revision this process's own change took; it counts as
        followed only if it is the next one, else other processes' changes lie between.
        False, and nothing changed, if a model swap happened meanwhile: the new index was
        built from the bank afresh."""
        state = self.state
        encoded = (
            encode_rows(session, state.encoder, pairs, show_progress=show_progress)
            if pairs
            else None
        )
        with self._write_lock:
            current = self.state
            if current.encoder is not state.encoder:
                return False
            index, summaries = current.index, dict(current.pairs)
            for pair_id in gone:
                if pair_id in summaries:
                    index = index.without_pair(pair_id)
                    del summaries[pair_id]
            if encoded is not None:
                index = extend_index(index, encoded)
                summaries.update((pair.id, summarize(pair)) for pair in pairs)
            self.state = replace(
                current,
                index=index,
                pairs=summaries,
                bank_revision=_followed(current.bank_revision, revision, own_revision),
            )
            return True

    def forget_pair(self, pair_id: int, *, own_revision: int | None = None) -> None:
        with self._write_lock:
            current = self.state
            pairs = {k: v for k, v in current.pairs.items() if k != pair_id}
            self.state = replace(
                current,
                index=current.index.without_pair(pair_id),
                pairs=pairs,
                bank_revision=_followed(current.bank_revision, None, own_revision),
            )

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


def query_views(
    normalized: Sequence[str], raw: Sequence[str], *, english_terms: bool = True
) -> tuple[list[str], list[int]]:
    """The texts to search for each question, and which question each belongs to.

    A Singlish message is searched twice: transliterated to Sinhala (what the encoder
    reads best) and as typed, which the romanized spellings in the lexical index meet
    letter by letter. A message with English farming terms ("BPH වලට spray කරන්නද") is
    also searched with those terms in the bank's Sinhala. An empty message is searched as
    typed, to keep the batch aligned.
    """
    texts: list[str] = []
    owners: list[int] = []
    for number, (text, typed) in enumerate(zip(normalized, raw, strict=True)):
        texts.append(text or typed)
        owners.append(number)
        if not text:
            continue
        latin = romanized_view(typed)
        if latin and latin != text:
            texts.append(latin)
            owners.append(number)
        in_sinhala = sinhala_view(text, latin) if english_terms else None
        if in_sinhala and in_sinhala != latin:
            texts.append(in_sinhala)
            owners.append(number)
    return texts, owners


def encode_as_asked(encoder: Encoder, texts: Sequence[str], owners: Sequence[int]) -> np.ndarray:
    """The vectors of `texts` (`query_views` of several questions: each question's texts
    side by side), each question's texts encoded in a run of their own, as the bot encodes
    a question that arrives alone.

    The int8 graph quantizes each run's activations with one scale, so a text's vector
    depends on the texts sharing its run: on dev, each question encoded alone against 16
    at a time, cosine 0.994 on average and 0.981 at worst. The eval, the tuning on dev and
    the re-calibration encode this way so that their figures and thresholds are those of
    the vectors a farmer's question gets. Float32 vectors do not depend on their run
    (cosine 1.000000), so they are encoded together, which is faster.
    """
    if encoder.batch_invariant or len(texts) == 0:
        return encoder.encode_queries(list(texts))
    vectors = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    start = 0
    for end in range(1, len(texts) + 1):
        if end == len(texts) or owners[end] != owners[start]:
            vectors[start:end] = encoder.encode_queries(list(texts[start:end]))
            start = end
    return vectors


def spelling_scores(
    state: RetrievalState, texts: Sequence[str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The bank's and the small talk's spelling scores for `texts` (None where the
    fusion gives spelling no weight and the search skips it)."""
    if state.fusion.lexical_weight <= 0:
        return None, None
    bank = state.index.lexical.pair_scores(texts)
    chit_chat = state.chit_chat
    chat = chit_chat.index.lexical.pair_scores(texts) if chit_chat is not None else None
    return bank, chat


def _followed(current: int, revision: int | None, own_revision: int | None) -> int:
    if revision is not None:
        return max(current, revision)
    if own_revision == current + 1:
        return own_revision
    return current
