"""Admins' changes to the bank, each committed and reflected in the live index at once."""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Unpack

from sqlalchemy.orm import Session, sessionmaker
from tqdm.auto import tqdm

from bot.errors import ImportTooLarge
from bot.service.answering import Answerer, Candidate
from bot.service.indexing import ENCODE_CHUNK, encode_cached
from bot.service.recalibration import changed_enough, recalibrate
from bot.storage import bank, importer, registry, revisions
from bot.storage.importer import ImportReport, OnDuplicate
from bot.storage.models import QAPair
from bot.text.normalize import normalize

logger = logging.getLogger(__name__)

# Called with the session and the pair just before a change commits, to write beside it.
BeforeCommit = Callable[[Session, QAPair], None]


@dataclass(frozen=True)
class PairView:
    """A pair detached from its session, for showing to an admin."""

    id: int
    question: str
    answer: str
    alternates: list[str]
    topic: str | None
    source: str | None

    @classmethod
    def of(cls, pair: QAPair) -> PairView:
        return cls(
            pair.id,
            pair.question,
            pair.answer,
            [p.text for p in pair.phrasings],
            pair.topic,
            pair.source,
        )


@dataclass(frozen=True)
class PendingWording:
    """A farmer's wording waiting for an officer's approval before it joins its pair."""

    id: int
    text: str
    pair_id: int
    pair_question: str
    origin: str


