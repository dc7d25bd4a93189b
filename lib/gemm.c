/*
 * gemm.c - the product of a few rows (a prompt, a batch of queries: tens
 * to a few hundred) with a weight matrix read in place, in its stored
 * dtype.
 *
 * Why not sgemm: at 64 rows OpenBLAS spends a quarter of its time packing
 * the weights (read from memory, copied, read again), a phase in which no
 * multiply runs, and F16/BF16 weights needed a widened copy on top.  Here
 * the weights stream from the mapping straight into registers (F16/BF16
 * widened there) while the few input rows stay in L1/L2; a panel of 48
 * columns of W is read from memory once and then from L2 by every tile of
 * rows.  Every output is bias + sum over k = 0, 1, ..., K-1 in order, one
 * fused multiply-add each, in every ISA path and tile shape: the results
 * are the same bits on every path and for any split of the columns.
 */
#include <math.h>
#include <string.h>

#include "qkv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GM_X86 1
#endif

#define GM_NB 48	/* output columns per panel */
#define GM_MR512 8	/* rows per AVX-512 tile: 8 x 3 zmm accumulators */
#define GM_MR256 4	/* AVX2: 4 x 3 ymm per half panel, 12 of 16 registers */
#define GM_MRC 4	/* plain C */
#define GM_AHEAD 16	/* rows: ~16 x 24 FMA cycles cover a miss to DRAM */
#ifndef GM_KC
#define GM_KC 384	/* rows of W per block: 64 x 384 inputs fit L2 */
#endif

/* One element of W (k, n), any dtype, for the plain C path. */
static inline float
wel(const char *p, int dtype, int n)
{
	uint16_t h;
	float f;

	if (dtype == QKV_F32) {
		memcpy(&f, p + 4 * (size_t)n, 4);
		return f;
	}
	memcpy(&h, p + 2 * (size_t)n, 2);
	return dtype == QKV_F16 ? qkv_f16_to_f32(h) : qkv_bf16_to_f32(h);
}

/*
 * A tile: c (mr, nv) = init + a (mr, kc) . w (kc, nv), nv <= GM_NB, where
 * init is c itself (accum), else bias (one row for all), else 0.  a has
 * row stride lda floats, w row stride ldw bytes and GM_NB readable
 * columns, c row stride ldc floats.
 */
struct tile {
	int kc, lda, ldc, accum, nv;
	const float *a, *bias;
	const char *w, *pf;	/* pf: lines of each row to prefetch, or NULL */
	int pfn;		/* how many lines from pf in each row */
	size_t ldw;
	float *c;
};

static void
tile_c(const struct tile *t, int mr, int dtype)
{
	float acc[GM_NB];

	for (int m = 0; m < mr; m++) {
		float *c = t->c + (size_t)m * t->ldc;
		const float *a = t->a + (size_t)m * t->lda;
		for (int n = 0; n < t->nv; n++)
			acc[n] = t->accum ? c[n] : t->bias ? t->bias[n] : 0;
		for (int k = 0; k < t->kc; k++) {
			const char *wr = t->w + (size_t)k * t->ldw;
			for (int n = 0; n < t->nv; n++)
				acc[n] = fmaf(a[k], wel(wr, dtype, n), acc[n]);
		}
		memcpy(c, acc, (size_t)t->nv * sizeof *c);
	}
}

#ifdef GM_X86
__attribute__((target("avx512f"), always_inline)) static inline __m512
wide512(const char *p, int dtype)
{
	if (dtype == QKV_F32)
		return _mm512_loadu_ps(p);
	if (dtype == QKV_F16)
		return _mm512_cvtph_ps(_mm256_loadu_si256((const void *)p));
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(
	    _mm256_loadu_si256((const void *)p)), 16));
}

