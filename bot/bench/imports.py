"""`agribot bench --import-rows N`: time `agribot qa import` of a big CSV, stage by stage."""

from __future__ import annotations

import copy
import csv
import gc
import io
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.bench.common import JsonReport, fill_cache, synthetic_rows
from bot.config import Settings
from bot.retrieval.encoder import Encoder
from bot.service.runtime import open_database
from bot.storage import importer
from bot.storage.importer import PairRow


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
    the answering bench does), then the real command runs in a child process (its own stages and
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
