#!/usr/bin/python3
"""The BERT reference for the parity tests: a plain PyTorch BertModel.

Written here from the definition (post-LN encoder, erf GELU, additive
finfo.min mask on padded keys, tanh pooler), in float32 on the CPU, and
itself checked against the golden outputs that Hugging Face transformers
produced (`check`).  Only Debian's python3-torch and python3-numpy.

  bert_ref.py make DIR [--hidden H --layers L --heads A --inter I
                        --vocab V --positions P --dtype f32|f16|bf16
                        --layout hf|base|legacy --seed S]
      [--drop NAME] [--set KEY=JSON]
      write a random checkpoint: config.json, model.safetensors, vocab.txt
      (--drop leaves a tensor out, --set overrides config.json: broken
      models for the error tests)
  bert_ref.py shard DIR N
      split DIR's model.safetensors into N shards with a
      model.safetensors.index.json, as big checkpoints come
  bert_ref.py ids FILE --vocab V --lengths N,N,... [--pairs] [--seed S]
      write random id lines ([CLS] ... [SEP], or pairs) and, beside them,
      FILE.types: token types as lines
  bert_ref.py run DIR IDS OUTDIR
      reference outputs for id lines (and IDS.types if present) as .npy:
      last_hidden_state [B,T,H], pooled, mean_pooled, mean_pooled_l2,
      attention_mask
  bert_ref.py compare REFDIR KEY OUT [--tokens | --cls] [--tol T]
      compare embed's vectors (text from -t, or its qkv stream; with
      --tokens: `-p none`) with REFDIR/KEY.npy (--cls: its first token);
      prints the max abs diff, exit 1 above T (1e-4)
  bert_ref.py close A B [--tol T]
      two outputs of embed of the same shape within T (1e-5)
  bert_ref.py tostream IDS OUT [--types FILE [--types-name N]] [--text FILE]
      a row stream as tok -b writes it (ids, types, text)
  bert_ref.py column FILE NAME
      print a column of a qkv stream, a row a line
  bert_ref.py check GOLDEN_DIR...
      run the reference on golden inputs; exit 1 unless equal to the
      golden outputs within 1e-5
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np

torch = None  # imported by the commands that need it: compare is fast

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16,
          "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """Every tensor as float32 (BF16/F16 upcast exactly), by name."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        a, b = d["data_offsets"]
        arr = data[a:b].view(DTYPES[d["dtype"]])
        if d["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.reshape(d["shape"])
    return out


def write_safetensors(path, tensors):
    """tensors: name -> (dtype string, numpy array of the stored bits)."""
    header, off, blobs = {}, 0, []
    for name, (dt, arr) in tensors.items():
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def to_bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def make(args):
    rng = np.random.default_rng(args.seed)
    H, I, V, P = args.hidden, args.inter, args.vocab, args.positions
    t = {}

    def mat(name, *shape):
        t[name] = rng.normal(0, 0.02, shape).astype(np.float32)

    def vec(name, n, ln=False):
        t[name] = ((1 if ln else 0) + rng.normal(0, 0.1 if ln else 0.05, n)
                   ).astype(np.float32)

    def ln(prefix):
        vec(prefix + ".weight", H, ln=True)
        vec(prefix + ".bias", H)

    mat("embeddings.word_embeddings.weight", V, H)
    mat("embeddings.position_embeddings.weight", P, H)
    mat("embeddings.token_type_embeddings.weight", 2, H)
    ln("embeddings.LayerNorm")
    for i in range(args.layers):
        p = "encoder.layer.%d." % i
        for k in ("query", "key", "value"):
            mat(p + "attention.self.%s.weight" % k, H, H)
            vec(p + "attention.self.%s.bias" % k, H)
        mat(p + "attention.output.dense.weight", H, H)
        vec(p + "attention.output.dense.bias", H)
        ln(p + "attention.output.LayerNorm")
        mat(p + "intermediate.dense.weight", I, H)
        vec(p + "intermediate.dense.bias", I)
        mat(p + "output.dense.weight", H, I)
        vec(p + "output.dense.bias", H)
        ln(p + "output.LayerNorm")
    mat("pooler.dense.weight", H, H)
    vec("pooler.dense.bias", H)
    stored = {}
    for name, x in t.items():
        if args.layout in ("hf", "legacy"):
            name = "bert." + name
        if args.layout == "legacy":
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma")
            name = name.replace("LayerNorm.bias", "LayerNorm.beta")
        if args.dtype == "bf16":
            stored[name] = ("BF16", to_bf16_bits(x))
        elif args.dtype == "f16":
            stored[name] = ("F16", x.astype(np.float16))
        else:
            stored[name] = ("F32", x)
    for name in args.drop:
        del stored[name]
    if args.layout == "legacy":
        stored["bert.embeddings.position_ids"] = (
            "I64", np.arange(P, dtype=np.int64)[None])
    os.makedirs(args.dir, exist_ok=True)
    write_safetensors(os.path.join(args.dir, "model.safetensors"), stored)
    cfg = {"architectures": ["BertModel" if args.layout == "base"
                             else "BertForPreTraining"],
           "model_type": "bert", "vocab_size": V, "hidden_size": H,
           "num_hidden_layers": args.layers,
           "num_attention_heads": args.heads, "intermediate_size": I,
           "max_position_embeddings": P, "type_vocab_size": 2,
           "layer_norm_eps": 1e-12, "hidden_act": "gelu",
           "pad_token_id": 0, "position_embedding_type": "absolute"}
    for kv in args.set:
        k, v = kv.split("=", 1)
        cfg[k] = json.loads(v)
    with open(os.path.join(args.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(args.dir, "vocab.txt"), "w") as f:
        for s in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]:
            f.write(s + "\n")
        for i in range(5, V):
            f.write("tok%d\n" % i)


def shard(args):
    """model.safetensors -> model-0000i-of-0000N.safetensors, tensors dealt
    round, and the index that maps each name to its file."""
    p = os.path.join(args.dir, "model.safetensors")
    with open(p, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(p, dtype=np.uint8, mode="r", offset=8 + n)
    names = sorted(k for k in header if k != "__metadata__")
    weight_map = {}
    for i in range(args.n):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, args.n)
        part = {}
        for k in names[i::args.n]:
            d = header[k]
            a, b = d["data_offsets"]
            arr = data[a:b].view(DTYPES[d["dtype"]]).reshape(d["shape"])
            part[k] = (d["dtype"], arr)
            weight_map[k] = fn
        write_safetensors(os.path.join(args.dir, fn), part)
    del data
    os.remove(p)
    with open(os.path.join(args.dir, "model.safetensors.index.json"),
              "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)


def ids(args):
    rng = np.random.default_rng(args.seed)
    with open(args.file, "w") as f, open(args.file + ".types", "w") as g:
        for n in (int(x) for x in args.lengths.split(",")):
            if args.pairs and n >= 5:
                body = rng.integers(5, args.vocab, n - 3)
                a = int(rng.integers(1, n - 3))
                seq = [2] + list(body[:a]) + [3] + list(body[a:]) + [3]
                tt = [0] * (a + 2) + [1] * (n - a - 2)
            else:
                seq = [2] + list(rng.integers(5, args.vocab, n - 2)) + [3]
                tt = [0] * n
            f.write(" ".join(map(str, seq)) + "\n")
            g.write(" ".join(map(str, tt)) + "\n")


class Bert:
    """BertModel forward from a dict of float32 numpy weights."""

    def __init__(self, cfg, w):
        self.c = cfg
        pre = ""
        for k in w:
            if k.endswith("embeddings.word_embeddings.weight"):
                pre = k[:-len("embeddings.word_embeddings.weight")]
        self.w = {}
        for k, v in w.items():
            if not k.startswith(pre):
                continue
            k = k[len(pre):].replace("LayerNorm.gamma", "LayerNorm.weight")
            k = k.replace("LayerNorm.beta", "LayerNorm.bias")
            self.w[k] = torch.from_numpy(np.array(v, dtype=np.float32))

    def ln(self, x, p):
        return torch.nn.functional.layer_norm(
            x, self.w[p + ".weight"].shape, self.w[p + ".weight"],
            self.w[p + ".bias"],
            self.c["layer_norm_eps"])

    def lin(self, x, p):
        return torch.nn.functional.linear(x, self.w[p + ".weight"],
                                          self.w[p + ".bias"])

    def forward(self, ids, types, mask):
        c, w = self.c, self.w
        B, T = ids.shape
        NH = c["num_attention_heads"]
        D = c["hidden_size"] // NH
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.token_type_embeddings.weight"][types]
        x = x + w["embeddings.position_embeddings.weight"][:T][None]
        x = self.ln(x, "embeddings.LayerNorm")
        add = (1.0 - mask[:, None, None, :].float()) * \
            torch.finfo(torch.float32).min
        for i in range(c["num_hidden_layers"]):
            p = "encoder.layer.%d." % i

            def heads(t):
                return t.view(B, T, NH, D).permute(0, 2, 1, 3)
            q = heads(self.lin(x, p + "attention.self.query"))
            k = heads(self.lin(x, p + "attention.self.key"))
            v = heads(self.lin(x, p + "attention.self.value"))
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D) + add
            a = torch.softmax(s, dim=-1)
            ctx = torch.matmul(a, v).permute(0, 2, 1, 3).reshape(B, T, -1)
            x = self.ln(self.lin(ctx, p + "attention.output.dense") + x,
                        p + "attention.output.LayerNorm")
            f = torch.nn.functional.gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(self.lin(f, p + "output.dense") + x,
                        p + "output.LayerNorm")
        pooled = torch.tanh(self.lin(x[:, 0], "pooler.dense"))
        m = mask[..., None].float()
        mean = (x * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
        l2 = torch.nn.functional.normalize(mean, p=2, dim=1)
        return {"last_hidden_state": x, "pooled": pooled,
                "mean_pooled": mean, "mean_pooled_l2": l2}


def load(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    cfg.setdefault("layer_norm_eps", 1e-12)
    return Bert(cfg, read_safetensors(os.path.join(d, "model.safetensors")))


def pad(rows):
    B, T = len(rows), max(len(r) for r in rows)
    a = np.zeros((B, T), dtype=np.int64)
    for i, r in enumerate(rows):
        a[i, :len(r)] = r
    return a


def run(args):
    model = load(args.dir)
    with open(args.ids) as f:
        rows = [[int(x) for x in line.split()] for line in f]
    types = [[0] * len(r) for r in rows]
    if os.path.exists(args.ids + ".types"):
        with open(args.ids + ".types") as f:
            types = [[int(x) for x in line.split()] for line in f]
    mask = pad([[1] * len(r) for r in rows])
    with torch.inference_mode():
        out = model.forward(torch.from_numpy(pad(rows)),
                            torch.from_numpy(pad(types)),
                            torch.from_numpy(mask))
    os.makedirs(args.outdir, exist_ok=True)
    for k, v in out.items():
        np.save(os.path.join(args.outdir, k + ".npy"), v.numpy())
    np.save(os.path.join(args.outdir, "attention_mask.npy"), mask)


def check(args):
    worst = 0.0
    for d in args.dirs:
        model = load(d)
        for case in sorted(os.listdir(os.path.join(d, "ref"))):
            r = os.path.join(d, "ref", case)
            g = {k: np.load(os.path.join(r, k + ".npy")) for k in
                 ("input_ids", "token_type_ids", "attention_mask",
                  "last_hidden_state", "pooled", "mean_pooled",
                  "mean_pooled_l2")}
            with torch.inference_mode():
                out = model.forward(torch.from_numpy(g["input_ids"]),
                                    torch.from_numpy(g["token_type_ids"]),
                                    torch.from_numpy(g["attention_mask"]))
            m = g["attention_mask"].astype(bool)
            for k, v in out.items():
                v = v.numpy()
                diff = np.abs(v[m] - g[k][m]) if k == "last_hidden_state" \
                    else np.abs(v - g[k])
                worst = max(worst, float(diff.max()))
                print("%s %s %s %.3g" % (d, case, k, diff.max()))
    print("worst %.3g" % worst)
    sys.exit(0 if worst <= 1e-5 else 1)


def qkvpy():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "..", "formats"))
    import qkv
    return qkv


def vectors(path):
    """Vectors from `embed -t` text (blank lines between sequences are
    skipped) or from embed's qkv stream (its vec column)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\x89QKV":
        return qkvpy().read(data)[2]["vec"].astype(np.float64)
    lines = [x for x in data.decode().split("\n") if x]
    return np.array([[float(v) for v in x.split()] for x in lines],
                    dtype=np.float64).reshape(len(lines), -1)


def tostream(args):
    """A row stream like tok -b's: ids (ragged i32), token types (ragged
    u8, with --types), text (string, with --text)."""
    with open(args.ids) as f:
        ids = [np.array([int(x) for x in line.split()], dtype=np.int32)
               for line in f]
    cols, data = [("ids", "ragged", "i32", ())], {"ids": ids}
    if args.types:
        with open(args.types) as f:
            data[args.types_name] = [np.array([int(x) for x in line.split()],
                                              dtype=np.uint8) for line in f]
        cols.append((args.types_name, "ragged", "u8", ()))
    if args.text:
        with open(args.text, encoding="utf-8") as f:
            data["text"] = f.read().split("\n")[:len(ids)]
        cols.append(("text", "string", "str", ()))
    qkvpy().write_stream(args.out, cols, data, chunk=2)


def column(args):
    """Print a column of a qkv stream, one row a line."""
    kind, meta, data = qkvpy().read(args.file)
    for v in data[args.name]:
        print(v if isinstance(v, str) else " ".join(
            str(x) for x in np.asarray(v).reshape(-1)))


def compare(args):
    """Vectors printed by `embed -t` against a reference output: one line
    per sequence, or with --tokens one line per token and a blank line
    after each sequence (embed -p none), compared on real tokens only."""
    ref = np.load(os.path.join(args.refdir, args.key + ".npy"))
    if args.tokens:
        mask = np.load(os.path.join(args.refdir, "attention_mask.npy"))
        ref = ref[mask.astype(bool)]
    elif args.cls:
        ref = ref[:, 0]
    got = vectors(args.text)
    if got.shape != ref.shape:
        print("shape %s, reference %s" % (got.shape, ref.shape))
        sys.exit(1)
    d = float(np.abs(got - ref).max())
    print("%.3g" % d)
    sys.exit(0 if d <= args.tol else 1)


def close(args):
    """Two `embed -t` outputs equal within --tol (batching changes the
    order of float sums in BLAS, so bits may differ)."""
    a, b = vectors(args.a), vectors(args.b)
    if a.shape != b.shape:
        print("shapes %s and %s" % (a.shape, b.shape))
        sys.exit(1)
    d = float(np.abs(a - b).max()) if a.size else 0.0
    print("%.3g" % d)
    sys.exit(0 if d <= args.tol else 1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("dir")
    for k, v in (("hidden", 768), ("layers", 12), ("heads", 12),
                 ("inter", 3072), ("vocab", 30522), ("positions", 512),
                 ("seed", 1)):
        p.add_argument("--" + k, type=int, default=v)
    p.add_argument("--dtype", default="f32", choices=("f32", "f16", "bf16"))
    p.add_argument("--layout", default="hf",
                   choices=("hf", "base", "legacy"))
    p.add_argument("--drop", action="append", default=[],
                   help="leave this stored tensor out")
    p.add_argument("--set", action="append", default=[],
                   help="KEY=JSON: override a config.json entry")
    p = sub.add_parser("shard")
    p.add_argument("dir")
    p.add_argument("n", type=int)
    p = sub.add_parser("ids")
    p.add_argument("file")
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--lengths", required=True)
    p.add_argument("--pairs", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("run")
    p.add_argument("dir")
    p.add_argument("ids")
    p.add_argument("outdir")
    p = sub.add_parser("compare")
    p.add_argument("refdir")
    p.add_argument("key")
    p.add_argument("text")
    p.add_argument("--tokens", action="store_true")
    p.add_argument("--cls", action="store_true",
                   help="compare with the first token of KEY")
    p.add_argument("--tol", type=float, default=1e-4)
    p = sub.add_parser("tostream")
    p.add_argument("ids")
    p.add_argument("out")
    p.add_argument("--types")
    p.add_argument("--types-name", default="types")
    p.add_argument("--text")
    p = sub.add_parser("column")
    p.add_argument("file")
    p.add_argument("name")
    p = sub.add_parser("close")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tol", type=float, default=1e-5)
    p = sub.add_parser("check")
    p.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    if args.cmd in ("run", "check"):
        global torch
        import torch
        torch.set_num_threads(2)
    {"make": make, "ids": ids, "run": run, "compare": compare,
     "close": close, "check": check, "shard": shard, "tostream": tostream,
     "column": column}[args.cmd](args)


if __name__ == "__main__":
    main()
