"""Loads a sentence-transformers model once and encodes queries and passages with its prompts."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from bot.errors import ModelNotFound

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedModel

    from bot.retrieval.onnx_backend import OnnxEncoder

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
# A farmer's question is cut here: the longest real ones (a greeting, the story, the
# question) stay under 200 tokens, and a 4,096-character message would cost 512.
QUERY_MAX_TOKENS = 256
# A batch is padded to its longest text, so texts much longer than the batch's shortest
# start a batch of their own: one long message must not slow fifteen short ones.
BATCH_LENGTH_RATIO = 2
BATCH_LENGTH_SLACK = 16


class Encoder:
    """A loaded model plus the id under which its vectors are cached.

    Bank questions and farmers' questions are both encoded with the `query` prompt: the
    match is question to question, which E5 models treat as a symmetric task. Answers,
    when encoded, take the `passage` prompt.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        model_id: str,
        path: str | None = None,
        *,
        onnx: OnnxEncoder | None = None,
    ) -> None:
        self.model = model
        self.model_id = model_id
        self.path = path or model_id
        self.onnx = onnx
        prompts = getattr(model, "prompts", None) or {}
        self.query_prompt: str = prompts.get("query", "")
        self.passage_prompt: str = prompts.get("passage", "")

    @property
    def backend(self) -> str:
        return "onnx" if self.onnx is not None else "torch"

    @classmethod
    def load(
        cls,
        path: str | Path,
        model_id: str | None = None,
        device: str = "cpu",
        *,
        backend: str = "torch",
    ) -> Encoder:
        """Load a model directory (or a hub id, where the internet is reachable).

        `backend`: "torch"; "onnx" (ONNX Runtime, exported into the model directory on
        first use); or "auto", ONNX on a CPU where it can, else torch.
        """
        from sentence_transformers import SentenceTransformer

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
        local = Path(path).expanduser()
        looks_local = local.exists() or str(path).startswith((".", "/", "~"))
        if looks_local and not (local / "modules.json").is_file():
            raise ModelNotFound(f"{local} is not a sentence-transformers model directory")
        started = time.perf_counter()
        model = SentenceTransformer(str(path), device=device)
        model.eval()
        onnx = _onnx_for(model, local, device, backend) if looks_local else None
        logger.info(
            "loaded model %s in %.1fs (%s)",
            path,
            time.perf_counter() - started,
            "onnx" if onnx else "torch",
        )
        return cls(model, model_id or str(path), str(path), onnx=onnx)

    @property
    def dim(self) -> int:
        dimension = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        return int(dimension() or 0)

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
        vectors = self.model.encode(
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
        tokenizer = self.model.tokenizer
        if not getattr(tokenizer, "is_fast", False):
            return texts, [len(text) for text in texts]
        tokens = tokenizer(
            texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        lengths, cut = [], []
        for text, offsets in zip(texts, tokens["offset_mapping"], strict=True):
            if max_tokens is not None and len(offsets) > max_tokens:
                text, offsets = text[: offsets[max_tokens - 1][1]], offsets[:max_tokens]
            cut.append(text)
            lengths.append(len(offsets))
        return cut, lengths


def backbone(model: SentenceTransformer) -> PreTrainedModel:
    """The transformers model inside `model`: its first module is a `Transformer` in every
    model agribot builds or loads (sentence-transformers types it as any module)."""
    return cast("PreTrainedModel", model[0].auto_model)


def length_groups(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indexes grouped by length (shortest first); a group ends where a text is more than
    BATCH_LENGTH_RATIO times (plus slack) as long as its first.

    Example:
        >>> length_groups([12, 400, 10, 11], batch_size=64)
        [[2, 3, 0], [1]]
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    for index in order:
        if (
            not groups
            or len(groups[-1]) >= batch_size
            or lengths[index] > BATCH_LENGTH_RATIO * lengths[groups[-1][0]] + BATCH_LENGTH_SLACK
        ):
            groups.append([])
        groups[-1].append(index)
    return groups


def _onnx_for(
    model: SentenceTransformer, model_dir: Path, device: str, backend: str
) -> OnnxEncoder | None:
    """The ONNX Runtime encoder for `model`, or None where torch should run it."""
    if backend == "torch" or (backend == "auto" and device != "cpu"):
        return None
    from bot.retrieval.onnx_backend import OnnxEncoder, supports

    problem = supports(model)
    if problem is None:
        try:
            return OnnxEncoder.for_model(model, model_dir)
        except Exception as error:  # e.g. a read-only model directory
            problem = f"export failed: {error}"
    if backend == "onnx":
        raise ModelNotFound(f"cannot run {model_dir} with ONNX Runtime: {problem}")
    logger.warning("using torch for %s: %s", model_dir, problem)
    return None
