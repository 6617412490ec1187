"""The serving copy's tokenizer in 28 MB instead of 92.

The `tokenizers` library holds a Unigram vocabulary as a trie with a hash map per node:
the trimmed model's 103,308 pieces take 87-92 MB resident, a quarter of what the bot
keeps. This tokenizer finds the same pieces with the same Viterbi search (the one in
`tokenizers`' `unigram/model.rs`, ties broken alike) over a plain dictionary of the pieces,
and leaves the rest to `tokenizers` itself, built small. Both parts are written next to
the serving copy's graph from its own `tokenizer.json`:

- `onnx/pre-tokenizer.json`: the same normalizer and pre-tokenizer, with a vocabulary of
  the single characters the pieces are made of (4 MB). It turns a text into the words the
  pieces are searched in, and tells where each character came from.
- `onnx/pieces.txt` and `onnx/piece-scores.npy`: the pieces, one a line, and their scores.

Special tokens typed into a text (`<s>`, `<mask>` ...) are matched before normalization,
as `tokenizers` matches them. The ids and character offsets are those of `tokenizer.json`:
`write_piece_tokenizer` checks that on sample texts and seeded random ones of every
script before it keeps the files, and keeps none for a tokenizer it does not reproduce
(the bot then answers with the `tokenizers` one).

Example:
    >>> piece_files(Path("var/models/v3/onnx/serving"))[0].as_posix()
    'var/models/v3/onnx/serving/onnx/pieces.txt'
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import tempfile
from array import array
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import Any

from bot.retrieval.model_config import TOKENIZER_FILE

logger = logging.getLogger(__name__)

PIECES_FILE = Path("onnx") / "pieces.txt"
SCORES_FILE = Path("onnx") / "piece-scores.npy"
PRE_TOKENIZER_FILE = Path("onnx") / "pre-tokenizer.json"
SETTINGS_FILE = Path("onnx") / "piece-tokenizer.json"
UNKNOWN_PENALTY = 10.0  # `tokenizers`' K_UNK_PENALTY: unknown characters score min - 10
WORD_CACHE = 20_000  # words whose pieces are remembered, if no longer than
CACHED_WORD_CHARS = 64  # this: a few longer ones are kept apart, so a flood of
LONG_WORD_CACHE = 4  # 4,096-letter "words" cannot grow the cache past a few MB
UNKNOWN = "<unk>"
FUZZ_TEXTS = 3000
SAMPLES = (
    "query: වී බීජ පොඟවන්නේ කොපමණ කාලයක්ද?",
    "passage: යූරියා (urea) කිලෝ 50 ක් අක්කරයට, සති 2-3 දී.",
    "yuriya damanne kawadada? Bg 358 wee  ",
    "ක්‍රියා ශ්‍රී ර්‍ය  \t\n  🙏👍 → ℃ ₹ é ü «» … –",
    "<s>query: <mask> </s> <pad><unk>",
    "稻米 rice Рис أرز चावल 米",
    "\u00a0\u3000\ufeff\u200b\u200d\u200c x \u2028y\u0d9a\u0dca\u200d\u0dbb",
)
# Characters the random texts are drawn from: every script the samples touch, spaces of
# every kind, joiners and marks.
_FUZZ_POOLS = (
    range(0x20, 0x7F),
    range(0xA0, 0x250),
    range(0xD80, 0xE00),
    range(0x2000, 0x2070),
    range(0x4E00, 0x4E40),
    range(0x1F300, 0x1F340),
    range(0x0900, 0x0980),
    (0x20, 0x20, 0x09, 0x0A, 0x0D, 0x3000, 0xA0, 0x200D, 0x200C, 0xFEFF, 0xFE0F),
)


def piece_files(model_dir: Path) -> tuple[Path, ...]:
    """The files `write_piece_tokenizer` writes into `model_dir`, pieces first."""
    names = (PIECES_FILE, SCORES_FILE, PRE_TOKENIZER_FILE, SETTINGS_FILE)
    return tuple(Path(model_dir) / name for name in names)


def has_piece_tokenizer(model_dir: Path) -> bool:
    return all(path.is_file() for path in piece_files(model_dir))


class PieceEncoding:
    """One text's token ids; its tokens' character spans in the text are worked out on
    first use (only the path that cuts long texts needs them)."""

    def __init__(self, ids: list[int], spans: Callable[[], list[tuple[int, int]]]) -> None:
        self.ids = ids
        self._spans = spans

    @cached_property
    def offsets(self) -> list[tuple[int, int]]:
        return self._spans()


class PieceTokenizer:
    """The parts of `tokenizers.Tokenizer` the encoder calls: `encode`, `encode_batch`,
    `encode_batch_fast`, `token_to_id` and `truncation`.

    Thread-safe: nothing is reconfigured after loading, and `functools.lru_cache`, which
    keeps the pieces of recent words, locks its own bookkeeping.
    """

    def __init__(
        self,
        pre_tokenizer: Any,
        pieces: dict[str, int],
        scores: array[float],
        settings: dict[str, Any],
        max_length: int | None,
    ) -> None:
        self._pre = pre_tokenizer  # tokenizers.Tokenizer over single characters
        self._normalizer = pre_tokenizer.normalizer
        self._split_words = pre_tokenizer.pre_tokenizer
        # piece -> id, and each id's score in a flat array: a (id, score) tuple per piece
        # held 9 MB more of the serving model's 103,000 pieces
        self._pieces = pieces
        self._scores = scores
        self._longest = max(len(piece) for piece in pieces)
        self._unknown_id = int(settings["unk_id"])
        self._unknown_score = min(scores) - UNKNOWN_PENALTY
        self._special = {str(token): int(i) for token, i in settings["special"].items()}
        self._special_re = re.compile(
            "|".join(re.escape(token) for token in sorted(self._special, key=len, reverse=True))
        )
        self._bos, self._eos = int(settings["bos_id"]), int(settings["eos_id"])
        self._characters = {
            pre_tokenizer.id_to_token(i) for i in range(1, pre_tokenizer.get_vocab_size())
        }
        self._cached_path = lru_cache(maxsize=WORD_CACHE)(self._viterbi)
        self._cached_long_path = lru_cache(maxsize=LONG_WORD_CACHE)(self._viterbi)
        self.truncation = {"max_length": max_length} if max_length else None

    @classmethod
    def load(cls, model_dir: Path, max_length: int | None) -> PieceTokenizer:
        """The tokenizer `write_piece_tokenizer` wrote into `model_dir`."""
        import numpy as np
        from tokenizers import Tokenizer

        pieces_path, scores_path, pre_path, settings_path = piece_files(model_dir)
        pieces = pieces_path.read_text(encoding="utf-8").split("\n")
        scores = array("d", np.load(scores_path).astype(np.float64).tobytes())
        pre = Tokenizer.from_file(str(pre_path))
        pre.no_truncation()
        pre.no_padding()
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
        if len(pieces) != len(scores):
            raise ValueError(f"{pieces_path} and {scores_path} differ in length")
        return cls(pre, {piece: i for i, piece in enumerate(pieces)}, scores, settings, max_length)

    def token_to_id(self, token: str) -> int | None:
        found = self._pieces.get(token)
        return found if found is not None else self._special.get(token)

    def encode(self, text: str, add_special_tokens: bool = True) -> PieceEncoding:
        return self.encode_batch([text], add_special_tokens)[0]

    def encode_batch_fast(self, texts: Sequence[str]) -> list[PieceEncoding]:
        return self.encode_batch(texts, add_special_tokens=True)

    def encode_batch(
        self, texts: Sequence[str], add_special_tokens: bool = True
    ) -> list[PieceEncoding]:
        """Each text's ids, cut as `tokenizers` cuts them (the two specials count against
        `max_length` when added). Offsets are those of the text's own tokens."""
        limit = self.truncation["max_length"] if self.truncation else None
        room = None if limit is None else limit - (2 if add_special_tokens else 0)
        encodings = []
        for text in texts:
            ids = self._ids(text)[:room]
            spans = partial(self.spans, text, len(ids))
            if add_special_tokens:
                ids = [self._bos, *ids, self._eos]
            encodings.append(PieceEncoding(ids, spans))
        return encodings

    def spans(self, text: str, count: int) -> list[tuple[int, int]]:
        """The character spans in `text` of its first `count` tokens (no specials)."""
        spans: list[tuple[int, int]] = []
        for start, end, special in self._parts(text):
            if len(spans) >= count:
                break
            if special is not None:
                spans.append((start, end))
            else:
                spans += [
                    (start + a, start + b)
                    for a, b in self._plain_spans(text[start:end], count - len(spans))
                ]
        return spans[:count]

    def _parts(self, text: str) -> Iterable[tuple[int, int, int | None]]:
        """(start, end, id) of each stretch of `text`: a special token and its id, or plain
        text and None."""
        position = 0
        for match in self._special_re.finditer(text) if self._special else ():
            if match.start() > position:
                yield position, match.start(), None
            yield match.start(), match.end(), self._special[match.group()]
            position = match.end()
        if position < len(text):
            yield position, len(text), None

    def _ids(self, text: str) -> list[int]:
        ids: list[int] = []
        for start, end, special in self._parts(text):
            ids += [special] if special is not None else self._plain_ids(text[start:end])
        return ids

    def _words(self, text: str) -> list[str]:
        normalized = self._normalizer.normalize_str(text) if self._normalizer else text
        return [word for word, _ in self._split_words.pre_tokenize_str(normalized)]

    def _plain_ids(self, text: str) -> list[int]:
        return [piece_id for word in self._words(text) for piece_id, _, _ in self._path(word)]

    def _path(self, word: str) -> tuple[tuple[int, int, int], ...]:
        """The pieces of `word`, remembered (the ids, then the offsets of a text to cut,
        ask for the same words)."""
        if len(word) <= CACHED_WORD_CHARS:
            return self._cached_path(word)
        return self._cached_long_path(word)

    def _viterbi(self, word: str) -> tuple[tuple[int, int, int], ...]:
        """(id, start, end) of each piece of `word` on the best-scoring path.

        `tokenizers`' search, step for step: a later path to a position replaces an
        earlier one only if it scores strictly higher, a character no one-character piece
        covers is offered as `<unk>` at the lowest score minus 10, and neighbouring
        `<unk>`s are fused into one.
        """
        size = len(word)
        score = [0.0] * (size + 1)
        start_of = [-1] * (size + 1)
        id_of = [0] * (size + 1)
        for start in range(size):
            so_far = score[start]
            single = False
            for end in range(start + 1, min(size, start + self._longest) + 1):
                found = self._pieces.get(word[start:end])
                if found is None:
                    continue
                candidate = self._scores[found] + so_far
                if start_of[end] == -1 or candidate > score[end]:
                    score[end], start_of[end], id_of[end] = candidate, start, found
                single = single or end == start + 1
            if not single:
                end = start + 1
                candidate = self._unknown_score + so_far
                if start_of[end] == -1 or candidate > score[end]:
                    score[end], start_of[end], id_of[end] = candidate, start, self._unknown_id
        path: list[tuple[int, int, int]] = []
        end = size
        while end > 0:
            start, piece_id = start_of[end], id_of[end]
            if piece_id == self._unknown_id and path and path[-1][0] == self._unknown_id:
                path[-1] = (piece_id, start, path[-1][2])  # fused with the <unk> after it
            else:
                path.append((piece_id, start, end))
            end = start
        return tuple(reversed(path))

    def _plain_spans(self, text: str, count: int) -> list[tuple[int, int]]:
        """The first `count` pieces' spans: their characters' spans, which the
        single-character pre-tokenizer reports through the normalizer's alignments, joined."""
        characters = self._pre.encode(text, add_special_tokens=False)
        places: dict[int, list[tuple[int, int]]] = {}
        for word_id, offset in zip(characters.word_ids, characters.offsets, strict=True):
            places.setdefault(word_id, []).append(offset)
        spans: list[tuple[int, int]] = []
        for number, word in enumerate(self._words(text)):
            if len(spans) >= count:
                break
            per_character = self._per_character(word, places.get(number, []))
            for _, first, last in self._path(word):
                spans.append((per_character[first][0], per_character[last - 1][1]))
        return spans

    def _per_character(self, word: str, places: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Each character of a normalized word's span in the text: a run of characters the
        pre-tokenizer does not know comes as one `<unk>`, so each of them gets its span."""
        spans: list[tuple[int, int]] = []
        tokens = iter(places)
        index = 0
        while index < len(word):
            span = next(tokens)
            run = 1
            if word[index] not in self._characters:
                while index + run < len(word) and word[index + run] not in self._characters:
                    run += 1
            spans.extend([span] * run)
            index += run
        return spans


def write_piece_tokenizer(model_dir: Path) -> bool:
    """Write `model_dir`'s piece tokenizer from its `tokenizer.json` if it reproduces it on
    the samples and random texts; returns whether it was written."""
    import numpy as np
    from tokenizers import Tokenizer

    source = json.loads((model_dir / TOKENIZER_FILE).read_text(encoding="utf-8"))
    problem = _unsupported(source)
    if problem:
        logger.info("keeping the tokenizers library for %s: %s", model_dir, problem)
        return False
    vocab = source["model"]["vocab"]
    settings = {
        "unk_id": int(source["model"]["unk_id"]),
        "special": {str(token["content"]): int(token["id"]) for token in source["added_tokens"]},
    }
    settings["bos_id"], settings["eos_id"] = _template_ends(source)
    with tempfile.TemporaryDirectory(prefix=".pieces-", dir=model_dir) as tmp:
        work = Path(tmp)
        pieces_path, scores_path, pre_path, settings_path = piece_files(work)
        pieces_path.parent.mkdir(parents=True)
        pieces_path.write_text("\n".join(piece for piece, _ in vocab), encoding="utf-8")
        np.save(scores_path, np.asarray([score for _, score in vocab], dtype=np.float64))
        pre_path.write_text(_pre_tokenizer(source), encoding="utf-8")
        settings_path.write_text(json.dumps(settings), encoding="utf-8")
        reference = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        reference.no_truncation()
        reference.no_padding()
        differs = first_difference(reference, PieceTokenizer.load(work, None), check_texts())
        if differs is not None:
            logger.warning("keeping the tokenizers library for %s: %s", model_dir, differs)
            return False
        for made, target in zip(piece_files(work), piece_files(model_dir), strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(made, target)
    logger.info("wrote the piece tokenizer of %s", model_dir)
    return True


def check_texts(count: int = FUZZ_TEXTS, seed: int = 13) -> list[str]:
    """The samples and `count` random texts drawn from every script and kind of space."""
    chooser = random.Random(seed)
    texts = list(SAMPLES)
    for _ in range(count):
        length = chooser.randint(1, 40)
        text = "".join(chr(chooser.choice(chooser.choice(_FUZZ_POOLS))) for _ in range(length))
        if chooser.random() < 0.1:
            text = f"<s>{text}<mask>"
        texts.append(text)
    return texts


def first_difference(reference: Any, candidate: PieceTokenizer, texts: list[str]) -> str | None:
    """The first text whose ids or offsets (without specials) differ; None if none do."""
    for text in texts:
        if reference.encode(text).ids != candidate.encode(text).ids:
            return f"ids differ on {text!r}"
        plain = reference.encode(text, add_special_tokens=False)
        if plain.offsets != candidate.encode(text, add_special_tokens=False).offsets:
            return f"offsets differ on {text!r}"
    return None


def _unsupported(source: dict[str, Any]) -> str | None:
    model = source.get("model") or {}
    if model.get("type") != "Unigram":
        return f"a {model.get('type')} model, not Unigram"
    if model.get("byte_fallback"):
        return "byte fallback"
    if any("\n" in piece for piece, _ in model.get("vocab") or []):
        return "a piece with a line break"
    return None


def _template_ends(source: dict[str, Any]) -> tuple[int, int]:
    """The ids the post-processor puts around a single text (`<s> $A </s>`)."""
    processor = source.get("post_processor") or {}
    tokens = processor.get("special_tokens") or {}
    names = [
        item["SpecialToken"]["id"]
        for item in processor.get("single") or []
        if "SpecialToken" in item
    ]
    if processor.get("type") != "TemplateProcessing" or len(names) != 2:
        raise ValueError("only <s> $A </s> templates are reproduced")
    return int(tokens[names[0]]["ids"][0]), int(tokens[names[1]]["ids"][0])


def _pre_tokenizer(source: dict[str, Any]) -> str:
    """tokenizer.json's normalizer and pre-tokenizer over a vocabulary of the characters
    its pieces are made of, each its own token."""
    characters = sorted({char for piece, _ in source["model"]["vocab"] for char in piece})
    small = {key: value for key, value in source.items() if key not in ("model", "added_tokens")}
    small.update(
        added_tokens=[],
        post_processor=None,
        truncation=None,
        padding=None,
        model={
            "type": "Unigram",
            "unk_id": 0,
            "vocab": [[UNKNOWN, 0.0]] + [[char, 0.0] for char in characters],
            "byte_fallback": False,
        },
    )
    return json.dumps(small, ensure_ascii=False)
