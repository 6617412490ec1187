"""Small talk: greetings, thanks, "who are you" get a short reply, not an officer's time.

A few intents, each with example messages and one reply (`knowledge/chit_chat_si.csv`),
searched with the same encoder and spelling index as the bank. A message that is empty
once emoji and punctuation are gone ("🙏", "???") is small talk too.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from bot.errors import ImportRejected, RowError
from bot.retrieval.encoder import Encoder
from bot.retrieval.hybrid import QUESTIONS_ONLY, Fusion, HybridIndex
from bot.retrieval.index import VectorIndex
from bot.retrieval.lexical import LexicalIndex
from bot.service.indexing import encode_cached
from bot.text.normalize import normalize

CHIT_CHAT_PATH = Path(__file__).resolve().parents[2] / "knowledge" / "chit_chat_si.csv"
EMPTY = "empty"
EMPTY_REPLY = '🙂 වී වගාව ගැන ඔබේ ප්‍රශ්නය වචනවලින් ලියලා එවන්න. උදාහරණයක්: "වී බීජ පොඟවන්නේ කොහොමද?"'


@dataclass(frozen=True)
class Intent:
    name: str
    reply: str
    examples: tuple[str, ...]


@dataclass(frozen=True)
class SmallTalk:
    """The best small-talk intent for a message, and how well it matched."""

    intent: str
    reply: str
    score: float


def read_intents(path: Path = CHIT_CHAT_PATH) -> list[Intent]:
    """Read `intent,reply,examples` rows (examples separated by `|`).

    A row with more fields is refused, not cut: a reply with an unquoted comma would
    otherwise send half of itself to farmers and its tail to the examples.
    """
    intents, errors = [], []
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        for row in reader:
            line = reader.line_num
            examples = tuple(e.strip() for e in (row.get("examples") or "").split("|"))
            if row.get(None):
                errors.append(
                    RowError(line, "more than 3 fields: put a reply with commas in double quotes")
                )
            elif not (row.get("intent") or "").strip() or not (row.get("reply") or "").strip():
                errors.append(RowError(line, "intent and reply must not be empty"))
            elif not any(examples):
                errors.append(RowError(line, "an intent needs examples"))
            else:
                intents.append(Intent(row["intent"].strip(), row["reply"].strip(), examples))
    if errors:
        raise ImportRejected(errors)
    return intents


def example_texts(intents: Sequence[Intent] | None = None) -> list[str]:
    """Every small-talk example, normalized, each once: what the index encodes."""
    if intents is None:
        intents = read_intents() if CHIT_CHAT_PATH.is_file() else []
    return list(dict.fromkeys(text for i in intents for text in map(normalize, i.examples) if text))


class ChitChat:
    """Matches messages against small-talk examples."""

    def __init__(self, intents: Sequence[Intent], index: HybridIndex) -> None:
        self.intents = list(intents)
        self.index = index

    @classmethod
    def build(cls, session: Session, encoder: Encoder, path: Path = CHIT_CHAT_PATH) -> ChitChat:
        intents = read_intents(path) if path.is_file() else []
        texts: list[str] = []
        owners: list[int] = []
        for number, intent in enumerate(intents):
            for example in example_texts([intent]):
                texts.append(example)
                owners.append(number)
        vectors = encode_cached(session, encoder, texts)
        if not texts:
            return cls(intents, HybridIndex.empty(encoder.dim))
        ids = np.asarray(owners)
        index = HybridIndex(VectorIndex(vectors, ids), None, LexicalIndex.build(texts, owners))
        return cls(intents, index)

    def best(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        owners: Sequence[int] | None = None,
        fusion: Fusion = QUESTIONS_ONLY,
        spelling: np.ndarray | None = None,
    ) -> list[SmallTalk | None]:
        """The best intent for each query (None when there are no intents); `spelling`:
        `self.index.lexical.pair_scores(texts)`, where the caller has it already."""
        spelling_only = Fusion(0.0, fusion.lexical_weight)
        found = self.index.search_many(
            vectors, texts, owners, k=1, fusion=spelling_only, spelling=spelling
        )
        return [
            SmallTalk(
                self.intents[top[0].pair_id].name,
                self.intents[top[0].pair_id].reply,
                top[0].score,
            )
            if top
            else None
            for top in found
        ]


def empty_message() -> SmallTalk:
    """What an emoji-only or punctuation-only message gets."""
    return SmallTalk(EMPTY, EMPTY_REPLY, 1.0)
