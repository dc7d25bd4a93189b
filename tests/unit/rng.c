/* rng - Philox4x32-10 against Random123's known answers, MT19937 against
 * its authors' reference output, and the keyed-stream properties the
 * sharded pipeline relies on.  With arguments `mt SEED` it prints a fixed
 * program of CPython-style draws for tests/rng.t to compare with CPython
 * itself (SEED is decimal, or 0x-hex of any length). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

static int
seed_from_arg(qkv_mt *m, const char *s)
{
	if (strncmp(s, "0x", 2) == 0) {
		uint32_t w[64];
		size_t len = strlen(s + 2), n = 0;
		const char *end = s + 2 + len;
		if (len == 0 || len > 8 * 64)
			return -1;
		while (end > s + 2) {
			const char *b = end - 8 < s + 2 ? s + 2 : end - 8;
			char buf[9];
			memcpy(buf, b, (size_t)(end - b));
			buf[end - b] = '\0';
			w[n++] = (uint32_t)strtoul(buf, NULL, 16);
			end = b;
		}
		while (n > 0 && w[n - 1] == 0)
			n--;
		qkv_mt_seed_words(m, w, n);
		return 0;
	}
	qkv_mt_seed(m, strtoll(s, NULL, 10));
	return 0;
}

/* The same program as tests/rng.t runs in CPython. */
static void
mt_program(qkv_mt *m)
{
	static const int64_t ranges[][2] = {
		{0, 0}, {1, 1}, {0, 1}, {2, 125}, {2, 509}, {0, 30521},
		{1, 2}, {0, 15}, {0, 16}, {-7, 7}, {0, 4294967295LL},
		{0, 4294967296LL}, {5, 1099511627776LL},
		{0, 9223372036854775806LL},
	};
	int perm[50];

	for (int i = 0; i < 5; i++)
		printf("u32 %" PRIu32 "\n", qkv_mt_u32(m));
	for (int i = 0; i < 5; i++)
		printf("random %" PRIu64 "\n",
		    (uint64_t)(qkv_mt_random(m) * 9007199254740992.0));
	for (int k = 1; k <= 64; k++)
		printf("bits %d %" PRIu64 "\n", k, qkv_mt_getrandbits(m, k));
	for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
		for (int i = 0; i < 4; i++)
			printf("randint %" PRId64 " %" PRId64 " %" PRId64 "\n",
			    ranges[r][0], ranges[r][1],
			    qkv_mt_randint(m, ranges[r][0], ranges[r][1]));
	for (int n = 0; n <= 50; n += 7) {
		for (int i = 0; i < n; i++)
			perm[i] = i;
		qkv_mt_shuffle(m, perm, (size_t)n, sizeof perm[0]);
		printf("shuffle %d", n);
		for (int i = 0; i < n; i++)
			printf(" %d", perm[i]);
		printf("\n");
	}
	for (int i = 0; i < 3; i++)
		printf("random %" PRIu64 "\n",
		    (uint64_t)(qkv_mt_random(m) * 9007199254740992.0));
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "mt") == 0) {
		qkv_mt m;
		if (seed_from_arg(&m, argv[2]) < 0)
			return 2;
		mt_program(&m);
		return 0;
	}

	/* Random123 tests/kat_vectors, philox4x32 10: ctr, key -> out */
	static const uint32_t kat[3][10] = {
		{0, 0, 0, 0, 0, 0,
		 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
		{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
		 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
		{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822,
		 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
	};
	for (int i = 0; i < 3; i++) {
		uint32_t out[4];
		qkv_philox4x32(kat[i], kat[i] + 4, out);
		ok(memcmp(out, kat[i] + 6, sizeof out) == 0,
		    "philox4x32-10 known answer %d", i);
	}

	/* keyed stream = the blocks of (item, purpose, 0..), key = seed */
	{
		qkv_rng r;
		uint32_t ctr[4] = {0x89abcdef, 0x01234567, 77, 0}, key[2] =
		    {0x00003039, 0x1}, blk[4];
		int same = 1;
		qkv_rng_init(&r, 0x100003039ULL, 0x0123456789abcdefULL, 77);
		for (uint32_t b = 0; b < 41; b++) {	/* several refills */
			ctr[3] = b;
			qkv_philox4x32(ctr, key, blk);
			for (int j = 0; j < 4; j++)
				same &= qkv_rng_u32(&r) == blk[j];
		}
		ok(same, "stream is philox over (item, purpose, block) keyed by seed");
		/* the block counter wraps within the purpose word */
		qkv_rng_init(&r, 0x100003039ULL, 0x0123456789abcdefULL, 77);
		r.ctr[3] = 0xfffffffeu;
		same = 1;
		for (uint32_t b = 0xfffffffeu, k = 0; k < 6; b++, k++) {
			ctr[3] = b;
			qkv_philox4x32(ctr, key, blk);
			for (int j = 0; j < 4; j++)
				same &= qkv_rng_u32(&r) == blk[j];
		}
		ok(same && r.ctr[2] == 77, "block counter wraps without a carry");
	}
	/* shuffle32 is Fisher-Yates from the back over below(i + 1) */
	{
		qkv_rng a, b;
		int32_t x[100], y[100], same = 1;

		for (int i = 0; i < 100; i++)
			x[i] = y[i] = i * 3;
		qkv_rng_init(&a, 9, 4, 2);
		b = a;
		qkv_rng_shuffle32(&a, x, 100);
		for (size_t i = 100; i-- > 1;) {
			size_t j = (size_t)qkv_rng_below(&b, (uint64_t)i + 1);
			int32_t t = y[i];
			y[i] = y[j];
			y[j] = t;
		}
		for (int i = 0; i < 100; i++)
			same &= x[i] == y[i];
		ok(same && qkv_rng_u32(&a) == qkv_rng_u32(&b),
		    "shuffle32 draws as below() swaps do");
	}
	/* streams of different items, purposes, seeds differ */
	{
		qkv_rng a, b, c, d;
		qkv_rng_init(&a, 1, 5, 0);
		qkv_rng_init(&b, 1, 6, 0);
		qkv_rng_init(&c, 1, 5, 1);
		qkv_rng_init(&d, 2, 5, 0);
		uint64_t x = qkv_rng_u64(&a);
		ok(x != qkv_rng_u64(&b) && x != qkv_rng_u64(&c) &&
		    x != qkv_rng_u64(&d), "item, purpose and seed each change the stream");
	}
	/* below(n): in range, every value reached, roughly uniform */
	{
		qkv_rng r;
		long cnt[7] = {0};
		int inrange = 1;
		qkv_rng_init(&r, 42, 0, 0);
		for (int i = 0; i < 70000; i++) {
			uint64_t v = qkv_rng_below(&r, 7);
			if (v >= 7)
				inrange = 0;
			else
				cnt[v]++;
		}
		double chi = 0;
		for (int i = 0; i < 7; i++)
			chi += (cnt[i] - 10000.0) * (cnt[i] - 10000.0) / 10000.0;
		ok(inrange, "below(7) stays in [0, 7)");
		/* 6 degrees of freedom: P(chi2 > 22.46) = 0.001 */
		ok(chi < 22.46, "below(7) uniform: chi2 %.2f", chi);
		int wide = 1;
		uint64_t big = (1ULL << 40) + 3, mx = 0;
		for (int i = 0; i < 1000; i++) {
			uint64_t v = qkv_rng_below(&r, big);
			wide &= v < big;
			mx = v > mx ? v : mx;
		}
		ok(wide && mx > (1ULL << 39), "below(2^40+3) in range, spans it");
		ok(qkv_rng_below(&r, 1) == 0 && qkv_rng_below(&r, 0) == 0,
		    "below(1) and below(0) are 0");
		double s = 0;
		int unit = 1;
		for (int i = 0; i < 100000; i++) {
			double u = qkv_rng_uniform(&r);
			unit &= u >= 0 && u < 1;
			s += u;
		}
		ok(unit && s / 100000 > 0.495 && s / 100000 < 0.505,
		    "uniform in [0,1), mean %.4f", s / 100000);
	}

	/* mt19937ar.c's own test: init_by_array({0x123,0x234,0x345,0x456}) */
	{
		static const uint32_t key[4] = {0x123, 0x234, 0x345, 0x456};
		static const uint32_t first[5] = {1067595299, 955945823,
		    477289528, 4107218783u, 4228976476u};
		qkv_mt m;
		int same = 1;
		qkv_mt_seed_words(&m, key, 4);
		for (int i = 0; i < 5; i++)
			same &= qkv_mt_u32(&m) == first[i];
		ok(same, "MT19937 init_by_array matches mt19937ar.out");
	}
	/* seed 0 and seed -0 and a negative seed equal its absolute value */
	{
		qkv_mt a, b;
		qkv_mt_seed(&a, -12345);
		qkv_mt_seed(&b, 12345);
		ok(qkv_mt_u32(&a) == qkv_mt_u32(&b), "seed -12345 is seed 12345");
	}
	done_testing();
}
