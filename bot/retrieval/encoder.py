"""Loads a sentence-transformers model once and encodes queries and passages with its prompts."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.errors import ModelNotFound

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from bot.retrieval.onnx_backend import OnnxEncoder

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")


class Encoder:
    """A loaded model plus the id under which its vectors are cached.

    Bank questions and farmers' questions are both encoded with the `query` prompt: the
    match is question to question, which E5 models treat as a symmetric task. Answers,
    when encoded, take the `passage` prompt.

    Example:
        >>> encoder = Encoder.load("var/models/multilingual-e5-small")
        >>> encoder.encode_queries(["වී වගාවට පොහොර යොදන්නේ කවදාද?"]).shape
        (1, 384)
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
        return self._encode(texts, self.query_prompt, batch_size, show_progress)

    def encode_passages(
        self, texts: list[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, batch_size, show_progress)

    def _encode(
        self, texts: list[str], prompt: str, batch_size: int, show_progress: bool
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
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
