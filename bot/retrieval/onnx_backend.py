"""Encoding farmers' questions with ONNX Runtime: the same vectors, about twice as fast on a CPU.

PyTorch runs a 12-layer encoder on one short question op by op; ONNX Runtime runs the
exported graph with fused kernels. Measured on the 2-core target with multilingual-e5-small:
one question in 10 ms instead of 19-26 ms, cosine to PyTorch's vector >= 0.99999, so the
embedding cache stays valid and the model id stays the same.

Answering needs only ONNX Runtime, the `tokenizers` library and numpy: no torch and no
transformers, which kept 400 MB more resident in `agribot ask`. The graph is exported
once by `bot.retrieval.onnx_export` (which does import torch) where the directory lacks it.

A directory with the split graph (the serving copy, `bot.retrieval.serving_model`) runs
it instead: each token's word-embedding row is read here from the `.npy` file
(`EmbeddingRows`, which keeps the last 8,192 rows read) and the graph starts from those
rows, so the 159 MB matrix is never resident in the bot: inside ONNX Runtime it all was
(150 MB mapped, 302 MB copied), and memory-mapped here, the kernel mapped 64 KB around
every row read, 38 MB after 200 questions and growing with each new word.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.retrieval.model_config import TOKENIZER_FILE, read_json, read_json_list

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tokenizers import Encoding, Tokenizer

    from bot.retrieval.piece_tokenizer import PieceEncoding, PieceTokenizer

logger = logging.getLogger(__name__)

ONNX_FILE = Path("onnx") / "encoder.onnx"
SPLIT_FILE = Path("onnx") / "encoder-from-embeddings.onnx"  # weights in the same name + .data
EMBEDDINGS_FILE = Path("onnx") / "word-embeddings.npy"
KEPT_EMBEDDING_ROWS = 8192  # word-embedding rows kept in memory (`EmbeddingRows`)
PIPELINE = ["Transformer", "Pooling", "Normalize"]
# Bump when the split graph's export changes (`bot.retrieval.onnx_export`): serving copies
# exported earlier are re-exported once. 2: eager attention, fused.
SPLIT_EXPORT = 2


def supports(model_dir: Path) -> str | None:
    """Why the model in `model_dir` cannot run on this backend, or None if it can.

    Only the transformer → mean pooling → normalize pipeline of E5-like models is exported,
    read from the directory's `modules.json` and pooling config.
    """
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime is not installed"
    if not (model_dir / TOKENIZER_FILE).is_file():
        return f"{model_dir} has no {TOKENIZER_FILE}"
    modules = read_json_list(model_dir / "modules.json")
    names = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in modules]
    if names != PIPELINE:
        return f"modules {names} are not transformer, pooling, normalize"
    transformer = model_dir / str(modules[0].get("path", ""))
    if read_json(transformer / "sentence_bert_config.json").get("do_lower_case"):
        return "the transformer lower-cases its input"
    pooling = read_json(model_dir / str(modules[1].get("path", "")) / "config.json")
    mode = pooling.get("pooling_mode") or (
        "mean" if pooling.get("pooling_mode_mean_tokens") else "other"
    )
    if mode != "mean" or not pooling.get("include_prompt", True):
        return f"pooling {mode!r} is not mean over every token"
    return None


def split_graph_is_current(graph: Path) -> bool:
    """Whether the split graph at `graph` was exported by this code's recipe."""
    try:
        stamp = read_json(split_export_stamp(graph))
    except (OSError, ValueError):
        return False
    return graph.is_file() and stamp.get("export") == SPLIT_EXPORT


def weights_file(graph: Path) -> Path:
    """The external file beside a graph that holds its weights (ONNX Runtime maps it)."""
    return graph.with_name(graph.name + ".data")


