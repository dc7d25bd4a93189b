/*
 * nn.c - the kernels both models share: the one sgemm wrapper every matrix
 * product goes through, LayerNorm, the two GELUs, softmax, bias adds.
 * Flat float arrays, row-major, no allocation.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "qkv.h"

/* Declared by OpenBLAS's cblas.h in some builds, not others. */
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);

void
nn_set_threads(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

int
nn_get_threads(void)
{
	return openblas_get_num_threads();
}

/*
 * C (M,N) = alpha * op(A) (M,K) . op(B) (K,N) + beta * C, row-major.
 * transa/transb: 0 = as stored, 1 = transposed.
 */
void
nn_sgemm(int transa, int transb, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C,
    int ldc)
{
	if (M == 0 || N == 0)
		return;
	cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
	    transb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
	    beta, C, ldc);
}

/*
 * Linear layer, PyTorch layout: out (N,OC) = inp (N,C) . w^T + b,
 * w is (OC,C) [out, in]; b (OC) may be NULL.
 */
void
nn_linear(float *out, const float *inp, const float *w, const float *b,
    int N, int C, int OC)
{
	if (b != NULL) {
		for (int i = 0; i < N; i++)
			memcpy(out + (size_t)i * OC, b, (size_t)OC * sizeof *b);
	}
	nn_sgemm(0, 1, N, OC, C, 1.0f, inp, C, w, C, b ? 1.0f : 0.0f, out, OC);
}

/*
 * Conv1D layer, GPT-2 layout: out (N,OC) = inp (N,C) . w + b,
 * w is (C,OC) [in, out]; b (OC) may be NULL.
 */
void
nn_conv1d(float *out, const float *inp, const float *w, const float *b,
    int N, int C, int OC)
{
	if (b != NULL) {
		for (int i = 0; i < N; i++)
			memcpy(out + (size_t)i * OC, b, (size_t)OC * sizeof *b);
	}
	nn_sgemm(0, 0, N, OC, C, 1.0f, inp, C, w, OC, b ? 1.0f : 0.0f, out, OC);
}

/*
 * LayerNorm over the last dimension: out (N,C) = (inp - mean) /
 * sqrt(var + eps) * w + b, biased variance.  out may equal inp.
 * Sums in double: a long row of float adds drifts by more than the
 * reference's own rounding.
 */
void
nn_layernorm(float *out, const float *inp, const float *w, const float *b,
    int N, int C, float eps)
{
	for (int i = 0; i < N; i++) {
		const float *x = inp + (size_t)i * C;
		float *y = out + (size_t)i * C;
		double s = 0, v = 0;
		for (int j = 0; j < C; j++)
			s += x[j];
		double mean = s / C;
		for (int j = 0; j < C; j++) {
			double d = x[j] - mean;
			v += d * d;
		}
		float rstd = (float)(1.0 / sqrt(v / C + eps));
		float m = (float)mean;
		for (int j = 0; j < C; j++)
			y[j] = (x[j] - m) * rstd * w[j] + b[j];
	}
}

/* Exact GELU (BERT "gelu"): x * 0.5 * (1 + erf(x / sqrt 2)), in place. */
void
nn_gelu_erf(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

/* Tanh GELU (GPT-2 "gelu_new"), in place. */
void
nn_gelu_tanh(float *x, size_t n)
{
	const float k = 0.7978845608028654f;	/* sqrt(2/pi) */

	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
	}
}

/* Softmax of each row of x (rows,n), in place; max-subtracted. */
void
nn_softmax(float *x, int rows, int n)
{
	for (int r = 0; r < rows; r++) {
		float *p = x + (size_t)r * n;
		float mx = -INFINITY, sum = 0;
		for (int j = 0; j < n; j++)
			if (p[j] > mx)
				mx = p[j];
		for (int j = 0; j < n; j++) {
			p[j] = expf(p[j] - mx);
			sum += p[j];
		}
		float inv = 1.0f / sum;
		for (int j = 0; j < n; j++)
			p[j] *= inv;
	}
}

/* x (N,C) += y (N,C). */
void
nn_add(float *x, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] += y[i];
}

