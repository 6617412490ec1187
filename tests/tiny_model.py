"""A tiny sentence-transformers model with an XLM-R-shaped tokenizer, built in a second.

For tests of logic that reads or rewrites model files (trimming, id remapping) and does
not hinge on what the real model has learnt.
"""

from __future__ import annotations

from pathlib import Path

import torch

METASPACE = "\u2581"
# (piece, score) in XLM-R's layout: <s> <pad> </s> <unk>, the pieces, <mask> last.
PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    (METASPACE, -2.0),
    ("▁稻米", -3.0),
    ("▁වී", -3.0),
    ("වී", -4.0),
    ("▁rice", -3.5),
    ("稻", -6.0),
    ("米", -6.0),
    ("Ж", -6.0),
    ("r", -5.0),
    ("i", -5.0),
    ("c", -5.0),
    ("e", -5.0),
    ("▁ගොයම", -3.0),
    ("ගො", -4.5),
    ("යම", -4.5),
    ("?", -4.0),
    ("<mask>", 0.0),
]
KEPT = [p for p, _ in PIECES if not any(c in p for c in "稻米Ж")]
SPARE_ROWS = 3  # the real matrix has 35 rows past the vocabulary too


def build_tiny_model(out: Path) -> Path:
    """Save the tiny model (random weights, seed 0) as a sentence-transformers directory."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram(PIECES, unk_id=3, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=32,
    )
    bert_dir = out.parent / f".{out.name}-bert"
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(PIECES) + SPARE_ROWS,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    BertModel(config).save_pretrained(bert_dir)
    fast.save_pretrained(bert_dir)
    transformer = Transformer(str(bert_dir), max_seq_length=32)
    model = SentenceTransformer(
        modules=[transformer, Pooling(8, pooling_mode="mean"), Normalize()],
        prompts={"query": "query: ", "passage": "passage: "},
        device="cpu",
    )
    model.save(str(out))
    return out