/* mr and dtype are constants where this is inlined: acc stays in
 * registers, 24 accumulators, 3 loads of W and mr broadcasts per k. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile512_body(const struct tile *t, const int mr, const int dtype)
{
	const size_t es = dtype == QKV_F32 ? 4 : 2;
	const float *a = t->a;
	const char *w = t->w;
	__m512 acc[GM_MR512][3];
	__mmask16 mk[3];

	for (int j = 0; j < 3; j++) {
		int r = t->nv - 16 * j;
		r = r < 0 ? 0 : r > 16 ? 16 : r;
		mk[j] = (__mmask16)((1u << r) - 1);
	}
#pragma GCC unroll 8
	for (int m = 0; m < mr; m++)
#pragma GCC unroll 3
		for (int j = 0; j < 3; j++)
			acc[m][j] = t->accum ? _mm512_maskz_loadu_ps(mk[j], t->c +
			    (size_t)m * t->ldc + 16 * j) : t->bias ?
			    _mm512_maskz_loadu_ps(mk[j], t->bias + 16 * j) :
			    _mm512_setzero_ps();
	for (int k = 0; k < t->kc; k++) {
		const char *wr = w + (size_t)k * t->ldw;
		if (t->pf != NULL)
			for (int q = 0; q < t->pfn; q++)
				_mm_prefetch(t->pf + (size_t)k * t->ldw + 64 * q,
				    _MM_HINT_T0);
		__m512 w0 = wide512(wr, dtype), w1 = wide512(wr + 16 * es, dtype),
		    w2 = wide512(wr + 32 * es, dtype);
#pragma GCC unroll 8
		for (int m = 0; m < mr; m++) {
			__m512 x = _mm512_set1_ps(a[(size_t)m * t->lda + k]);
			acc[m][0] = _mm512_fmadd_ps(x, w0, acc[m][0]);
			acc[m][1] = _mm512_fmadd_ps(x, w1, acc[m][1]);
			acc[m][2] = _mm512_fmadd_ps(x, w2, acc[m][2]);
		}
	}
#pragma GCC unroll 8
	for (int m = 0; m < mr; m++)
#pragma GCC unroll 3
		for (int j = 0; j < 3; j++)
			_mm512_mask_storeu_ps(t->c + (size_t)m * t->ldc + 16 * j,
			    mk[j], acc[m][j]);
}

/* 24 columns from col of the panel, mr <= 4 rows. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256
wide256(const char *p, int dtype)
{
	if (dtype == QKV_F32)
		return _mm256_loadu_ps((const float *)p);
	if (dtype == QKV_F16)
		return _mm256_cvtph_ps(_mm_loadu_si128((const void *)p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(
	    _mm_loadu_si128((const void *)p)), 16));
}

__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
half256_body(const struct tile *t, const int mr, const int dtype, int col)
{
	const size_t es = dtype == QKV_F32 ? 4 : 2;
	const float *a = t->a;
	const char *w = t->w + (size_t)col * es;
	float *c = t->c + col;
	const float *bias = t->bias ? t->bias + col : NULL;
	__m256 acc[GM_MR256][3];
	__m256i mk[3];

	for (int j = 0; j < 3; j++)
		mk[j] = _mm256_cmpgt_epi32(_mm256_set1_epi32(t->nv - col - 8 * j),
		    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 4
	for (int m = 0; m < mr; m++)
#pragma GCC unroll 3
		for (int j = 0; j < 3; j++)
			acc[m][j] = t->accum ? _mm256_maskload_ps(c + (size_t)m *
			    t->ldc + 8 * j, mk[j]) : bias ? _mm256_maskload_ps(
			    bias + 8 * j, mk[j]) : _mm256_setzero_ps();
	for (int k = 0; k < t->kc; k++) {
		const char *wr = w + (size_t)k * t->ldw;
		if (t->pf != NULL && col == 0)
			for (int q = 0; q < t->pfn; q++)
				_mm_prefetch(t->pf + (size_t)k * t->ldw + 64 * q,
				    _MM_HINT_T0);
		__m256 w0 = wide256(wr, dtype), w1 = wide256(wr + 8 * es, dtype),
		    w2 = wide256(wr + 16 * es, dtype);
#pragma GCC unroll 4
		for (int m = 0; m < mr; m++) {
			__m256 x = _mm256_broadcast_ss(a + (size_t)m * t->lda + k);
			acc[m][0] = _mm256_fmadd_ps(x, w0, acc[m][0]);
			acc[m][1] = _mm256_fmadd_ps(x, w1, acc[m][1]);
			acc[m][2] = _mm256_fmadd_ps(x, w2, acc[m][2]);
		}
	}
#pragma GCC unroll 4
	for (int m = 0; m < mr; m++)
#pragma GCC unroll 3
		for (int j = 0; j < 3; j++)
			_mm256_maskstore_ps(c + (size_t)m * t->ldc + 8 * j, mk[j],
			    acc[m][j]);
}

__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile256_body(const struct tile *t, const int mr, const int dtype)
{
	half256_body(t, mr, dtype, 0);
	if (t->nv > 24)
		half256_body(t, mr, dtype, 24);
}

/* The bodies with mr and dtype as constants. */
#define GM_DT(body, mr)							\
	do {								\
		if (dtype == QKV_F32)					\
			body(t, mr, QKV_F32);				\
		else if (dtype == QKV_F16)				\
			body(t, mr, QKV_F16);				\
		else							\
			body(t, mr, QKV_BF16);				\
	} while (0)

__attribute__((target("avx512f"))) static void
tile512(const struct tile *t, int mr, int dtype)
{
	switch (mr) {
	case 1: GM_DT(tile512_body, 1); break;
	case 2: GM_DT(tile512_body, 2); break;
	case 3: GM_DT(tile512_body, 3); break;
	case 4: GM_DT(tile512_body, 4); break;
	case 5: GM_DT(tile512_body, 5); break;
	case 6: GM_DT(tile512_body, 6); break;
	case 7: GM_DT(tile512_body, 7); break;
	default: GM_DT(tile512_body, 8); break;
	}
}

__attribute__((target("avx2,fma,f16c"))) static void
tile256(const struct tile *t, int mr, int dtype)
{
	switch (mr) {
	case 1: GM_DT(tile256_body, 1); break;
	case 2: GM_DT(tile256_body, 2); break;
	case 3: GM_DT(tile256_body, 3); break;
	default: GM_DT(tile256_body, 4); break;
	}
}
#endif

/* The panel W[k0..k0+kc, p0..p0+nv) as f32 (kc, GM_NB) in dst, columns
 * from nv on zero; tmp holds kc floats. */
static void
pack(float *dst, float *tmp, const nn_weight *w, int trans, int k0, int kc,
    int p0, int nv)
{
	size_t es = qkv_dtype_size(w->dtype);
	const char *base = w->data;

	if (!trans) {
		for (int k = 0; k < kc; k++) {
			float *d = dst + (size_t)k * GM_NB;
			nn_widen(d, base + ((size_t)(k0 + k) * w->cols + p0) * es,
			    w->dtype, (size_t)nv);
			memset(d + nv, 0, (size_t)(GM_NB - nv) * sizeof *d);
		}
		return;
	}
	if (nv < GM_NB)
		for (int k = 0; k < kc; k++)
			memset(dst + (size_t)k * GM_NB + nv, 0,
			    (size_t)(GM_NB - nv) * sizeof *dst);
	for (int n = 0; n < nv; n++) {
		nn_widen(tmp, base + ((size_t)(p0 + n) * w->cols + k0) * es,
		    w->dtype, (size_t)kc);
		for (int k = 0; k < kc; k++)
			dst[(size_t)k * GM_NB + n] = tmp[k];
	}
}

/* ---- [out, in] f32: dot products ------------------------------------------
 *
 * W (N,K) row-major as PyTorch's Linear stores it (BERT).  Transposing
 * panels of it into scratch cost as much as OpenBLAS's packing; instead
 * each output is a dot product of a row of A and a row of W, computed in
 * vector lanes and summed across them at the end.  Tiles: DOT_NR = 4 rows
 * of W (held in L1 while every group of up to DOT_MR rows of A passes
 * over them), the next tiles' rows fetched into L2 ahead; K in blocks of
 * at most DOT_KC.  Each output's sum has an order fixed by K and the ISA
 * path alone: the same bits for any split into column ranges (not across
 * ISA paths: lanes of 16, 8, 16).  16 rows x 768 x 2304 from memory, one
 * core: 73 GFLOP/s against 45 through OpenBLAS.
 */
