#!/usr/bin/python3
"""embed_torch.py - the PyTorch peer of bench/embed.sh: the reference
BertModel of tests/bert_ref.py (plain torch ops, as Hugging Face's), under
torch.inference_mode, on random full-length sequences.

    embed_torch.py MODEL_DIR THREADS BxT...      tokens/s for each shape
    embed_torch.py MODEL_DIR --onnx OUT.onnx     export for ONNX Runtime

Set OPENBLAS_NUM_THREADS before starting: Debian's torch does its matrix
products in OpenBLAS.
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests"))
import bert_ref  # noqa: E402

bert_ref.torch = torch


def inputs(B, T, V):
    rng = np.random.default_rng(B * 1000 + T)
    ids = rng.integers(5, V, (B, T))
    ids[:, 0], ids[:, -1] = 2, 3
    return (torch.from_numpy(ids), torch.zeros(B, T, dtype=torch.int64),
            torch.ones(B, T, dtype=torch.int64))


class Wrap(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, ids, types, mask):
        return self.m.forward(ids, types, mask)["last_hidden_state"]


def main():
    model = bert_ref.load(sys.argv[1])
    V = model.c["vocab_size"]
    if sys.argv[2] == "--onnx":
        with torch.inference_mode():
            torch.onnx.export(
                Wrap(model), inputs(2, 16, V), sys.argv[3],
                input_names=["input_ids", "token_type_ids", "attention_mask"],
                output_names=["last_hidden_state"], opset_version=14,
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in
                              ("input_ids", "token_type_ids",
                               "attention_mask", "last_hidden_state")})
        return
    torch.set_num_threads(int(sys.argv[2]))
    for shape in sys.argv[3:]:
        B, T = (int(x) for x in shape.split("x"))
        ids, types, mask = inputs(B, T, V)
        best, n, start = float("inf"), 0, time.perf_counter()
        with torch.inference_mode():
            model.forward(ids, types, mask)
            while n < 3 or (time.perf_counter() - start < 5 and n < 50):
                t0 = time.perf_counter()
                model.forward(ids, types, mask)
                best = min(best, time.perf_counter() - t0)
                n += 1
        print("%s %.1f" % (shape, B * T / best))


if __name__ == "__main__":
    main()
