"""The `>>>` examples in docstrings run, so none of them can drift from the code.

Only the modules listed here are imported: collecting all of `bot/` with
`--doctest-modules` would import torch and transformers (about 3 s) for no example.
A module that gains an example must be added, or the last test fails.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"

MODULES = [
    "bot.retrieval.encoder",
    "bot.retrieval.index",
    "bot.retrieval.lexical",
    "bot.retrieval.model_config",
    "bot.retrieval.onnx_backend",
    "bot.retrieval.piece_tokenizer",
    "bot.retrieval.int8",
    "bot.retrieval.serving_model",
    "bot.retrieval.serving_pieces",
    "bot.retrieval.vocab_trim",
    "bot.service.grouping",
    "bot.service.throttle",
    "bot.storage.sources",
    "bot.telegram.admin",
    "bot.telegram.keyboards",
    "bot.telegram.texts",
    "bot.text.english_terms",
    "bot.text.legacy_fonts",
    "bot.text.normalize",
    "bot.text.other_crops",
    "bot.text.romanize",
    "bot.text.singlish",
    "bot.web.app",
    "bot.web.model_pages",
]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_docstrings_hold(name: str) -> None:
    results = doctest.testmod(importlib.import_module(name), report=True)
    assert results.attempted > 0, f"{name} has no examples: take it off the list"
    assert results.failed == 0, f"{results.failed} example(s) in {name} failed (see stdout)"


def test_every_module_with_examples_is_listed() -> None:
    with_examples = sorted(
        ".".join(path.relative_to(BOT.parent).with_suffix("").parts)
        for path in BOT.rglob("*.py")
        if ">>> " in path.read_text(encoding="utf-8")
    )
    assert with_examples == sorted(MODULES)
