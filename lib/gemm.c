/*
 * gemm.c - products of a few rows (a query, a prompt: M up to a few
 * hundred) by a Linear weight in PyTorch's [out, in] layout, read where it
 * lies.  BLAS packs all of W (N,K) before multiplying, which at 16 rows
 * costs about as much as the product itself; here each output is a dot
 * product of a row of A and a row of W, computed in vector lanes and summed
 * across them at the end, so W streams from memory once per call and A
 * (M,K) stays in L2.
 *
 * Tiles: NR = 4 rows of W (held in L1 while every group of up to MR rows
 * of A passes over them) times MR rows of A, MR x NR accumulators in
 * registers.  Each output is summed in the same order whatever tile and
 * task it falls in, so splitting the rows of W among workers does not
 * change a bit of the result.
 */
#include <stddef.h>
#include <string.h>

#include "qkv.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GEMM_X86 1
#endif

#define NR 4
/* K in blocks of at most KC, so a tile's rows of W (16 KiB) stay in L1 */
#ifndef KC
#define KC 1024
#endif
/* W's rows are fetched into L2 this many tiles ahead */
#define AHEAD 2

/* One tile's work: C (mr,nr) (+)= A (mr, k0..k1) . W's nr rows^T. */
struct tile {
	float *C;
	const float *A;
	size_t ldc, lda;
	const float *w[NR];	/* padded to NR: missing rows repeat the last */
	const float *pf;	/* fetched ahead from here, 2 lines a step */
	const float *bias;	/* NR floats, or NULL */
	int k0, k1;
	int add;		/* add to C (a later block of K) */
	int nr;
};

/* C's row of nr outputs from the 4 sums in s */
static inline void
store4(float *c, const float *s, const struct tile *t)
{
	for (int j = 0; j < t->nr; j++)
		c[j] = (t->add ? c[j] : t->bias ? t->bias[j] : 0) + s[j];
}

#ifdef GEMM_X86
/*
 * AVX-512: MR = 6 rows of A, 24 accumulators + 4 of W + 1 of A in the 32
 * registers.  K % 16 in one masked step.
 */
#define MR512 6

__attribute__((target("avx512f"), always_inline)) static inline __m128
sum4_512(__m512 a0, __m512 a1, __m512 a2, __m512 a3)
{
	/* lanes of a0..a3 summed to [s0 s1 s2 s3] */
	__m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1),
	    _mm512_unpackhi_ps(a0, a1));
	__m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3),
	    _mm512_unpackhi_ps(a2, a3));
	__m512 t = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, 0x44),
	    _mm512_shuffle_ps(t0, t1, 0xee));
	__m256 h = _mm256_add_ps(_mm512_castps512_ps256(t),
	    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)));
	return _mm_add_ps(_mm256_castps256_ps128(h),
	    _mm256_extractf128_ps(h, 1));
}

#define FMA4_512(m, a)							\
	do {								\
		acc[m][0] = _mm512_fmadd_ps(a, w0, acc[m][0]);		\
		acc[m][1] = _mm512_fmadd_ps(a, w1, acc[m][1]);		\
		acc[m][2] = _mm512_fmadd_ps(a, w2, acc[m][2]);		\
		acc[m][3] = _mm512_fmadd_ps(a, w3, acc[m][3]);		\
	} while (0)