class BankAdmin:
    """Add, edit, delete, import and export QA pairs, keeping the answerer's index in step."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        answerer: Answerer,
        out_of_domain: Callable[[], Sequence[str]] = lambda: (),
    ) -> None:
        self.session_factory = session_factory
        self.answerer = answerer
        self.out_of_domain = out_of_domain  # questions to re-calibrate against
        self._changed = 0  # pairs added, edited or deleted since the last calibration

    def add(
        self,
        question: str,
        answer: str,
        alternates: Sequence[str] = (),
        *,
        topic: str | None = None,
        source: str | None = None,
        by: str | None = None,
        review_by: date | None = None,
        variants: Sequence[importer.VariantRow] = (),
        before_commit: BeforeCommit | None = None,
    ) -> PairView:
        """`before_commit` writes in the change's own transaction (the desk's audit row)."""
        with self.session_factory() as session:
            pair = bank.add_pair(
                session,
                question,
                answer,
                alternates,
                topic=topic,
                source=source,
                created_by=by,
                review_by=review_by,
                variants=variants,
            )
            if before_commit is not None:
                before_commit(session, pair)
            self._commit_then_index(session, [pair])
            view = PairView.of(pair)
        self._note_changes(1)
        return view

    def update(
        self,
        pair_id: int,
        *,
        by: str | None = None,
        before_commit: BeforeCommit | None = None,
        **changes: Unpack[bank.PairChanges],
    ) -> PairView:
        with self.session_factory() as session:
            pair = bank.update_pair(session, pair_id, updated_by=by, **changes)
            if before_commit is not None:
                before_commit(session, pair)
            self._commit_then_index(session, [pair])
            view = PairView.of(pair)
        self._note_changes(1)
        return view

    def add_phrasing(self, pair_id: int, text: str, origin: str) -> PairView:
        with self.session_factory() as session:
            bank.add_phrasing(session, pair_id, text, origin)
            pair = bank.get_pair(session, pair_id)
            self._commit_then_index(session, [pair])
            return PairView.of(pair)

    def add_pending_phrasing(self, pair_id: int, text: str, origin: str) -> bool:
        """A farmer's wording waits for an officer; it is not indexed yet. False if the
        pair has it already."""
        with self.session_factory() as session:
            added = bank.add_pending_phrasing(session, pair_id, text, origin)
            session.commit()
        return added is not None

    def pending(self) -> list[PendingWording]:
        with self.session_factory() as session:
            return [
                PendingWording(p.id, p.text, p.pair_id, p.pair.question, p.origin)
                for p in bank.pending_phrasings(session)
            ]

    def review_phrasing(self, phrasing_id: int, *, approve: bool) -> PendingWording:
        """Approve a waiting wording (indexed at once) or reject it (deleted); returns it."""
        with self.session_factory() as session:
            pair, wording = bank.review_phrasing(session, phrasing_id, approve=approve)
            reviewed = PendingWording(
                wording.id, wording.text, pair.id, pair.question, wording.origin
            )
            self._commit_then_index(session, [pair] if approve else [])
            return reviewed

    def delete(self, pair_id: int, *, before_commit: BeforeCommit | None = None) -> None:
        with self.session_factory() as session:
            if before_commit is not None:
                before_commit(session, bank.get_pair(session, pair_id))
            bank.delete_pair(session, pair_id)
            revision = revisions.taken_revision(session)
            session.commit()
        self.answerer.forget_pair(pair_id, own_revision=revision)
        self._note_changes(1)

    def get(self, pair_id: int) -> PairView:
        with self.session_factory() as session:
            return PairView.of(bank.get_pair(session, pair_id))

    def list(
        self, *, search: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[PairView]:
        with self.session_factory() as session:
            return [
                PairView.of(pair)
                for pair in bank.list_pairs(session, search=search, limit=limit, offset=offset)
            ]

    def count(self) -> int:
        with self.session_factory() as session:
            return bank.count_pairs(session)

    def find(self, text: str, limit: int = 5) -> builtins.list[Candidate]:  # `list` is the method
        """The pairs closest in meaning to `text`, without logging it as a farmer question."""
        state = self.answerer.state
        normalized = normalize(text) or text
        vectors = state.encoder.encode_queries([normalized])
        [matches] = state.index.search_many(vectors, [normalized], k=limit, fusion=state.fusion)
        return state.candidates(matches)

    def import_file(
        self,
        path: Path,
        data: bytes | None = None,
        *,
        on_duplicate: OnDuplicate = OnDuplicate.SKIP,
        by: str | None = None,
        show_progress: bool = False,
        max_rows: int | None = None,
        rows: Sequence[importer.PairRow] | None = None,
    ) -> ImportReport:
        """Validate the whole file, then import it in one transaction (all or nothing).

        The file's texts are encoded into the vector cache first, in chunks of their own
        short transactions, so the import's write transaction never waits on the model and
        farmers' questions keep being logged meanwhile. `max_rows` caps an upload; `rows`
        are the file's rows when the caller has read and validated them already.
        """
        within = on_duplicate if on_duplicate in (OnDuplicate.SKIP, OnDuplicate.MERGE) else None
        clock = StageClock()
        if rows is None:
            rows = importer.read_bank_file(path, data, on_duplicate=within or OnDuplicate.FAIL)
        if max_rows is not None and len(rows) > max_rows:
            raise ImportTooLarge(len(rows), max_rows)
        clock.lap("validate")
        self._encode_ahead(rows, show_progress=show_progress)
        clock.lap("encode")
        with self.session_factory() as session:
            writing = tqdm(rows, desc="writing the pairs", unit="pair", disable=not show_progress)
            report = importer.import_rows(
                session, writing, on_duplicate=on_duplicate, created_by=by
            )
            touched = bank.get_pairs(session, report.pair_ids)
            clock.lap("write")
            self._commit_then_index(session, touched, show_progress=show_progress)
            clock.lap("index")
        report.timings = clock.laps
        logger.info(
            "imported %s: %d added, %d updated, %d duplicate(s) (%s)",
            path.name,
            report.added,
            report.updated,
            len(report.duplicates),
            clock,
        )
        self._note_changes(report.added + report.updated + report.merged)
        return report

    def _encode_ahead(self, rows: Sequence[importer.PairRow], *, show_progress: bool) -> None:
        """Put the vectors of the rows' phrasings and answers in the cache, chunk by chunk."""
        encoder = self.answerer.state.encoder
        questions = unique_normalized(
            text for row in rows for text in (row.question, *row.alternates)
        )
        answers = unique_normalized(row.answer for row in rows)
        progress = tqdm(
            total=len(questions) + len(answers),
            desc="encoding the import",
            unit="text",
            disable=not show_progress,
        )
        for texts, passages in ((questions, False), (answers, True)):
            for start in range(0, len(texts), ENCODE_CHUNK):
                chunk = texts[start : start + ENCODE_CHUNK]
                with self.session_factory() as session:
                    encode_cached(session, encoder, chunk, passages=passages)
                    session.commit()
                progress.update(len(chunk))
        progress.close()

    def _commit_then_index(
        self, session: Session, pairs: Sequence[QAPair], *, show_progress: bool = False
    ) -> None:
        commit_then_index(session, self.answerer, pairs, show_progress=show_progress)

    def _note_changes(self, count: int) -> None:
        """After changes to more than a tenth of the bank, re-calibrate the thresholds."""
        self._changed += count
        if not changed_enough(self._changed, len(self.answerer.state.pairs)):
            return
        self._changed = 0
        state = self.answerer.state
        thresholds = recalibrate(state, self.out_of_domain())
        if thresholds != state.thresholds:
            self.answerer.set_thresholds(thresholds)
            with self.session_factory() as session:
                registry.save_recalibrated(
                    session, state.model_id, thresholds, state.encoder.precision
                )
                session.commit()

    def export_csv_bytes(self) -> bytes:
        with self.session_factory() as session:
            return importer.bank_csv_bytes(bank.list_pairs(session))


def commit_then_index(
    session: Session, answerer: Answerer, pairs: Sequence[QAPair], *, show_progress: bool = False
) -> None:
    """Commit a change to the bank, then put its pairs in the index: a commit that fails
    leaves the index as it was. Vectors the index had to encode are committed after."""
    revision = revisions.taken_revision(session)
    session.commit()
    answerer.refresh_pairs(session, pairs, own_revision=revision, show_progress=show_progress)
    session.commit()


class StageClock:
    """Seconds spent in each named stage of a long job, for its log line and benchmark."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._since = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = now - self._since
        self._since = now

    def __str__(self) -> str:
        return ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.laps.items())


def unique_normalized(texts: Iterable[str]) -> list[str]:
    """Normalized texts, each once, in order (as the index encodes them)."""
    return list(dict.fromkeys(n for n in (normalize(t) for t in texts) if n))
