"""Grouping the officers' queue: the same question from several farmers is one item.

Two queued questions are grouped when they normalize alike or, for a model whose
similarity scale was measured, their vectors are close enough. For the bundled model the
threshold was chosen on the eval's dev split, where pairs of farmer wordings of the same
bank question were told apart from pairs of different ones (the eval's wordings are
deliberately varied; repeats in a real queue are closer than that):

    e5-small-paddy-si-v2: cosine >= 0.88   dev: precision 0.941   test: precision 0.964
    e5-small-paddy-si-v3: cosine >= 0.85   dev: precision 0.953   test: precision 0.968
                          (recall 0.049 / 0.061: the lowest cosine at precision 0.94 on dev)

The scale is the model's own: the untuned base model puts unrelated questions above 0.88.
So any other model groups only questions that normalize alike until it is measured.

Precision comes first: one officer's answer goes to every farmer of a group, so a wrong
grouping answers someone a question they did not ask. Recall is low; an ungrouped
repeat costs the officer a second answer, nothing worse.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# model id -> cosine threshold, set on dev
SAME_QUESTION = {"e5-small-paddy-si-v2": 0.88, "e5-small-paddy-si-v3": 0.85}
NEVER = 2.0  # above any cosine: only the same words group


def threshold_for(model_id: str) -> float:
    """The model's same-question threshold, or NEVER for a model not measured."""
    return SAME_QUESTION.get(model_id, NEVER)


def group_indices(keys: Sequence[str], vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups of positions, in order: each joins the first group whose first member has
    its key or is at least `threshold` close (vectors L2-normalized); an empty key (a
    voice note, a photo) never joins nor is joined.

    Example:
        >>> group_indices(["a", "a", "b"], np.eye(3, dtype=np.float32), 0.9)
        [[0, 1], [2]]
    """
    groups: list[list[int]] = []
    leads: list[int] = []
    for position, key in enumerate(keys):
        home = None
        if key:
            for number, lead in enumerate(leads):
                close = float(vectors[lead] @ vectors[position]) >= threshold
                if keys[lead] and (keys[lead] == key or close):
                    home = number
                    break
        if home is None:
            groups.append([position])
            leads.append(position)
        else:
            groups[home].append(position)
    return groups
