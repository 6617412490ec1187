"""A deterministic encoder for tests of logic that does not depend on the model's quality.

It has the real `Encoder`'s interface and gives real, normalized vectors: character 2-4
grams of the normalized text, hashed into 384 signed buckets. Scores are lexical, not
semantic: a text scores 1.0 against itself, a rewording that shares words with a bank
question ~0.4-0.6, and an unrelated Sinhala sentence under ~0.25. No model is loaded, so
a test using it starts in milliseconds and needs no converted model on disk.

Tests that need the real model's judgement (paraphrases, Singlish, evaluation figures,
training) take the `encoder` fixture instead and are marked `real_model`.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from bot.retrieval.encoder import Encoder
from bot.retrieval.model_config import ModelConfig
from bot.text.normalize import normalize

DIM = 384
NGRAMS = (2, 3, 4)
MODEL_ID = "hashed-ngrams-384"

# Thresholds for this encoder's scores on tests/data/bank_small.csv: a bank phrasing
# scores 1.0; the closest rewordings the tests use 0.40-0.56; off-topic questions <= 0.22.
ANSWER_AT = 0.90
SUGGEST_AT = 0.35


class HashedEncoder(Encoder):
    """Character n-grams hashed into a fixed-size vector: same text, same vector, always."""

    def __init__(self, model_id: str = MODEL_ID) -> None:
        prompts = {"query": "query: ", "passage": "passage: "}
        super().__init__(model_id, model_id, tokenizer=None, config=ModelConfig(prompts, None, DIM))

    @property
    def backend(self) -> str:
        return "hashed"

    def _encode(
        self,
        texts: list[str],
        prompt: str,
        batch_size: int,
        show_progress: bool,
        *,
        max_tokens: int | None = None,
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([_vector(text) for text in texts])


@lru_cache(maxsize=65536)
def _vector(text: str) -> np.ndarray:
    """Queries and passages share one space, as E5's prompts do: the prompt is left out."""
    padded = f" {normalize(text).lower()} "
    vector = np.zeros(DIM, dtype=np.float32)
    for n in NGRAMS:
        for start in range(len(padded) - n + 1):
            digest = hashlib.blake2b(padded[start : start + n].encode(), digest_size=8)
            bucket = int.from_bytes(digest.digest(), "little")
            vector[bucket % DIM] += 1.0 if (bucket >> 40) & 1 else -1.0
    norm = float(np.linalg.norm(vector))
    if norm:
        vector /= norm
    vector.setflags(write=False)
    return vector
