"""Vocabulary trimming: fewer rows, the same vectors for Sinhala and Latin, <unk> for the rest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file

from bot.errors import ModelNotFound, VocabularyNotTrimmable
from bot.retrieval.model_store import save_version
from bot.retrieval.onnx_backend import ONNX_FILE
from bot.retrieval.serving_pieces import serving_piece
from bot.retrieval.vocab_trim import ensure_trimmed_model, trim_vocabulary, trimmed_path
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


def test_a_trim_refuses_its_own_source_another_tokenizer_and_a_missing_model(tiny_model, tmp_path):
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


def test_the_trimmed_copy_is_built_once_and_again_when_its_source_changes(tiny_model, tmp_path):
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


# --- the real model ------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
MIXED = "වී 水稻 рис أرز urea"


@pytest.fixture(scope="module")
def trimmed(base_model_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The base model trimmed once for this module, with its ONNX graph."""
    return trim_vocabulary(base_model_dir, tmp_path_factory.mktemp("trim") / "e5-trimmed")


def _sample_texts() -> list[str]:
    """Every question and alternate of the small bank, every 14th eval query (200), a
    Singlish and English line, and a text longer than the model's 512 tokens."""
    from bot.storage.importer import read_bank_file

    rows = read_bank_file(REPO / "tests" / "data" / "bank_small.csv")
    texts = [text for row in rows for text in (row.question, *row.alternates)]
    lines = (REPO / "knowledge" / "eval_si.jsonl").read_text(encoding="utf-8").splitlines()
    texts += [json.loads(line)["query"] for line in lines[::14]]
    texts.append("urea kiyada daanna ona? How much urea for an acre of paddy, 3½ months old?")
    texts.append(" ".join(row.answer for row in rows) * 3)
    return texts


def _tokenizers(*model_dirs: Path) -> list[Any]:
    from tokenizers import Tokenizer

    return [Tokenizer.from_file(str(path / "tokenizer.json")) for path in model_dirs]


def test_trimmed_model_gives_the_full_models_vectors(base_model_dir, trimmed):
    from sentence_transformers import SentenceTransformer

    texts = _sample_texts()
    assert len(texts) > 230
    full, cut = (
        SentenceTransformer(str(path), device="cpu").encode(texts, prompt="query: ")
        for path in (base_model_dir, trimmed.target)
    )
    cosines = np.sum(full * cut, axis=1)
    assert cosines.min() >= 0.9999, texts[int(cosines.argmin())][:40]
    assert trimmed.rows_after < 0.45 * trimmed.rows_before
    assert trimmed.weights_after < 0.55 * trimmed.weights_before


def test_sinhala_token_ids_map_one_to_one(base_model_dir, trimmed):
    from tokenizers import Tokenizer

    full, cut = (
        Tokenizer.from_file(str(p / "tokenizer.json")) for p in (base_model_dir, trimmed.target)
    )
    text = "query: ගොයමේ කොළ කහ පාට වෙලා, ශ්‍රී ලංකාවේ BG 352 වී වලට යූරියා කීයද? (kg/ha)"
    old, new = full.encode(text), cut.encode(text)
    assert new.tokens == old.tokens and 3 not in old.ids
    assert new.ids == [cut.token_to_id(full.id_to_token(i)) for i in old.ids]
    assert new.ids != old.ids  # ids did move: the check above is not trivially true


def test_other_scripts_become_the_unknown_token(base_model_dir, trimmed):
    from tokenizers import Tokenizer

    full, cut = (
        Tokenizer.from_file(str(p / "tokenizer.json")) for p in (base_model_dir, trimmed.target)
    )
    old, new = (
        full.encode(MIXED, add_special_tokens=False),
        cut.encode(MIXED, add_special_tokens=False),
    )
    unk = cut.token_to_id("<unk>")
    assert full.token_to_id("<unk>") not in old.ids
    spans = dict(zip(new.offsets, new.ids, strict=True))
    for word in ("水稻", "рис", "أرز"):
        start = MIXED.index(word)
        assert spans[start, start + len(word)] == unk
    assert new.ids.count(unk) == 3
    # The rest as before, but a foreign word's own metaspace becomes a bare "▁" piece.
    foreign = {*"水稻рисأرز"}
    kept = [piece for piece in old.tokens if piece != "▁" and not {*piece} & foreign]
    assert [t for t, i in zip(new.tokens, new.ids, strict=True) if i != unk and t != "▁"] == kept


def test_trimmed_onnx_graph_encodes_like_the_full_one_and_is_smaller(encoder, trimmed):
    from bot.retrieval.encoder import Encoder

    trimmed_encoder = Encoder.load(trimmed.target, backend="onnx")
    texts = _sample_texts()[:20]
    for method in ("encode_queries", "encode_passages"):
        want, got = (getattr(e, method)(texts) for e in (encoder, trimmed_encoder))
        assert np.min(np.sum(want * got, axis=1)) >= 0.9999
    assert trimmed.onnx_before is not None and trimmed.onnx_after is not None
    assert trimmed.onnx_after < 0.55 * trimmed.onnx_before
