/*
 * sampler.c - the next token from a row of logits: repetition penalty,
 * then greedy or temperature, top-k, top-p (nucleus), in the order the
 * Hugging Face generate() applies them.
 *
 * Reproducible by construction: the only random number of a step depends
 * on (seed, prompt number, step) alone, candidates are ordered by
 * (probability descending, id ascending), and sums are in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"

struct gpt2_pick {
	int V;
	uint8_t *seen;		/* ids seen, for the repetition penalty */
	int32_t *cand;		/* candidate ids */
	float *tmp;		/* selection work space, then weights */
};

void
gpt2_pick_free(gpt2_pick *p)
{
	if (p == NULL)
		return;
	free(p->seen);
	free(p->cand);
	free(p->tmp);
	free(p);
}

gpt2_pick *
gpt2_pick_new(int V, qkv_err *e)
{
	gpt2_pick *p;

	if ((p = qkv_calloc(1, sizeof *p, e)) == NULL)
		return NULL;
	p->V = V;
	if ((p->seen = qkv_calloc((size_t)V, 1, e)) == NULL ||
	    (p->cand = qkv_calloc((size_t)V, sizeof *p->cand, e)) == NULL ||
	    (p->tmp = qkv_calloc((size_t)V, sizeof *p->tmp, e)) == NULL) {
		gpt2_pick_free(p);
		return NULL;
	}
	return p;
}

void
gpt2_pick_seen(gpt2_pick *p, const int32_t *ids, int n)
{
	for (int i = 0; i < n; i++)
		if (ids[i] >= 0 && ids[i] < p->V)
			p->seen[ids[i]] = 1;
}

void
gpt2_pick_clear(gpt2_pick *p)
{
	memset(p->seen, 0, (size_t)p->V);
}

/* The step's uniform number in [0, 1): a function of (seed, item, step)
 * only, from rng.c's keyed Philox streams (one stream per step). */
#define PURPOSE_SAMPLE 0x73616d70u	/* "samp" */

static double
uniform(uint64_t seed, uint64_t item, uint64_t step)
{
	qkv_rng r;

	qkv_rng_init(&r, seed, item, PURPOSE_SAMPLE ^ (uint32_t)step);
	return qkv_rng_uniform(&r);
}

/* The first maximum: ties go to the lowest id. */
static int32_t
argmax(const float *x, int n)
{
	int32_t best = 0;

	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* The k-th largest of x[n] (1 <= k <= n); x is reordered. */
static float
kth_largest(float *x, int n, int k)
{
	int lo = 0, hi = n - 1, want = k - 1;

	while (lo < hi) {
		float piv = x[lo + (hi - lo) / 2];
		int i = lo, j = hi;
		while (i <= j) {
			while (x[i] > piv)
				i++;
			while (x[j] < piv)
				j--;
			if (i <= j) {
				float t = x[i];
				x[i++] = x[j];
				x[j--] = t;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			return x[want];
	}
	return x[want];
}

/*
 * The weight below which no id is in the nucleus: the largest tau with
 * mass(w >= tau) >= need, found by a radix select over the bits of the
 * (positive) float weights, 11 + 11 + 10 bits; no sort.
 */
static uint32_t
nucleus_tau(const float *w, int n, double need)
{
	double hm[2048], above = 0;
	uint32_t pref = 0;
	int known = 0;

	for (int level = 0; level < 3; level++) {
		int width = level < 2 ? 11 : 10, shift = 32 - known - width, k;
		memset(hm, 0, sizeof(double) << width);
		for (int i = 0; i < n; i++) {
			uint32_t b;
			memcpy(&b, &w[i], 4);
			if (known && b >> (32 - known) != pref)
				continue;
			hm[(b >> shift) & ((1u << width) - 1)] += w[i];
		}
		for (k = (1 << width) - 1; k > 0; k--) {
			if (above + hm[k] >= need)
				break;
			above += hm[k];
		}
		pref = pref << width | (uint32_t)k;
		known += width;
	}
	return pref;
}

int32_t
gpt2_pick_next(gpt2_pick *p, const gpt2_sampler *s, float *logits,
    uint64_t item, uint64_t step)
{
	int V = p->V, n = 0;
	float mx, *w = p->tmp;
	double total = 0, u, cum;

	if (s->rep_penalty != 1.0) {
		float r = (float)s->rep_penalty;
		for (int v = 0; v < V; v++)
			if (p->seen[v])
				logits[v] = logits[v] > 0 ? logits[v] / r :
				    logits[v] * r;
	}
	if (s->temperature <= 0 || s->top_k == 1)
		return argmax(logits, V);

	/* candidates in id order.  top-k: exactly k ids, ties at the
	 * boundary to the lowest ids */
	if (s->top_k > 0 && s->top_k < V) {
		memcpy(p->tmp, logits, (size_t)V * sizeof *p->tmp);
		float th = kth_largest(p->tmp, V, s->top_k);
		int above = 0;
		for (int v = 0; v < V; v++)
			above += logits[v] > th;
		int ties = s->top_k - above;
		for (int v = 0; v < V; v++)
			if (logits[v] > th || (logits[v] == th && ties-- > 0))
				p->cand[n++] = v;
	} else {
		for (int v = 0; v < V; v++)
			p->cand[n++] = v;
	}
	mx = logits[p->cand[0]];
	for (int i = 1; i < n; i++)
		if (logits[p->cand[i]] > mx)
			mx = logits[p->cand[i]];
	/* w[i] = exp((l - max) / T), vectorised; the largest is 1 */
	float inv_t = (float)(1.0 / s->temperature);
	for (int i = 0; i < n; i++)
		w[i] = (logits[p->cand[i]] - mx) * inv_t;
	nn_exp_fast(w, (size_t)n);
	for (int i = 0; i < n; i++)
		total += w[i];

	/* top-p: the fewest most likely ids whose mass reaches p; equal
	 * weights at the boundary taken by lowest id */
	if (s->top_p < 1.0) {
		double need = s->top_p * total, mass = 0;
		uint32_t tau = nucleus_tau(w, n, need), b;
		for (int i = 0; i < n; i++) {
			memcpy(&b, &w[i], 4);
			if (b > tau)
				mass += w[i];
		}
		int m = 0;
		for (int i = 0; i < n; i++) {
			memcpy(&b, &w[i], 4);
			if (b > tau || (b == tau && mass < need)) {
				if (b == tau)
					mass += w[i];
				p->cand[m] = p->cand[i];
				w[m++] = w[i];
			}
		}
		n = m;
		total = 0;
		for (int i = 0; i < n; i++)
			total += w[i];
	}
	u = uniform(s->seed, item, step) * total;
	cum = 0;
	for (int i = 0; i < n; i++) {
		cum += w[i];
		if (u < cum)
			return p->cand[i];
	}
	return p->cand[n - 1];
}
