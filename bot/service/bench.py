"""`agribot bench`: time the farmer's path, search, encoding and start-up on a 5,000-pair bank.

The synthetic bank repeats the bundled questions with a numbered suffix; its vectors are
the real vectors of those questions with a little noise, written straight into the
embedding cache, so the bank costs seconds to build while search and start-up see
realistic sizes.
"""

from __future__ import annotations

import copy
import csv
import gc
import io
import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import Field, asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sqlalchemy.orm import Session

from bot.config import BUNDLED_EVAL, Settings
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import Fusion, HybridIndex
from bot.retrieval.index import VectorIndex
from bot.service.answering import Question
from bot.service.chit_chat import example_texts, read_intents
from bot.service.evaluation import read_queries
from bot.service.indexing import encode_cached
from bot.service.runtime import open_database, open_services
from bot.storage import importer
from bot.storage.embeddings import count_vectors, store_vectors, text_hash
from bot.storage.importer import PairRow
from bot.text.normalize import normalize

logger = logging.getLogger(__name__)


class JsonReport:
    """A bench's figures, printed as JSON (the reports below are dataclasses)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # what @dataclass gives each one

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


@dataclass
class BenchReport(JsonReport):
    pairs: int
    index_rows: int
    question_p50_ms: float
    question_p95_ms: float
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


def synthetic_rows(base: list[PairRow], count: int) -> list[PairRow]:
    """`count` distinct pairs built from `base`, each keeping its alternates' shape."""
    rows = []
    for number in range(count):
        source = base[number % len(base)]
        tag = f" ({number // len(base) + 1})" if number >= len(base) else ""
        rows.append(
            PairRow(
                line=number + 2,
                question=source.question + tag,
                answer=source.answer + tag,
                alternates=[alt + tag for alt in source.alternates],
                topic=source.topic,
            )
        )
    return rows


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
            cached_before = count_vectors(session, encoder.model_id)
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
            reencoded = count_vectors(session, encoder.model_id) - cached_before

        answerer = services.answerer
        for text in queries[:10]:  # warm-up
            answerer.answer(Question(text, channel="bench"))
        latencies = []
        for text in queries:
            began = time.perf_counter()
            answerer.answer(Question(text, channel="bench"))
            latencies.append((time.perf_counter() - began) * 1000)
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
    Encoder.load(encoder.path, encoder.model_id, backend=encoder.backend)
    model_load = time.perf_counter() - model_began

    return BenchReport(
        pairs=pairs,
        index_rows=len(index_5k),
        question_p50_ms=percentile(latencies, 50),
        question_p95_ms=percentile(latencies, 95),
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


def fill_cache(
    session: Session, encoder: Encoder, base: list[PairRow], rows: list[PairRow]
) -> None:
    """Cache vectors for every synthetic text and answer: the real base vector plus a
    little noise (answers with the passage prompt, as the index encodes them); and the
    small-talk examples, so a warm start re-encodes nothing."""
    base_texts = sorted({normalize(t) for r in base for t in (r.question, *r.alternates)})
    base_vectors = dict(zip(base_texts, encoder.encode_queries(base_texts), strict=True))
    base_answers = sorted({normalize(r.answer) for r in base})
    answer_vectors = dict(
        zip(base_answers, encoder.encode_passages(base_answers, show_progress=True), strict=True)
    )
    rng = np.random.default_rng(0)
    fresh: dict[str, np.ndarray] = {}

    def noisy(vector: np.ndarray) -> np.ndarray:
        vector = vector + rng.normal(0, 0.01, encoder.dim)
        unit: np.ndarray = (vector / np.linalg.norm(vector)).astype(np.float32)
        return unit

    for row, source in zip(rows, (base[i % len(base)] for i in range(len(rows))), strict=True):
        originals = (source.question, *source.alternates)
        for text, original in zip((row.question, *row.alternates), originals, strict=True):
            vector = noisy(base_vectors[normalize(original)])
            fresh[text_hash(encoder.query_prompt, normalize(text))] = vector
        answer = noisy(answer_vectors[normalize(source.answer)])
        fresh[text_hash(encoder.passage_prompt, normalize(row.answer))] = answer
    store_vectors(session, encoder.model_id, fresh)
    encode_cached(session, encoder, example_texts(read_intents()))  # small talk, as a bot has


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


def percentile(values: list[float], percent: int, digits: int = 2) -> float:
    """The `percent`th percentile of `values` (nearest rank), rounded to `digits`."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))], digits)


@dataclass
class ImportBenchReport(JsonReport):
    rows: int
    texts: int  # distinct phrasings and answers the import encodes
    validate_s: float  # reading and checking the whole file
    encode_cached_s: float  # the encoding stage with every vector already cached
    write_s: float  # the one write transaction
    index_s: float  # putting the pairs in the live index
    total_s: float
    encode_estimate_s: float  # the encoding stage on a cold cache, from the measured rate
    encode_per_second: float
    peak_memory_mb: float
    model: str


def run_import_bench(
    settings: Settings, encoder: Encoder, *, rows: int = 100_000, show_progress: bool = True
) -> ImportBenchReport:
    """Time `agribot qa import` of a `rows`-row CSV into a fresh database, stage by stage.

    Encoding every text of a 100,000-row file takes hours on two CPU cores, and it is
    linear in the number of texts; so the cache is filled with near-real vectors first (as
    `run_bench` does), then the real command runs in a child process (its own stages and
    memory, measured apart from this preparation), and the cold encoding time is estimated
    from the encoder's measured rate on the bank's own texts.
    """
    from bot.service.bank_admin import unique_normalized

    base = importer.read_bank_file(settings.bank_path)
    synthetic = synthetic_rows(base, rows)
    with tempfile.TemporaryDirectory(prefix="agribot-import-bench-") as tmp:
        path = Path(tmp) / "bank.csv"
        write_rows_csv(synthetic, path)
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        bench_settings = settings.model_copy(
            update={"data_dir": Path(tmp), "database_url": database_url}
        )
        # the child loads the model by its directory, which is then also its cache id
        by_path = copy.copy(encoder)
        by_path.model_id = str(encoder.path)
        engine, session_factory = open_database(bench_settings)
        with session_factory() as session:
            fill_cache(session, by_path, base, synthetic)
            session.commit()
        engine.dispose()
        del synthetic
        gc.collect()
        timings, peak_mb = _run_cli_import(bench_settings, by_path, path, show_progress)

    questions = unique_normalized(t for r in base for t in (r.question, *r.alternates))
    answers = unique_normalized(r.answer for r in base)
    per_row_questions, per_row_answers = len(questions) / len(base), len(answers) / len(base)
    sample_questions, sample_answers = questions[:128], answers[:32]
    encoder.encode_queries(sample_questions[:16])
    began = time.perf_counter()
    encoder.encode_queries(sample_questions)
    question_s = (time.perf_counter() - began) / len(sample_questions)
    began = time.perf_counter()
    encoder.encode_passages(sample_answers)
    answer_s = (time.perf_counter() - began) / len(sample_answers)
    texts = round(rows * (per_row_questions + per_row_answers))
    estimate = rows * (per_row_questions * question_s + per_row_answers * answer_s)

    return ImportBenchReport(
        rows=rows,
        texts=texts,
        validate_s=round(timings["validate"], 1),
        encode_cached_s=round(timings["encode"], 1),
        write_s=round(timings["write"], 1),
        index_s=round(timings["index"], 1),
        total_s=round(timings["total"], 1),
        encode_estimate_s=round(estimate, 1),
        encode_per_second=round(texts / estimate, 1),
        peak_memory_mb=round(peak_mb, 1),
        model=encoder.model_id,
    )


STAGES = re.compile(
    r"validate (?P<validate>[\d.]+) s, encode (?P<encode>[\d.]+) s, "
    r"write (?P<write>[\d.]+) s, index (?P<index>[\d.]+) s"
)


def _run_cli_import(
    settings: Settings, encoder: Encoder, path: Path, show_progress: bool
) -> tuple[dict[str, float], float]:
    """`agribot qa import PATH` in a child process: its stage times (from its log line,
    plus the whole command's wall time) and its peak resident memory in MB."""
    environment = {
        **os.environ,
        "AGRIBOT_DATA_DIR": str(settings.data_dir),
        "AGRIBOT_DATABASE_URL": settings.database_url,
        "AGRIBOT_MODEL": str(encoder.path),
    }
    command = [sys.executable, "-c", "from bot.cli import cli; cli()", "qa", "import", str(path)]
    began = time.perf_counter()
    output_path = path.with_suffix(".out")
    with output_path.open("wb") as output_file:
        child = subprocess.Popen(
            command, env=environment, stdout=output_file, stderr=subprocess.PIPE
        )
        assert isinstance(child.stderr, io.BufferedReader)  # a PIPE with the default buffer
        log = b""
        while chunk := child.stderr.read1(4096):  # its progress bars, shown as they come
            if show_progress:
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
            log = (log + chunk)[-65536:]
        child.wait()
    output = output_path.read_text(encoding="utf-8", errors="replace")
    wall = time.perf_counter() - began
    text = output + log.decode(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(f"agribot qa import failed ({child.returncode}): {text[-2000:]}")
    if "new text(s)" in text:  # the cache missed: the figures would be encoding time
        raise RuntimeError(f"agribot qa import encoded texts the bench had cached: {text[-2000:]}")
    match = STAGES.search(text)
    if match is None:
        raise RuntimeError(f"agribot qa import logged no stage times: {text[-2000:]}")
    timings = {stage: float(match[stage]) for stage in ("validate", "encode", "write", "index")}
    timings["total"] = wall
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return timings, peak


def write_rows_csv(rows: list[PairRow], path: Path) -> None:
    """The rows as an importable CSV file."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["question", "answer", "alternates", "topic"])
        for row in rows:
            alternates = importer.ALTERNATE_SEPARATOR.join(row.alternates)
            writer.writerow([row.question, row.answer, alternates, row.topic or ""])
