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
	const char *w, *pf;	/* pf: a line of each row to prefetch, or NULL */
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
			_mm_prefetch(t->pf + (size_t)k * t->ldw, _MM_HINT_T0);
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
			_mm_prefetch(t->pf + (size_t)k * t->ldw, _MM_HINT_T0);
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
				/* one line of each row of the next block per
				 * tile of rows */
				t.pf = next != NULL && i < lines && t.kc <= kn &&
				    (!trans && nv == GM_NB) ? next + 64 * i : NULL;
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
