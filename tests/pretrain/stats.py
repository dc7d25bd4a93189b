"""Statistics of BERT pretraining records, and their comparison.

    stats.py summary [-l L] [--max-pred P] [--prob p] [--vocab VOCAB.txt] FILE
        FILE holds records either as nsp --google -t prints them (the seven
        reference features, padded) or as `nsp | mask` prints them (ids,
        segments, label, key, positions, original ids, weights).  Prints a
        JSON summary: counts, the length histogram, the masking split, and
        counts of rule violations.
    stats.py compare REF.json OURS0.json ... OURS9.json
        TAP: the exact rules on OURS (ten passes), and OURS against REF
        (the reference recipe's records on the same corpus, dupe 10)
        within sampling error, estimated from the spread over the passes.

Tests run at a 0.001 significance level; the data are made with fixed
seeds, so a pass or a failure is reproducible, not flaky.
"""
import json
import math
import sys

# ---- distributions without scipy ------------------------------------------


def gammainc_upper(a, x):
    """Regularized upper incomplete gamma Q(a, x)."""
    if x <= 0:
        return 1.0
    if x < a + 1:
        # series for P
        term = total = 1.0 / a
        n = a
        for _ in range(10000):
            n += 1
            term *= x / n
            total += term
            if term < total * 1e-15:
                break
        return 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    # continued fraction for Q (Lentz)
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(x, df):
    return gammainc_upper(df / 2.0, x / 2.0)


# ---- summary -----------------------------------------------------------------


def parse(line):
    f = line.rstrip("\n").split("\t")
    ints = [[int(x) for x in c.split()] for c in f]
    if len(f) == 7 and len(ints[2]) == len(ints[0]) and len(ints[6]) == 1:
        # reference features: unpad by input_mask and masked_lm_weights
        n = sum(ints[1])
        npred = sum(1 for w in f[5].split() if float(w) != 0)
        return (ints[0][:n], ints[2][:n], ints[6][0], ints[3][:npred],
                ints[4][:npred])
    if len(f) == 7 and len(ints[2]) == 1:
        return ints[0], ints[1], ints[2][0], ints[4], ints[5]
    raise SystemExit("stats.py: a record has %d fields, not 7" % len(f))


def summary(path, L, max_pred, prob, special, mask_id):
    s = dict(instances=0, random_next=0, tokens=0, masked=0, to_mask=0,
             kept=0, to_random=0, over_length=0, special_masked=0,
             over_max_pred=0, npred_wrong=0, bad_segments=0,
             length_hist=[0] * (L + 1), L=L)
    with open(path) as f:
        for line in f:
            ids, seg, label, pos, orig = parse(line)
            n = len(ids)
            s["instances"] += 1
            s["random_next"] += label
            s["tokens"] += n
            if n > L:
                s["over_length"] += 1
            else:
                s["length_hist"][n] += 1
            # [CLS] A [SEP] B [SEP], segments 0...0 1...1
            a = seg.count(0)
            if (ids[0] != special["[CLS]"] or ids[a - 1] != special["[SEP]"]
                    or ids[-1] != special["[SEP]"]
                    or seg != [0] * a + [1] * (n - a) or a < 3 or n - a < 2):
                s["bad_segments"] += 1
            if len(pos) > max_pred:
                s["over_max_pred"] += 1
            # the original sequence: masked ids put back
            src = list(ids)
            for p, o in zip(pos, orig):
                src[p] = o
            cand = sum(1 for t in src if t not in special.values())
            want = min(max_pred, max(1, int(round(n * prob))), cand)
            if len(pos) != want and not any(
                    o in special.values() for o in orig):
                s["npred_wrong"] += 1
            s["masked"] += len(pos)
            for p, o in zip(pos, orig):
                if o in special.values():
                    s["special_masked"] += 1
                if ids[p] == mask_id:
                    s["to_mask"] += 1
                elif ids[p] == o:
                    s["kept"] += 1
                else:
                    s["to_random"] += 1
    return s


# ---- comparison --------------------------------------------------------------

ALPHA = 0.001
T9 = 4.781      # two-sided 0.001 quantile of Student's t with 9 df
tap_n = 0
tap_fail = 0


def ok(cond, msg):
    global tap_n, tap_fail
    tap_n += 1
    if not cond:
        tap_fail += 1
    print("%sok %d - %s" % ("" if cond else "not ", tap_n, msg))


def merge(parts):
    s = dict(parts[0])
    for p in parts[1:]:
        for k, v in p.items():
            if k == "length_hist":
                s[k] = [a + b for a, b in zip(s[k], v)]
            elif k != "L":
                s[k] += v
    return s