#define DOT_NR 4
#ifndef DOT_KC
#define DOT_KC 1024	/* a tile's rows of W: 16 KiB */
#endif
#ifndef DOT_AHEAD
#define DOT_AHEAD 2	/* tiles */
#endif

/* One tile's work: C (mr,nr) (+)= A (mr, k0..k1) . W's nr rows^T. */
struct dot {
	float *C;
	const float *A;
	size_t ldc, lda;
	const float *w[DOT_NR];	/* padded to DOT_NR: missing rows repeat the last */
	const float *pf;	/* fetched ahead from here, 2 lines a step */
	const float *bias;	/* DOT_NR floats, or NULL */
	int k0, k1;
	int add;		/* add to C (a later block of K) */
	int nr;
};

/* C's row of nr outputs from the 4 sums in s */
static inline void
dot_store(float *c, const float *s, const struct dot *t)
{
	for (int j = 0; j < t->nr; j++)
		c[j] = (t->add ? c[j] : t->bias ? t->bias[j] : 0) + s[j];
}

#ifdef GM_X86
/*
 * AVX-512: MR = 6 rows of A, 24 accumulators + 4 of W + 1 of A in the 32
 * registers.  K % 16 in one masked step.
 */
#define DOT_MR512 6

__attribute__((target("avx512f"), always_inline)) static inline __m128
dot_sum512(__m512 a0, __m512 a1, __m512 a2, __m512 a3)
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

#define DOT_FMA512(m, a)							\
	do {								\
		acc[m][0] = _mm512_fmadd_ps(a, w0, acc[m][0]);		\
		acc[m][1] = _mm512_fmadd_ps(a, w1, acc[m][1]);		\
		acc[m][2] = _mm512_fmadd_ps(a, w2, acc[m][2]);		\
		acc[m][3] = _mm512_fmadd_ps(a, w3, acc[m][3]);		\
	} while (0)

__attribute__((target("avx512f"), always_inline)) static inline void
dot512(const struct dot *t, int mr)
{
	const float *A = t->A, *w0p = t->w[0], *w1p = t->w[1],
	    *w2p = t->w[2], *w3p = t->w[3], *pf = t->pf;
	size_t lda = t->lda;
	__m512 acc[DOT_MR512][DOT_NR], w0, w1, w2, w3;
	int k = t->k0;

#pragma GCC unroll 8
	for (int m = 0; m < mr; m++)
#pragma GCC unroll 8
		for (int j = 0; j < DOT_NR; j++)
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
			DOT_FMA512(m, _mm512_loadu_ps(A + m * lda + k));
	}
	if (k < t->k1) {
		__mmask16 tail = (__mmask16)((1u << (t->k1 - k)) - 1);
		w0 = _mm512_maskz_loadu_ps(tail, w0p + k);
		w1 = _mm512_maskz_loadu_ps(tail, w1p + k);
		w2 = _mm512_maskz_loadu_ps(tail, w2p + k);
		w3 = _mm512_maskz_loadu_ps(tail, w3p + k);
#pragma GCC unroll 8
		for (int m = 0; m < mr; m++)
			DOT_FMA512(m, _mm512_maskz_loadu_ps(tail, A + m * lda + k));
	}
#pragma GCC unroll 8
	for (int m = 0; m < mr; m++) {
		float s[DOT_NR];
		_mm_storeu_ps(s, dot_sum512(acc[m][0], acc[m][1], acc[m][2],
		    acc[m][3]));
		dot_store(t->C + m * t->ldc, s, t);
	}
}

/* One instance per row count, so the tile's loops unroll to registers. */
#define DOT512(mr)							\
__attribute__((target("avx512f"))) static void				\
dot512_##mr(const struct dot *t)					\
{									\
	dot512(t, mr);							\
}
DOT512(1) DOT512(2) DOT512(3) DOT512(4) DOT512(5) DOT512(6)

static void (*const dots512[DOT_MR512 + 1])(const struct dot *) = {NULL,
    dot512_1, dot512_2, dot512_3, dot512_4, dot512_5, dot512_6};

/*
 * AVX2+FMA: MR = 3 rows of A held in registers, W's 4 rows loaded one at
 * a time: 12 accumulators + 3 + 1 in the 16 registers.
 */
#define DOT_MR256 3

__attribute__((target("avx2,fma"), always_inline)) static inline __m128
dot_sum256(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
	__m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1),
	    _mm256_hadd_ps(a2, a3));
	return _mm_add_ps(_mm256_castps256_ps128(t),
	    _mm256_extractf128_ps(t, 1));
}

__attribute__((target("avx2,fma"), always_inline)) static inline __m256
dot_load8(const float *p, int n)
{
	/* the first n (< 8) floats of p, the rest 0 */
	__m256i i = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(
	    _mm256_set1_epi32(n), i));
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
dot256(const struct dot *t, int mr)
{
	const float *A = t->A, *pf = t->pf;
	size_t lda = t->lda;
	__m256 acc[DOT_MR256][DOT_NR], a[DOT_MR256], b;
	int k = t->k0;

#pragma GCC unroll 8
	for (int m = 0; m < mr; m++)
#pragma GCC unroll 8
		for (int j = 0; j < DOT_NR; j++)
			acc[m][j] = _mm256_setzero_ps();
	for (; k + 8 <= t->k1; k += 8) {
		_mm_prefetch((const char *)(pf + 2 * k), _MM_HINT_T1);
#pragma GCC unroll 8
		for (int m = 0; m < mr; m++)
			a[m] = _mm256_loadu_ps(A + m * lda + k);
#pragma GCC unroll 8
		for (int j = 0; j < DOT_NR; j++) {
			b = _mm256_loadu_ps(t->w[j] + k);
#pragma GCC unroll 8
			for (int m = 0; m < mr; m++)
				acc[m][j] = _mm256_fmadd_ps(a[m], b, acc[m][j]);
		}
	}
	if (k < t->k1) {
#pragma GCC unroll 8
		for (int m = 0; m < mr; m++)
			a[m] = dot_load8(A + m * lda + k, t->k1 - k);
#pragma GCC unroll 8
		for (int j = 0; j < DOT_NR; j++) {
			b = dot_load8(t->w[j] + k, t->k1 - k);
#pragma GCC unroll 8
			for (int m = 0; m < mr; m++)
				acc[m][j] = _mm256_fmadd_ps(a[m], b, acc[m][j]);
		}
	}
#pragma GCC unroll 8
	for (int m = 0; m < mr; m++) {
		float s[DOT_NR];
		_mm_storeu_ps(s, dot_sum256(acc[m][0], acc[m][1], acc[m][2],
		    acc[m][3]));
		dot_store(t->C + m * t->ldc, s, t);
	}
}

