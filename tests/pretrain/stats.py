"""Statistics of BERT pretraining records, and their comparison.

    stats.py summary [-l L] [--max-pred P] [--prob p] [--vocab VOCAB.txt] FILE
        FILE holds records either as nsp --google -t prints them (the seven
        reference features, padded) or as `nsp | mask` prints them (ids,
        segments, label, key, positions, original ids, weights).  Prints a
        JSON summary: counts, the length histogram, the masking split, and
        counts of rule violations.
    stats.py compare OURS.json REF.json
        TAP: the exact rules on OURS, and OURS against REF (the reference
        recipe's records on the same corpus) within sampling error.

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


def normal_sf2(z):
    """Two-sided p-value of a standard normal z."""
    return math.erfc(abs(z) / math.sqrt(2))


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
tap_n = 0
tap_fail = 0


def ok(cond, msg):
    global tap_n, tap_fail
    tap_n += 1
    if not cond:
        tap_fail += 1
    print("%sok %d - %s" % ("" if cond else "not ", tap_n, msg))


def two_prop(k1, n1, k2, n2):
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2)) or 1e-300
    return normal_sf2((k1 / n1 - k2 / n2) / se)


def homogeneity(a, b):
    """Chi-square test that two histograms come from one distribution;
    bins with few expected counts are merged left to right."""
    na, nb = sum(a), sum(b)
    bins, cur = [], [0, 0]
    for x, y in zip(a, b):
        cur[0] += x
        cur[1] += y
        if (cur[0] + cur[1]) * min(na, nb) / (na + nb) >= 20:
            bins.append(cur)
            cur = [0, 0]
    if cur[0] + cur[1] > 0:
        if bins:
            bins[-1][0] += cur[0]
            bins[-1][1] += cur[1]
        else:
            bins.append(cur)
    chi = 0.0
    for x, y in bins:
        t = x + y
        ea, eb = t * na / (na + nb), t * nb / (na + nb)
        chi += (x - ea) ** 2 / ea + (y - eb) ** 2 / eb
    df = max(1, len(bins) - 1)
    return chi2_sf(chi, df), chi, df


def compare(ours, ref):
    o = json.load(open(ours))
    r = json.load(open(ref))
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
    p = two_prop(o["random_next"], o["instances"], r["random_next"],
                 r["instances"])
    ok(p > ALPHA, "random-next %.4f vs reference %.4f (p %.3g)" %
       (o["random_next"] / o["instances"],
        r["random_next"] / r["instances"], p))
    half = o["random_next"] / o["instances"]
    ok(0.45 < half < 0.6, "random-next near one half: %.4f" % half)
    p = two_prop(o["masked"], o["tokens"], r["masked"], r["tokens"])
    ok(p > ALPHA, "masked fraction %.4f vs reference %.4f (p %.3g)" %
       (o["masked"] / o["tokens"], r["masked"] / r["tokens"], p))
    p, chi, df = homogeneity(o["length_hist"], r["length_hist"])
    ok(p > ALPHA, "length distribution like the reference's (chi2 %.1f, "
       "df %d, p %.3g)" % (chi, df, p))
    L = o["L"]
    for name, s in (("ours", o), ("reference", r)):
        full = sum(s["length_hist"][L - 8:])
        s["short"] = s["instances"] - full
    p = two_prop(o["short"], o["instances"], r["short"], r["instances"])
    ok(p > ALPHA, "shorter than L-8: %.4f vs reference %.4f (p %.3g)" %
       (o["short"] / o["instances"], r["short"] / r["instances"], p))
    print("1..%d" % tap_n)
    return 1 if tap_fail else 0


def main():
    a = sys.argv[1:]
    if a[:1] == ["compare"] and len(a) == 3:
        sys.exit(compare(a[1], a[2]))
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
