#!/usr/bin/python3
"""sample_torch.py - the PyTorch peer of bench/sample.sh: greedy decoding
with a KV cache in Debian's python3-torch, f32, using the reference model
of tests/gpt2_ref.py (weights upcast to f32, as PyTorch on a CPU runs).

    sample_torch.py MODEL_DIR PROMPT_IDS_FILE NEW_TOKENS REPEATS

Prints "prompt TOKENS/S generated TOKENS/S" (the best of REPEATS runs).
Threads come from the environment: TORCH_THREADS (torch.set_num_threads)
and OPENBLAS_NUM_THREADS (the BLAS under torch's matmul).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests'))
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '1')))
from gpt2_ref import GPT2  # noqa: E402


def last_logits(m, ids, cache):
    # the prompt pass needs only the last position's logits, as in sample
    x = m.forward_hidden(ids, cache)
    return m.ln(x[-1:], 'ln_f') @ m.head.T


def main(mdir, pfile, n_new, reps):
    m = GPT2(mdir)
    ids = torch.tensor([int(v) for v in open(pfile).read().split()])
    best_p = best_g = 0.0
    with torch.no_grad():
        for _ in range(int(reps)):
            cache = []
            t0 = time.perf_counter()
            lg = last_logits(m, ids, cache)
            t1 = time.perf_counter()
            for _ in range(int(n_new) - 1):
                nxt = int(torch.argmax(lg[-1]))
                lg = last_logits(m, torch.tensor([nxt]), cache)
            int(torch.argmax(lg[-1]))
            t2 = time.perf_counter()
            best_p = max(best_p, len(ids) / (t1 - t0))
            best_g = max(best_g, int(n_new) / (t2 - t1))
    print('prompt %.1f generated %.1f' % (best_p, best_g))


if __name__ == '__main__':
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