# Ratios compared with the reference: name -> (numerator, denominator) of
# a summary.  Instances of one document and pass share its target length,
# so they are not independent draws: the standard error comes from the
# spread of the statistic over the passes, each an independent replicate.
def short(s, below):
    return sum(s["length_hist"][:below])


def ratios(L):
    return [
        ("random-next share", lambda s: (s["random_next"], s["instances"])),
        ("masked share of tokens", lambda s: (s["masked"], s["tokens"])),
        ("mean length / L", lambda s: (sum(i * c for i, c in enumerate(
            s["length_hist"])), s["instances"] * L)),
        ("share shorter than L/4", lambda s: (short(s, L // 4),
                                              s["instances"])),
        ("share shorter than L/2", lambda s: (short(s, L // 2),
                                              s["instances"])),
        ("share shorter than L-8", lambda s: (short(s, L - 8),
                                              s["instances"])),
        ("share of full length (L-2 or more)", lambda s: (
            s["instances"] - short(s, L - 2), s["instances"])),
    ]


def compare(ref_path, our_paths):
    parts = [json.load(open(p)) for p in our_paths]
    o = merge(parts)
    r = json.load(open(ref_path))
    k = len(parts)
    ok(k == 10, "ten passes of ours (dupe 1, epochs 0-9) against the "
       "reference's dupe 10")
    ok(o["instances"] > 1000, "%d instances" % o["instances"])
    ok(o["over_length"] == 0, "every instance within L=%d (%d over)" %
       (o["L"], o["over_length"]))
    ok(o["bad_segments"] == 0, "[CLS] A [SEP] B [SEP] with segments 0/1 "
       "(%d malformed)" % o["bad_segments"])
    ok(o["special_masked"] == 0, "no special token masked (%d)" %
       o["special_masked"])
    ok(o["over_max_pred"] == 0, "at most max-pred predictions (%d over)" %
       o["over_max_pred"])
    ok(o["npred_wrong"] == 0, "predictions = min(max-pred, max(1, "
       "round(n*prob)), candidates) (%d wrong)" % o["npred_wrong"])
    for name, s in (("ours", o), ("reference", r)):
        m = s["masked"]
        obs = [s["to_mask"], s["kept"], s["to_random"]]
        exp = [0.8 * m, 0.1 * m, 0.1 * m]
        chi = sum((x - e) ** 2 / e for x, e in zip(obs, exp))
        p = chi2_sf(chi, 2)
        ok(p > ALPHA, "%s: 80/10/10 of %d masked: %.4f/%.4f/%.4f "
           "(chi2 %.2f, p %.3g)" % (name, m, obs[0] / m, obs[1] / m,
                                     obs[2] / m, chi, p))
    half = o["random_next"] / o["instances"]
    ok(0.45 < half < 0.6, "random-next near one half: %.4f" % half)
    L = o["L"]
    for name, f in ratios(L):
        num, den = f(o)
        ours = num / den
        num, den = f(r)
        ref = num / den
        reps = [a / b for a, b in (f(p) for p in parts)]
        mean = sum(reps) / k
        sd = math.sqrt(sum((x - mean) ** 2 for x in reps) / (k - 1))
        se = math.sqrt(2.0 / k) * sd or 1e-12
        t = (ours - ref) / se
        ok(abs(t) < T9, "%s: %.4f vs reference %.4f (t %.2f, |t| < %.2f)"
           % (name, ours, ref, t, T9))
    print("1..%d" % tap_n)
    return 1 if tap_fail else 0


def main():
    a = sys.argv[1:]
    if a[:1] == ["compare"] and len(a) >= 3:
        sys.exit(compare(a[1], a[2:]))
    if a[:1] != ["summary"]:
        sys.exit(__doc__)
    L, max_pred, prob, vocab, path = 128, 20, 0.15, None, None
    i = 1
    while i < len(a):
        if a[i] == "-l":
            L = int(a[i + 1]); i += 2
        elif a[i] == "--max-pred":
            max_pred = int(a[i + 1]); i += 2
        elif a[i] == "--prob":
            prob = float(a[i + 1]); i += 2
        elif a[i] == "--vocab":
            vocab = a[i + 1]; i += 2
        else:
            path = a[i]; i += 1
    if path is None or vocab is None:
        sys.exit(__doc__)
    toks = [t.strip() for t in open(vocab, encoding="utf-8")]
    special = {t: toks.index(t) for t in ("[CLS]", "[SEP]", "[PAD]")
               if t in toks}
    s = summary(path, L, max_pred, prob, special, toks.index("[MASK]"))
    json.dump(s, sys.stdout)
    print()


if __name__ == "__main__":
    main()