def split_export_stamp(graph: Path) -> Path:
    """The file beside a split graph that records the recipe it was exported by."""
    return graph.with_name(graph.name + ".json")


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxEncoder:
    """Runs the exported graph on texts tokenized with the model's `tokenizer.json`.

    The session is made on first use with `threads` intra-op threads, spinning only while
    a run lasts; a lock makes sure concurrent first calls (the batcher,
    /find, an import) make one. `Tokenizer.encode_batch` and `InferenceSession.run` are
    safe to call from several threads at once.
    """

    def __init__(
        self,
        onnx_path: Path,
        tokenizer: Tokenizer | PieceTokenizer,
        pad_id: int,
        threads: int | None = None,
        *,
        embeddings: EmbeddingRows | np.ndarray | None = None,
    ) -> None:
        self.onnx_path = onnx_path
        self.tokenizer = tokenizer
        self.pad_id = pad_id
        self.threads = threads or default_threads()
        self.embeddings = embeddings  # the split graph's word-embedding rows, or None
        self._session: Any = None
        self._run_options: Any = None
        self._session_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        model_dir: Path,
        tokenizer: Tokenizer | PieceTokenizer,
        threads: int | None = None,
        *,
        graph: Path | None = None,
    ) -> OnnxEncoder:
        """The encoder for `model_dir`: its split graph where it has one (or `graph`, another
        graph from the same embeddings: the int8 one), else its graph from token ids,
        exported first where it is missing (the one step that imports torch)."""
        pad_id = _pad_id(model_dir, tokenizer)
        if (model_dir / SPLIT_FILE).is_file() and (model_dir / EMBEDDINGS_FILE).is_file():
            embeddings = EmbeddingRows.open(model_dir / EMBEDDINGS_FILE)
            split = graph or model_dir / SPLIT_FILE
            return cls(split, tokenizer, pad_id, threads, embeddings=embeddings)
        path = model_dir / ONNX_FILE
        if not path.is_file():
            from bot.retrieval.onnx_export import export_model_dir

            export_model_dir(model_dir, path)
        return cls(path, tokenizer, pad_id, threads)

    def encode(
        self, texts: list[str], prompt: str, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        from tqdm.auto import tqdm

        session = self._current_session()
        prompted = [prompt + text for text in texts]
        order = sorted(range(len(prompted)), key=lambda i: len(prompted[i]))  # less padding
        out = np.zeros((len(texts), 0), dtype=np.float32)
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc="encoding", unit="batch", disable=not show_progress):
            rows = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch_fast([prompted[i] for i in rows])
            input_ids, attention_mask = self._padded(encodings)
            [vectors] = session.run(
                None, self._inputs(input_ids, attention_mask), self._run_options
            )
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out

    def _inputs(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        if self.embeddings is None:
            return {"input_ids": input_ids, "attention_mask": attention_mask}
        return {"inputs_embeds": self.embeddings[input_ids], "attention_mask": attention_mask}

    def _padded(
        self, encodings: Sequence[Encoding | PieceEncoding]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Token ids padded on the right to the batch's longest, and the attention mask."""
        longest = max(len(encoding.ids) for encoding in encodings)
        input_ids = np.full((len(encodings), longest), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(encodings), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            input_ids[row, : len(encoding.ids)] = encoding.ids
            attention_mask[row, : len(encoding.ids)] = 1
        return input_ids, attention_mask

    def open_in_background(self) -> None:
        """Make the session in a thread now, so the first question does not wait for it
        (0.3 s, overlapping the bot's connecting to Telegram)."""
        threading.Thread(target=self._current_session, name="onnx-session", daemon=True).start()

    def _current_session(self) -> Any:
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    self._session = self._new_session()
        return self._session

    def _new_session(self) -> Any:
        import onnxruntime as ort

        one_blas_thread()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Threads spin between a run's operators (a sleeping thread takes longer to wake
        # than most of them take: one question 5.5 -> 3.9 ms on 2 cores), then stop when
        # the run ends, so an idle bot burns no CPU the event loop could use.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")
        session = ort.InferenceSession(
            str(self.onnx_path), options, providers=["CPUExecutionProvider"]
        )
        # The arena keeps the memory of the biggest batch it ever ran (50 MB more after
        # batches of 16 long questions); shrinking it after each run hands that back and
        # measured no slower (2.05 s against 2.09 s for 64 long questions and 200 short).
        run_options = ort.RunOptions()
        run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._run_options = run_options
        logger.info("opened %s with %d thread(s)", self.onnx_path, self.threads)
        return session


def one_blas_thread() -> None:
    """Run numpy's matrix products (OpenBLAS) on the calling thread alone.

    OpenBLAS's workers spin for a while after each product; the small talk's scores
    are one, and the spinning worker then held a core that ONNX Runtime's threads wait
    for: the next batch of 16 questions took 110 ms to encode instead of 55. The
    products on the answering path are small, so one thread does them as fast.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


class EmbeddingRows:
    """The rows of a 2-D `.npy` float matrix, read from the file as they are asked for,
    the last few thousand kept in memory.

    A token's row is 1.5 KB, but a memory map makes the kernel map the 64 KB around each
    row it reads (fault-around: `madvise` does not turn it off), and keeps them in the
    process's resident memory. Positional reads (`os.preadv`) copy only the rows asked
    for, from the page cache; each releases the GIL, though, and waiting to take it back
    from the thread scoring spellings cost 0.6 ms a question. So rows once read are kept
    (`capacity` of them, 12 MB for the serving model; all let go when it fills): farmers'
    words repeat, and a question's rows are then a copy in memory.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "rows.npy"
        >>> np.save(path, np.arange(6, dtype=np.float32).reshape(3, 2))
        >>> EmbeddingRows.open(path)[np.array([[2, 0]])].tolist()
        [[[4.0, 5.0], [0.0, 1.0]]]
    """

    def __init__(
        self,
        path: Path,
        shape: tuple[int, int],
        dtype: np.dtype,
        offset: int,
        capacity: int = KEPT_EMBEDDING_ROWS,
    ) -> None:
        self.path = path
        self.shape = shape
        self.dtype = dtype
        self.capacity = capacity
        self._offset = offset
        self._row_bytes = shape[1] * dtype.itemsize
        self._file = path.open("rb", buffering=0)  # closed when the rows are let go
        # pages become resident only as rows are written into them
        self._kept = np.empty((capacity, shape[1]), dtype=dtype)
        self._slots: dict[int, int] = {}  # token -> its row in `_kept`
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, capacity: int = KEPT_EMBEDDING_ROWS) -> EmbeddingRows | np.ndarray:
        """The file's rows; memory-mapped where the system has no `os.preadv`."""
        if not hasattr(os, "preadv"):
            return map_rows(path)
        shape, offset, dtype = _matrix_header(path)
        return cls(path, shape, dtype, offset, capacity)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def kept(self) -> int:
        """How many rows are in memory now."""
        return len(self._slots)

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        """The rows of `ids` (any shape), as `matrix[ids]` gives them."""
        ids = np.asarray(ids)
        tokens = ids.ravel().tolist()
        distinct = dict.fromkeys(tokens)
        if len(distinct) > self.capacity:  # a big batch: read it all, keep none
            place = {token: row for row, token in enumerate(distinct)}
            rows = np.empty((len(place), self.shape[1]), dtype=self.dtype)
            for token, row in place.items():
                self._read(token, rows[row])
            gathered: np.ndarray = rows[self._places(tokens, place).reshape(ids.shape)]
            return gathered
        with self._lock:  # the slots are reused when full: a gather must not see that
            slots = self._slots
            missing = [token for token in distinct if token not in slots]
            if len(slots) + len(missing) > self.capacity:
                slots.clear()
                missing = list(distinct)
            for token in missing:
                slot = len(slots)
                self._read(token, self._kept[slot])
                slots[token] = slot
            kept: np.ndarray = self._kept[self._places(tokens, slots).reshape(ids.shape)]
            return kept

    def _read(self, token: int, row: Any) -> None:
        """Token `token`'s row into `row`, a row of a C-contiguous array."""
        if not 0 <= token < self.shape[0]:
            raise IndexError(f"row id {token} is not in {self.path.name}")
        where = self._offset + token * self._row_bytes
        read = os.preadv(self._file.fileno(), [row], where)
        if read != self._row_bytes:
            raise OSError(f"{self.path} ends inside row {token}")

    @staticmethod
    def _places(tokens: list[int], place: dict[int, int]) -> np.ndarray:
        return np.fromiter((place[token] for token in tokens), dtype=np.intp, count=len(tokens))


def _matrix_header(path: Path) -> tuple[tuple[int, int], int, np.dtype]:
    """A `.npy` matrix's shape, where its data starts and its element type."""
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
    if fortran_order or len(shape) != 2:
        raise ValueError(f"{path} is not a row-major matrix")
    return (int(shape[0]), int(shape[1])), offset, np.dtype(dtype)


def map_rows(path: Path) -> np.ndarray:
    """The 2-D float array of a `.npy` file, memory-mapped read-only for random row reads.

    The kernel reads ahead on a sequential mapping; told the reads are random, it reads
    only the pages of the rows asked for.
    """
    shape, offset, dtype = _matrix_header(path)
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if hasattr(mapped, "madvise"):
        mapped.madvise(mmap.MADV_RANDOM)
    count = shape[0] * shape[1]
    rows: np.ndarray = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset)
    return rows.reshape(shape)


def _pad_id(model_dir: Path, tokenizer: Tokenizer | PieceTokenizer) -> int:
    """The padding token's id, as transformers pads: `pad_token` of tokenizer_config.json,
    else the model config's `pad_token_id`. Padded positions are masked, so it never
    changes a vector; it keeps the inputs byte for byte what torch would see."""
    pad_token = read_json(model_dir / "tokenizer_config.json").get("pad_token")
    if isinstance(pad_token, dict):  # an AddedToken written out in full
        pad_token = pad_token.get("content")
    pad_id = tokenizer.token_to_id(pad_token) if isinstance(pad_token, str) else None
    if pad_id is None:
        configured = read_json(model_dir / "config.json").get("pad_token_id")
        pad_id = configured if isinstance(configured, int) else 0
    return pad_id