#define DOT256(mr)							\
__attribute__((target("avx2,fma"))) static void			\
dot256_##mr(const struct dot *t)					\
{									\
	dot256(t, mr);							\
}
DOT256(1) DOT256(2) DOT256(3)

static void (*const dots256[DOT_MR256 + 1])(const struct dot *) = {NULL,
    dot256_1, dot256_2, dot256_3};
#endif

/*
 * Plain C: the same sums in 16 lanes (a fixed trip count the compiler
 * vectorises with the baseline's SSE2), one row of A at a time.
 */
#define DOT_LANES 16

static void
dot_c(const struct dot *t, int mr)
{
	for (int m = 0; m < mr; m++) {
		const float *a = t->A + m * t->lda;
		float s[DOT_NR];
		for (int j = 0; j < DOT_NR; j++) {
			const float *w = t->w[j];
			float l[DOT_LANES] = {0};
			int k = t->k0;
			for (; k + DOT_LANES <= t->k1; k += DOT_LANES)
				for (int i = 0; i < DOT_LANES; i++)
					l[i] += a[k + i] * w[k + i];
			for (int i = 0; k + i < t->k1; i++)
				l[i] += a[k + i] * w[k + i];
			s[j] = 0;
			for (int i = 0; i < DOT_LANES; i++)
				s[j] += l[i];
		}
		dot_store(t->C + m * t->ldc, s, t);
	}
}

/*
 * C[0..M) x [n0, n1) = A (M,K) . W[n0..n1)^T (+ bias[n0..n1)), W (N,K)
 * row-major at ldw, A at lda, C at ldc (C's columns n0.. written).
 * For each tile of DOT_NR rows of W and each block of K, every group of rows
 * of A (groups of about equal size, at most MR) passes over the tile.
 */
static void
dot_nt(float *C, size_t ldc, const float *A, size_t lda, const float *W,
    size_t ldw, const float *bias, int M, int K, int n0, int n1)
{
	int simd = nn_simd(), mr = 1;
	struct dot t = {.ldc = ldc, .lda = lda};

	if (M <= 0 || n1 <= n0)
		return;
#ifdef GM_X86
	if (simd == 2)
		mr = DOT_MR512;
	else if (simd == 1)
		mr = DOT_MR256;
#endif
	int ng = (M + mr - 1) / mr;
	int nkb = (K + DOT_KC - 1) / DOT_KC, kc = ((K + nkb - 1) / nkb + 15) & ~15;
	for (int n = n0; n < n1; n += DOT_NR) {
		t.nr = n1 - n < DOT_NR ? n1 - n : DOT_NR;
		for (int j = 0; j < DOT_NR; j++)
			t.w[j] = W + (size_t)(n + (j < t.nr ? j : t.nr - 1)) *
			    ldw;
		/* the rows DOT_AHEAD tiles on: each group of A fetches another
		 * part of them, all (when W's rows are contiguous) with two
		 * groups or more */
		const float *pf = W + (size_t)(n + DOT_AHEAD * DOT_NR < n1 ?
		    n + DOT_AHEAD * DOT_NR : n) * ldw;
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
#ifdef GM_X86
				if (simd == 2)
					dots512[rows](&t);
				else if (simd == 1)
					dots256[rows](&t);
				else
#endif
					dot_c(&t, rows);
				m += rows;
			}
		}
	}
}

size_t
nn_gemm_scratch(void)
{
	return (size_t)GM_KC * (GM_NB + 1);
}

/* The in-place block of W at (k0, p0), or NULL if it goes through pack. */
static const char *
inplace(const nn_weight *w, int trans, int k0, int p0, int n1)
{
	if (trans || n1 - p0 < GM_NB)
		return NULL;
	return (const char *)w->data + ((size_t)k0 * w->cols + p0) *
	    qkv_dtype_size(w->dtype);
}

