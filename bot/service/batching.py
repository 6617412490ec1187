"""Micro-batching: questions that arrive together are encoded together, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.retrieval.decision import Decision
from bot.service.answering import Answerer, Question, Reply

logger = logging.getLogger(__name__)

MAX_BATCH = 16  # questions encoded in one run, at most: the bot's batches under load


@dataclass
class BatchStats:
    batches: int = 0
    questions: int = 0
    largest: int = 0
    busy_s: float = 0.0  # time the worker thread spent answering

    @property
    def mean_size(self) -> float:
        return self.questions / self.batches if self.batches else 0.0


class QuestionBatcher:
    """Collects questions arriving within `window_ms` and answers them with one encoder call.

    One worker task drains the queue: it waits `window_ms` after the first question (or
    until `max_batch` are waiting), then runs `answerer.answer_many` on the batch in the
    batcher's single worker thread. Questions that arrive while a batch is being encoded
    form the next batch, so under load batches grow by themselves and the event loop
    never waits on the model or the database.
    """

    def __init__(
        self, answerer: Answerer, window_ms: float = 5.0, max_batch: int = MAX_BATCH
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.answerer = answerer
        self.window_s = max(window_ms, 0.0) / 1000
        self.max_batch = max_batch
        self.stats = BatchStats()
        self._pending: list[tuple[Question, asyncio.Future[Reply]]] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agribot-answer")
        self._closed = False
        self._busy = False

    async def answer(self, question: Question) -> Reply:
        """The reply to `question`, answered in a batch with whatever arrived alongside it."""
        if self._closed:
            raise RuntimeError("the question batcher is closed")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending.append((question, future))
        self._ensure_worker().set()
        return await future

    async def close(self) -> None:
        """Answer what is waiting, then stop the worker and its thread."""
        self._closed = True
        if self._worker is not None and not self._worker.done():
            while self._pending or self._busy:
                await asyncio.sleep(0.01)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    def _ensure_worker(self) -> asyncio.Event:
        if self._wakeup is None or self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(
                self._work(self._wakeup), name="agribot-question-batcher"
            )
        return self._wakeup

    async def _work(self, wakeup: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await wakeup.wait()
            wakeup.clear()
            if not self._pending:
                continue
            if len(self._pending) < self.max_batch and self.window_s:
                await asyncio.sleep(self.window_s)
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            if self._pending:
                wakeup.set()
            live = [(question, future) for question, future in batch if not future.done()]
            if not live:
                continue
            self.stats.batches += 1
            self.stats.questions += len(live)
            self.stats.largest = max(self.stats.largest, len(live))
            questions = [question for question, _ in live]
            self._busy = True
            try:
                replies = await loop.run_in_executor(self._executor, self._answer_batch, questions)
            except Exception as error:  # the executor itself failed (shut down)
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                continue
            finally:
                self._busy = False
            for (_, future), reply in zip(live, replies, strict=True):
                if not future.done():
                    future.set_result(reply)

    def _answer_batch(self, questions: list[Question]) -> list[Reply]:
        """`answer_many`, or, if it fails outright, journal every question so none is lost."""
        started = time.perf_counter()
        try:
            replies = self.answerer.answer_many(questions)
        except Exception:
            logger.exception("answering a batch of %d failed; journaling it", len(questions))
            return [self._journal(question) for question in questions]
        took = time.perf_counter() - started
        self.stats.busy_s += took
        logger.debug("answered %d question(s) in %.0f ms", len(questions), took * 1000)
        return replies

    def _journal(self, question: Question) -> Reply:
        """Journal under the question's own ref: a record `answer_many` journaled already
        is the same record, written once on replay."""
        record = question.record()
        journaled = True
        try:
            self.answerer.journal.append(record)
        except Exception:
            logger.exception("could not journal question %s either", record.client_ref)
            journaled = False
        return Reply(
            Decision.DECLINE,
            [],
            record.normalized_text,
            None,
            0.0,
            journaled=journaled,
            failed=True,
            client_ref=record.client_ref,
        )
