"""`agribot eval`: run an eval file against a bank in a throwaway database and score it.

The bundled eval file is split once, for good, into `dev` (everything that tunes:
thresholds, fusion weights, margins, training choices) and `test` (reported, never used to
choose anything); each line carries its `split` and its `slice` (colloquial, singlish,
code_mixed, short, typo, long, hard_negative, ood, chit_chat).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.errors import ImportRejected, RowError
from bot.retrieval.decision import Decision, ScoredQuery, Thresholds
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion
from bot.service.answering import Answerer, Question, Reply, RetrievalState
from bot.service.chit_chat import ChitChat
from bot.service.indexing import build_index
from bot.storage import importer
from bot.storage.db import make_engine, make_session_factory, upgrade
from bot.storage.journal import QuestionJournal
from bot.text.normalize import normalize_key

logger = logging.getLogger(__name__)

# Queries are answered this many at a time where the encoder's vectors do not depend on
# their run (float32); else one at a time, as the bot answers a question that arrives
# alone (`encode_as_asked` says why).
BATCH = 64
SPLITS = ("dev", "test", "all")
CHIT_CHAT = "chit_chat"


@dataclass(frozen=True)
class EvalQuery:
    """One eval line: a query and the answers that count as right (none: must not be
    answered). `slice` and `split` are None in files that do not name them."""

    line: int
    query: str
    answers: tuple[str, ...]
    slice: str | None = None
    split: str | None = None

    @property
    def answer(self) -> str | None:
        return self.answers[0] if self.answers else None

    @property
    def is_chit_chat(self) -> bool:
        return self.slice == CHIT_CHAT

    @property
    def in_domain(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class SliceReport:
    queries: int
    acc_at_1: float | None
    answered_precision: float | None
    coverage: float | None
    ood_rejection: float | None
    chit_chat_handled: float | None


@dataclass(frozen=True)
class EvalReport:
    queries: int
    in_domain: int
    ood: int
    acc_at_1: float
    mrr_at_10: float
    answered_precision: float
    coverage: float
    ood_rejection: float | None
    answer_threshold: float
    suggest_threshold: float
    model: str
    seconds: float
    split: str = "all"
    chit_chat: int = 0
    chit_chat_handled: float | None = None
    margin: float = 0.0
    answer_weight: float = 0.0
    lexical_weight: float = 0.0
    slices: dict[str, SliceReport] = field(default_factory=dict)
    confidence_threshold: float | None = None  # None: the score alone decides

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class EvalRun:
    """The report plus each query's outcome, for calibration and error analysis."""

    report: EvalReport
    scored: list[ScoredQuery]
    misses: list[tuple[EvalQuery, Reply]]


def open_eval_cache(settings: Settings) -> sessionmaker[Session]:
    """The embedding cache `agribot eval` uses, so each model encodes the eval bank once."""
    settings.ensure_dirs()
    engine = make_engine(f"sqlite:///{settings.data_dir / 'eval-cache.db'}")
    upgrade(engine)
    return make_session_factory(engine)


