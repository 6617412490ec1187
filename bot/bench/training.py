"""`agribot bench --training`: time one epoch of fine-tuning on a fixed number of rows.

The rows are what `agribot train` builds from the bundled bank (question → answer,
phrasing → answer, phrasing → question), topped up with tagged copies of the bank when
it holds fewer, so the figure is comparable with the seed model card's 5,099 pairs.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.bench.common import JsonReport, synthetic_rows
from bot.config import Settings
from bot.errors import NothingToTrain
from bot.retrieval.base_model import ensure_base_model
from bot.service.runtime import open_database
from bot.storage import importer
from bot.training.config import FinetuneConfig
from bot.training.finetune import FinetuneStats, finetune
from bot.training.pairs import TrainingPair, collect_split


@dataclass
class TrainingBenchReport(JsonReport):
    rows: int
    epochs: float
    batch_size: int
    steps: int
    seconds: float
    rows_per_second: float
    device: str
    cpus: int
    torch_threads: int
    trainable_params: int
    total_params: int
    model: str


def run_training_bench(
    settings: Settings,
    *,
    rows: int = 5000,
    config: FinetuneConfig | None = None,
    model_path: str | None = None,
    show_progress_bar: bool = True,
) -> TrainingBenchReport:
    """Fine-tune a fresh copy of the base model for one epoch on `rows` training rows."""
    import torch
    from sentence_transformers import SentenceTransformer

    config = config or FinetuneConfig()
    path = model_path or str(ensure_base_model(settings.models_dir, show_progress=False))
    training = training_rows(settings.bank_path, rows)
    model = SentenceTransformer(path, device="cpu")
    stats: FinetuneStats = finetune(model, training, config, show_progress_bar=show_progress_bar)
    return TrainingBenchReport(
        rows=stats.rows,
        epochs=config.epochs,
        batch_size=config.batch_size,
        steps=stats.steps,
        seconds=stats.seconds,
        rows_per_second=round(stats.rows / stats.seconds, 1) if stats.seconds else 0.0,
        device=stats.device,
        cpus=os.cpu_count() or 0,
        torch_threads=torch.get_num_threads(),
        trainable_params=stats.trainable_params,
        total_params=stats.total_params,
        model=path,
    )


def training_rows(bank_path: Path, count: int) -> list[TrainingPair]:
    """The first `count` training rows of the bank, grown with tagged copies if needed."""
    base = importer.read_bank_file(bank_path)
    per_pair = max(1, sum(1 + 2 * len(row.alternates) for row in base) // len(base))
    pairs = synthetic_rows(base, max(len(base), math.ceil(count / per_pair) + 1))
    with tempfile.TemporaryDirectory(prefix="agribot-train-bench-") as tmp:
        bench_settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db")
        engine, session_factory = open_database(bench_settings)
        try:
            with session_factory() as session:
                importer.import_rows(session, pairs)
                session.commit()
                split = collect_split(session, holdout=0.0)
        finally:
            engine.dispose()
    if len(split.train) < count:
        raise NothingToTrain(f"the bank gives only {len(split.train)} training rows")
    return split.train[:count]