__attribute__((target("avx512f"), always_inline)) static inline void
tile512(const struct tile *t, int mr)
{
	const float *A = t->A, *w0p = t->w[0], *w1p = t->w[1],
	    *w2p = t->w[2], *w3p = t->w[3], *pf = t->pf;
	size_t lda = t->lda;
	__m512 acc[MR512][NR], w0, w1, w2, w3;
	int k = t->k0;

#pragma GCC unroll 8
	for (int m = 0; m < mr; m++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			acc[m][j] = _mm512_setzero_ps();
	for (; k + 16 <= t->k1; k += 16) {
		w0 = _mm512_loadu_ps(w0p + k);
		w1 = _mm512_loadu_ps(w1p + k);
		w2 = _mm512_loadu_ps(w2p + k);
		w3 = _mm512_loadu_ps(w3p + k);
		_mm_prefetch((const char *)(pf + 2 * k), _MM_HINT_T1);
		_mm_prefetch((const char *)(pf + 2 * k + 16), _MM_HINT_T1);
#pragma GCC unroll 8
		for (int m = 0; m < mr; m++)
			FMA4_512(m, _mm512_loadu_ps(A + m * lda + k));
	}
	if (k < t->k1) {
		__mmask16 tail = (__mmask16)((1u << (t->k1 - k)) - 1);
		w0 = _mm512_maskz_loadu_ps(tail, w0p + k);
		w1 = _mm512_maskz_loadu_ps(tail, w1p + k);
		w2 = _mm512_maskz_loadu_ps(tail, w2p + k);
		w3 = _mm512_maskz_loadu_ps(tail, w3p + k);
#pragma GCC unroll 8
		for (int m = 0; m < mr; m++)
			FMA4_512(m, _mm512_maskz_loadu_ps(tail, A + m * lda + k));
	}
#pragma GCC unroll 8
	for (int m = 0; m < mr; m++) {
		float s[NR];
		_mm_storeu_ps(s, sum4_512(acc[m][0], acc[m][1], acc[m][2],
		    acc[m][3]));
		store4(t->C + m * t->ldc, s, t);
	}
}

/* One instance per row count, so the tile's loops unroll to registers. */
#define TILE512(mr)							\
__attribute__((target("avx512f"))) static void				\
tile512_##mr(const struct tile *t)					\
{									\
	tile512(t, mr);							\
}
TILE512(1) TILE512(2) TILE512(3) TILE512(4) TILE512(5) TILE512(6)

static void (*const tiles512[MR512 + 1])(const struct tile *) = {NULL,
    tile512_1, tile512_2, tile512_3, tile512_4, tile512_5, tile512_6};

/*
 * AVX2+FMA: MR = 3 rows of A held in registers, W's 4 rows loaded one at
 * a time: 12 accumulators + 3 + 1 in the 16 registers.
 */
#define MR256 3

__attribute__((target("avx2,fma"), always_inline)) static inline __m128
sum4_256(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
	__m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1),
	    _mm256_hadd_ps(a2, a3));
	return _mm_add_ps(_mm256_castps256_ps128(t),
	    _mm256_extractf128_ps(t, 1));
}

__attribute__((target("avx2,fma"), always_inline)) static inline __m256
load8(const float *p, int n)
{
	/* the first n (< 8) floats of p, the rest 0 */
	__m256i i = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(
	    _mm256_set1_epi32(n), i));
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
tile256(const struct tile *t, int mr)
{
	const float *A = t->A, *pf = t->pf;
	size_t lda = t->lda;
	__m256 acc[MR256][NR], a[MR256], b;
	int k = t->k0;

#pragma GCC unroll 8
	for (int m = 0; m < mr; m++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			acc[m][j] = _mm256_setzero_ps();
	for (; k + 8 <= t->k1; k += 8) {
		_mm_prefetch((const char *)(pf + 2 * k), _MM_HINT_T1);
#pragma GCC unroll 8
		for (int m = 0; m < mr; m++)
			a[m] = _mm256_loadu_ps(A + m * lda + k);
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			b = _mm256_loadu_ps(t->w[j] + k);
#pragma GCC unroll 8
			for (int m = 0; m < mr; m++)
				acc[m][j] = _mm256_fmadd_ps(a[m], b, acc[m][j]);
		}
	}
	if (k < t->k1) {
#pragma GCC unroll 8
		for (int m = 0; m < mr; m++)
			a[m] = load8(A + m * lda + k, t->k1 - k);
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			b = load8(t->w[j] + k, t->k1 - k);
#pragma GCC unroll 8
			for (int m = 0; m < mr; m++)
				acc[m][j] = _mm256_fmadd_ps(a[m], b, acc[m][j]);
		}
	}
