"""heads_ref.py - the reference for mask --fill and nsp --score: BERT with
its pretraining heads (BertForPreTraining) in PyTorch, float32 on the CPU,
written from the architecture (not from transformers), weights read from
model.safetensors.

    heads_ref.py check MODEL_DIR
        compare with the golden outputs in MODEL_DIR/ref/*/ (mlm_logits,
        nsp_logits) and print the largest difference: the self-test that
        makes this script a reference.
    heads_ref.py fill MODEL_DIR K < IDS
        IDS: one sequence of ids per line ([CLS] ... [SEP]); for every
        [MASK], K lines: line, mask, rank, probability, id (as mask --fill
        prints them, without the token string).
    heads_ref.py score MODEL_DIR < IDS
        IDS: one pair per line ([CLS] A [SEP] B [SEP], token types 0 up to
        the first [SEP], 1 after); prints P(IsNext) per line.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(1)

DT = {"F32": np.float32, "F16": np.float16, "F64": np.float64,
      "I64": np.int64, "I32": np.int32, "BF16": None}


def load_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        s, e = t["data_offsets"]
        raw = b[8 + n + s:8 + n + e]
        if t["dtype"] == "BF16":
            a = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        else:
            a = np.frombuffer(raw, DT[t["dtype"]])
        out[name] = torch.from_numpy(a.astype(np.float32).reshape(t["shape"]))
    return out


class Bert:
    def __init__(self, d):
        self.c = json.load(open(os.path.join(d, "config.json")))
        w = load_safetensors(os.path.join(d, "model.safetensors"))
        norm = {}
        for k, v in w.items():
            k = k.replace("LayerNorm.gamma", "LayerNorm.weight")
            k = k.replace("LayerNorm.beta", "LayerNorm.bias")
            norm[k[5:] if k.startswith("bert.") else k] = v
        self.w = norm
        self.eps = self.c.get("layer_norm_eps", 1e-12)
        self.heads = self.c["num_attention_heads"]

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(
            x, x.shape[-1:], self.w[name + ".weight"], self.w[name + ".bias"],
            self.eps)

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def act(self, x):
        a = self.c.get("hidden_act", "gelu")
        if a == "gelu":
            return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
        if a in ("gelu_new", "gelu_pytorch_tanh"):
            return torch.nn.functional.gelu(x, approximate="tanh")
        return torch.relu(x)

    def encode(self, ids, types):
        """ids, types: 1-D long tensors of one sequence (no padding)."""
        w = self.w
        T = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][torch.arange(T)]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = self.ln(x, "embeddings.LayerNorm")
        H = x.shape[-1]
        hd = H // self.heads
        for i in range(self.c["num_hidden_layers"]):
            p = "encoder.layer.%d." % i
            q = self.lin(x, p + "attention.self.query").view(T, self.heads, hd)
            k = self.lin(x, p + "attention.self.key").view(T, self.heads, hd)
            v = self.lin(x, p + "attention.self.value").view(T, self.heads, hd)
            s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
            a = torch.einsum("hts,shd->thd", torch.softmax(s, -1), v)
            x = self.ln(x + self.lin(a.reshape(T, H),
                                     p + "attention.output.dense"),
                        p + "attention.output.LayerNorm")
            h = self.act(self.lin(x, p + "intermediate.dense"))
            x = self.ln(x + self.lin(h, p + "output.dense"),
                        p + "output.LayerNorm")
        return x

    def mlm(self, h):
        t = self.act(self.lin(h, "cls.predictions.transform.dense"))
        t = self.ln(t, "cls.predictions.transform.LayerNorm")
        return t @ self.w["embeddings.word_embeddings.weight"].T + \
            self.w["cls.predictions.bias"]

    def nsp(self, h):
        pooled = torch.tanh(self.lin(h[0], "pooler.dense"))
        return self.lin(pooled, "cls.seq_relationship")


def check(d):
    m = Bert(d)
    worst = 0.0
    for case in sorted(os.listdir(os.path.join(d, "ref"))):
        r = os.path.join(d, "ref", case)
        ids = np.load(os.path.join(r, "input_ids.npy"))
        tt = np.load(os.path.join(r, "token_type_ids.npy"))
        am = np.load(os.path.join(r, "attention_mask.npy"))
        lg = np.load(os.path.join(r, "mlm_logits.npy"))
        ns = np.load(os.path.join(r, "nsp_logits.npy"))
        for b in range(len(ids)):
            n = int(am[b].sum())
            h = m.encode(torch.from_numpy(ids[b, :n]),
                         torch.from_numpy(tt[b, :n]))
            worst = max(worst, float(np.abs(m.mlm(h).numpy() -
                                            lg[b, :n]).max()),
                        float(np.abs(m.nsp(h).numpy() - ns[b]).max()))
    print("%.3g" % worst)


def main():
    a = sys.argv[1:]
    if len(a) < 2:
        sys.exit(__doc__)
    if a[0] == "check":
        return check(a[1])
    m = Bert(a[1])
    vocab = [t.rstrip("\n") for t in open(os.path.join(a[1], "vocab.txt"))]
    mask = vocab.index("[MASK]")
    with torch.no_grad():
        for ln, line in enumerate(sys.stdin, 1):
            if a[0] == "fill":
                ids = [int(x) for x in line.split()]
                t = torch.tensor(ids)
                h = m.encode(t, torch.zeros_like(t))
                k = 0
                for i, x in enumerate(ids):
                    if x != mask:
                        continue
                    k += 1
                    p = torch.softmax(m.mlm(h[i]), -1)
                    top = torch.topk(p, int(a[2]))
                    for r, (pv, iv) in enumerate(zip(top.values, top.indices)):
                        print("%d\t%d\t%d\t%.8g\t%d" % (ln, k, r + 1, pv, iv))
            elif a[0] == "score":
                ids = [int(x) for x in line.split()]
                sep = ids.index(vocab.index("[SEP]"))
                types = [0] * (sep + 1) + [1] * (len(ids) - sep - 1)
                h = m.encode(torch.tensor(ids), torch.tensor(types))
                print("%.8g" % torch.softmax(m.nsp(h), -1)[0])


if __name__ == "__main__":
    main()
