"""Token ids inside tokenizer.json and config.json: which ones they name, and moving them.

A vocabulary that loses pieces renumbers the rest, and a Hugging Face model directory
holds ids in several places: the Unigram model's `unk_id`, each added token, the
post-processor's special tokens, padding, and the config's `*_token_id` fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.errors import VocabularyNotTrimmable


def unigram_vocab(tokenizer: dict[str, Any]) -> list[list[Any]]:
    """The `[piece, score]` list of a tokenizer.json's Unigram model."""
    model = tokenizer.get("model") or {}
    if model.get("type") != "Unigram":
        raise VocabularyNotTrimmable(
            f"only Unigram tokenizers can be trimmed, not {model.get('type')!r}"
        )
    vocab: list[list[Any]] = model["vocab"]
    return vocab


def referenced_ids(tokenizer: dict[str, Any], config: dict[str, Any]) -> set[int]:
    """Ids something names directly: unknown, added and special tokens, config's token ids."""
    ids = {int(tokenizer["model"]["unk_id"])}
    ids.update(int(token["id"]) for token in tokenizer.get("added_tokens") or [])
    padding = tokenizer.get("padding") or {}
    if "pad_id" in padding:
        ids.add(int(padding["pad_id"]))

    def collect(old: int) -> int:
        ids.add(int(old))
        return old

    _remap_processor(tokenizer.get("post_processor"), collect)
    ids.update(value for key, value in config.items() if _is_token_id(key, value))
    return ids


def remap_tokenizer(tokenizer: dict[str, Any], new_id: dict[int, int]) -> None:
    """Move every id a tokenizer.json names (not its vocabulary) through `new_id`."""

    def remap(old: int) -> int:
        return new_id[int(old)]

    tokenizer["model"]["unk_id"] = remap(tokenizer["model"]["unk_id"])
    for token in tokenizer.get("added_tokens") or []:
        token["id"] = remap(token["id"])
    padding = tokenizer.get("padding") or {}
    if "pad_id" in padding:
        padding["pad_id"] = remap(padding["pad_id"])
    _remap_processor(tokenizer.get("post_processor"), remap)


def remap_config(config: dict[str, Any], new_id: dict[int, int]) -> None:
    """Move a model config's `pad_token_id`, `bos_token_id`, ... through `new_id`."""
    for key, value in config.items():
        if _is_token_id(key, value):
            config[key] = new_id[value]


def remap_tokenizer_config(data: dict[str, Any], new_id: dict[int, int]) -> bool:
    """Move the ids keying transformers' `added_tokens_decoder`; False if there is none."""
    decoder = data.get("added_tokens_decoder")
    if not decoder:
        return False
    data["added_tokens_decoder"] = {str(new_id[int(k)]): v for k, v in decoder.items()}
    return True


def _remap_processor(processor: dict[str, Any] | None, remap: Callable[[int], int]) -> None:
    """Rewrite each token id a post-processor holds through `remap`."""
    if processor is None:
        return
    kind = processor.get("type")
    if kind == "TemplateProcessing":
        for special in processor["special_tokens"].values():
            special["ids"] = [remap(i) for i in special["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            token, old = processor[key]
            processor[key] = [token, remap(old)]
    elif kind == "Sequence":
        for inner in processor["processors"]:
            _remap_processor(inner, remap)
    elif kind != "ByteLevel":
        raise VocabularyNotTrimmable(f"unknown post-processor {kind!r}: its ids cannot be mapped")


def _is_token_id(key: str, value: Any) -> bool:
    return key.endswith("_token_id") and isinstance(value, int) and not isinstance(value, bool)
