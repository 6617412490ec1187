"""`agribot eval`: run an eval file against a bank in a throwaway database and score it."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ImportRejected, RowError
from bot.retrieval.decision import ScoredQuery, Thresholds, calibrate
from bot.retrieval.encoder import Encoder
from bot.retrieval.index import VectorIndex
from bot.service.answering import Answerer, Question, Reply, RetrievalState
from bot.service.indexing import PairSummary, encode_cached, pair_rows
from bot.storage import bank, importer
from bot.storage.db import make_engine, make_session_factory, upgrade
from bot.storage.journal import QuestionJournal
from bot.storage.models import Decision
from bot.text.normalize import normalize_key

logger = logging.getLogger(__name__)

BATCH = 64


@dataclass(frozen=True)
class EvalQuery:
    line: int
    query: str
    answer: str | None  # None: out of domain, must not be answered


@dataclass(frozen=True)
class EvalReport:
    queries: int
    in_domain: int
    ood: int
    acc_at_1: float
    mrr_at_10: float
    answered_precision: float
    coverage: float
    ood_rejection: float
    answer_threshold: float
    suggest_threshold: float
    model: str
    seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


@dataclass(frozen=True)
class EvalRun:
    """The report plus each query's outcome, for calibration and error analysis."""

    report: EvalReport
    scored: list[ScoredQuery]
    misses: list[tuple[EvalQuery, Reply]]


def read_queries(path: Path) -> list[EvalQuery]:
    """Read `{"query": str, "answer": str | null}` lines; bad lines are reported by number."""
    queries, errors = [], []
    for line, content in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not content.strip():
            continue
        try:
            item = json.loads(content)
            query, answer = item["query"], item.get("answer")
            if not isinstance(query, str) or not query.strip():
                raise ValueError("query must be non-empty text")
            if answer is not None and not isinstance(answer, str):
                raise ValueError("answer must be text or null")
        except (ValueError, KeyError, TypeError) as error:
            errors.append(RowError(line, f"bad eval line: {error}"))
            continue
        queries.append(EvalQuery(line, query, answer))
    if errors:
        raise ImportRejected(errors)
    return queries


def evaluate(
    encoder: Encoder,
    bank_path: Path,
    queries_path: Path,
    thresholds: Thresholds,
    *,
    cache: sessionmaker[Session] | None = None,
    show_progress: bool = False,
) -> EvalRun:
    """Score `encoder` on the queries against the bank, in a temporary database.

    `cache` is an optional database holding the embedding cache, so repeated evaluations
    of one model encode the bank once; the bank itself never touches a real database.
    """
    started = time.perf_counter()
    queries = read_queries(queries_path)
    with tempfile.TemporaryDirectory(prefix="agribot-eval-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'eval.db'}")
        try:
            upgrade(engine)
            session_factory = make_session_factory(engine)
            state = _index_bank(
                session_factory,
                cache or session_factory,
                encoder,
                bank_path,
                thresholds,
                show_progress,
            )
            _check_answers_exist(queries, state)
            answerer = Answerer(
                session_factory, state, QuestionJournal(Path(tmp) / "journal.jsonl")
            )
            replies = _answer_all(answerer, queries, show_progress)
        finally:
            engine.dispose()
    return _score(queries, replies, encoder.model_id, thresholds, time.perf_counter() - started)


def evaluate_calibrated(
    encoder: Encoder,
    bank_path: Path,
    queries_path: Path,
    thresholds: Thresholds,
    target_precision: float,
    *,
    cache: sessionmaker[Session] | None = None,
    show_progress: bool = False,
) -> tuple[EvalReport, Thresholds]:
    """Pick thresholds for `target_precision` on the eval file; the report at those thresholds.

    Scores are the same at any threshold, so a second run is needed only for the report's
    decision figures, and only when the thresholds moved.
    """
    run = evaluate(
        encoder, bank_path, queries_path, thresholds, cache=cache, show_progress=show_progress
    )
    chosen = calibrate(run.scored, target_precision)
    if chosen == thresholds:
        return run.report, chosen
    return evaluate(encoder, bank_path, queries_path, chosen, cache=cache).report, chosen


