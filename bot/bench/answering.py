"""`agribot bench`: time the farmer's path, search, encoding and start-up on a 5,000-pair bank.

The bank is synthetic, its vectors near-real and cached (see `bot.bench.common`), so it
costs seconds to build while search and start-up see realistic sizes.
"""

from __future__ import annotations

import gc
import logging
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.bench.common import JsonReport, fill_cache, percentile, synthetic_rows
from bot.config import BUNDLED_EVAL, Settings
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import Fusion, HybridIndex
from bot.retrieval.index import VectorIndex
from bot.service.answering import Answerer, Question
from bot.service.batching import MAX_BATCH
from bot.service.evaluation import read_queries
from bot.service.runtime import open_database, open_services
from bot.storage import importer
from bot.storage.embeddings import count_vectors
from bot.text.normalize import normalize

logger = logging.getLogger(__name__)


@dataclass
class BenchReport(JsonReport):
    pairs: int
    index_rows: int
    question_p50_ms: float
    question_p95_ms: float
    # the same questions in batches of 16, as the bot takes them under load: what the
    # answering path alone (no Telegram) can do with every core, and its CPU a question
    batch_questions_per_second: float
    batch_cpu_ms_per_question: float
    search_5k_p50_ms: float
    search_100k_p50_ms: float
    search_100k_p95_ms: float
    encode_per_second: float
    startup_first_s: float  # the first start after the bank changed
    startup_warm_s: float
    startup_reencoded: int
    model_load_s: float
    peak_memory_mb: float
    model: str


def run_bench(
    settings: Settings,
    encoder: Encoder,
    *,
    pairs: int = 5000,
    questions: int = 200,
    show_progress: bool = True,
) -> BenchReport:
    base = importer.read_bank_file(settings.bank_path)
    rows = synthetic_rows(base, pairs)
    queries = [q.query for q in read_queries(BUNDLED_EVAL)] if BUNDLED_EVAL.exists() else []
    queries = (queries or [r.question for r in base])[:questions]

    with tempfile.TemporaryDirectory(prefix="agribot-bench-") as tmp:
        bench_settings = settings.model_copy(
            update={"data_dir": Path(tmp), "database_url": f"sqlite:///{Path(tmp) / 'bench.db'}"}
        )
        engine, session_factory = open_database(bench_settings)
        with session_factory() as session:
            importer.import_rows(session, rows)
            fill_cache(session, encoder, base, rows)
            session.commit()
            cached_before = count_vectors(session, encoder.vectors_id)
        engine.dispose()

        gc.collect()
        started = time.perf_counter()  # after an import: the index is built from the text
        open_services(bench_settings, seed_bank=False, encoder=encoder).close()
        first_start = time.perf_counter() - started
        gc.collect()
        started = time.perf_counter()  # every later start: the index is kept on disk
        services = open_services(bench_settings, seed_bank=False, encoder=encoder)
        startup = time.perf_counter() - started
        with services.session_factory() as session:
            reencoded = count_vectors(session, encoder.vectors_id) - cached_before

        answerer = services.answerer
        for text in queries[:10]:  # warm-up
            answerer.answer(Question(text, channel="bench"))
        latencies = []
        for text in queries:
            began = time.perf_counter()
            answerer.answer(Question(text, channel="bench"))
            latencies.append((time.perf_counter() - began) * 1000)
        batch_rate, batch_cpu = _time_batches(answerer, queries)
        index_5k, fusion = answerer.state.index, answerer.state.fusion
        services.close()

    normalized = [normalize(q) or q for q in queries[:50]]
    query_vectors = encoder.encode_queries(normalized)
    search_5k = _time_hybrid(index_5k, fusion, query_vectors, normalized)
    big = _random_index(100_000, encoder.dim)
    search_100k = _time_search(big, query_vectors)
    del big

    texts = [normalize(r.question) for r in rows[:256]]
    encoder.encode_queries(texts[:16])
    began = time.perf_counter()
    encoder.encode_queries(texts, batch_size=64)
    encode_rate = len(texts) / (time.perf_counter() - began)

    model_began = time.perf_counter()
    Encoder.load(
        encoder.path,
        encoder.model_id,
        backend=encoder.backend,
        serving=settings.serving_copy and encoder.backend == "onnx",
    )  # as the bot loads it: its serving copy
    model_load = time.perf_counter() - model_began

    return BenchReport(
        pairs=pairs,
        index_rows=len(index_5k),
        question_p50_ms=percentile(latencies, 50),
        question_p95_ms=percentile(latencies, 95),
        batch_questions_per_second=batch_rate,
        batch_cpu_ms_per_question=batch_cpu,
        search_5k_p50_ms=percentile(search_5k, 50),
        search_100k_p50_ms=percentile(search_100k, 50),
        search_100k_p95_ms=percentile(search_100k, 95),
        encode_per_second=round(encode_rate, 1),
        startup_first_s=round(first_start, 2),
        startup_warm_s=round(startup, 2),
        startup_reencoded=reencoded,
        model_load_s=round(model_load, 2),
        peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        model=encoder.model_id,
    )


def _time_batches(answerer: Answerer, queries: list[str]) -> tuple[float, float]:
    """Questions a second, and CPU milliseconds a question (every thread), answering
    `queries` in the batches the bot makes under load (`MAX_BATCH`)."""
    batches = [queries[start : start + MAX_BATCH] for start in range(0, len(queries), MAX_BATCH)]
    began, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        answerer.answer_many([Question(text, channel="bench") for text in batch])
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    count = max(len(queries), 1)
    return round(len(queries) / elapsed, 1) if elapsed else 0.0, round(cpu * 1000 / count, 2)


def _random_index(pairs: int, dim: int) -> VectorIndex:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(pairs, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return VectorIndex(vectors, np.arange(pairs))


def _time_hybrid(
    index: HybridIndex, fusion: Fusion, queries: np.ndarray, texts: list[str], rounds: int = 3
) -> list[float]:
    """One question at a time through the whole hybrid search, as the bot does."""
    timings = []
    for _ in range(rounds):
        for vector, text in zip(queries, texts, strict=True):
            began = time.perf_counter()
            index.search_many(vector[None, :], [text], k=10, fusion=fusion)
            timings.append((time.perf_counter() - began) * 1000)
    return timings


def _time_search(index: VectorIndex, queries: np.ndarray, rounds: int = 3) -> list[float]:
    timings = []
    for _ in range(rounds):
        for query in queries:
            began = time.perf_counter()
            index.search(query, k=10)
            timings.append((time.perf_counter() - began) * 1000)
    return timings
