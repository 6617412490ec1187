"""Vocabulary trimming: fewer rows, the same vectors for Sinhala and Latin, <unk> for the rest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from bot.errors import ModelNotFound, VocabularyNotTrimmable
from bot.retrieval.model_store import save_version
from bot.retrieval.onnx_backend import ONNX_FILE
from bot.retrieval.vocab_trim import (
    ensure_trimmed_model,
    serving_piece,
    trim_vocabulary,
    trimmed_path,
)
from tests.tiny_model import KEPT, PIECES, SPARE_ROWS, build_tiny_model

EMBEDDINGS = "embeddings.word_embeddings.weight"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.mark.parametrize(
    "piece", ["▁වී", "ශ්\u200dරී", "▁rice", "▁Café", "2026", "▁(", "“", "→", "🙏", "❤", "\ufe0f", "▁"]
)
def test_serving_pieces_are_sinhala_latin_digits_and_symbols(piece):
    assert serving_piece(piece)


@pytest.mark.parametrize("piece", ["▁稻", "▁рис", "▁الأ", "▁அரிசி", "▁चावल", "ấ", "▁riceЖ"])
def test_pieces_of_other_scripts_are_dropped(piece):
    assert not serving_piece(piece)


def test_trim_keeps_specials_and_remaps_every_id(tiny_model, tmp_path):
    report = trim_vocabulary(tiny_model, tmp_path / "trimmed", export_onnx=False)
    out = report.target
    assert (report.pieces_kept, report.pieces_dropped) == (len(KEPT), len(PIECES) - len(KEPT))
    assert (report.rows_before, report.rows_after) == (len(PIECES) + SPARE_ROWS, len(KEPT))
    assert report.weights_after < report.weights_before and report.onnx_after is None

    tokenizer = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    assert [piece for piece, _ in vocab] == KEPT
    assert dict(map(tuple, vocab)).items() <= dict(PIECES).items()  # scores unchanged
    assert vocab[tokenizer["model"]["unk_id"]][0] == "<unk>"
    assert {t["content"]: t["id"] for t in tokenizer["added_tokens"]} == {
        s: KEPT.index(s) for s in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
    }
    special = tokenizer["post_processor"]["special_tokens"]
    assert special["</s>"]["ids"] == [KEPT.index("</s>")]
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["vocab_size"] == len(KEPT) and config["pad_token_id"] == 1

    old = load_file(str(tiny_model / "model.safetensors"))
    new = load_file(str(out / "model.safetensors"))
    old_ids = [[p for p, _ in PIECES].index(piece) for piece in KEPT]
    assert np.array_equal(new[EMBEDDINGS], old[EMBEDDINGS][old_ids])
    assert all(np.array_equal(new[k], old[k]) for k in old if k != EMBEDDINGS)
    assert (out / "modules.json").is_file() and (out / "1_Pooling" / "config.json").is_file()
    assert "Vocabulary trimmed" in (out / "README.md").read_text(encoding="utf-8")


def test_tiny_trimmed_model_encodes_kept_text_alike_and_other_scripts_as_unknown(
    tiny_model, tmp_path
):
    from sentence_transformers import SentenceTransformer

    out = trim_vocabulary(tiny_model, tmp_path / "trimmed", export_onnx=False).target
    full, cut = (SentenceTransformer(str(path), device="cpu") for path in (tiny_model, out))
    texts = ["▁වී ගොයම?", "rice වී", "වී"]
    assert np.allclose(full.encode(texts), cut.encode(texts), atol=1e-6)
    ids = cut.tokenizer("稻米 rice", add_special_tokens=False)["input_ids"]
    assert ids == [KEPT.index(p) for p in ("▁", "<unk>", "▁rice")]
    assert full.tokenizer.tokenize("稻米 rice") == ["▁稻米", "▁rice"]


def test_sharded_weights_become_one_file(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    models = tmp_path / "models"
    sharded = save_version(SentenceTransformer(str(tiny_model), device="cpu"), models, "v1")
    assert (sharded / "model.safetensors.index.json").is_file()
    out = trim_vocabulary(sharded, models / "v1-small", export_onnx=False).target
    assert sorted(p.name for p in out.glob("*.safetensors*")) == ["model.safetensors"]
    assert load_file(str(out / "model.safetensors"))[EMBEDDINGS].shape[0] == len(KEPT)


def test_a_trim_replaces_an_old_copy_and_leaves_no_work_files(tiny_model, tmp_path):
    target = tmp_path / "trimmed"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    trim_vocabulary(tiny_model, target, export_onnx=False)
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["trimmed"]  # no work dirs


def test_a_trim_refuses_its_own_source_another_tokenizer_and_a_missing_model(
    tiny_model, tmp_path
):
    with pytest.raises(VocabularyNotTrimmable):
        trim_vocabulary(tiny_model, tiny_model)
    bpe = shutil.copytree(tiny_model, tmp_path / "bpe")
    data = json.loads((bpe / "tokenizer.json").read_text(encoding="utf-8"))
    data["model"]["type"] = "BPE"
    (bpe / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(VocabularyNotTrimmable, match="Unigram"):
        trim_vocabulary(bpe, tmp_path / "out")
    with pytest.raises(ModelNotFound):
        trim_vocabulary(tmp_path / "nothing", tmp_path / "out")


def test_the_trimmed_copy_is_built_once_and_again_when_its_source_changes(
    tiny_model, tmp_path
):
    source = shutil.copytree(tiny_model, tmp_path / "model")
    built = ensure_trimmed_model(source)
    assert built == trimmed_path(source) == tmp_path / "model-trimmed"
    assert (built / ONNX_FILE).is_file()
    stamp = (built / ".complete").stat().st_mtime_ns
    assert ensure_trimmed_model(source) == built
    assert (built / ".complete").stat().st_mtime_ns == stamp
    shutil.copy(source / "model.safetensors", tmp_path / "copy")
    shutil.move(tmp_path / "copy", source / "model.safetensors")  # a new file: new mtime
    ensure_trimmed_model(source)
    assert (built / ".complete").stat().st_mtime_ns != stamp
