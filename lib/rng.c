/* rng.c - random numbers: Philox4x32-10 keyed streams, and CPython's
 * Mersenne Twister where a reference's exact stream is needed.
 *
 * Philox (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011) is a bijection of a 128-bit counter under a 64-bit
 * key, so a stream is a pure function of (seed, item, purpose, position):
 * any process computes any item's numbers without seeing the others.
 *
 * The Mersenne Twister part follows Matsumoto and Nishimura's MT19937 with
 * the seeding (init_by_array over the 32-bit words of |seed|) and the
 * derived draws that CPython's random module builds on it. */
#include <string.h>

#include "qkv.h"

/* ---- Philox4x32-10 --------------------------------------------------- */

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u	/* golden ratio */
#define PHILOX_W1 0xBB67AE85u	/* sqrt(3) - 1 */

static void
mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
	uint64_t p = (uint64_t)a * b;

	*hi = (uint32_t)(p >> 32);
	*lo = (uint32_t)p;
}

void
qkv_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
	uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
	uint32_t k0 = key[0], k1 = key[1];

	for (int round = 0; round < 10; round++) {
		uint32_t hi0, lo0, hi1, lo1;
		if (round > 0) {
			k0 += PHILOX_W0;
			k1 += PHILOX_W1;
		}
		mulhilo(PHILOX_M0, c0, &hi0, &lo0);
		mulhilo(PHILOX_M1, c2, &hi1, &lo1);
		c0 = hi1 ^ c1 ^ k0;
		c1 = lo1;
		c2 = hi0 ^ c3 ^ k1;
		c3 = lo0;
	}
	out[0] = c0;
	out[1] = c1;
	out[2] = c2;
	out[3] = c3;
}

/* Four consecutive blocks of one stream, ctr[3] + 0..3, computed side by
 * side: one block is a chain of ten dependent multiplies, four are four
 * independent chains the CPU overlaps (twice the numbers per second). */
static void
philox_blocks(const uint32_t ctr[4], const uint32_t key[2],
    uint32_t out[QKV_RNG_BUF])
{
	uint32_t c0[4], c1[4], c2[4], c3[4], k0 = key[0], k1 = key[1];

	for (int j = 0; j < 4; j++) {
		c0[j] = ctr[0];
		c1[j] = ctr[1];
		c2[j] = ctr[2];
		c3[j] = ctr[3] + (uint32_t)j;	/* wraps as ctr[3]++ does */
	}
	for (int round = 0; round < 10; round++) {
		if (round > 0) {
			k0 += PHILOX_W0;
			k1 += PHILOX_W1;
		}
		for (int j = 0; j < 4; j++) {
			uint64_t p0 = (uint64_t)PHILOX_M0 * c0[j];
			uint64_t p1 = (uint64_t)PHILOX_M1 * c2[j];

			c0[j] = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
			c1[j] = (uint32_t)p1;
			c2[j] = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
			c3[j] = (uint32_t)p0;
		}
	}
	for (int j = 0; j < 4; j++) {
		out[4 * j] = c0[j];
		out[4 * j + 1] = c1[j];
		out[4 * j + 2] = c2[j];
		out[4 * j + 3] = c3[j];
	}
}

void
qkv_rng_init(qkv_rng *r, uint64_t seed, uint64_t item, uint32_t purpose)
{
	r->key[0] = (uint32_t)seed;
	r->key[1] = (uint32_t)(seed >> 32);
	r->ctr[0] = (uint32_t)item;
	r->ctr[1] = (uint32_t)(item >> 32);
	r->ctr[2] = purpose;
	r->ctr[3] = 0;
	r->avail = 0;
}

static inline uint32_t
rng_u32(qkv_rng *r)
{
	if (r->avail == 0) {
		philox_blocks(r->ctr, r->key, r->out);
		r->ctr[3] += 4;	/* 2^34 numbers per stream, then it wraps */
		r->avail = QKV_RNG_BUF;
	}
	return r->out[QKV_RNG_BUF - r->avail--];
}

uint32_t
qkv_rng_u32(qkv_rng *r)
{
	return rng_u32(r);
}

static inline uint64_t
rng_u64(qkv_rng *r)
{
	uint64_t lo = rng_u32(r);

	return lo | (uint64_t)rng_u32(r) << 32;
}

uint64_t
qkv_rng_u64(qkv_rng *r)
{
	return rng_u64(r);
}

double
qkv_rng_uniform(qkv_rng *r)
{
	return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline uint64_t
rng_below(qkv_rng *r, uint64_t n)
{
	if (n <= 1)
		return 0;
	if (n <= UINT32_MAX) {
		/* Lemire's multiply-shift with rejection: unbiased, and
		 * division only on the rare rejection path. */
		uint32_t n32 = (uint32_t)n;
		uint64_t m = (uint64_t)rng_u32(r) * n32;
		if ((uint32_t)m < n32) {
			uint32_t t = (uint32_t)(-n32) % n32;
			while ((uint32_t)m < t)
				m = (uint64_t)rng_u32(r) * n32;
		}
		return m >> 32;
	}
	/* wide ranges: mask to the bit length and reject */
	int k = 64 - __builtin_clzll(n - 1);
	uint64_t mask = k == 64 ? UINT64_MAX : ((uint64_t)1 << k) - 1, v;
	do
		v = rng_u64(r) & mask;
	while (v >= n);
	return v;
}

uint64_t
qkv_rng_below(qkv_rng *r, uint64_t n)
{
	return rng_below(r, n);
}

void
qkv_rng_shuffle32(qkv_rng *r, int32_t *x, size_t n)
{
	for (size_t i = n; i-- > 1;) {
		size_t j = (size_t)rng_below(r, (uint64_t)i + 1);
		int32_t t = x[i];

		x[i] = x[j];
		x[j] = t;
	}
}

/* ---- MT19937 as CPython's random.Random ------------------------------ */

#define MT_N 624
#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

static void
mt_init_genrand(qkv_mt *m, uint32_t s)
{
	m->mt[0] = s;
	for (int i = 1; i < MT_N; i++)
		m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) +
		    (uint32_t)i;
	m->mti = MT_N;
}