#pragma GCC unroll 8
	for (int m = 0; m < mr; m++) {
		float s[NR];
		_mm_storeu_ps(s, sum4_256(acc[m][0], acc[m][1], acc[m][2],
		    acc[m][3]));
		store4(t->C + m * t->ldc, s, t);
	}
}

#define TILE256(mr)							\
__attribute__((target("avx2,fma"))) static void			\
tile256_##mr(const struct tile *t)					\
{									\
	tile256(t, mr);							\
}
TILE256(1) TILE256(2) TILE256(3)

static void (*const tiles256[MR256 + 1])(const struct tile *) = {NULL,
    tile256_1, tile256_2, tile256_3};
#endif

/*
 * Plain C: the same sums in 16 lanes (a fixed trip count the compiler
 * vectorises with the baseline's SSE2), one row of A at a time.
 */
#define LANES 16

static void
tile_c(const struct tile *t, int mr)
{
	for (int m = 0; m < mr; m++) {
		const float *a = t->A + m * t->lda;
		float s[NR];
		for (int j = 0; j < NR; j++) {
			const float *w = t->w[j];
			float l[LANES] = {0};
			int k = t->k0;
			for (; k + LANES <= t->k1; k += LANES)
				for (int i = 0; i < LANES; i++)
					l[i] += a[k + i] * w[k + i];
			for (int i = 0; k + i < t->k1; i++)
				l[i] += a[k + i] * w[k + i];
			s[j] = 0;
			for (int i = 0; i < LANES; i++)
				s[j] += l[i];
		}
		store4(t->C + m * t->ldc, s, t);
	}
}

/*
 * C[0..M) x [n0, n1) = A (M,K) . W[n0..n1)^T (+ bias[n0..n1)), W (N,K)
 * row-major at ldw, A at lda, C at ldc (C's columns n0.. written).
 * For each tile of NR rows of W and each block of K, every group of rows
 * of A (groups of about equal size, at most MR) passes over the tile.
 */
void
gemm_nt(float *C, size_t ldc, const float *A, size_t lda, const float *W,
    size_t ldw, const float *bias, int M, int K, int n0, int n1)
{
	int simd = nn_simd(), mr = 1;
	struct tile t = {.ldc = ldc, .lda = lda};

	if (M <= 0 || n1 <= n0)
		return;
#ifdef GEMM_X86
	if (simd == 2)
		mr = MR512;
	else if (simd == 1)
		mr = MR256;
#endif
	int ng = (M + mr - 1) / mr;
	int nkb = (K + KC - 1) / KC, kc = ((K + nkb - 1) / nkb + 15) & ~15;
	for (int n = n0; n < n1; n += NR) {
		t.nr = n1 - n < NR ? n1 - n : NR;
		for (int j = 0; j < NR; j++)
			t.w[j] = W + (size_t)(n + (j < t.nr ? j : t.nr - 1)) *
			    ldw;
		/* the rows AHEAD tiles on: each group of A fetches another
		 * part of them, all (when W's rows are contiguous) with two
		 * groups or more */
		const float *pf = W + (size_t)(n + AHEAD * NR < n1 ?
		    n + AHEAD * NR : n) * ldw;
		for (int k0 = 0; k0 < K; k0 += kc) {
			t.k0 = k0;
			t.k1 = K - k0 < kc ? K : k0 + kc;
			t.add = k0 > 0;
			t.bias = bias != NULL ? bias + n : NULL;
			for (int g = 0, m = 0; g < ng; g++) {
				/* group g: rows [m, m + rows) */
				int rows = (M - m + ng - g - 1) / (ng - g);
				t.C = C + (size_t)m * ldc + n;
				t.A = A + (size_t)m * lda;
				t.pf = pf + (size_t)(g % 2) * 2 * K;
#ifdef GEMM_X86
				if (simd == 2)
					tiles512[rows](&t);
				else if (simd == 1)
					tiles256[rows](&t);
				else
#endif
					tile_c(&t, rows);
				m += rows;
			}
		}
	}
}
