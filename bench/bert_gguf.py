#!/usr/bin/python3
"""bert_gguf.py - write a BERT Hugging Face checkpoint as a GGUF file for
llama.cpp (architecture "bert"), so bench/embed.sh runs llama.cpp on the
very weights that embed runs on.  llama.cpp's own converter needs the
transformers package; this needs numpy and the GGUF writing helpers of
bench/gguf.py.

    bert_gguf.py MODEL_DIR OUT.gguf [f32|f16]

MODEL_DIR holds config.json, model.safetensors (names with or without
"bert.", LayerNorm weight/bias or gamma/beta) and vocab.txt.  Matrices are
written as f32 or f16; vectors as f32, as llama.cpp wants.  Pooling is
CLS; token types are all 0 in llama.cpp.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf import (GG_F16, GG_F32, GGUF_ALIGN, T_ARR, T_F32, T_I32,  # noqa
                  T_STR, T_U32, gstr, kv, read_safetensors)

T_BOOL = 7
POOLING_CLS = 2


def main(mdir, out, dtype="f32"):
    cfg = json.load(open(os.path.join(mdir, "config.json")))
    raw = read_safetensors(os.path.join(mdir, "model.safetensors"))
    t = {}
    for k, (dt, a) in raw.items():
        k = k[len("bert."):] if k.startswith("bert.") else k
        k = k.replace("LayerNorm.gamma", "LayerNorm.weight")
        k = k.replace("LayerNorm.beta", "LayerNorm.bias")
        if dt == "BF16":
            a = (a.astype("<u4") << 16).view("<f4")
        t[k] = np.asarray(a, "<f4")
    H, L, I = cfg["hidden_size"], cfg["num_hidden_layers"], \
        cfg["intermediate_size"]

    def vec(name):
        return GG_F32, np.ascontiguousarray(t[name])

    def mat(name):
        if dtype == "f16":
            return GG_F16, np.ascontiguousarray(t[name], "<f2")
        return GG_F32, np.ascontiguousarray(t[name])

    e = "embeddings."
    tensors = [("token_embd.weight",) + mat(e + "word_embeddings.weight"),
               ("token_types.weight",) + vec(e + "token_type_embeddings.weight"),
               ("position_embd.weight",) + vec(e + "position_embeddings.weight"),
               ("token_embd_norm.weight",) + vec(e + "LayerNorm.weight"),
               ("token_embd_norm.bias",) + vec(e + "LayerNorm.bias")]
    for i in range(L):
        h, b = "encoder.layer.%d." % i, "blk.%d." % i
        for q, name in (("query", "attn_q"), ("key", "attn_k"),
                        ("value", "attn_v")):
            tensors += [(b + name + ".weight",) +
                        mat(h + "attention.self.%s.weight" % q),
                        (b + name + ".bias",) +
                        vec(h + "attention.self.%s.bias" % q)]
        tensors += [
            (b + "attn_output.weight",) + mat(h + "attention.output.dense.weight"),
            (b + "attn_output.bias",) + vec(h + "attention.output.dense.bias"),
            (b + "attn_output_norm.weight",) +
            vec(h + "attention.output.LayerNorm.weight"),
            (b + "attn_output_norm.bias",) +
            vec(h + "attention.output.LayerNorm.bias"),
            (b + "ffn_up.weight",) + mat(h + "intermediate.dense.weight"),
            (b + "ffn_up.bias",) + vec(h + "intermediate.dense.bias"),
            (b + "ffn_down.weight",) + mat(h + "output.dense.weight"),
            (b + "ffn_down.bias",) + vec(h + "output.dense.bias"),
            (b + "layer_output_norm.weight",) +
            vec(h + "output.LayerNorm.weight"),
            (b + "layer_output_norm.bias",) + vec(h + "output.LayerNorm.bias")]

    # WordPiece as llama.cpp keeps it: "##" pieces bare, word starts with
    # a U+2581 prefix, [SPECIAL] tokens as they are
    words = [w.rstrip("\n") for w in open(os.path.join(mdir, "vocab.txt"),
                                          encoding="utf-8")]
    tokens, types = [], []
    for w in words:
        special = w.startswith("[") and w.endswith("]")
        tokens.append(w if special else w[2:] if w.startswith("##")
                      else "\u2581" + w)
        types.append(3 if special else 1)
    idx = {w: i for i, w in enumerate(words)}
    ftype = 1 if dtype == "f16" else 0
    kvs = [kv("general.architecture", T_STR, "bert"),
           kv("general.name", T_STR, "bert-bench"),
           kv("general.file_type", T_U32, ftype),
           kv("general.alignment", T_U32, GGUF_ALIGN),
           kv("bert.context_length", T_U32, cfg["max_position_embeddings"]),
           kv("bert.embedding_length", T_U32, H),
           kv("bert.feed_forward_length", T_U32, I),
           kv("bert.block_count", T_U32, L),
           kv("bert.attention.head_count", T_U32, cfg["num_attention_heads"]),
           kv("bert.attention.layer_norm_epsilon", T_F32,
              cfg.get("layer_norm_eps", 1e-12)),
           gstr("bert.attention.causal") + struct.pack("<IB", T_BOOL, 0),
           kv("bert.pooling_type", T_U32, POOLING_CLS),
           kv("tokenizer.ggml.model", T_STR, "bert"),
           kv("tokenizer.ggml.pre", T_STR, "default"),
           kv("tokenizer.ggml.tokens", T_ARR, (T_STR, tokens)),
           kv("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
           kv("tokenizer.ggml.token_type_count", T_U32,
              cfg.get("type_vocab_size", 2)),
           kv("tokenizer.ggml.bos_token_id", T_U32, idx["[CLS]"]),
           kv("tokenizer.ggml.seperator_token_id", T_U32, idx["[SEP]"]),
           kv("tokenizer.ggml.unknown_token_id", T_U32, idx["[UNK]"]),
           kv("tokenizer.ggml.padding_token_id", T_U32, idx["[PAD]"]),
           kv("tokenizer.ggml.mask_token_id", T_U32, idx["[MASK]"])]

    infos, off = [], 0
    for name, g, a in tensors:
        dims = list(reversed(a.shape))  # ne0 is the innermost dimension
        infos.append(gstr(name) + struct.pack("<I", len(dims)) +
                     b"".join(struct.pack("<Q", d) for d in dims) +
                     struct.pack("<IQ", g, off))
        off += a.nbytes + (-a.nbytes % GGUF_ALIGN)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * (-len(head) % GGUF_ALIGN)
    with open(out + ".tmp", "wb") as f:
        f.write(head)
        for _, _, a in tensors:
            f.write(a.tobytes())
            f.write(b"\0" * (-a.nbytes % GGUF_ALIGN))
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(*sys.argv[1:])
