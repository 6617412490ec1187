"""The retrieval ablation table: each part switched on in turn, tuned on dev, reported on
dev and test (`agribot eval --ablation`).

Rows: dense question vectors only; + spelling (lexical, Sinhala texts); + the answer's
vector; + the margin rule; + Singlish spellings of the bank in the lexical index; + English
terms in a message also searched as the bank's Sinhala names; + questions that name
another crop and no paddy declined; + the answer threshold held where dev's out-of-domain
questions stay unanswered; + the confidence model deciding instead of the score (the full
bot). Each row's
weights, margin and thresholds are chosen on dev within what the row allows, so a row is as
good as that configuration can be, and no better.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.retrieval.decision import MARGINS
from bot.retrieval.encoder import Encoder
from bot.service.evaluation import EvalReport
from bot.service.tuning import ANSWER_WEIGHTS, LEXICAL_WEIGHTS, Grid, tune_and_report

NO_MARGIN = (0.0,)
SCORE_ONLY: dict[str, Any] = {"ood_rejection": 0.0, "confidence": False}


Weights = tuple[float, ...]


def _bare(answer_weights: Weights, lexical_weights: Weights, margins: Weights) -> Grid:
    """A grid of the first rows: no Singlish or English views, precision alone."""
    return Grid(
        answer_weights,
        lexical_weights,
        margins,
        romanized=False,
        english_terms=False,
        other_crops=False,
        ood_rejection=0.0,
        confidence=False,
    )


STEPS: tuple[tuple[str, Grid], ...] = (
    ("dense only", _bare((0.0,), (0.0,), NO_MARGIN)),
    ("+ lexical", _bare((0.0,), LEXICAL_WEIGHTS, NO_MARGIN)),
    ("+ answer side", _bare(ANSWER_WEIGHTS, LEXICAL_WEIGHTS, NO_MARGIN)),
    ("+ margin", _bare(ANSWER_WEIGHTS, LEXICAL_WEIGHTS, MARGINS)),
    ("+ Singlish rows", Grid(english_terms=False, other_crops=False, **SCORE_ONLY)),
    ("+ English terms as Sinhala", Grid(other_crops=False, **SCORE_ONLY)),
    ("+ other crops declined", Grid(**SCORE_ONLY)),
    ("+ out-of-domain floor", Grid(confidence=False)),
    ("+ confidence model", Grid()),
)
FIGURES = ("acc_at_1", "answered_precision", "coverage", "ood_rejection")


@dataclass(frozen=True)
class AblationRow:
    name: str
    dev: EvalReport
    test: EvalReport
    singlish_test: float | None  # acc@1 of the test split's singlish slice


def run_ablation(
    encoder: Encoder,
    bank_path: Path,
    queries_path: Path,
    *,
    cache: sessionmaker[Session] | None = None,
    target_precision: float = 0.95,
) -> list[AblationRow]:
    rows = []
    for name, grid in STEPS:
        tuning, test = tune_and_report(
            encoder,
            bank_path,
            queries_path,
            target_precision=target_precision,
            grid=grid,
            cache=cache,
        )
        assert tuning.dev is not None
        singlish = test.slices.get("singlish")
        rows.append(AblationRow(name, tuning.dev, test, singlish.acc_at_1 if singlish else None))
    return rows


def markdown_table(model: str, rows: list[AblationRow]) -> str:
    """One line per step: dev and test figures side by side."""
    head = (
        "| "
        + model
        + " | "
        + " | ".join(f"{f} dev / test" for f in FIGURES)
        + " | singlish acc@1 test |"
    )
    lines = [head, "|" + "---|" * (len(FIGURES) + 2)]
    for row in rows:
        cells = [f"{_fmt(getattr(row.dev, f))} / {_fmt(getattr(row.test, f))}" for f in FIGURES]
        lines.append(f"| {row.name} | " + " | ".join(cells) + f" | {_fmt(row.singlish_test)} |")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