def read_queries(path: Path, split: str | None = None) -> list[EvalQuery]:
    """Read `{"query", "answer": str | [str, ...] | null, "slice"?, "split"?}` lines.

    Bad lines are reported by number. With `split` "dev" or "test", only that split's
    lines are kept (a file without splits is all "test"-less: every line is kept).
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    queries, errors = [], []
    for line, content in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not content.strip():
            continue
        try:
            queries.append(_eval_query(line, json.loads(content)))
        except (ValueError, KeyError, TypeError, RecursionError) as error:
            errors.append(RowError(line, f"bad eval line: {error}"))
    if errors:
        raise ImportRejected(errors)
    if split in (None, "all") or not any(q.split for q in queries):
        return queries
    return [q for q in queries if q.split == split]


def _eval_query(line: int, item: Any) -> EvalQuery:
    if not isinstance(item, dict):
        raise ValueError("each line must be a JSON object")
    query, answer = item["query"], item.get("answer")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be non-empty text")
    answers = [answer] if isinstance(answer, str) else (answer or [])
    if not isinstance(answers, list) or not all(isinstance(a, str) and a for a in answers):
        raise ValueError("answer must be text, a list of texts, or null")
    slice_, split = item.get("slice"), item.get("split")
    if split is not None and split not in ("dev", "test"):
        raise ValueError("split must be dev or test")
    if slice_ is not None and not isinstance(slice_, str):
        raise ValueError("slice must be text")
    return EvalQuery(line, query, tuple(answers), slice_, split)


def default_split(path: Path) -> str:
    """`test` for a file with splits (figures are reported there), else `all`."""
    return "test" if any(q.split for q in read_queries(path)) else "all"


def evaluate(
    encoder: Encoder,
    bank_path: Path,
    queries_path: Path,
    thresholds: Thresholds,
    *,
    fusion: Fusion = QUESTIONS_ONLY,
    split: str | None = None,
    cache: sessionmaker[Session] | None = None,
    show_progress: bool = False,
    romanized: bool = True,
    english_terms: bool = True,
    other_crops: bool = True,
) -> EvalRun:
    """Score `encoder` on the queries against the bank, in a temporary database.

    `cache` is an optional database holding the embedding cache, so repeated evaluations
    of one model encode the bank once; the bank itself never touches a real database.
    """
    started = time.perf_counter()
    split = split or default_split(queries_path)
    queries = read_queries(queries_path, split)
    with indexed_bank(
        encoder,
        bank_path,
        thresholds,
        fusion,
        cache,
        show_progress,
        romanized=romanized,
        english_terms=english_terms,
        other_crops=other_crops,
    ) as bank:
        _check_answers_exist(queries, bank.state)
        replies = _answer_all(bank.answerer, queries, show_progress)
    return _score(
        queries, replies, encoder.model_id, bank.state, split, time.perf_counter() - started
    )


@dataclass
class IndexedBank:
    """A bank file imported into a temporary database and indexed, ready to answer."""

    state: RetrievalState
    answerer: Answerer


@contextmanager
def indexed_bank(
    encoder: Encoder,
    bank_path: Path,
    thresholds: Thresholds,
    fusion: Fusion = QUESTIONS_ONLY,
    cache: sessionmaker[Session] | None = None,
    show_progress: bool = False,
    *,
    romanized: bool = True,
    english_terms: bool = True,
    other_crops: bool = True,
) -> Iterator[IndexedBank]:
    """Import `bank_path` into a temporary SQLite database and index it with `encoder`."""
    with tempfile.TemporaryDirectory(prefix="agribot-eval-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'eval.db'}")
        try:
            upgrade(engine)
            session_factory = make_session_factory(engine)
            with session_factory() as session:
                importer.import_rows(session, importer.read_bank_file(bank_path))
                session.commit()
            index, pairs = build_index(
                session_factory,
                encoder,
                cache=cache,
                show_progress=show_progress,
                romanized=romanized,
            )
            with (cache or session_factory)() as session:
                chit_chat = ChitChat.build(session, encoder)
                session.commit()
            state = RetrievalState(
                encoder,
                index,
                pairs,
                thresholds,
                fusion,
                chit_chat,
                english_terms=english_terms,
                other_crops=other_crops,
            )
            journal = QuestionJournal(Path(tmp) / "journal.jsonl")
            yield IndexedBank(state, Answerer(session_factory, state, journal))
        finally:
            engine.dispose()


def _check_answers_exist(queries: list[EvalQuery], state: RetrievalState) -> None:
    known = {normalize_key(summary.answer) for summary in state.pairs.values()}
    errors = [
        RowError(q.line, "its answer is not the answer of any pair in the bank")
        for q in queries
        if any(normalize_key(answer) not in known for answer in q.answers)
    ]
    if errors:
        raise ImportRejected(errors)


def _answer_all(answerer: Answerer, queries: list[EvalQuery], show_progress: bool) -> list[Reply]:
    from tqdm.auto import tqdm

    replies: list[Reply] = []
    with tqdm(
        total=len(queries), desc="evaluating", unit="query", disable=not show_progress
    ) as bar:
        step = BATCH if answerer.state.encoder.batch_invariant else 1
        for start in range(0, len(queries), step):
            batch = queries[start : start + step]
            replies.extend(answerer.answer_many([Question(q.query, channel="eval") for q in batch]))
            bar.update(len(batch))
    return replies


@dataclass
class _Tally:
    queries: int = 0
    in_domain: int = 0
    ood: int = 0
    chit_chat: int = 0
    hits: int = 0
    reciprocal: float = 0.0
    answered: int = 0
    answered_right: int = 0
    ood_rejected: int = 0
    chit_chat_handled: int = 0

    def add(self, query: EvalQuery, reply: Reply, rank: int | None) -> None:
        self.queries += 1
        was_answered = reply.decision is Decision.ANSWER
        self.answered += was_answered
        if query.is_chit_chat:
            self.chit_chat += 1
            self.chit_chat_handled += reply.decision is Decision.CHIT_CHAT
        elif not query.in_domain:
            self.ood += 1
            self.ood_rejected += not was_answered
        else:
            self.in_domain += 1
            self.hits += rank == 1
            self.reciprocal += 1 / rank if rank else 0.0
            self.answered_right += was_answered and rank == 1

    def slice_report(self) -> SliceReport:
        return SliceReport(
            queries=self.queries,
            acc_at_1=_ratio(self.hits, self.in_domain),
            answered_precision=_ratio(self.answered_right, self.answered),
            coverage=_ratio(self.answered_right, self.in_domain),
            ood_rejection=_ratio(self.ood_rejected, self.ood),
            chit_chat_handled=_ratio(self.chit_chat_handled, self.chit_chat),
        )


def _score(
    queries: list[EvalQuery],
    replies: list[Reply],
    model: str,
    state: RetrievalState,
    split: str,
    seconds: float,
) -> EvalRun:
    total = _Tally()
    by_slice: dict[str, _Tally] = defaultdict(_Tally)
    scored, misses = [], []
    for query, reply in zip(queries, replies, strict=True):
        rank = _rank(query.answers, reply) if query.in_domain else None
        total.add(query, reply, rank)
        if query.slice:
            by_slice[query.slice].add(query, reply, rank)
        top_score = reply.candidates[0].score if reply.candidates else 0.0
        runner_up = reply.candidates[1].score if len(reply.candidates) > 1 else 0.0
        correct = (rank == 1) if query.in_domain else None
        scored.append(ScoredQuery(top_score, correct, runner_up))
        wrong = (
            (query.in_domain and rank != 1)
            or (query.is_chit_chat and reply.decision is not Decision.CHIT_CHAT)
            or (not query.in_domain and reply.decision is Decision.ANSWER)
        )
        if wrong:
            misses.append((query, reply))
    thresholds, fusion = state.thresholds, state.fusion
    report = EvalReport(
        queries=total.queries,
        in_domain=total.in_domain,
        ood=total.ood,
        acc_at_1=_ratio(total.hits, total.in_domain) or 0.0,
        mrr_at_10=_ratio(total.reciprocal, total.in_domain) or 0.0,
        answered_precision=_ratio(total.answered_right, total.answered) or 0.0,
        coverage=_ratio(total.answered_right, total.in_domain) or 0.0,
        ood_rejection=_ratio(total.ood_rejected, total.ood),
        answer_threshold=thresholds.answer,
        suggest_threshold=thresholds.suggest,
        model=model,
        seconds=round(seconds, 2),
        split=split,
        chit_chat=total.chit_chat,
        chit_chat_handled=_ratio(total.chit_chat_handled, total.chit_chat),
        margin=thresholds.margin,
        answer_weight=fusion.answer_weight,
        lexical_weight=fusion.lexical_weight,
        slices={name: tally.slice_report() for name, tally in sorted(by_slice.items())},
        confidence_threshold=thresholds.confidence_threshold,
    )
    return EvalRun(report, scored, misses)


def _rank(expected: Sequence[str], reply: Reply, depth: int = 10) -> int | None:
    """1-based rank of the first expected answer among the reply's distinct answers."""
    wanted = {normalize_key(answer) for answer in expected}
    seen: list[str] = []
    for candidate in reply.candidates:
        key = normalize_key(candidate.answer)
        if key in seen:
            continue
        seen.append(key)
        if key in wanted:
            return len(seen)
        if len(seen) == depth:
            break
    return None


def _ratio(part: float, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