void
qkv_mt_seed_words(qkv_mt *m, const uint32_t *key, size_t n)
{
	static const uint32_t zero = 0;
	size_t i = 1, j = 0, k;

	if (n == 0) {	/* CPython seeds 0 as the one-word key [0] */
		key = &zero;
		n = 1;
	}
	mt_init_genrand(m, 19650218u);
	for (k = n > MT_N ? n : MT_N; k > 0; k--) {
		m->mt[i] = (m->mt[i] ^ ((m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) *
		    1664525u)) + key[j] + (uint32_t)j;
		i++;
		j++;
		if (i >= MT_N) {
			m->mt[0] = m->mt[MT_N - 1];
			i = 1;
		}
		if (j >= n)
			j = 0;
	}
	for (k = MT_N - 1; k > 0; k--) {
		m->mt[i] = (m->mt[i] ^ ((m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) *
		    1566083941u)) - (uint32_t)i;
		i++;
		if (i >= MT_N) {
			m->mt[0] = m->mt[MT_N - 1];
			i = 1;
		}
	}
	m->mt[0] = 0x80000000u;	/* MSB is 1, assuring a non-zero array */
	m->mti = MT_N;
}

void
qkv_mt_seed(qkv_mt *m, int64_t seed)
{
	/* random.Random(seed) for an int: the 32-bit words of abs(seed),
	 * least significant first, without leading zero words. */
	uint64_t a = seed < 0 ? -(uint64_t)seed : (uint64_t)seed;
	uint32_t key[2] = {(uint32_t)a, (uint32_t)(a >> 32)};

	qkv_mt_seed_words(m, key, a == 0 ? 0 : key[1] != 0 ? 2 : 1);
}

uint32_t
qkv_mt_u32(qkv_mt *m)
{
	uint32_t y;

	if (m->mti >= MT_N) {
		int kk;
		for (kk = 0; kk < MT_N - MT_M; kk++) {
			y = (m->mt[kk] & MT_UPPER) | (m->mt[kk + 1] & MT_LOWER);
			m->mt[kk] = m->mt[kk + MT_M] ^ (y >> 1) ^
			    ((y & 1) ? MT_MATRIX_A : 0);
		}
		for (; kk < MT_N - 1; kk++) {
			y = (m->mt[kk] & MT_UPPER) | (m->mt[kk + 1] & MT_LOWER);
			m->mt[kk] = m->mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^
			    ((y & 1) ? MT_MATRIX_A : 0);
		}
		y = (m->mt[MT_N - 1] & MT_UPPER) | (m->mt[0] & MT_LOWER);
		m->mt[MT_N - 1] = m->mt[MT_M - 1] ^ (y >> 1) ^
		    ((y & 1) ? MT_MATRIX_A : 0);
		m->mti = 0;
	}
	y = m->mt[m->mti++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	y ^= y >> 18;
	return y;
}

double
qkv_mt_random(qkv_mt *m)
{
	/* genrand_res53: 27 + 26 bits */
	uint32_t a = qkv_mt_u32(m) >> 5, b = qkv_mt_u32(m) >> 6;

	return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

uint64_t
qkv_mt_getrandbits(qkv_mt *m, int k)
{
	/* CPython fills 32-bit words least significant first; the last
	 * word drawn is shifted down to the bits still wanted. */
	if (k <= 0)
		return 0;
	if (k <= 32)
		return qkv_mt_u32(m) >> (32 - k);
	if (k > 64)
		k = 64;
	uint64_t lo = qkv_mt_u32(m);
	uint64_t hi = qkv_mt_u32(m) >> (64 - k);
	return lo | hi << 32;
}

uint64_t
qkv_mt_below(qkv_mt *m, uint64_t n)
{
	/* _randbelow_with_getrandbits: k is the bit length of n itself (not
	 * n-1), so n == 1 still draws, and a power of two rejects half. */
	int k;
	uint64_t r;

	if (n == 0)
		return 0;
	k = 64 - __builtin_clzll(n);
	do
		r = qkv_mt_getrandbits(m, k);
	while (r >= n);
	return r;
}

int64_t
qkv_mt_randint(qkv_mt *m, int64_t a, int64_t b)
{
	if (b < a)
		return a;
	return a + (int64_t)qkv_mt_below(m, (uint64_t)b - (uint64_t)a + 1);
}

void
qkv_mt_shuffle(qkv_mt *m, void *base, size_t n, size_t size)
{
	unsigned char *p = base;

	for (size_t i = n; i-- > 1;) {
		size_t j = (size_t)qkv_mt_below(m, (uint64_t)i + 1);
		unsigned char *x = p + i * size, *y = p + j * size;
		for (size_t b = 0; b < size; b++) {
			unsigned char t = x[b];
			x[b] = y[b];
			y[b] = t;
		}
	}
}
