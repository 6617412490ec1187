"""An int8 copy of an index's rows, for a first pass over a big bank: a quarter of the bytes.

Scoring every phrasing of a 5,000-pair bank (21,000 rows of 384 floats, 33 MB) reads
more memory than the two cores can stream in a millisecond: 1.5-4 ms a question, all of
it waiting on memory. The same rows as int8 are 8 MB, multiplied by ONNX Runtime's
integer kernel (`MatMulInteger`, the rows packed once) in 0.15-0.25 ms.

The int8 scores are a shortlist, never the answer: each comes with a bound on its error
(`Int8Rows.scores`), proven below, and the index rescores in float32 every pair the
bound cannot rule out (`bot.retrieval.hybrid`), so the bot's matches and scores are the
float search's.

The bound. A row `v` is stored as `s_v * c` (`c` int8, `s_v = max|v| / 127`), so each
component is off by at most `s_v / 2`. A query `q` is stored as two int8 vectors,
`s_1 * a_1 + s_2 * a_2` (the second holds what the first rounded off), leaving `e`.
Then `q . v - q' . v' = e . v + q' . (v - v')`, at most `|e| |v| + sum|q'| * s_v / 2`
(`ScoreError`). The first term is 1e-4 or so; the second ~0.01 for a typical row (in
practice the errors cancel: the largest seen on the eval's questions is 0.0017).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

# A float32 product over 384 terms differs from the exact sum by far less than this.
_ROUNDING = 1e-5
_OFFSET = 128  # the query's int8 codes are sent as uint8 around this zero point
_BLOCK = 2048


@dataclass(frozen=True)
class ScoreError:
    """The most each query's int8 score for a row of scale `s` can be off:
    `per_scale * s + fixed` (one value of each per query)."""

    per_scale: np.ndarray
    fixed: np.ndarray

    def at(self, scales: np.ndarray) -> np.ndarray:
        """The bound for rows of these scales: shape (queries, len(scales))."""
        out: np.ndarray = self.per_scale[:, None] * scales[None, :] + self.fixed[:, None]
        return out


class Int8Rows:
    """The int8 codes of an immutable float32 matrix of unit rows, with each row's scale.

    The ONNX Runtime session (one thread; it packs the codes into its own layout once) is
    made by `prepare` or the first search, under a lock.
    """

    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        self.dim = vectors.shape[1]
        self.rows = len(vectors)
        self.scales = np.ones(len(vectors), dtype=np.float32)
        # (dim, rows): the product's right side; made a block of rows at a time, so no
        # float temporary the size of the whole matrix is ever allocated. ONNX Runtime
        # copies them into its session, which is all that needs them: let go then.
        self.codes: np.ndarray | None = np.empty((self.dim, len(vectors)), dtype=np.int8)
        self.longest_row = 0.0
        for start in range(0, len(vectors), _BLOCK):
            block = vectors[start : start + _BLOCK]
            codes, scales = _quantize(block)
            self.codes[:, start : start + len(block)] = codes.T
            self.scales[start : start + len(block)] = scales
            longest = float(np.sqrt(np.einsum("ij,ij->i", block, block).max()))
            self.longest_row = max(self.longest_row, longest)
        self._session: Any = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.rows

    def scores(self, queries: np.ndarray) -> tuple[np.ndarray, ScoreError]:
        """Each query's approximate score for every row, shape (queries, rows), and how far
        off each can be (see the module's docstring)."""
        queries = np.asarray(queries, dtype=np.float32)
        first, first_scale = _quantize(queries)
        rest = queries - first * first_scale[:, None]
        second, second_scale = _quantize(rest)
        stored = first * first_scale[:, None] + second * second_scale[:, None]
        codes = np.concatenate([first, second]).astype(np.int16) + _OFFSET
        [products] = self._current_session().run(None, {"query": codes.astype(np.uint8)})
        count = len(queries)
        scores = (
            products[:count] * first_scale[:, None] + products[count:] * second_scale[:, None]
        ) * self.scales[None, :]
        leftover = np.linalg.norm(queries - stored, axis=1)
        error = ScoreError(
            per_scale=np.abs(stored).sum(axis=1) / 2,
            fixed=leftover * self.longest_row + _ROUNDING,
        )
        return scores.astype(np.float32, copy=False), error

    def prepare(self) -> None:
        """Make the session now rather than at the first search."""
        self._current_session()

    def _current_session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._new_session()
        return self._session

    def _new_session(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # 0.2 ms of work: not worth waking a second thread
        options.inter_op_num_threads = 1
        if self.codes is None:
            raise RuntimeError("the int8 codes were let go without a session")
        codes = ort.OrtValue.ortvalue_from_numpy(self.codes)
        options.add_external_initializers(["rows"], [codes])  # the graph's placeholder
        graph = product_graph(self.dim, len(self))
        session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.codes = None
        return session


def _quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 codes of each row (as floats) and the row's scale."""
    largest = np.abs(vectors).max(axis=1) if vectors.size else np.zeros(len(vectors))
    scale = np.where(largest > 0, largest / 127.0, 1.0).astype(np.float32)
    return np.rint(vectors / scale[:, None]), scale


# --- the graph ----------------------------------------------------------------------
# One `MatMulInteger` node: (queries, dim) uint8 around 128 times (dim, rows) int8. It is
# written out here as protocol-buffer bytes (about 200) rather than with the `onnx`
# package, which the answering path does not import (0.8 s and 17 MB). Its `rows`
# initializer declares its shape and holds no data: the session is given the codes in
# place of it (`SessionOptions.add_initializer`). The test suite checks the bytes with
# `onnx.checker`.

_INT32, _INT8, _UINT8 = 6, 3, 2  # TensorProto.DataType


def product_graph(dim: int, rows: int) -> bytes:
    """The ONNX model (opset 17) of the int8 product against `rows` rows of `dim`."""
    node = (
        _text(1, "query")
        + _text(1, "rows")
        + _text(1, "zero")
        + _text(2, "products")
        + _text(4, "MatMulInteger")
    )
    zero = _varint_field(2, _UINT8) + _text(8, "zero") + _bytes(9, bytes([_OFFSET]))
    codes = (
        _varint_field(1, dim)
        + _varint_field(1, rows)
        + _varint_field(2, _INT8)
        + _text(8, "rows")
        + _bytes(13, _text(1, "location") + _text(2, "int8-rows"))  # external data
        + _varint_field(14, 1)  # data_location EXTERNAL
    )
    graph = (
        _bytes(1, node)
        + _text(2, "int8_rows")
        + _bytes(5, zero)
        + _bytes(5, codes)
        + _bytes(11, _value_info("query", _UINT8, ["queries", dim]))
        + _bytes(12, _value_info("products", _INT32, ["queries", rows]))
    )
    opset = _varint_field(2, 17)
    return _varint_field(1, 8) + _bytes(7, graph) + _bytes(8, opset)  # IR version 8


def _value_info(name: str, element: int, shape: list[str | int]) -> bytes:
    dims = b"".join(
        _bytes(1, _text(2, dim) if isinstance(dim, str) else _varint_field(1, dim)) for dim in shape
    )
    tensor = _varint_field(1, element) + _bytes(2, dims)
    return _text(1, name) + _bytes(2, _bytes(1, tensor))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _bytes(number, value.encode())