/*
 * Vectorised kernels.  libm's erff and expf are scalar calls (about 17 and
 * 5 ns here); a BERT-base batch of 32 x 128 tokens needs 150 million GELUs
 * and 75 million softmax exponentials, seconds at that rate.  These work
 * on blocks of NN_BLK floats with fixed trip counts, so the compiler
 * vectorises them even at -O2, in AVX-512, AVX2+FMA and baseline
 * versions chosen at run time.  Accuracy: exp within 2 ulp,
 * erf within 4e-7 absolute, the same order as PyTorch's own vectorised GELU
 * (3.5e-7 from the exact value here).
 */
#define NN_BLK 16

/* Each public kernel is one always-inline body compiled three times, for
 * AVX-512, AVX2+FMA and the baseline, and picked by the CPU at each call
 * (a load and a test).  (target_clones would say this in one line, but
 * clang 14 does not export its dispatcher to other files.) */
#if defined(__x86_64__) && defined(__GNUC__)
#define NN_DISPATCH(name, params, args)					\
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))	\
static void name##_v4 params { name##_body args; }			\
__attribute__((target("avx2,fma")))					\
static void name##_v3 params { name##_body args; }			\
void name params							\
{									\
	if (__builtin_cpu_supports("avx512f") &&			\
	    __builtin_cpu_supports("avx512bw"))				\
		name##_v4 args;						\
	else if (__builtin_cpu_supports("avx2") &&			\
	    __builtin_cpu_supports("fma"))				\
		name##_v3 args;						\
	else								\
		name##_body args;					\
}
#else
#define NN_DISPATCH(name, params, args)					\
void name params { name##_body args; }
#endif
/* exp of one block in place: e^x = 2^n e^r, n = round(x / ln 2), |r| <=
 * ln2 / 2, e^r by a degree-6 polynomial fitted for relative error (model
 * error 2e-9), 2^n built in the exponent bits.  Inputs are clamped so n
 * stays in the normal range: exp(-87.3) ~ 1e-38 stands for 0. */
static inline __attribute__((always_inline)) void
exp_block(float *x)
{
	union {
		float f[NN_BLK];
		int32_t i[NN_BLK];
	} s;
	float r[NN_BLK];

	float c[NN_BLK];

	/* clamps in a loop of their own, so they become min/max instructions
	 * rather than branches that the rest is duplicated into */
	for (int j = 0; j < NN_BLK; j++)
		c[j] = x[j] < -87.3f ? -87.3f : x[j];
	for (int j = 0; j < NN_BLK; j++)
		c[j] = c[j] > 88.37f ? 88.37f : c[j];
	for (int j = 0; j < NN_BLK; j++) {
		float v = c[j];
		/* round to nearest by the 1.5 * 2^23 trick: no libm call */
		float n = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
		r[j] = (v - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
		s.i[j] = ((int32_t)n + 127) << 23;
	}
	for (int j = 0; j < NN_BLK; j++) {
		float t = r[j];
		float p = 0.0013836837242826399f;
		p = p * t + 0.008374815991295583f;
		p = p * t + 0.041668225739980067f;
		p = p * t + 0.16666420167790405f;
		p = p * t + 0.4999999207899587f;
		p = p * t + 1.000000036323593f;
		p = p * t + 1.0000000005542236f;
		x[j] = p * s.f[j];
	}
}

/* Exact (erf) GELU of one block in place.  erf(z) = z P(z^2) / Q(z^2), a
 * (6,4) rational fitted on [0, 3.92] for relative error 5e-8; beyond 3.92
 * erf is 1 in float. */
static inline __attribute__((always_inline)) void
gelu_erf_block(float *x)
{
	float c[NN_BLK], e[NN_BLK];

	for (int j = 0; j < NN_BLK; j++)
		c[j] = x[j] * 0.70710678118654752f;
	for (int j = 0; j < NN_BLK; j++)
		c[j] = c[j] < -3.92f ? -3.92f : c[j];
	for (int j = 0; j < NN_BLK; j++)
		c[j] = c[j] > 3.92f ? 3.92f : c[j];
	for (int j = 0; j < NN_BLK; j++) {
		float z = c[j];
		float t = z * z;
		float p = 1.9922344154030084e-08f;
		p = p * t - 1.9576804977144856e-06f;
		p = p * t + 0.00014183964466651827f;
		p = p * t + 0.0037013744398051197f;
		p = p * t + 0.05057272375953084f;
		p = p * t + 0.19992059989442215f;
		p = p * t + 1.1283791092505455f;
		float q = 0.000955964901157857f;
		q = q * t + 0.014352793053726111f;
		q = q * t + 0.11499670708044613f;
		q = q * t + 0.5105066769379112f;
		q = q * t + 1.0f;
		e[j] = z * p / q;
	}
	for (int j = 0; j < NN_BLK; j++)
		e[j] = e[j] > 1.0f ? 1.0f : e[j];
	for (int j = 0; j < NN_BLK; j++)
		e[j] = e[j] < -1.0f ? -1.0f : e[j];
	for (int j = 0; j < NN_BLK; j++)
		x[j] = 0.5f * x[j] * (1.0f + e[j]);
}

/* Apply a block kernel to x[0..n): whole blocks in place, the tail
 * through a padded copy. */
#define NN_BLOCKS(x, n, block) do {					\
	float tail_[NN_BLK];						\
	size_t i_;							\
	for (i_ = 0; i_ + NN_BLK <= (n); i_ += NN_BLK)			\
		block((x) + i_);					\
	if (i_ < (n)) {							\
		memset(tail_, 0, sizeof tail_);				\
		memcpy(tail_, (x) + i_, ((n) - i_) * sizeof *(x));	\
		block(tail_);						\
		memcpy((x) + i_, tail_, ((n) - i_) * sizeof *(x));	\
	}								\
} while (0)

static inline __attribute__((always_inline)) void
nn_exp_fast_body(float *x, size_t n)
{
	NN_BLOCKS(x, n, exp_block);
}
NN_DISPATCH(nn_exp_fast, (float *x, size_t n), (x, n))

static inline __attribute__((always_inline)) void
nn_gelu_erf_fast_body(float *x, size_t n)
{
	NN_BLOCKS(x, n, gelu_erf_block);
}
NN_DISPATCH(nn_gelu_erf_fast, (float *x, size_t n), (x, n))

/* Softmax of each row of x (rows,n) in place, with the vectorised exp.
 * Maximum and sum are kept in NN_BLK lanes so those loops vectorise too
 * (a single float accumulator would need -ffast-math). */
static inline __attribute__((always_inline)) void
nn_softmax_fast_body(float *x, int rows, int n)
{
	for (int r = 0; r < rows; r++) {
		float *p = x + (size_t)r * n;
		float mx[NN_BLK], sum[NN_BLK], tail[NN_BLK];
		float m = -INFINITY, s = 0;
		int i, j;

		for (j = 0; j < NN_BLK; j++)
			mx[j] = -INFINITY;
		for (i = 0; i + NN_BLK <= n; i += NN_BLK)
			for (j = 0; j < NN_BLK; j++)
				mx[j] = p[i + j] > mx[j] ? p[i + j] : mx[j];
		for (j = 0; j < NN_BLK; j++)
			m = mx[j] > m ? mx[j] : m;
		for (; i < n; i++)
			m = p[i] > m ? p[i] : m;
		for (j = 0; j < NN_BLK; j++)
			sum[j] = 0;
		for (i = 0; i + NN_BLK <= n; i += NN_BLK) {
			for (j = 0; j < NN_BLK; j++)
				p[i + j] -= m;
			exp_block(p + i);
			for (j = 0; j < NN_BLK; j++)
				sum[j] += p[i + j];
		}
		if (i < n) {
			for (j = 0; j < NN_BLK; j++)
				tail[j] = i + j < n ? p[i + j] - m : -INFINITY;
			exp_block(tail);
			for (j = 0; i + j < n; j++) {
				p[i + j] = tail[j];
				s += tail[j];
			}
		}
		for (j = 0; j < NN_BLK; j++)
			s += sum[j];
		float inv = 1.0f / s;
		for (i = 0; i < n; i++)
			p[i] *= inv;
	}
}

NN_DISPATCH(nn_softmax_fast, (float *x, int rows, int n), (x, rows, n))

/* Each row of x (rows,n) divided by max(its L2 norm, eps), in place. */
void
nn_l2_normalize(float *x, int rows, int n, float eps)
{
	for (int r = 0; r < rows; r++) {
		float *p = x + (size_t)r * n;
		double ss = 0;
		for (int j = 0; j < n; j++)
			ss += (double)p[j] * p[j];
		double norm = sqrt(ss);
		float inv = (float)(1.0 / (norm > eps ? norm : eps));
		for (int j = 0; j < n; j++)
			p[j] *= inv;
	}
}
