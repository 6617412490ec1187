"""Loads a model once and encodes queries and passages with its prompts.

On a CPU the model answers through ONNX Runtime and the `tokenizers` library, so the bot's
answering path never imports torch, transformers or sentence-transformers; the torch
model (`Encoder.sentence_transformer`) is loaded only for training, conversion and export.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from bot.errors import ModelNotFound
from bot.retrieval.model_config import ModelConfig, load_tokenizer

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer
    from transformers import PreTrainedModel

    from bot.retrieval.onnx_backend import OnnxEncoder
    from bot.retrieval.piece_tokenizer import PieceTokenizer

logger = logging.getLogger(__name__)

Spans = Callable[[], list[tuple[int, int]]]

BACKENDS = ("auto", "torch", "onnx")
PRECISIONS = ("float32", "int8")  # int8: the serving copy's int8 graph (bot.retrieval.int8)
# A farmer's question is cut here: the longest real ones (a greeting, the story, the
# question) stay under 200 tokens, and a 4,096-character message would cost 512.
QUERY_MAX_TOKENS = 256
# A batch is padded to its longest text, so texts much longer than the batch's shortest
# start a batch of their own: one long message must not slow fifteen short ones.
BATCH_LENGTH_RATIO = 2
BATCH_LENGTH_SLACK = 16
# A batch's padded tokens are capped too: ONNX Runtime keeps the memory of its biggest
# batch for the life of the process. Encoding 300 bank answers in batches of 64 left
# 1,416 MB resident; capped at 2,048 tokens (four answers of 512), 451 MB, and no slower
# (25 s against 31 s, two shared cores): a CPU is busy either way.
BATCH_TOKENS = 2048


class Encoder:
    """A loaded model plus the id under which its vectors are cached.

    Bank questions and farmers' questions are both encoded with the `query` prompt: the
    match is question to question, which E5 models treat as a symmetric task. Answers,
    when encoded, take the `passage` prompt.

    It may be called from several threads at once (the batcher, /find, an import): the
    `tokenizers` tokenizer is never reconfigured after loading, ONNX Runtime's session is
    made under a lock, and the torch model, whose transformers tokenizer is not
    thread-safe, encodes one call at a time.
    """

    def __init__(
        self,
        model_id: str,
        path: str,
        *,
        tokenizer: Tokenizer | PieceTokenizer | None,
        config: ModelConfig,
        onnx: OnnxEncoder | None = None,
        model: SentenceTransformer | None = None,
        device: str = "cpu",
        precision: str = "float32",
    ) -> None:
        self.model_id = model_id
        self.precision = precision
        # what the caller asked for: int8 that could not be made runs in float32
        self.requested_precision = precision
        self.path = path
        self.tokenizer = tokenizer
        self.onnx = onnx
        self.device = device
        self.query_prompt = config.query_prompt
        self.passage_prompt = config.passage_prompt
        self._dim = config.dim or 0
        self._model = model
        self._torch_lock = threading.RLock()

    @property
    def backend(self) -> str:
        return "onnx" if self.onnx is not None else "torch"

    @property
    def batch_invariant(self) -> bool:
        """Whether a text's vector is the same whatever texts share its run: not in int8,
        whose activations are quantized with one scale a run (`encode_as_asked`)."""
        return self.precision == "float32"

    @property
    def vectors_id(self) -> str:
        """The key of this encoder's vectors in the embedding cache: the model's name, and
        for int8 the quantization recipe (int8 vectors are close to float32's, not equal)."""
        if self.precision == "float32":
            return self.model_id
        from bot.retrieval.int8 import VECTORS_TAG

        return f"{self.model_id}@{VECTORS_TAG}"

    @classmethod
    def load(
        cls,
        path: str | Path,
        model_id: str | None = None,
        device: str = "cpu",
        *,
        backend: str = "torch",
        threads: int | None = None,
        serving: bool = False,
        precision: str = "float32",
    ) -> Encoder:
        """Load a model directory (or a hub id, where the internet is reachable).

        `backend`: "torch"; "onnx" (ONNX Runtime, exported into the model directory on
        first use); or "auto", ONNX on a CPU where it can, else torch. `threads`: ONNX
        Runtime's threads (default: every core this process may use). `serving`: on ONNX
        Runtime, answer with the model's serving copy (`bot.retrieval.serving_model`: the
        same vectors in a third of the memory), built first where it is missing.
        `precision`: "int8" runs the serving copy's int8 graph (`bot.retrieval.int8`);
        where there is none (torch, no serving copy), the encoder is float32: callers
        read `Encoder.precision` for what they got.
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        local = Path(path).expanduser()
        looks_local = local.exists() or str(path).startswith((".", "/", "~"))
        if looks_local and not (local / "modules.json").is_file():
            raise ModelNotFound(f"{local} is not a sentence-transformers model directory")
        started = time.perf_counter()
        model_id = model_id or str(path)
        wants_onnx = backend == "onnx" or (backend == "auto" and device == "cpu")
        encoder = None
        if wants_onnx and looks_local:
            encoder = cls._load_onnx(local, model_id, backend, threads, serving, precision)
        if encoder is None:
            model = load_sentence_transformer(str(path), device)
            encoder = cls.from_sentence_transformer(model, model_id, str(path))
        encoder.requested_precision = precision
        logger.info(
            "loaded model %s in %.1fs (%s, %s)",
            path,
            time.perf_counter() - started,
            encoder.backend,
            encoder.precision,
        )
        return encoder

    @classmethod
    def _load_onnx(
        cls,
        model_dir: Path,
        model_id: str,
        backend: str,
        threads: int | None,
        serving: bool,
        precision: str = "float32",
    ) -> Encoder | None:
        """The model on ONNX Runtime, torch-free; None where torch should run it."""
        from bot.retrieval.onnx_backend import OnnxEncoder, supports

        problem = supports(model_dir)
        if problem is None:
            config = ModelConfig.read(model_dir)
            runs = _serving_copy(model_dir) if serving else model_dir
            tokenizer = load_tokenizer(runs, config.max_length)
            graph = _int8_graph(runs) if precision == "int8" and runs != model_dir else None
            try:
                onnx = OnnxEncoder.open(runs, tokenizer, threads, graph=graph)
            except Exception as error:  # e.g. a read-only model directory
                problem = f"export failed: {error}"
            else:
                return cls(
                    model_id,
                    str(model_dir),
                    tokenizer=tokenizer,
                    config=config,
                    onnx=onnx,
                    precision="int8" if graph is not None else "float32",
                )
        if backend == "onnx":
            raise ModelNotFound(f"cannot run {model_dir} with ONNX Runtime: {problem}")
        logger.warning("using torch for %s: %s", model_dir, problem)
        return None

    @classmethod
    def from_sentence_transformer(
        cls, model: SentenceTransformer, model_id: str, path: str | None = None
    ) -> Encoder:
        """An encoder running `model` with torch (training scores the model it trains)."""
        dimension = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        config = ModelConfig(
            prompts=dict(getattr(model, "prompts", None) or {}),
            max_length=model.max_seq_length,
            dim=int(dimension() or 0),
        )
        return cls(
            model_id,
            path or model_id,
            tokenizer=None,  # its own (transformers') counts tokens
            config=config,
            model=model,
            device=str(model.device),
        )

    @property
    def sentence_transformer(self) -> SentenceTransformer:
        """The model as a SentenceTransformer (torch), for training and held-out scoring.

        Loaded from `path` on first use where the encoder runs on ONNX Runtime: answering
        never needs it.
        """
        with self._torch_lock:
            if self._model is None:
                self._model = load_sentence_transformer(self.path, self.device)
            return self._model

    @property
    def dim(self) -> int:
        return self._dim

    def encode_queries(
        self, texts: list[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Questions (the bank's and farmers'), each cut at QUERY_MAX_TOKENS tokens."""
        return self._encode(
            texts, self.query_prompt, batch_size, show_progress, max_tokens=QUERY_MAX_TOKENS
        )

    def encode_passages(
        self, texts: list[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, batch_size, show_progress)

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
            return np.zeros((0, self.dim), dtype=np.float32)
        texts, lengths = self._cut(texts, max_tokens)
        groups = length_groups(lengths, batch_size)
        if len(groups) == 1:
            return self._encode_group(texts, prompt, batch_size, show_progress)
        from tqdm.auto import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in tqdm(groups, desc="encoding", unit="batch", disable=not show_progress):
            chosen = [texts[i] for i in rows]
            out[rows] = self._encode_group(chosen, prompt, batch_size, show_progress=False)
        return out

    def _encode_group(
        self, texts: list[str], prompt: str, batch_size: int, show_progress: bool
    ) -> np.ndarray:
        if self.onnx is not None:
            return self.onnx.encode(texts, prompt, batch_size, show_progress)
        with self._torch_lock:  # transformers' tokenizer: "Already borrowed" if shared
            vectors = self.sentence_transformer.encode(
                texts,
                prompt=prompt or None,
                batch_size=batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _cut(self, texts: list[str], max_tokens: int | None) -> tuple[list[str], list[int]]:
        """Each text's token count, and the texts cut after `max_tokens` tokens (at a
        token's end, so what is kept encodes exactly as before)."""
        counted = self._token_counts(texts)
        if counted is None:
            return texts, [len(text) for text in texts]
        lengths, cut = [], []
        for text, (count, spans) in zip(texts, counted, strict=True):
            if max_tokens is not None and count > max_tokens:
                text, count = text[: spans()[max_tokens - 1][1]], max_tokens
            cut.append(text)
            lengths.append(count)
        return cut, lengths

    def _token_counts(self, texts: list[str]) -> list[tuple[int, Spans]] | None:
        """Each text's token count without special tokens, and how to get the tokens'
        character spans (asked only of texts to cut); None where no fast tokenizer can tell.

        The `tokenizers` tokenizer stops at the model's input length, beyond which the
        model never looks; transformers' (the torch backend) counts every token.
        """
        if self.tokenizer is not None:
            encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
            return [(len(found.ids), partial(getattr, found, "offsets")) for found in encodings]
        if self._model is None or not getattr(self._model.tokenizer, "is_fast", False):
            return None
        with self._torch_lock:  # transformers' tokenizer reconfigures itself on each call
            tokens = self._model.tokenizer(
                texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False
            )
        return [(len(spans), partial(list, spans)) for spans in tokens["offset_mapping"]]


def _serving_copy(model_dir: Path) -> Path:
    """`model_dir`'s serving copy, or `model_dir` itself where none can be built (a model
    whose tokenizer cannot be trimmed, a read-only directory)."""
    from bot.retrieval.serving_model import ensure_serving_model

    try:
        return ensure_serving_model(model_dir)
    except Exception as error:  # the full model answers alike, in more memory
        logger.warning("answering with the whole of %s: %s", model_dir, error)
        return model_dir


def _int8_graph(serving_dir: Path) -> Path | None:
    """The serving copy's int8 graph, or None (answer in float32) where none can be made."""
    from bot.retrieval.int8 import ensure_int8_graph

    try:
        return ensure_int8_graph(serving_dir)
    except Exception as error:  # a read-only directory, no `onnx` package
        logger.warning("answering in float32: no int8 graph for %s: %s", serving_dir, error)
        return None


def load_sentence_transformer(path: str, device: str = "cpu") -> SentenceTransformer:
    """The model as a SentenceTransformer in eval mode: this imports torch."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device=device)
    model.eval()
    return model


def backbone(model: SentenceTransformer) -> PreTrainedModel:
    """The transformers model inside `model`: its first module is a `Transformer` in every
    model agribot builds or loads (sentence-transformers types it as any module)."""
    return cast("PreTrainedModel", model[0].auto_model)


def length_groups(
    lengths: list[int], batch_size: int, max_tokens: int = BATCH_TOKENS
) -> list[list[int]]:
    """Indexes grouped by length (shortest first); a group ends where a text is more than
    BATCH_LENGTH_RATIO times (plus slack) as long as its first, or where its texts padded
    to the longest would pass `max_tokens`.

    Example:
        >>> length_groups([12, 400, 10, 11], batch_size=64)
        [[2, 3, 0], [1]]
        >>> length_groups([500] * 40, batch_size=64)[0]
        [0, 1, 2, 3]
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    for index in order:
        if (
            not groups
            or len(groups[-1]) >= batch_size
            or (len(groups[-1]) + 1) * lengths[index] > max_tokens
            or lengths[index] > BATCH_LENGTH_RATIO * lengths[groups[-1][0]] + BATCH_LENGTH_SLACK
        ):
            groups.append([])
        groups[-1].append(index)
    return groups