def _index_bank(
    session_factory: sessionmaker[Session],
    cache: sessionmaker[Session],
    encoder: Encoder,
    bank_path: Path,
    thresholds: Thresholds,
    show_progress: bool,
) -> RetrievalState:
    rows = importer.read_bank_file(bank_path)
    with session_factory() as session:
        importer.import_rows(session, rows)
        session.commit()
        pairs = bank.list_pairs(session)
        texts, owners = pair_rows(pairs)
        summaries = {p.id: PairSummary(p.question, p.answer) for p in pairs}
    with cache() as cache_session:
        vectors = encode_cached(cache_session, encoder, texts, show_progress=show_progress)
        cache_session.commit()
    import numpy as np

    return RetrievalState(encoder, VectorIndex(vectors, np.asarray(owners)), summaries, thresholds)


def _check_answers_exist(queries: list[EvalQuery], state: RetrievalState) -> None:
    known = {normalize_key(summary.answer) for summary in state.pairs.values()}
    errors = [
        RowError(q.line, "its answer is not the answer of any pair in the bank")
        for q in queries
        if q.answer is not None and normalize_key(q.answer) not in known
    ]
    if errors:
        raise ImportRejected(errors)


def _answer_all(answerer: Answerer, queries: list[EvalQuery], show_progress: bool) -> list[Reply]:
    from tqdm.auto import tqdm

    replies: list[Reply] = []
    with tqdm(
        total=len(queries), desc="evaluating", unit="query", disable=not show_progress
    ) as bar:
        for start in range(0, len(queries), BATCH):
            batch = queries[start : start + BATCH]
            replies.extend(answerer.answer_many([Question(q.query, channel="eval") for q in batch]))
            bar.update(len(batch))
    return replies


def _score(
    queries: list[EvalQuery],
    replies: list[Reply],
    model: str,
    thresholds: Thresholds,
    seconds: float,
) -> EvalRun:
    in_domain = ood = hits = answered = answered_right = ood_rejected = 0
    reciprocal = 0.0
    scored, misses = [], []
    for query, reply in zip(queries, replies, strict=True):
        top_score = reply.candidates[0].score if reply.candidates else 0.0
        was_answered = reply.decision is Decision.ANSWER
        answered += was_answered
        if query.answer is None:
            ood += 1
            ood_rejected += not was_answered
            scored.append(ScoredQuery(top_score, None))
            if was_answered:
                misses.append((query, reply))
            continue
        in_domain += 1
        rank = _rank(query.answer, reply)
        hits += rank == 1
        reciprocal += 1 / rank if rank else 0.0
        answered_right += was_answered and rank == 1
        scored.append(ScoredQuery(top_score, rank == 1))
        if rank != 1:
            misses.append((query, reply))
    report = EvalReport(
        queries=len(queries),
        in_domain=in_domain,
        ood=ood,
        acc_at_1=_ratio(hits, in_domain),
        mrr_at_10=_ratio(reciprocal, in_domain),
        answered_precision=_ratio(answered_right, answered),
        coverage=_ratio(answered_right, in_domain),
        ood_rejection=_ratio(ood_rejected, ood),
        answer_threshold=thresholds.answer,
        suggest_threshold=thresholds.suggest,
        model=model,
        seconds=round(seconds, 2),
    )
    return EvalRun(report, scored, misses)


def _rank(expected: str, reply: Reply, depth: int = 10) -> int | None:
    """1-based rank of the expected answer among the reply's distinct answers."""
    wanted = normalize_key(expected)
    seen: list[str] = []
    for candidate in reply.candidates:
        key = normalize_key(candidate.answer)
        if key in seen:
            continue
        seen.append(key)
        if key == wanted:
            return len(seen)
        if len(seen) == depth:
            break
    return None


def _ratio(part: float, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0