void
nn_gemm(float *out, int ldo, const float *inp, int lda, const nn_weight *w,
    int trans, const float *bias, int M, int K, int n0, int n1,
    float *scratch)
{
	int simd = nn_simd();
	int mr = simd == 2 ? GM_MR512 : simd == 1 ? GM_MR256 : GM_MRC;
	int lines = (GM_NB * (int)qkv_dtype_size(w->dtype) + 63) / 64 + 1;

	if (trans && w->dtype == QKV_F32) {
		dot_nt(out, (size_t)ldo, inp, (size_t)lda, w->data,
		    (size_t)w->cols, bias, M, K, n0, n1);
		return;
	}

	for (int p0 = n0; p0 < n1; p0 += GM_NB) {
		int nv = n1 - p0 < GM_NB ? n1 - p0 : GM_NB;
		for (int k0 = 0; k0 < K; k0 += GM_KC) {
			struct tile t;
			int dt = QKV_F32;
			t.kc = K - k0 < GM_KC ? K - k0 : GM_KC;
			t.lda = lda;
			t.ldc = ldo;
			t.accum = k0 > 0;
			t.nv = nv;
			t.bias = k0 == 0 && bias ? bias + p0 : NULL;
			/* the next block, to prefetch while this one runs: a
			 * panel's first pass would otherwise wait on memory
			 * for every row */
			const char *next = k0 + t.kc < K ? inplace(w, trans,
			    k0 + t.kc, p0, n1) : p0 + GM_NB < n1 ? inplace(w,
			    trans, 0, p0 + GM_NB, n1) : NULL;
			int kn = k0 + t.kc < K ? K - k0 - t.kc : K;
			if ((t.w = inplace(w, trans, k0, p0, n1)) != NULL) {
				/* whole panels only, so no read runs past
				 * the matrix */
				t.ldw = (size_t)w->cols * qkv_dtype_size(w->dtype);
				dt = w->dtype;
			} else {
				pack(scratch, scratch + (size_t)GM_KC * GM_NB,
				    w, trans, k0, t.kc, p0, nv);
				t.w = (const char *)scratch;
				t.ldw = GM_NB * sizeof(float);
			}
			for (int m0 = 0, i = 0; m0 < M; m0 += mr, i++) {
				int r = M - m0 < mr ? M - m0 : mr;
				t.a = inp + (size_t)m0 * lda + k0;
				t.c = out + (size_t)m0 * ldo + p0;
				/* the first tile of a call's first block
				 * fetches its own rows GM_AHEAD ahead; later
				 * tiles one line each of the next block's */
				t.pfn = 1;
				t.pf = NULL;
				if (i == 0 && p0 == n0 && k0 == 0 &&
				    !trans && nv == GM_NB) {
					t.pf = t.w + GM_AHEAD * t.ldw;
					t.pfn = lines;
				} else if (next != NULL && i >= 1 && i <= lines &&
				    t.kc <= kn)
					t.pf = next + 64 * (i - 1);
#ifdef GM_X86
				if (simd == 2) {
					tile512(&t, r, dt);
					continue;
				}
				if (simd == 1) {
					tile256(&t, r, dt);
					continue;
				}
#endif
				tile_c(&t, r, dt);
			}
		}
	}
}

/* ---- many rows: packed panels ----------------------------------------------
 *
 * For hundreds to thousands of rows (a batch of sequences, a batch of
 * queries against an index block) the weights are reused by so many rows
 * that copying them once into panels pays: W becomes PG_NR-column panels,
 * each K rows of PG_NR contiguous floats (f32 whatever W's dtype), made by
 * all workers together into one shared buffer; each worker then takes a
 * range of rows, packs its rows of A block by block (PG_MC rows by PG_KC
 * columns, k-major inside each tile of PG_MR rows, so that a tile's
 * broadcasts read one stream and rows a multiple of 4 KiB apart do not
 * fight over L1 sets), and runs the tile kernel over every panel while
 * the panel's PG_KC x PG_NR block stays in L1.  Each output is init + its
 * K products fused-multiply-added in order of k (init: bias or 0; C is
 * stored and reloaded between blocks of K, which is exact), so the result
 * does not depend on the tiling, the split among workers, the position of
 * a row or column, or the ISA path: the same bits as nn_gemm's broadcast
 * tiles.
 */
#define PG_NR NN_PANEL
#define PG_MR512 14	/* AVX-512 tile: 14 x 2 zmm accumulators of 32 */
#define PG_MR256 3	/* AVX2: 3 x 4 ymm */
#define PG_MRMAX 14
#ifndef PG_KC
#define PG_KC 768	/* a K block: C is reloaded once per block */
#endif
#ifndef PG_MC
#define PG_MC 84	/* rows of A per block: 84 x 768 floats, 252 KiB, in L2 */
#endif

size_t
nn_pgemm_panels(int N)
{
	return (size_t)(N + PG_NR - 1) / PG_NR;
}

#ifdef GM_X86
/* dst[c * ldd + r] = src[r * lds + c] for r < nr, c < nc (both <= 16), a
 * 16 x 16 block transposed in registers; rows nr..15 read as 0, and each
 * row of dst gets the lanes of smask. */
__attribute__((target("avx512f"))) static void
tr16(float *dst, size_t ldd, const float *src, size_t lds, int nr, int nc,
    __mmask16 smask)
{
	__mmask16 cm = (__mmask16)((1u << nc) - 1);
	__m512 r[16], t[16];

	for (int i = 0; i < 16; i++)
		r[i] = i < nr ? _mm512_maskz_loadu_ps(cm, src + (size_t)i * lds) :
		    _mm512_setzero_ps();
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
	}
	for (int i = 0; i < 16; i += 4) {
		r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
		r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
		r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
		r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
	}
	for (int h = 0; h < 16; h += 8)
		for (int i = 0; i < 4; i++) {
			t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4],
			    0x88);
			t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i],
			    r[h + i + 4], 0xdd);
		}
	for (int i = 0; i < 8; i++) {
		r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
		r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
	}
	for (int c = 0; c < nc; c++)
		_mm512_mask_storeu_ps(dst + (size_t)c * ldd, smask, r[c]);
}
#endif

static void pack_panel(float *d, const nn_weight *w, int trans, int K, int N,
    int p, float *tmp);

/* Panels [p0, p1) of W (N columns of output) into bp, which holds
 * nn_pgemm_panels(N) * K * PG_NR floats; tmp: PG_NR * 1024 floats. */
void
nn_pgemm_pack(float *bp, const nn_weight *w, int trans, int K, int N, int p0,
    int p1, float *tmp)
{
	for (int p = p0; p < p1; p++)
		pack_panel(bp + (size_t)p * K * PG_NR, w, trans, K, N, p, tmp);
}

/* Panel p of W as (K, PG_NR) floats in d: W's rows n0.. (trans) or its
 * columns n0.. (not), those past N 0.  W's rows are w->cols elements
 * apart (more than K or N for a slice of a wider matrix); tmp: PG_NR *
 * 1024 floats. */
