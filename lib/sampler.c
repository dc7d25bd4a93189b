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
	float *tmp;		/* selection work space */
	double *w;		/* candidate weights exp((l - max) / T) */
};

void
gpt2_pick_free(gpt2_pick *p)
{
	if (p == NULL)
		return;
	free(p->seen);
	free(p->cand);
	free(p->tmp);
	free(p->w);
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
	    (p->tmp = qkv_calloc((size_t)V, sizeof *p->tmp, e)) == NULL ||
	    (p->w = qkv_calloc((size_t)V, sizeof *p->w, e)) == NULL) {
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

/* Candidates sorted by weight descending, id ascending. */
static int
cmp_cand(const void *a, const void *b, void *arg)
{
	const double *sort_w = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	if (sort_w[x] != sort_w[y])
		return sort_w[x] > sort_w[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

int32_t
gpt2_pick_next(gpt2_pick *p, const gpt2_sampler *s, float *logits, uint64_t item,
    uint64_t step)
{
	int V = p->V, n = 0, sorted = 0;
	float mx;
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

	/* top-k: exactly k ids, ties at the boundary to the lowest ids */
	if (s->top_k > 0 && s->top_k < V) {
		memcpy(p->tmp, logits, (size_t)V * sizeof *p->tmp);
		float th = kth_largest(p->tmp, V, s->top_k);
		for (int v = 0; v < V; v++)
			if (logits[v] > th)
				p->cand[n++] = v;
		for (int v = 0; v < V && n < s->top_k; v++)
			if (logits[v] == th)
				p->cand[n++] = v;
	} else {
		for (int v = 0; v < V; v++)
			p->cand[n++] = v;
	}
	mx = logits[p->cand[0]];
	for (int i = 1; i < n; i++)
		if (logits[p->cand[i]] > mx)
			mx = logits[p->cand[i]];
	for (int i = 0; i < n; i++) {
		int32_t v = p->cand[i];
		p->w[v] = exp(((double)logits[v] - mx) / s->temperature);
		total += p->w[v];
	}

	/* top-p: the fewest most likely ids whose mass reaches p */
	if (s->top_p < 1.0) {
		double need = s->top_p * total, mass;
		double th = 1.0;	/* the largest weight is exp(0) */
		int m;
		/* only ids of weight >= th can be in the nucleus once the
		 * mass at or above th reaches it: keep the sort short */
		for (;;) {
			mass = 0;
			m = 0;
			for (int i = 0; i < n; i++)
				if (p->w[p->cand[i]] >= th) {
					mass += p->w[p->cand[i]];
					m++;
				}
			if (mass >= need || th == 0)
				break;
			th = th > 1e-300 ? th / 16 : 0;
		}
		int j = 0;
		for (int i = 0; i < n; i++)
			if (p->w[p->cand[i]] >= th)
				p->cand[j++] = p->cand[i];
		n = m;
		qsort_r(p->cand, (size_t)n, sizeof *p->cand, cmp_cand, p->w);
		sorted = 1;
		cum = 0;
		for (j = 0; j < n; j++) {
			cum += p->w[p->cand[j]];
			if (cum >= need)
				break;
		}
		n = j < n ? j + 1 : n;
		total = cum;
	}
	if (!sorted && n < V) {
		qsort_r(p->cand, (size_t)n, sizeof *p->cand, cmp_cand, p->w);
	}
	u = uniform(s->seed, item, step) * total;
	cum = 0;
	for (int i = 0; i < n; i++) {
		cum += p->w[p->cand[i]];
		if (u < cum)
			return p->cand[i];
	}
	return p->cand[n - 1];
}
