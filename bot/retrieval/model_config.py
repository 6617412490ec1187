"""What a model directory says about itself (prompts, input length, vector size, its
tokenizer), read from its files as sentence-transformers would, without importing torch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenizers import Tokenizer

if TYPE_CHECKING:
    from bot.retrieval.piece_tokenizer import PieceTokenizer

TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class ModelConfig:
    """The settings sentence-transformers takes from a model directory's JSON files.

    `max_length` is sentence-transformers' `max_seq_length`: the `max_seq_length` of
    `sentence_bert_config.json` where it is set (older directories), else the tokenizer's
    `model_max_length` capped at the model's `max_position_embeddings`. `dim` is the
    pooled vector's size. Either is None where the files do not say.
    """

    prompts: dict[str, str]
    max_length: int | None
    dim: int | None

    @property
    def query_prompt(self) -> str:
        return self.prompts.get("query", "")

    @property
    def passage_prompt(self) -> str:
        return self.prompts.get("passage", "")

    @classmethod
    def read(cls, model_dir: Path) -> ModelConfig:
        """Example:
        >>> ModelConfig.read(Path("/nowhere"))
        ModelConfig(prompts={}, max_length=None, dim=None)
        """
        return cls(read_prompts(model_dir), _max_length(model_dir), _dim(model_dir))


def read_prompts(model_dir: Path) -> dict[str, str]:
    """The model's prompts (`query`, `passage`, ...) from `config_sentence_transformers.json`."""
    prompts = read_json(model_dir / "config_sentence_transformers.json").get("prompts") or {}
    return {str(key): str(value) for key, value in prompts.items()}


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; an empty one where the file is missing."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def load_tokenizer(model_dir: Path, max_length: int | None) -> Tokenizer | PieceTokenizer:
    """The model's own tokenizer, cutting at `max_length` tokens: the piece tokenizer a
    serving copy carries (the same ids in less memory), else its fast tokenizer
    (`tokenizer.json`).

    Its settings are fixed here and never changed after, so one instance serves any number
    of threads (transformers' tokenizers set truncation and padding on each call, and
    raise "Already borrowed" when two threads call at once).
    """
    from bot.retrieval.piece_tokenizer import PieceTokenizer, has_piece_tokenizer

    if has_piece_tokenizer(model_dir):
        return PieceTokenizer.load(model_dir, max_length)
    tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
    tokenizer.no_padding()  # batches are padded by the caller, to their longest text
    if max_length:
        tokenizer.enable_truncation(max_length)  # special tokens included, as transformers
    else:
        tokenizer.no_truncation()
    return tokenizer


def _max_length(model_dir: Path) -> int | None:
    explicit = read_json(model_dir / "sentence_bert_config.json").get("max_seq_length")
    if isinstance(explicit, int) and explicit > 0:
        return explicit
    limits = [
        read_json(model_dir / "tokenizer_config.json").get("model_max_length"),
        read_json(model_dir / "config.json").get("max_position_embeddings"),
    ]
    found = [limit for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000]
    return min(found) if found else None


def _dim(model_dir: Path) -> int | None:
    for module in read_json_list(model_dir / "modules.json"):
        if str(module.get("type", "")).endswith(".Pooling"):
            pooling = read_json(model_dir / str(module.get("path", "")) / "config.json")
            size = pooling.get("embedding_dimension") or pooling.get("word_embedding_dimension")
            if isinstance(size, int):
                return size
    hidden = read_json(model_dir / "config.json").get("hidden_size")
    return hidden if isinstance(hidden, int) else None


def read_json_list(path: Path) -> list[dict[str, Any]]:
    """A JSON list of objects (`modules.json`); an empty one where the file is missing."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