static void
pack_panel(float *d, const nn_weight *w, int trans, int K, int N, int p,
    float *tmp)
{
	size_t es = qkv_dtype_size(w->dtype), ldw = (size_t)w->cols;
	const char *base = w->data;
	int n0 = p * PG_NR, nv = N - n0 < PG_NR ? N - n0 : PG_NR;
#ifdef GM_X86
	if (trans && w->dtype == QKV_F32 && nn_simd() == 2) {
		/* two 16-row halves of the panel, 16 of K at a time */
		const float *r = (const float *)w->data + (size_t)n0 * ldw;
		for (int k = 0; k < K; k += 16) {
			int kn = K - k < 16 ? K - k : 16;
			/* 32 streams are more than the hardware
			 * prefetchers follow: fetch 4 lines ahead */
			if (k + 64 < K)
				for (int j = 0; j < nv; j++)
					_mm_prefetch((const char *)(r +
					    (size_t)j * ldw + k + 64),
					    _MM_HINT_T0);
			tr16(d + (size_t)k * PG_NR, PG_NR, r + k, ldw,
			    nv < 16 ? nv : 16, kn, 0xffff);
			tr16(d + (size_t)k * PG_NR + 16, PG_NR, r + 16 *
			    ldw + k, ldw, nv > 16 ? nv - 16 : 0, kn,
			    0xffff);
		}
		return;
	}
#endif
	if (!trans) {
		/* W (K,N): each k's run of nv columns */
		for (int k = 0; k < K; k++) {
			nn_widen(d + (size_t)k * PG_NR, base +
			    ((size_t)k * ldw + n0) * es, w->dtype,
			    (size_t)nv);
			for (int j = nv; j < PG_NR; j++)
				d[(size_t)k * PG_NR + j] = 0;
		}
		return;
	}
	/* W (N,K): rows n0..n0+nv, transposed 1024 columns at a time
	 * through tmp (PG_NR rows of them) */
	for (int k0 = 0; k0 < K; k0 += 1024) {
		int kn = K - k0 < 1024 ? K - k0 : 1024;
		for (int j = 0; j < PG_NR; j++) {
			float *t = tmp + (size_t)j * 1024;
			if (j < nv)
				nn_widen(t, base + ((size_t)(n0 + j) * ldw +
				    k0) * es, w->dtype, (size_t)kn);
			else
				memset(t, 0, (size_t)kn * sizeof *t);
		}
		for (int k = 0; k < kn; k++) {
			float *r = d + (size_t)(k0 + k) * PG_NR;
			for (int j = 0; j < PG_NR; j++)
				r[j] = tmp[(size_t)j * 1024 + k];
		}
	}
}

/* One tile: C (mr, nv) = init + ap (kc, mr) . bp (kc, PG_NR), init being C
 * (accum), else bias[0..nv), else 0. */
struct ptile {
	int kc, mr, nv, accum;
	const float *ap, *bp, *bias;
	float *c;
	size_t ldc;
	const char *pf;		/* pfn lines from here to fetch into L2, */
	int pfn, pfq;		/* pfq a step (spread over the kc steps) */
};

static void
ptile_c(const struct ptile *t)
{
	for (int m = 0; m < t->mr; m++) {
		float *c = t->c + (size_t)m * t->ldc, acc[PG_NR];
		for (int n = 0; n < t->nv; n++)
			acc[n] = t->accum ? c[n] : t->bias ? t->bias[n] : 0;
		for (int k = 0; k < t->kc; k++) {
			float a = t->ap[(size_t)k * t->mr + m];
			const float *b = t->bp + (size_t)k * PG_NR;
			for (int n = 0; n < t->nv; n++)
				acc[n] = fmaf(a, b[n], acc[n]);
		}
		memcpy(c, acc, (size_t)t->nv * sizeof *c);
	}
}

#ifdef GM_X86
__attribute__((target("avx512f"), always_inline)) static inline void
ptile512_body(const struct ptile *t, const int MR)
{
	__m512 acc[PG_MRMAX][2];
	int r0 = t->nv < 16 ? t->nv : 16, r1 = t->nv - r0;
	__mmask16 m0 = (__mmask16)((1u << r0) - 1),
	    m1 = (__mmask16)((1u << r1) - 1);
	const float *ap = t->ap, *bp = t->bp;

	/* C's lines, written at the end: their misses hide behind the
	 * products */
	if (!t->accum)
#pragma GCC unroll 14
		for (int m = 0; m < MR; m++) {
			_mm_prefetch((const char *)(t->c + (size_t)m * t->ldc),
			    _MM_HINT_T0);
			_mm_prefetch((const char *)(t->c + (size_t)m * t->ldc +
			    16), _MM_HINT_T0);
		}
#pragma GCC unroll 14
	for (int m = 0; m < MR; m++) {
		const float *src = t->accum ? t->c + (size_t)m * t->ldc : t->bias;
		if (src != NULL) {
			acc[m][0] = _mm512_maskz_loadu_ps(m0, src);
			acc[m][1] = _mm512_maskz_loadu_ps(m1, src + 16);
		} else {
			acc[m][0] = _mm512_setzero_ps();
			acc[m][1] = _mm512_setzero_ps();
		}
	}
	for (int k = 0; k < t->kc; k++, ap += MR, bp += PG_NR) {
		__m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
		if (t->pf != NULL)
			for (int q = 0, l = k * t->pfq; q < t->pfq && l < t->pfn;
			    q++, l++)
				_mm_prefetch(t->pf + 64 * (size_t)l, _MM_HINT_T1);
#pragma GCC unroll 14
		for (int m = 0; m < MR; m++) {
			__m512 a = _mm512_set1_ps(ap[m]);
			acc[m][0] = _mm512_fmadd_ps(a, b0, acc[m][0]);
			acc[m][1] = _mm512_fmadd_ps(a, b1, acc[m][1]);
		}
	}
#pragma GCC unroll 14
	for (int m = 0; m < MR; m++) {
		_mm512_mask_storeu_ps(t->c + (size_t)m * t->ldc, m0, acc[m][0]);
		_mm512_mask_storeu_ps(t->c + (size_t)m * t->ldc + 16, m1,
		    acc[m][1]);
	}
}

