/* The sampler's rules on hand-made logits: greedy ties, top-k ties,
 * top-p edges, the repetition penalty's sign rule, reproducible draws. */
#include <math.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

#define V 10

static int32_t
pick(gpt2_pick *p, gpt2_sampler s, const float *in, uint64_t item,
    uint64_t step)
{
	float x[V];

	memcpy(x, in, sizeof x);
	return gpt2_pick_next(p, &s, x, item, step);
}

int
main(void)
{
	qkv_err e;
	gpt2_pick *p = gpt2_pick_new(V, &e);
	const float ties[V] = {0, 3, 1, 3, 2, 3, 0, 0, 0, 0};
	const float flat[V] = {0};
	gpt2_sampler greedy = {.temperature = 0, .top_p = 1,
	    .rep_penalty = 1};
	gpt2_sampler t1 = {.temperature = 1, .top_p = 1, .rep_penalty = 1,
	    .seed = 9};
	int seen[V], bad;

	ok(p != NULL, "work space");
	ok(pick(p, greedy, ties, 0, 0) == 1, "greedy: a tie goes to the "
	    "lowest id");
	gpt2_sampler k1 = t1;
	k1.top_k = 1;
	ok(pick(p, k1, ties, 0, 0) == 1, "top-k 1 is greedy");

	/* top-k 2 over three tied maxima keeps the two lowest ids */
	gpt2_sampler k2 = t1;
	k2.top_k = 2;
	memset(seen, 0, sizeof seen);
	for (int i = 0; i < 2000; i++)
		seen[pick(p, k2, ties, (uint64_t)i, 0)]++;
	ok(seen[1] > 900 && seen[3] > 900 && seen[1] + seen[3] == 2000,
	    "top-k 2 with a three-way tie: ids 1 and 3 only (%d, %d)",
	    seen[1], seen[3]);

	/* top-p below the largest probability: only the argmax */
	gpt2_sampler tp = t1;
	tp.top_p = 0.01;
	bad = 0;
	for (int i = 0; i < 200; i++)
		bad += pick(p, tp, ties, (uint64_t)i, 0) != 1;
	ok(bad == 0, "top-p 0.01: the first of the most likely ids only");
	/* top-p 0.3 on a flat law: exactly 3 ids of 10 (ties by id) */
	tp.top_p = 0.3;
	memset(seen, 0, sizeof seen);
	for (int i = 0; i < 3000; i++)
		seen[pick(p, tp, flat, (uint64_t)i, 0)]++;
	ok(seen[0] + seen[1] + seen[2] == 3000 && seen[0] > 850 &&
	    seen[1] > 850 && seen[2] > 850, "top-p 0.3 on 10 equal ids: "
	    "ids 0, 1, 2 (%d %d %d)", seen[0], seen[1], seen[2]);

	/* repetition penalty: positive logits divided, negative multiplied */
	float rp[V] = {2, -2, 1.9f, -1, 0, 0, 0, 0, 0, 0};
	gpt2_sampler r = greedy;
	r.rep_penalty = 2;
	int32_t s0 = 0;
	gpt2_pick_seen(p, &s0, 1);
	ok(pick(p, r, rp, 0, 0) == 2, "penalty 2: seen id 0 (2 -> 1) "
	    "loses to id 2 (1.9)");
	float x[V];
	memcpy(x, rp, sizeof x);
	int32_t s1 = 1;
	gpt2_pick_seen(p, &s1, 1);
	gpt2_pick_next(p, &r, x, 0, 0);
	ok(x[0] == 1 && x[1] == -4 && x[2] == 1.9f && x[3] == -1,
	    "penalty 2: 2 -> 1, -2 -> -4, unseen unchanged");
	gpt2_pick_clear(p);
	ok(pick(p, r, rp, 0, 0) == 0, "cleared: id 0 wins again");

	/* draws depend on (seed, item, step) only */
	int same = 1, differ = 0;
	for (int i = 0; i < 50; i++) {
		int32_t a = pick(p, t1, flat, 7, (uint64_t)i);
		int32_t b = pick(p, t1, flat, 7, (uint64_t)i);
		same &= a == b;
		differ += a != pick(p, t1, flat, 8, (uint64_t)i);
	}
	ok(same, "same (seed, item, step): same draw");
	ok(differ > 30, "another item: other draws (%d of 50 differ)", differ);
	gpt2_pick_free(p);
	done_testing();
}
