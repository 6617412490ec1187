"""Fine-tuning an encoder on training pairs with sentence-transformers' trainer and MNRL.

Prompts follow how the bot encodes: it matches a farmer's question against the bank's
questions with the `query: ` prompt on both sides (`bot/service/indexing.py`), so rows
whose positive is a bank question take `query: ` on every column. Rows whose positive is
an answer take `passage: ` for the answer (and its negative), the asymmetric form E5 was
trained on, so the answers teach the topic without pulling answers into the space the
bot searches.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from bot.errors import InvalidTrainingConfig, NothingToTrain
from bot.retrieval.encoder import backbone as model_backbone
from bot.training.config import LOSSES, FinetuneConfig
from bot.training.pairs import TO_ANSWER, TrainingPair

if TYPE_CHECKING:
    from datasets import DatasetDict
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """One training step done, for progress lines and the Telegram report."""

    step: int
    total: int
    loss: float | None
    elapsed_s: float


@dataclass(frozen=True)
class FinetuneStats:
    steps: int
    rows: int
    seconds: float
    cpu_seconds: float  # all threads; on an idle machine, wall ≈ cpu_seconds / cores
    train_loss: float | None
    trainable_params: int
    total_params: int
    device: str
    datasets: dict[str, int]


def pick_device(requested: str | None = None) -> str:
    import torch

    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def set_threads(threads: int | None) -> None:
    """Use `threads` CPU threads for this process's torch work.

    On a shared CPU, more threads than free cores make torch's threads wait on each other
    at every operation: measured on 2 busy cores, 1 thread trained 9 times faster than 2.
    """
    if threads:
        import torch

        torch.set_num_threads(threads)


def finetune(
    model: SentenceTransformer,
    rows: Sequence[TrainingPair],
    config: FinetuneConfig,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    show_progress_bar: bool = False,
) -> FinetuneStats:
    """Train `model` in place on `rows` with (Cached)MultipleNegativesRankingLoss.

    Batches never hold the same text twice nor two rows of one QA pair (a pair's answer
    would otherwise be an in-batch "negative" for its own phrasings).
    """
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    if not rows:
        raise NothingToTrain("no training rows: the bank is empty")
    if config.loss not in LOSSES:
        raise InvalidTrainingConfig(f"loss must be one of {', '.join(LOSSES)}")
    device = pick_device(config.device)
    set_threads(config.threads)
    model.to(device)
    model.model_card_data.generate_widget_examples = False  # it encodes samples: slow on CPU
    model.max_seq_length = config.max_seq_length
    trainable, total = freeze(model, config)
    datasets = make_datasets(rows)
    prompts = _prompts(model, datasets)
    started, cpu_started = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="agribot-train-") as workdir:
        args = SentenceTransformerTrainingArguments(
            output_dir=workdir,
            num_train_epochs=config.epochs,
            max_steps=config.max_steps,
            per_device_train_batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_ratio,  # a float below 1: a ratio (transformers 5)
            weight_decay=config.weight_decay,
            seed=config.seed,
            batch_sampler=_pair_aware_sampler(rows),
            prompts=prompts,
            save_strategy="no",
            logging_steps=5,
            report_to="none",
            use_cpu=device == "cpu",
            disable_tqdm=not show_progress_bar,
            dataloader_drop_last=False,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=datasets,
            loss=_loss(model, config),
            callbacks=[_ProgressCallback(on_progress, started)] if on_progress else None,
        )
        if not show_progress_bar:  # it would print each log dict to stdout instead
            trainer.remove_callback(PrinterCallback)
        output = trainer.train()
    model.eval()
    seconds = time.perf_counter() - started
    logger.info("trained %d steps on %d rows in %.1fs", output.global_step, len(rows), seconds)
    return FinetuneStats(
        steps=output.global_step,
        rows=len(rows),
        seconds=round(seconds, 1),
        cpu_seconds=round(time.process_time() - cpu_started, 1),
        train_loss=round(float(output.training_loss), 4) if output.training_loss else None,
        trainable_params=trainable,
        total_params=total,
        device=device,
        datasets={name: len(dataset) for name, dataset in datasets.items()},
    )


def freeze(model: SentenceTransformer, config: FinetuneConfig) -> tuple[int, int]:
    """Freeze the word embeddings and, with `train_layers`, the lower layers.

    The 250k × 384 word-embedding matrix is 80% of the parameters but a farmer's bank
    touches a few thousand rows of it; freezing it spares AdamW 96M parameters a step and
    lets saved versions share one copy of it. Returns (trainable, total) parameter counts.
    """
    backbone = model_backbone(model)
    if config.freeze_embeddings:
        backbone.get_input_embeddings().weight.requires_grad_(False)
    if config.train_layers is not None:
        layers = _layers(backbone)
        if not 0 < config.train_layers <= len(layers):
            raise InvalidTrainingConfig(f"train_layers must be between 1 and {len(layers)}")
        embeddings: Any = getattr(backbone, "embeddings", None)
        frozen = [*embeddings.parameters()] if embeddings is not None else []
        for layer in layers[: len(layers) - config.train_layers]:
            frozen.extend(layer.parameters())
        for parameter in frozen:
            parameter.requires_grad_(False)
    parameters = list(model.parameters())
    trainable = sum(p.numel() for p in parameters if p.requires_grad)
    return trainable, sum(p.numel() for p in parameters)


def make_datasets(rows: Sequence[TrainingPair]) -> DatasetDict:
    """One dataset per row shape: to_answer / to_question, with a `_neg` twin for triplets."""
    from datasets import Dataset, DatasetDict

    groups: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        name = "to_answer" if row.kind == TO_ANSWER else "to_question"
        if row.negative is not None:
            name += "_neg"
        columns = groups.setdefault(name, {"sentence_0": [], "sentence_1": []})
        columns["sentence_0"].append(row.anchor)
        columns["sentence_1"].append(row.positive)
        if row.negative is not None:
            columns.setdefault("sentence_2", []).append(row.negative)
    return DatasetDict({name: Dataset.from_dict(columns) for name, columns in groups.items()})


def _prompts(model: SentenceTransformer, datasets: DatasetDict) -> dict[str, dict[str, str]]:
    prompts = getattr(model, "prompts", None) or {}
    query, passage = prompts.get("query", ""), prompts.get("passage", "")
    chosen = {}
    for name, dataset in datasets.items():
        doc = passage if name.startswith("to_answer") else query
        chosen[name] = {"sentence_0": query, "sentence_1": doc}
        if "sentence_2" in dataset.column_names:
            chosen[name]["sentence_2"] = doc
    return chosen


def _loss(model: SentenceTransformer, config: FinetuneConfig) -> Any:
    from sentence_transformers.sentence_transformer import losses

    if config.loss == "cached-mnrl":
        return losses.CachedMultipleNegativesRankingLoss(
            model, scale=config.scale, mini_batch_size=config.mini_batch_size
        )
    return losses.MultipleNegativesRankingLoss(model, scale=config.scale)


def _pair_aware_sampler(rows: Sequence[TrainingPair]) -> Callable[..., Any]:
    """sentence-transformers' NoDuplicatesBatchSampler, also treating the QA pair as a value.

    It refuses a row when any of its values is already in the batch; a hidden column with
    the row's pair id makes that cover "another row of the same QA pair" too.
    """
    owner = {(row.anchor, row.positive): row.pair_id for row in rows}

    def make(dataset: Any, **kwargs: Any) -> Any:
        from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

        keys = zip(dataset["sentence_0"], dataset["sentence_1"], strict=True)
        column = [f"\x00pair:{owner.get(key, -1)}" for key in keys]
        return NoDuplicatesBatchSampler(dataset.add_column("_pair", column), **kwargs)

    return make


def _layers(backbone: Any) -> Any:
    encoder = getattr(backbone, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise InvalidTrainingConfig("train_layers needs a BERT-like model (encoder.layer)")
    return layers


class _ProgressCallback(TrainerCallback):
    """Reports each step to `on_progress`."""

    def __init__(self, on_progress: Callable[[Progress], None], started: float) -> None:
        self.on_progress = on_progress
        self.started = started
        self.loss: float | None = None

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        elapsed = time.perf_counter() - self.started
        self.on_progress(Progress(state.global_step, state.max_steps, self.loss, elapsed))