#define PT512(mr)							\
__attribute__((target("avx512f"))) static void				\
ptile512_##mr(const struct ptile *t)					\
{									\
	ptile512_body(t, mr);						\
}
PT512(1) PT512(2) PT512(3) PT512(4) PT512(5) PT512(6) PT512(7)
PT512(8) PT512(9) PT512(10) PT512(11) PT512(12) PT512(13) PT512(14)

static void (*const ptiles512[PG_MR512 + 1])(const struct ptile *) = {NULL,
    ptile512_1, ptile512_2, ptile512_3, ptile512_4, ptile512_5, ptile512_6,
    ptile512_7, ptile512_8, ptile512_9, ptile512_10, ptile512_11,
    ptile512_12, ptile512_13, ptile512_14};

__attribute__((target("avx2,fma"), always_inline)) static inline void
ptile256_body(const struct ptile *t, const int MR)
{
	__m256 acc[PG_MR256][4];
	__m256i mk[4];
	const float *ap = t->ap, *bp = t->bp;

	for (int j = 0; j < 4; j++)
		mk[j] = _mm256_cmpgt_epi32(_mm256_set1_epi32(t->nv - 8 * j),
		    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
#pragma GCC unroll 3
	for (int m = 0; m < MR; m++) {
		const float *src = t->accum ? t->c + (size_t)m * t->ldc : t->bias;
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			acc[m][j] = src != NULL ? _mm256_maskload_ps(src + 8 * j,
			    mk[j]) : _mm256_setzero_ps();
	}
	for (int k = 0; k < t->kc; k++, ap += MR, bp += PG_NR) {
		if (t->pf != NULL)
			for (int q = 0, l = k * t->pfq; q < t->pfq && l < t->pfn;
			    q++, l++)
				_mm_prefetch(t->pf + 64 * (size_t)l, _MM_HINT_T1);
#pragma GCC unroll 3
		for (int m = 0; m < MR; m++) {
			__m256 a = _mm256_broadcast_ss(ap + m);
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++)
				acc[m][j] = _mm256_fmadd_ps(a,
				    _mm256_load_ps(bp + 8 * j), acc[m][j]);
		}
	}
#pragma GCC unroll 3
	for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			_mm256_maskstore_ps(t->c + (size_t)m * t->ldc + 8 * j,
			    mk[j], acc[m][j]);
}

#define PT256(mr)							\
__attribute__((target("avx2,fma"))) static void			\
ptile256_##mr(const struct ptile *t)					\
{									\
	ptile256_body(t, mr);						\
}
PT256(1) PT256(2) PT256(3)

static void (*const ptiles256[PG_MR256 + 1])(const struct ptile *) = {NULL,
    ptile256_1, ptile256_2, ptile256_3};
#endif

/* Rows of a tile on this CPU's path. */
static int
pg_mr(int simd)
{
	return simd == 2 ? PG_MR512 : simd == 1 ? PG_MR256 : 4;
}

static void
run_tile(int simd, const struct ptile *t)
{
#ifdef GM_X86
	if (simd == 2) {
		ptiles512[t->mr](t);
		return;
	}
	if (simd == 1) {
		ptiles256[t->mr](t);
		return;
	}
#endif
	(void)simd;
	ptile_c(t);
}

size_t
nn_pgemm_scratch(void)
{
	return (size_t)PG_MC * PG_KC;
}

/* The rows of A [m0, m1), columns [k0, k0 + kc), as tiles of mr rows:
 * tile i holds (kc, mr) floats, k-major. */
static void
pack_a(float *dst, const float *A, size_t lda, int m0, int m1, int k0,
    int kc, int mr)
{
#ifdef GM_X86
	if (nn_simd() == 2 && mr <= 16) {
		for (int i = m0; i < m1; i += mr) {
			int r = m1 - i < mr ? m1 - i : mr;
			for (int k = 0; k < kc; k += 16)
				tr16(dst + (size_t)k * r, (size_t)r, A + (size_t)i *
				    lda + k0 + k, lda, r, kc - k < 16 ? kc - k : 16,
				    (__mmask16)((1u << r) - 1));
			dst += (size_t)r * kc;
		}
		return;
	}
#endif
	for (int i = m0; i < m1; i += mr) {
		int r = m1 - i < mr ? m1 - i : mr;
		for (int m = 0; m < r; m++) {
			const float *s = A + (size_t)(i + m) * lda + k0;
			for (int k = 0; k < kc; k++)
				dst[(size_t)k * r + m] = s[k];
		}
		dst += (size_t)r * kc;
	}
}

void
nn_pgemm(float *C, int ldc, const float *A, int lda, const float *bp,
    const float *bias, int K, int N, int m0, int m1, int p0, int p1,
    int act, float *scratch)
{
	int simd = nn_simd(), mr = pg_mr(simd);
	int mc = PG_MC / mr * mr;
	struct ptile t;

	t.ldc = (size_t)ldc;
	t.pf = NULL;
	t.pfn = t.pfq = 0;
	for (int k0 = 0; k0 < K; k0 += PG_KC) {
		t.kc = K - k0 < PG_KC ? K - k0 : PG_KC;
		t.accum = k0 > 0;
		for (int i0 = m0; i0 < m1; i0 += mc) {
			int i1 = m1 - i0 < mc ? m1 : i0 + mc;
			pack_a(scratch, A, (size_t)lda, i0, i1, k0, t.kc, mr);
			/* the next block of A (rows on, or the first rows at
			 * the next K block) comes into L2 a slice per tile
			 * while this one is computed: packing it from memory
			 * would otherwise wait on every line */
			int nk0 = i1 < m1 ? k0 : k0 + PG_KC;
			int ni0 = i1 < m1 ? i1 : m0, nkc = K - nk0 < PG_KC ?
			    K - nk0 : PG_KC;
			int nrow = m1 - ni0 < mc ? m1 - ni0 : mc;
			size_t lpr = nk0 < K ? ((size_t)nkc + 15) / 16 : 0;
			size_t nline = lpr * (size_t)nrow, pl = 0;
			size_t calls = (size_t)(p1 - p0) * (size_t)((i1 - i0 +
			    mr - 1) / mr), per = calls ? (nline + calls - 1) /
			    calls : 0;
			for (int p = p0; p < p1; p++) {
				int n0 = p * PG_NR;
				t.nv = N - n0 < PG_NR ? N - n0 : PG_NR;
				t.bp = bp + ((size_t)p * K + k0) * PG_NR;
				t.bias = bias != NULL ? bias + n0 : NULL;
				t.ap = scratch;
				for (int i = i0; i < i1; i += mr) {
					t.mr = i1 - i < mr ? i1 - i : mr;
					t.c = C + (size_t)i * ldc + n0;
					for (size_t q = 0; q < per && pl < nline;
					    q++, pl++)
						__builtin_prefetch(A + (size_t)(ni0 +
						    pl / lpr) * lda + nk0 + 16 *
						    (pl % lpr), 0, 2);
					run_tile(simd, &t);
					/* the activation while the tile is in L1 */
					if (act != NN_ACT_NONE && k0 + t.kc >= K)
						for (int m = 0; m < t.mr; m++)
							nn_activate(t.c + (size_t)m *
							    ldc, (size_t)t.nv, act);
					t.ap += (size_t)t.mr * t.kc;
				}
			}
		}
	}
}

