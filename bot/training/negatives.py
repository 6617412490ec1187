"""Hard negatives mined from the bank: each pair's closest neighbour with another answer.

In-batch negatives are mostly easy (a seed question against a harvest question); what the
bot gets wrong are neighbours: week 7 against week 8, soaking against drying seed paddy.
Before training, the starting model finds each training pair's nearest other pair by
question; that pair's question (or answer) becomes the row's negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from bot.text.normalize import normalize_key
from bot.training.pairs import TO_ANSWER, TrainingPair

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def nearest_other_pairs(
    model: SentenceTransformer,
    questions: dict[int, str],
    answers: dict[int, str],
    *,
    batch_size: int = 64,
) -> dict[int, int]:
    """Each pair's most similar other pair (by question) whose answer differs."""
    ids = list(questions)
    if len(ids) < 2:
        return {}
    prompt = (getattr(model, "prompts", None) or {}).get("query")
    vectors = model.encode(
        [questions[pair_id] for pair_id in ids],
        prompt=prompt,
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
    )
    similarity = vectors @ vectors.T
    keys = [normalize_key(answers.get(pair_id, "")) for pair_id in ids]
    nearest = {}
    for row, pair_id in enumerate(ids):
        for column in np.argsort(-similarity[row]):
            if column != row and keys[column] != keys[row]:
                nearest[pair_id] = ids[int(column)]
                break
    return nearest


def attach_mined_negatives(
    rows: Sequence[TrainingPair],
    nearest: dict[int, int],
    questions: dict[int, str],
    answers: dict[int, str],
) -> list[TrainingPair]:
    """Give every row without a negative its pair's nearest neighbour as one."""
    out = []
    for row in rows:
        neighbour = nearest.get(row.pair_id)
        if row.negative is not None or neighbour is None:
            out.append(row)
            continue
        text = answers.get(neighbour) if row.kind == TO_ANSWER else questions.get(neighbour)
        out.append(replace(row, negative=text, negative_pair_id=neighbour) if text else row)
    return out