/* ---- a few hundred rows and fewer: A packed once, W a panel at a time ----
 *
 * With few rows each weight is used by few products, so packing all of W
 * first (nn_pgemm) would read it from memory, write it and read it again.
 * Here A is packed once for the whole of K, shared by all workers, in
 * tiles of about equal rows (at most PG_MR512; nn_pgemm_packa), and each
 * worker takes panels: it transposes a panel's PG_NR rows of W (K floats
 * each, read where they lie) into its scratch and runs every tile over
 * the whole of K at once, so C never leaves the registers, while the tiles
 * fetch the next panel's rows of W into L2: the stream from memory goes on
 * while the products run.  The same sums in the same order as nn_pgemm.
 */

/* Tile i of M rows in tiles of at most mr, about equal: its first row and
 * its length. */
static int
jit_tile(int M, int mr, int i, int *len)
{
	int nt = (M + mr - 1) / mr, base = M / nt, extra = M % nt;

	*len = base + (i < extra);
	return i * base + (i < extra ? i : extra);
}

int
nn_pgemm_tiles(int M)
{
	int simd = nn_simd(), mr = pg_mr(simd);

	return (M + mr - 1) / mr;
}

void
nn_pgemm_packa(float *ap, const float *A, int lda, int M, int K, int t0,
    int t1)
{
	int simd = nn_simd(), mr = pg_mr(simd);

	for (int i = t0; i < t1; i++) {
		int r, m = jit_tile(M, mr, i, &r);
		pack_a(ap + (size_t)m * K, A, (size_t)lda, m, m + r, 0, K, r);
	}
}

size_t
nn_pgemm_jit_scratch(int K)
{
	return (size_t)K * PG_NR + (size_t)PG_NR * 1024;
}

void
nn_pgemm_jit(float *C, int ldc, const float *ap, const nn_weight *w,
    int trans, const float *bias, int M, int K, int N, int p0, int p1,
    int act, float *scratch)
{
	int simd = nn_simd(), mr = pg_mr(simd);
	int nt = (M + mr - 1) / mr;
	float *bp = scratch, *tmp = scratch + (size_t)K * PG_NR;
	size_t es = qkv_dtype_size(w->dtype);
	/* the next panel's rows of W lie together only for [out, in] rows
	 * of K elements */
	int lines = trans && w->cols == K ? (int)(((size_t)PG_NR * K * es +
	    63) / 64) : 0;
	struct ptile t;

	t.ldc = (size_t)ldc;
	t.kc = K;
	t.accum = 0;
	for (int p = p0; p < p1; p++) {
		int n0 = p * PG_NR;
		pack_panel(bp, w, trans, K, N, p, tmp);
		t.nv = N - n0 < PG_NR ? N - n0 : PG_NR;
		t.bp = bp;
		t.bias = bias != NULL ? bias + n0 : NULL;
		int more = lines > 0 && p + 1 < p1 && (p + 2) * PG_NR <= N;
		for (int i = 0; i < nt; i++) {
			int m = jit_tile(M, mr, i, &t.mr);
			t.ap = ap + (size_t)m * K;
			t.c = C + (size_t)m * ldc + n0;
			t.pf = NULL;
			t.pfn = t.pfq = 0;
			if (more) {
				/* tile i fetches its share of the next panel */
				int l0 = (int)((long)lines * i / nt),
				    l1 = (int)((long)lines * (i + 1) / nt);
				t.pf = (const char *)w->data + (size_t)(n0 + PG_NR) *
				    K * es + 64 * (size_t)l0;
				t.pfn = l1 - l0;
				t.pfq = (t.pfn + K - 1) / K;
			}
			run_tile(simd, &t);
			if (act != NN_ACT_NONE)
				for (int r = 0; r < t.mr; r++)
					nn_activate(t.c + (size_t)r * ldc,
					    (size_t)t.nv, act);
		}
	}
}

size_t
nn_pgemm_small_scratch(int M, int K)
{
	/* A's tiles, rounded to whole lines so the panel stays aligned,
	 * one panel, and pack_panel's tmp */
	return ((size_t)M * K + 15) / 16 * 16 + (size_t)K * PG_NR +
	    (size_t)PG_NR * 1024;
}

void
nn_pgemm_small(float *C, int ldc, const float *A, int lda, const float *W,
    int ldw, int trans, int M, int K, int N, float *scratch)
{
	float *ap = scratch, *bp = scratch + ((size_t)M * K + 15) / 16 * 16;
	nn_weight w = {W, QKV_F32, trans ? N : K, ldw};

	if (M <= 0 || N <= 0)
		return;
	nn_pgemm_packa(ap, A, lda, M, K, 0, nn_pgemm_tiles(M));
	nn_pgemm_jit(C, ldc, ap, &w, trans, NULL, M, K, N, 0,
	    (int)nn_pgemm_panels(N), NN_ACT_NONE, bp);
}
