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

/* OpenBLAS's pthreads build has it; weak, so a serial build links too. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

void
nn_stop_threads(void)
{
	if (blas_thread_shutdown_ != NULL)
		(void)blas_thread_shutdown_();
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

/* ------------------------------------------------------------------------
 * Workers, weights in their stored dtype, and causal attention.
 *
 * The decoder spends its time in two shapes of product: the prompt (many
 * rows, compute bound: sgemm) and one new token (one row, bound by reading
 * the weights from memory: a GEMV).  Both split the output columns among
 * a small pool of workers, so each output is summed in the same order
 * whatever the number of workers: results do not depend on -j.
 * F16/BF16 weights stay as stored and are widened inside the kernels
 * (GEMV) or slice by slice into a worker's scratch (sgemm), always
 * accumulating in f32.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NN_X86 1
#endif

#define NN_MAXWORKERS 64
#define NN_SCRATCH (256 * 1024)		/* floats per worker: 1 MiB */
#define NN_SPIN 20000			/* polls before a worker sleeps */

static struct {
	int n;				/* workers, the caller included */
	pthread_t th[NN_MAXWORKERS];
	float *scratch[NN_MAXWORKERS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int sleepers;
	atomic_uint gen;		/* bumped for each job */
	atomic_int next;		/* next task to take */
	atomic_int finished;		/* workers done with this job */
	int quit;
	unsigned gen0;			/* gen when the workers started */
	int ntask;
	void (*fn)(void *, int, float *);
	void *arg;
} pool = {.n = 1, .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER};

static inline void
nn_pause(void)
{
#ifdef NN_X86
	_mm_pause();
#endif
}

static void
pool_work(int self)
{
	int t;

	while ((t = atomic_fetch_add(&pool.next, 1)) < pool.ntask)
		pool.fn(pool.arg, t, pool.scratch[self]);
}

static void *
pool_main(void *p)
{
	int self = (int)(intptr_t)p;
	unsigned seen = pool.gen0;

	for (;;) {
		unsigned g;
		long spins = 0;
		while ((g = atomic_load(&pool.gen)) == seen) {
			if (++spins < NN_SPIN) {
				/* yield now and then: on a busy machine the
				 * poster may be waiting for this CPU */
				if (spins % 64 == 0)
					sched_yield();
				else
					nn_pause();
				continue;
			}
			pthread_mutex_lock(&pool.mu);
			pool.sleepers++;
			while (atomic_load(&pool.gen) == seen)
				pthread_cond_wait(&pool.cv, &pool.mu);
			pool.sleepers--;
			pthread_mutex_unlock(&pool.mu);
		}
		seen = g;
		if (pool.quit)
			return NULL;
		pool_work(self);
		atomic_fetch_add(&pool.finished, 1);
	}
}

static void
pool_stop(void)
{
	if (pool.n <= 1)
		return;
	pool.quit = 1;
	pthread_mutex_lock(&pool.mu);
	atomic_fetch_add(&pool.gen, 1);
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	for (int i = 1; i < pool.n; i++)
		pthread_join(pool.th[i], NULL);
	pool.quit = 0;
	pool.n = 1;
}

int
nn_set_workers(int n, qkv_err *e)
{
	if (n < 1)
		n = 1;
	if (n > NN_MAXWORKERS)
		n = NN_MAXWORKERS;
	pool_stop();
	for (int i = 0; i < n; i++) {
		if (pool.scratch[i] == NULL &&
		    (pool.scratch[i] = aligned_alloc(64,
		    NN_SCRATCH * sizeof(float))) == NULL)
			return qkv_errf(e, "out of memory");
	}
	pool.gen0 = atomic_load(&pool.gen);
	for (int i = 1; i < n; i++) {
		if (pthread_create(&pool.th[i], NULL, pool_main,
		    (void *)(intptr_t)i) != 0) {
			pool.n = i;
			pool_stop();
			return qkv_errf(e, "cannot start worker threads");
		}
		pool.n = i + 1;
	}
	return 0;
}

int
nn_get_workers(void)
{
	return pool.n;
}

/* The caller's scratch (worker 0's), for data a job hands back to it:
 * tasks that use their own scratch must not run in that job. */
static float *
nn_scratch0(void)
{
	if (pool.scratch[0] == NULL && nn_set_workers(1, NULL) < 0)
		abort();	/* 1 MiB at start-up: nothing sensible left */
	return pool.scratch[0];
}

/*
 * Run fn(arg, task, scratch) for task in [0, ntask) on the workers and the
 * caller; returns when all are done.  scratch is the running worker's
 * NN_SCRATCH floats.  Not reentrant: tasks must not call nn_parallel.
 */
static void
nn_parallel(int ntask, void (*fn)(void *, int, float *), void *arg)
{
	nn_scratch0();
	if (pool.n <= 1 || ntask <= 1) {
		for (int t = 0; t < ntask; t++)
			fn(arg, t, pool.scratch[0]);
		return;
	}
	pool.fn = fn;
	pool.arg = arg;
	pool.ntask = ntask;
	atomic_store(&pool.next, 0);
	atomic_store(&pool.finished, 0);
	pthread_mutex_lock(&pool.mu);
	atomic_fetch_add(&pool.gen, 1);
	if (pool.sleepers)
		pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	pool_work(0);
	for (long spins = 1; atomic_load(&pool.finished) < pool.n - 1; spins++)
		if (spins % 64 == 0)
			sched_yield();
		else
			nn_pause();
}

/* -- Widening F16/BF16 to f32 ------------------------------------------- */

/* 0 generic, 1 AVX2+FMA+F16C, 2 AVX-512F; -1 until first asked.  Set by
 * one atomic store of the final value: workers ask too, and one that saw
 * a half-made choice would take another path and change the bits. */
static _Atomic int nn_isa = -1;

static int
isa(void)
{
	int v = atomic_load_explicit(&nn_isa, memory_order_relaxed);

	if (v >= 0)
		return v;
	v = 0;
#ifdef NN_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		v = 2;
	else if (__builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("fma"))
		v = 1;
	/* tests of the other paths: QKV_SIMD=avx2 or =none */
	const char *force = getenv("QKV_SIMD");
	if (force != NULL && strcmp(force, "avx2") == 0 && v > 1)
		v = 1;
	if (force != NULL && strcmp(force, "none") == 0)
		v = 0;
#endif
	atomic_store_explicit(&nn_isa, v, memory_order_relaxed);
	return v;
}

int
nn_simd(void)
{
	return isa();
}

/* One element of any weight dtype; p need not be aligned. */
static inline float
wload(const void *p, int dtype, size_t i)
{
	uint16_t h;
	float f;

	switch (dtype) {
	case QKV_F32:
		memcpy(&f, (const char *)p + 4 * i, 4);
		return f;
	case QKV_F16:
		memcpy(&h, (const char *)p + 2 * i, 2);
		return qkv_f16_to_f32(h);
	default:
		memcpy(&h, (const char *)p + 2 * i, 2);
		return qkv_bf16_to_f32(h);
	}
}

#ifdef NN_X86
__attribute__((target("avx512f"))) static inline __m512
load16_512(const void *p, int dtype)
{
	if (dtype == QKV_F32)
		return _mm512_loadu_ps(p);
	__m256i h = _mm256_loadu_si256(p);
	if (dtype == QKV_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(
	    _mm512_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx2,fma,f16c"))) static inline __m256
load8_256(const void *p, int dtype)
{
	if (dtype == QKV_F32)
		return _mm256_loadu_ps(p);
	__m128i h = _mm_loadu_si128(p);
	if (dtype == QKV_F16)
		return _mm256_cvtph_ps(h);
	return _mm256_castsi256_ps(_mm256_slli_epi32(
	    _mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx512f"))) static void
widen_512(float *dst, const void *src, int dtype, size_t n)
{
	size_t es = qkv_dtype_size(dtype), i = 0;

	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(dst + i,
		    load16_512((const char *)src + es * i, dtype));
	for (; i < n; i++)
		dst[i] = wload(src, dtype, i);
}

__attribute__((target("avx2,fma,f16c"))) static void
widen_256(float *dst, const void *src, int dtype, size_t n)
{
	size_t es = qkv_dtype_size(dtype), i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i,
		    load8_256((const char *)src + es * i, dtype));
	for (; i < n; i++)
		dst[i] = wload(src, dtype, i);
}
#endif

/* dst[n] = src[n] widened to f32 (F32, F16 or BF16, src unaligned). */
void
nn_widen(float *dst, const void *src, int dtype, size_t n)
{
#ifdef NN_X86
	if (isa() == 2) {
		widen_512(dst, src, dtype, n);
		return;
	}
	if (isa() == 1) {
		widen_256(dst, src, dtype, n);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++)
		dst[i] = wload(src, dtype, i);
}

/* -- GEMV: one input row ------------------------------------------------- */

/*
 * y[o0..o1) = x (C) . W[:, o0..o1), W (C,OC) [in, out].  Each output sums
 * its C products in order i = 0, 1, ..., C-1 (one FMA chain per lane), so
 * the split into column ranges changes nothing.  Four rows at a time keep
 * four sequential streams going; y stays in L1.
 */
#ifdef NN_X86
__attribute__((target("avx512f"), always_inline)) static inline void
gemv_in_out_512_body(float *y, const float *x, const void *w, int dtype, int C,
    int OC, int o0, int o1)
{
	size_t es = qkv_dtype_size(dtype), ld = (size_t)OC * es;
	const char *base = (const char *)w + (size_t)o0 * es;
	int n = o1 - o0, nv = n & ~15, i = 0;
	__mmask16 tail = (__mmask16)((1u << (n - nv)) - 1);

	for (int o = 0; o < n; o++)
		y[o] = 0;
	/* eight rows at a time: half the trips of y through L1 of four
	 * (30% faster on F16, measured); the same order of sums */
	for (; i + 8 <= C; i += 8) {
		const char *r0 = base + (size_t)i * ld;
		__m512 xs[8];
		for (int k = 0; k < 8; k++)
			xs[k] = _mm512_set1_ps(x[i + k]);
		int o = 0;
		/* the next eight rows' lines into L2, one line at a time
		 * while this group reads its own: a new group starts eight
		 * streams the hardware prefetchers have to find anew (F16:
		 * 15.5 -> 23 GB/s on one core, measured) */
		if (i + 16 <= C) {
			const int per = dtype == QKV_F32 ? 16 : 32;
			const char *pf = r0 + 8 * ld;
			for (; o + per <= nv; o += per) {
				const char *p = r0 + (size_t)o * es;
				for (int k = 0; k < 8; k++)
					_mm_prefetch(pf + (size_t)k * ld +
					    (size_t)o * es, _MM_HINT_T1);
				for (int h = 0; h < per; h += 16) {
					__m512 acc = _mm512_loadu_ps(y + o + h);
					for (int k = 0; k < 8; k++)
						acc = _mm512_fmadd_ps(xs[k],
						    load16_512(p + (size_t)k *
						    ld + (size_t)h * es, dtype),
						    acc);
					_mm512_storeu_ps(y + o + h, acc);
				}
			}
		}
		for (; o < nv; o += 16) {
			const char *p = r0 + (size_t)o * es;
			__m512 acc = _mm512_loadu_ps(y + o);
			for (int k = 0; k < 8; k++)
				acc = _mm512_fmadd_ps(xs[k], load16_512(p +
				    (size_t)k * ld, dtype), acc);
			_mm512_storeu_ps(y + o, acc);
		}
		for (; o < n; o++) {
			float a = y[o];
			for (int k = 0; k < 8; k++)
				a = fmaf(x[i + k], wload(r0 + (size_t)k * ld,
				    dtype, o), a);
			y[o] = a;
		}
	}
	for (; i + 4 <= C; i += 4) {
		const char *r0 = base + (size_t)i * ld, *r1 = r0 + ld,
		    *r2 = r1 + ld, *r3 = r2 + ld;
		__m512 x0 = _mm512_set1_ps(x[i]), x1 = _mm512_set1_ps(x[i + 1]),
		    x2 = _mm512_set1_ps(x[i + 2]), x3 = _mm512_set1_ps(x[i + 3]);
		int o = 0;
		for (; o < nv; o += 16) {
			size_t b = (size_t)o * es;
			__m512 acc = _mm512_loadu_ps(y + o);
			/* the next four rows' lines: the hardware prefetcher
			 * does not follow four strided streams well */
			if (i + 8 <= C) {
				_mm_prefetch(r3 + ld + b, _MM_HINT_T0);
				_mm_prefetch(r3 + 2 * ld + b, _MM_HINT_T0);
				_mm_prefetch(r3 + 3 * ld + b, _MM_HINT_T0);
				_mm_prefetch(r3 + 4 * ld + b, _MM_HINT_T0);
			}
			acc = _mm512_fmadd_ps(x0, load16_512(r0 + b, dtype), acc);
			acc = _mm512_fmadd_ps(x1, load16_512(r1 + b, dtype), acc);
			acc = _mm512_fmadd_ps(x2, load16_512(r2 + b, dtype), acc);
			acc = _mm512_fmadd_ps(x3, load16_512(r3 + b, dtype), acc);
			_mm512_storeu_ps(y + o, acc);
		}
		if (tail) {
			for (; o < n; o++) {
				float a = y[o];
				a = fmaf(x[i], wload(r0, dtype, o), a);
				a = fmaf(x[i + 1], wload(r1, dtype, o), a);
				a = fmaf(x[i + 2], wload(r2, dtype, o), a);
				a = fmaf(x[i + 3], wload(r3, dtype, o), a);
				y[o] = a;
			}
		}
	}
	for (; i < C; i++) {
		const char *r0 = base + (size_t)i * ld;
		__m512 x0 = _mm512_set1_ps(x[i]);
		int o = 0;
		for (; o < nv; o += 16) {
			__m512 acc = _mm512_loadu_ps(y + o);
			acc = _mm512_fmadd_ps(x0,
			    load16_512(r0 + (size_t)o * es, dtype), acc);
			_mm512_storeu_ps(y + o, acc);
		}
		for (; o < n; o++)
			y[o] = fmaf(x[i], wload(r0, dtype, o), y[o]);
	}
}

__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
gemv_in_out_256_body(float *y, const float *x, const void *w, int dtype, int C,
    int OC, int o0, int o1)
{
	size_t es = qkv_dtype_size(dtype), ld = (size_t)OC * es;
	const char *base = (const char *)w + (size_t)o0 * es;
	int n = o1 - o0, nv = n & ~7, i = 0;

	for (int o = 0; o < n; o++)
		y[o] = 0;
	for (; i + 4 <= C; i += 4) {
		const char *r0 = base + (size_t)i * ld, *r1 = r0 + ld,
		    *r2 = r1 + ld, *r3 = r2 + ld;
		__m256 x0 = _mm256_set1_ps(x[i]), x1 = _mm256_set1_ps(x[i + 1]),
		    x2 = _mm256_set1_ps(x[i + 2]), x3 = _mm256_set1_ps(x[i + 3]);
		int o = 0;
		/* the next four rows' lines into L2, as the AVX-512 kernel
		 * does for its eight */
		if (i + 8 <= C) {
			const int per = dtype == QKV_F32 ? 16 : 32;
			for (; o + per <= nv; o += per) {
				size_t b = (size_t)o * es;
				for (int k = 4; k < 8; k++)
					_mm_prefetch(r0 + (size_t)k * ld + b,
					    _MM_HINT_T1);
				for (int h = 0; h < per; h += 8) {
					size_t bh = b + (size_t)h * es;
					__m256 acc = _mm256_loadu_ps(y + o + h);
					acc = _mm256_fmadd_ps(x0, load8_256(r0 +
					    bh, dtype), acc);
					acc = _mm256_fmadd_ps(x1, load8_256(r1 +
					    bh, dtype), acc);
					acc = _mm256_fmadd_ps(x2, load8_256(r2 +
					    bh, dtype), acc);
					acc = _mm256_fmadd_ps(x3, load8_256(r3 +
					    bh, dtype), acc);
					_mm256_storeu_ps(y + o + h, acc);
				}
			}
		}
		for (; o < nv; o += 8) {
			size_t b = (size_t)o * es;
			__m256 acc = _mm256_loadu_ps(y + o);
			acc = _mm256_fmadd_ps(x0, load8_256(r0 + b, dtype), acc);
			acc = _mm256_fmadd_ps(x1, load8_256(r1 + b, dtype), acc);
			acc = _mm256_fmadd_ps(x2, load8_256(r2 + b, dtype), acc);
			acc = _mm256_fmadd_ps(x3, load8_256(r3 + b, dtype), acc);
			_mm256_storeu_ps(y + o, acc);
		}
		for (; o < n; o++) {
			float a = y[o];
			a = fmaf(x[i], wload(r0, dtype, o), a);
			a = fmaf(x[i + 1], wload(r1, dtype, o), a);
			a = fmaf(x[i + 2], wload(r2, dtype, o), a);
			a = fmaf(x[i + 3], wload(r3, dtype, o), a);
			y[o] = a;
		}
	}
	for (; i < C; i++) {
		const char *r0 = base + (size_t)i * ld;
		for (int o = 0; o < n; o++)
			y[o] = fmaf(x[i], wload(r0, dtype, o), y[o]);
	}
}
#endif

/*
 * y[o0..o1) = W[o0..o1, :] . x, W (OC,C) [out, in]: one dot product per
 * output row, four rows at a time.
 */
#ifdef NN_X86
__attribute__((target("avx512f"), always_inline)) static inline void
gemv_out_in_512_body(float *y, const float *x, const void *w, int dtype,
    int C, int o0, int o1)
{
	size_t es = qkv_dtype_size(dtype), ld = (size_t)C * es;
	int c64 = C & ~63, c16 = C & ~15;

	/* one row at a time, read front to back: a single sequential stream
	 * is what the prefetchers serve best (twice the rate of four rows
	 * read side by side, measured); four accumulators for the FMAs */
	for (int o = o0; o < o1; o++) {
		const char *r = (const char *)w + (size_t)o * ld;
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		int i = 0;
		for (; i < c64; i += 64) {
			a0 = _mm512_fmadd_ps(load16_512(r + (size_t)i * es, dtype),
			    _mm512_loadu_ps(x + i), a0);
			a1 = _mm512_fmadd_ps(load16_512(r + (size_t)(i + 16) * es,
			    dtype), _mm512_loadu_ps(x + i + 16), a1);
			a2 = _mm512_fmadd_ps(load16_512(r + (size_t)(i + 32) * es,
			    dtype), _mm512_loadu_ps(x + i + 32), a2);
			a3 = _mm512_fmadd_ps(load16_512(r + (size_t)(i + 48) * es,
			    dtype), _mm512_loadu_ps(x + i + 48), a3);
		}
		for (; i < c16; i += 16)
			a0 = _mm512_fmadd_ps(load16_512(r + (size_t)i * es, dtype),
			    _mm512_loadu_ps(x + i), a0);
		float sum = _mm512_reduce_add_ps(_mm512_add_ps(
		    _mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
		for (; i < C; i++)
			sum = fmaf(wload(r, dtype, i), x[i], sum);
		y[o - o0] = sum;
	}
}

__attribute__((target("avx2,fma,f16c"))) static inline float
hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
	    _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
gemv_out_in_256_body(float *y, const float *x, const void *w, int dtype,
    int C, int o0, int o1)
{
	size_t es = qkv_dtype_size(dtype), ld = (size_t)C * es;
	int c32 = C & ~31, c8 = C & ~7;

	for (int o = o0; o < o1; o++) {
		const char *r = (const char *)w + (size_t)o * ld;
		__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
		int i = 0;
		for (; i < c32; i += 32) {
			a0 = _mm256_fmadd_ps(load8_256(r + (size_t)i * es, dtype),
			    _mm256_loadu_ps(x + i), a0);
			a1 = _mm256_fmadd_ps(load8_256(r + (size_t)(i + 8) * es,
			    dtype), _mm256_loadu_ps(x + i + 8), a1);
			a2 = _mm256_fmadd_ps(load8_256(r + (size_t)(i + 16) * es,
			    dtype), _mm256_loadu_ps(x + i + 16), a2);
			a3 = _mm256_fmadd_ps(load8_256(r + (size_t)(i + 24) * es,
			    dtype), _mm256_loadu_ps(x + i + 24), a3);
		}
		for (; i < c8; i += 8)
			a0 = _mm256_fmadd_ps(load8_256(r + (size_t)i * es, dtype),
			    _mm256_loadu_ps(x + i), a0);
		float sum = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1),
		    _mm256_add_ps(a2, a3)));
		for (; i < C; i++)
			sum = fmaf(wload(r, dtype, i), x[i], sum);
		y[o - o0] = sum;
	}
}

/* The kernels above with the dtype a constant, so no test in the loops. */
#define NN_SPECIALISE(name, isa_, params, args)			\
__attribute__((target(isa_))) static void				\
name params								\
{									\
	if (dtype == QKV_F32) {						\
		enum { dtype = QKV_F32 };				\
		name##_body args;					\
	} else if (dtype == QKV_F16) {					\
		enum { dtype = QKV_F16 };				\
		name##_body args;					\
	} else {							\
		enum { dtype = QKV_BF16 };				\
		name##_body args;					\
	}								\
}
NN_SPECIALISE(gemv_in_out_512, "avx512f", (float *y, const float *x,
    const void *w, int dtype, int C, int OC, int o0, int o1),
    (y, x, w, dtype, C, OC, o0, o1))
NN_SPECIALISE(gemv_in_out_256, "avx2,fma,f16c", (float *y, const float *x,
    const void *w, int dtype, int C, int OC, int o0, int o1),
    (y, x, w, dtype, C, OC, o0, o1))
NN_SPECIALISE(gemv_out_in_512, "avx512f", (float *y, const float *x,
    const void *w, int dtype, int C, int o0, int o1),
    (y, x, w, dtype, C, o0, o1))
NN_SPECIALISE(gemv_out_in_256, "avx2,fma,f16c", (float *y, const float *x,
    const void *w, int dtype, int C, int o0, int o1),
    (y, x, w, dtype, C, o0, o1))
#endif

static void
gemv_in_out(float *y, const float *x, const void *w, int dtype, int C,
    int OC, int o0, int o1)
{
#ifdef NN_X86
	if (isa() == 2) {
		gemv_in_out_512(y, x, w, dtype, C, OC, o0, o1);
		return;
	}
	if (isa() == 1) {
		gemv_in_out_256(y, x, w, dtype, C, OC, o0, o1);
		return;
	}
#endif
	size_t es = qkv_dtype_size(dtype);
	const char *base = (const char *)w + (size_t)o0 * es;
	int n = o1 - o0;

	for (int o = 0; o < n; o++)
		y[o] = 0;
	for (int i = 0; i < C; i++) {
		const char *r = base + (size_t)i * OC * es;
		for (int o = 0; o < n; o++)
			y[o] = fmaf(x[i], wload(r, dtype, o), y[o]);
	}
}


static void
gemv_out_in(float *y, const float *x, const void *w, int dtype, int C,
    int o0, int o1)
{
#ifdef NN_X86
	if (isa() == 2) {
		gemv_out_in_512(y, x, w, dtype, C, o0, o1);
		return;
	}
	if (isa() == 1) {
		gemv_out_in_256(y, x, w, dtype, C, o0, o1);
		return;
	}
#endif
	size_t es = qkv_dtype_size(dtype), ld = (size_t)C * es;

	for (int o = o0; o < o1; o++) {
		const char *r = (const char *)w + (size_t)o * ld;
		float s = 0;
		for (int i = 0; i < C; i++)
			s = fmaf(wload(r, dtype, i), x[i], s);
		y[o - o0] = s;
	}
}

/* -- nn_matmul ------------------------------------------------------------ */

struct mm_job {
	float *out;
	const float *inp;
	const nn_weight *w;
	int trans;
	const float *b;
	int N, C, OC;
	int width;		/* output columns per task, a multiple of 16 */
	int nk, kw;		/* GEMV [in, out]: input rows in nk chunks of kw */
	float *part;		/* partial sums of chunks 1..nk-1 (nk-1, N, OC) */
};

/* Rows below this go through the GEMV kernels, one row at a time. */
#define NN_GEMV_ROWS 4
/* [in, out] GEMV: the input rows in this many chunks, each summed into
 * its own partial output and the partials added in order afterwards: a
 * worker then streams one contiguous block of W instead of a short run of
 * every row.  A constant, never the worker count, so results do not
 * depend on -j. */
#ifndef NN_GEMV_KSPLIT
#define NN_GEMV_KSPLIT 2
#endif
/* Output columns per sgemm task: OC / NN_SLICES, within limits. */
#define NN_SLICES 6
#define NN_SLICE_MIN 64
#define NN_SLICE_MAX 1024

static void
mm_gemv_task(void *arg, int t, float *scratch)
{
	struct mm_job *j = arg;
	int kc = t % j->nk, o0 = t / j->nk * j->width, o1 = o0 + j->width;
	int i0 = kc * j->kw, i1 = i0 + j->kw < j->C ? i0 + j->kw : j->C;
	size_t es = qkv_dtype_size(j->w->dtype);

	(void)scratch;
	if (o1 > j->OC)
		o1 = j->OC;
	for (int n = 0; n < j->N; n++) {
		const float *x = j->inp + (size_t)n * j->C;
		float *y;
		if (j->trans) {
			y = j->out + (size_t)n * j->OC + o0;
			gemv_out_in(y, x, j->w->data, j->w->dtype, j->C, o0, o1);
		} else {
			y = (kc == 0 ? j->out + (size_t)n * j->OC : j->part +
			    ((size_t)(kc - 1) * j->N + n) * j->OC) + o0;
			gemv_in_out(y, x + i0, (const char *)j->w->data +
			    (size_t)i0 * j->OC * es, j->w->dtype, i1 - i0,
			    j->OC, o0, o1);
		}
		if (j->b != NULL && j->nk == 1)
			for (int o = o0; o < o1; o++)
				y[o - o0] += j->b[o];
	}
}

/* Rows up to this go through nn_gemm (weights read in place) rather than
 * sgemm (weights packed first): the prompt chunk of sample is 256. */
#ifndef NN_GEMM_ROWS
#define NN_GEMM_ROWS 256
#endif

struct gemm_job {
	struct mm_job mm;
	int act;		/* NN_ACT_* */
};

/* One range of columns [o0, o1) of out through nn_gemm. */
static void
mm_gemm_task(void *arg, int t, float *scratch)
{
	struct gemm_job *g = arg;
	struct mm_job *j = &g->mm;
	int o0 = t * j->width, o1 = o0 + j->width;

	if (o1 > j->OC)
		o1 = j->OC;
	nn_gemm(j->out, j->OC, j->inp, j->C, j->w, j->trans, j->b, j->N, j->C,
	    o0, o1, scratch);
	/* the activation while the tile is in cache, and on all workers */
	if (g->act != NN_ACT_NONE)
		for (int n = 0; n < j->N; n++)
			nn_activate(j->out + (size_t)n * j->OC + o0,
			    (size_t)(o1 - o0), g->act);
}

#ifndef NN_WIDEN_AHEAD
#define NN_WIDEN_AHEAD 8	/* rows */
#endif

/* One column slice [o0, o1) of out through sgemm; F16/BF16 slices are
 * widened into this worker's scratch first. */
static void
mm_sgemm_task(void *arg, int t, float *scratch)
{
	struct mm_job *j = arg;
	int o0 = t * j->width, o1 = o0 + j->width, nb, C = j->C;
	const nn_weight *w = j->w;
	size_t es = qkv_dtype_size(w->dtype);
	float *out = j->out + o0;

	if (o1 > j->OC)
		o1 = j->OC;
	nb = o1 - o0;
	if (j->b != NULL)
		for (int n = 0; n < j->N; n++)
			memcpy(out + (size_t)n * j->OC, j->b + o0,
			    (size_t)nb * sizeof(float));
	if (w->dtype == QKV_F32) {
		const float *wp = w->data;
		if (j->trans)
			nn_sgemm(0, 1, j->N, nb, C, 1.0f, j->inp, C,
			    wp + (size_t)o0 * C, C, j->b ? 1.0f : 0.0f, out,
			    j->OC);
		else
			nn_sgemm(0, 0, j->N, nb, C, 1.0f, j->inp, C, wp + o0,
			    j->OC, j->b ? 1.0f : 0.0f, out, j->OC);
		return;
	}
	/* widen rows of W in blocks of kb that fit the scratch: all of
	 * them at once unless C is huge (C * 16 > NN_SCRATCH) */
	int kb = NN_SCRATCH / nb < C ? NN_SCRATCH / nb : C;
	for (int k0 = 0; k0 < C; k0 += kb) {
		int kn = C - k0 < kb ? C - k0 : kb;
		float beta = k0 > 0 || j->b ? 1.0f : 0.0f;
		if (j->trans) {
			/* W (OC,C): rows o0..o1, columns k0..k0+kn */
			for (int o = 0; o < nb; o++)
				nn_widen(scratch + (size_t)o * kn, (const char *)
				    w->data + ((size_t)(o0 + o) * C + k0) * es,
				    w->dtype, (size_t)kn);
			nn_sgemm(0, 1, j->N, nb, kn, 1.0f, j->inp + k0, C,
			    scratch, kn, beta, out, j->OC);
		} else {
			/* W (C,OC): rows k0..k0+kn, columns o0..o1, short
			 * runs at a long stride that the prefetchers do not
			 * follow: fetch each run a few rows ahead */
			const char *w0 = (const char *)w->data +
			    ((size_t)k0 * j->OC + o0) * es;
			size_t ld = (size_t)j->OC * es, run = (size_t)nb * es;
			for (int i = 0; i < kn; i++) {
				if (i + NN_WIDEN_AHEAD < kn)
					for (size_t q = 0; q < run; q += 64)
						__builtin_prefetch(w0 + (size_t)(i +
						    NN_WIDEN_AHEAD) * ld + q, 0, 3);
				nn_widen(scratch + (size_t)i * nb, w0 +
				    (size_t)i * ld, w->dtype, (size_t)nb);
			}
			nn_sgemm(0, 0, j->N, nb, kn, 1.0f, j->inp + k0, C,
			    scratch, nb, beta, out, j->OC);
		}
	}
}

void
nn_matmul(float *out, const float *inp, const nn_weight *w, int trans,
    const float *b, int N, int C, int OC)
{
	nn_matmul_act(out, inp, w, trans, b, N, C, OC, NN_ACT_NONE);
}

void
nn_matmul_act(float *out, const float *inp, const nn_weight *w, int trans,
    const float *b, int N, int C, int OC, int act)
{
	struct gemm_job gj = {{out, inp, w, trans, b, N, C, OC, 0, 1, C, NULL},
	    act};
	struct mm_job j = gj.mm;
	int nw = nn_get_workers(), ntask;

	if (N <= 0 || OC <= 0)
		return;
	if (N < NN_GEMV_ROWS) {
		int want = nw > 1 ? (trans ? 4 * nw : nw) : 1;
		j.nk = 1;	/* set here, whatever the initialiser said */
		j.kw = C;
		j.part = NULL;
		/* [in, out] weights: chunks of input rows, so each task
		 * reads a contiguous block of W; the partials of chunks
		 * 1.. in the caller's scratch */
		if (!trans && C >= 64 * NN_GEMV_KSPLIT && (size_t)N * OC *
		    (NN_GEMV_KSPLIT - 1) <= NN_SCRATCH) {
			j.nk = NN_GEMV_KSPLIT;
			j.kw = ((C + j.nk - 1) / j.nk + 7) & ~7;
			j.part = nn_scratch0();
			/* nw tasks in all if the chunks divide them, else
			 * nk per worker (three workers: six, two each) */
			if (want % j.nk == 0)
				want /= j.nk;
		}
		/* [in, out] otherwise: one column range per worker, so each
		 * reads long runs of every row (short runs at a row stride
		 * defeat the prefetchers); [out, in]: rows are contiguous
		 * anyway, and more tasks than workers even out the load.
		 * At least 64 columns each so a task is worth waking for. */
		j.width = ((OC + want - 1) / want + 15) & ~15;
		if (j.width < 64)
			j.width = 64;
		ntask = (OC + j.width - 1) / j.width * j.nk;
		nn_parallel(ntask, mm_gemv_task, &j);
		if (j.nk > 1)
			for (int n = 0; n < N; n++) {
				float *y = out + (size_t)n * OC;
				for (int k = 1; k < j.nk; k++)
					nn_add(y, j.part + ((size_t)(k - 1) *
					    N + n) * OC, (size_t)OC);
				if (b != NULL)
					nn_add(y, b, (size_t)OC);
			}
		nn_activate(out, (size_t)N * OC, act);
		return;
	}
	if (N <= NN_GEMM_ROWS && nn_gemm_scratch() <= NN_SCRATCH) {
		/* panels of 48 columns, about 16 tasks for the workers to
		 * share out; nn_gemm's results do not depend on the split */
		int panels = (OC + 47) / 48;
		gj.mm.width = 48 * ((panels + 15) / 16);
		nn_parallel((OC + gj.mm.width - 1) / gj.mm.width, mm_gemm_task,
		    &gj);
		return;
	}
	/* the slice width comes from OC alone, never from the worker count:
	 * BLAS may round a slice differently by its size (small-matrix
	 * kernels).  Six slices share evenly among 1, 2, 3 or 6 workers;
	 * wide ones spare BLAS repacking the input for each slice. */
	j.width = ((OC + NN_SLICES - 1) / NN_SLICES + 15) & ~15;
	if (j.width < NN_SLICE_MIN)
		j.width = NN_SLICE_MIN;
	if (j.width > NN_SLICE_MAX)
		j.width = NN_SLICE_MAX;
	if (w->dtype != QKV_F32) {
		int cap = (NN_SCRATCH / C) & ~15;
		if (cap < 16)
			cap = 16;	/* C > 16K: mm_sgemm_task blocks C */
		if (j.width > cap) {
			/* as many slices as the scratch needs, rounded up to
			 * an even count of about equal widths: seven of 336
			 * for 2304 columns gave two workers 1296 and 1008 */
			int ns = (OC + cap - 1) / cap;
			ns += ns & 1;
			j.width = ((OC + ns - 1) / ns + 15) & ~15;
		}
	}
	ntask = (OC + j.width - 1) / j.width;
	nn_parallel(ntask, mm_sgemm_task, &j);
	nn_activate(out, (size_t)N * OC, act);
}

/* -- Many rows: packed panels (gemm.c) ------------------------------------ */

/* W's panels (or, for few rows, A's tiles), made by all workers together
 * and then read by all: grown to the largest seen, kept for the next call. */
#ifndef NN_JIT_ROWS
#define NN_JIT_ROWS 1024	/* rows up to which A is packed instead of W */
#endif
static float *pg_buf;
static size_t pg_cap;		/* floats */

struct pg_job {
	float *out, *bp;
	const float *inp, *bias;
	const nn_weight *w;
	int ldo, lda, trans, M, K, N, act;
	int np;			/* panels */
	int per;		/* panels per packing task */
	int rows;		/* rows per task, or 0: tasks of cols panels */
	int cols;
};

static void
pg_pack_task(void *arg, int t, float *scratch)
{
	struct pg_job *j = arg;
	int p0 = t * j->per, p1 = p0 + j->per < j->np ? p0 + j->per : j->np;

	nn_pgemm_pack(j->bp, j->w, j->trans, j->K, j->N, p0, p1, scratch);
}

/* A's tiles for nn_pgemm_jit, per task */
static void
pg_packa_task(void *arg, int t, float *scratch)
{
	struct pg_job *j = arg;
	int t0 = t * j->per, nt = nn_pgemm_tiles(j->M);
	int t1 = t0 + j->per < nt ? t0 + j->per : nt;

	(void)scratch;
	nn_pgemm_packa(j->bp, j->inp, j->lda, j->M, j->K, t0, t1);
}

static void
pg_jit_task(void *arg, int t, float *scratch)
{
	struct pg_job *j = arg;
	int p0 = t * j->cols, p1 = p0 + j->cols < j->np ? p0 + j->cols : j->np;

	nn_pgemm_jit(j->out, j->ldo, j->bp, j->w, j->trans, j->bias, j->M,
	    j->K, j->N, p0, p1, j->act, scratch);
}

static void
pg_task(void *arg, int t, float *scratch)
{
	struct pg_job *j = arg;
	int m0 = 0, m1 = j->M, p0 = 0, p1 = j->np;

	if (j->rows > 0) {
		m0 = t * j->rows;
		m1 = m0 + j->rows < j->M ? m0 + j->rows : j->M;
	} else {
		p0 = t * j->cols;
		p1 = p0 + j->cols < j->np ? p0 + j->cols : j->np;
	}
	nn_pgemm(j->out, j->ldo, j->inp, j->lda, j->bp, j->bias, j->K, j->N,
	    m0, m1, p0, p1, j->act, scratch);
}

int
nn_matmul_many(float *out, int ldo, const float *inp, int lda,
    const nn_weight *w, int trans, const float *bias, int M, int K, int N,
    int act)
{
	struct pg_job j = {out, NULL, inp, bias, w, ldo, lda, trans, M, K, N,
	    act, 0, 0, 0, 0};
	int nw = nn_get_workers(), nt = 4 * nw;
	/* few rows: A packed, W a panel at a time; else W packed first */
	int jit = M <= NN_JIT_ROWS && nn_pgemm_jit_scratch(K) <= NN_SCRATCH;
	size_t need = jit ? (size_t)M * K : nn_pgemm_panels(N) * (size_t)K *
	    NN_PANEL;

	if (M <= 0 || N <= 0)
		return 0;
	if (need > pg_cap) {
		free(pg_buf);
		pg_cap = 0;
		if ((pg_buf = aligned_alloc(64, (need * sizeof(float) + 63) /
		    64 * 64)) == NULL)
			return -1;
		pg_cap = need;
	}
	j.bp = pg_buf;
	j.np = (int)nn_pgemm_panels(N);
	if (jit) {
		int tiles = nn_pgemm_tiles(M);
		j.per = (tiles + nt - 1) / nt;
		nn_parallel((tiles + j.per - 1) / j.per, pg_packa_task, &j);
		j.cols = (j.np + nt - 1) / nt;
		nn_parallel((j.np + j.cols - 1) / j.cols, pg_jit_task, &j);
		return 0;
	}
	j.per = (j.np + nt - 1) / nt;
	nn_parallel((j.np + j.per - 1) / j.per, pg_pack_task, &j);
	/* by rows when each task gets several tiles of them (each packs
	 * only its own rows), else by panels; the bits are the same */
	if (M >= 56 * nt || j.np < nt) {
		j.rows = ((M + nt - 1) / nt + 13) / 14 * 14;
		nn_parallel((M + j.rows - 1) / j.rows, pg_task, &j);
	} else {
		j.cols = (j.np + nt - 1) / nt;
		nn_parallel((j.np + j.cols - 1) / j.cols, pg_task, &j);
	}
	return 0;
}

/* -- Causal attention ----------------------------------------------------- */

struct att_job {
	float *out;
	const float *q, *k, *v;
	int ldq, ldkv, ldo;
	float *att;
	int T, past, hd;
	float scale;
};

/* One query (token generation) over L cached keys of one head, defined
 * with the vectorised kernels below. */
void nn_attend_one(float *out, const float *q, const float *k,
    const float *v, int ldkv, float *att, int L, int hd, float scale);

static void
att_task(void *arg, int h, float *scratch)
{
	struct att_job *j = arg;
	int T = j->T, L = j->past + T, hd = j->hd;
	float *att = j->att + (size_t)h * T * L;

	(void)scratch;
	if (T == 1) {
		/* two sgemm calls of one row cost more in overhead than
		 * the dot products themselves */
		nn_attend_one(j->out + (size_t)h * hd, j->q + (size_t)h * hd,
		    j->k + (size_t)h * hd, j->v + (size_t)h * hd, j->ldkv,
		    att, L, hd, j->scale);
		return;
	}
	/* scores (T,L) = q_h (T,hd) k_h^T (hd,L) * scale */
	nn_sgemm(0, 1, T, L, hd, j->scale, j->q + (size_t)h * hd, j->ldq,
	    j->k + (size_t)h * hd, j->ldkv, 0.0f, att, L);
	for (int i = 0; i < T; i++) {
		float *row = att + (size_t)i * L;
		int seen = j->past + i + 1;	/* query i sees keys 0..past+i */
		nn_softmax_fast(row, 1, seen);
		for (int l = seen; l < L; l++)
			row[l] = 0;
	}
	/* out_h (T,hd) = att (T,L) v_h (L,hd) */
	nn_sgemm(0, 0, T, hd, L, 1.0f, att, L, j->v + (size_t)h * hd, j->ldkv,
	    0.0f, j->out + (size_t)h * hd, j->ldo);
}

void
nn_attention_causal(float *out, const float *q, int ldq, const float *k,
    const float *v, int ldkv, float *att, int T, int past, int n_head,
    int hd, float scale)
{
	struct att_job j = {out, q, k, v, ldq, ldkv, n_head * hd, att, T, past,
	    hd, scale};

	nn_parallel(n_head, att_task, &j);
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
 * (a load and a test; QKV_SIMD forces the lesser ones, as for the GEMVs).
 * (target_clones would say this in one line, but clang 14 does not export
 * its dispatcher to other files.) */
#if defined(__x86_64__) && defined(__GNUC__)
#define NN_DISPATCH(name, params, args)					\
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))	\
static void name##_v4 params { name##_body args; }			\
__attribute__((target("avx2,fma")))					\
static void name##_v3 params { name##_body args; }			\
void name params							\
{									\
	if (isa() == 2 && __builtin_cpu_supports("avx512bw"))		\
		name##_v4 args;						\
	else if (isa() >= 1)						\
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
		/* NaN (from NaN weights) must not reach the conversion, which
		 * would be undefined; x stays NaN through r */
		s.i[j] = ((int32_t)(n == n ? n : 0.0f) + 127) << 23;
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

/* Tanh GELU (GPT-2 "gelu_new") of one block in place, with tanh(u) =
 * 1 - 2 / (1 + e^2u) by exp_block: within 2e-7 of libm's tanhf in
 * 1 + tanh, so within 1e-7 |x| of the exact GELU. */
static inline __attribute__((always_inline)) void
gelu_tanh_block(float *x)
{
	float e[NN_BLK];

	for (int j = 0; j < NN_BLK; j++) {
		float v = x[j];
		e[j] = 2.0f * 0.7978845608028654f * (v + 0.044715f * v * v * v);
	}
	exp_block(e);
	for (int j = 0; j < NN_BLK; j++)
		x[j] = 0.5f * x[j] * (2.0f - 2.0f / (1.0f + e[j]));
}

static inline __attribute__((always_inline)) void
nn_gelu_tanh_fast_body(float *x, size_t n)
{
	NN_BLOCKS(x, n, gelu_tanh_block);
}
NN_DISPATCH(nn_gelu_tanh_fast, (float *x, size_t n), (x, n))

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

/* out (hd) = softmax(q . k_l * scale over l < L) . v: one query of one
 * head, k and v rows ldkv apart; att (L) scratch.  The rows are short
 * runs at a long stride, cold in cache after the weights streamed past:
 * each is fetched a few rows ahead.  AVX-512 in intrinsics (the compiler
 * keeps a lane array on the stack), the others in NN_BLK lanes. */
#define NN_ATT_AHEAD 8
static inline __attribute__((always_inline)) void
nn_attend_one_body(float *out, const float *q, const float *k,
    const float *v, int ldkv, float *att, int L, int hd, float scale)
{
	float s[NN_BLK], o[NN_BLK];
	int h0 = hd - hd % NN_BLK;

	for (int l = 0; l < L; l++) {
		const float *kr = k + (size_t)l * ldkv;
		float d = 0;
		if (l + NN_ATT_AHEAD < L)
			for (int i = 0; i < hd; i += 16)
				__builtin_prefetch(kr + (size_t)NN_ATT_AHEAD *
				    ldkv + i);
		for (int j = 0; j < NN_BLK; j++)
			s[j] = 0;
		for (int i = 0; i < h0; i += NN_BLK)
			for (int j = 0; j < NN_BLK; j++)
				s[j] += q[i + j] * kr[i + j];
		for (int i = h0; i < hd; i++)
			d += q[i] * kr[i];
		for (int j = 0; j < NN_BLK; j++)
			d += s[j];
		att[l] = d * scale;
	}
	nn_softmax_fast_body(att, 1, L);
	/* out one block of NN_BLK columns at a time, in a local array */
	for (int i = 0; i < hd; i += NN_BLK) {
		int n = hd - i < NN_BLK ? hd - i : NN_BLK;
		for (int j = 0; j < NN_BLK; j++)
			o[j] = 0;
		for (int l = 0; l < L; l++) {
			const float *vr = v + (size_t)l * ldkv + i;
			float a = att[l];
			if (i == 0 && l + NN_ATT_AHEAD < L)
				for (int c = 0; c < hd; c += 16)
					__builtin_prefetch(vr + (size_t)
					    NN_ATT_AHEAD * ldkv + c);
			if (n == NN_BLK)
				for (int j = 0; j < NN_BLK; j++)
					o[j] += a * vr[j];
			else
				for (int j = 0; j < n; j++)
					o[j] += a * vr[j];
		}
		for (int j = 0; j < n; j++)
			out[i + j] = o[j];
	}
}

#ifdef NN_X86
__attribute__((target("avx512f"))) static void
attend_one_512(float *out, const float *q, const float *k, const float *v,
    int ldkv, float *att, int L, int hd, float scale)
{
	int h0 = hd & ~15;
	__mmask16 tm = (__mmask16)((1u << (hd - h0)) - 1);

	for (int l = 0; l < L; l++) {
		const float *kr = k + (size_t)l * ldkv;
		__m512 acc = _mm512_setzero_ps();
		if (l + NN_ATT_AHEAD < L)
			for (int i = 0; i < hd; i += 16)
				_mm_prefetch((const char *)(kr + (size_t)
				    NN_ATT_AHEAD * ldkv + i), _MM_HINT_T0);
		int i = 0;
		for (; i < h0; i += 16)
			acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + i),
			    _mm512_loadu_ps(kr + i), acc);
		if (tm)
			acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tm, q + i),
			    _mm512_maskz_loadu_ps(tm, kr + i), acc);
		att[l] = _mm512_reduce_add_ps(acc) * scale;
	}
	nn_softmax_fast(att, 1, L);
	for (int i = 0; i < hd; i += 64) {
		/* four vectors of out in registers across all L rows */
		__m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
		int n = hd - i < 64 ? hd - i : 64;
		__mmask16 m0 = n >= 16 ? 0xffff : (__mmask16)((1u << n) - 1);
		__mmask16 m1 = n >= 32 ? 0xffff : n > 16 ?
		    (__mmask16)((1u << (n - 16)) - 1) : 0;
		__mmask16 m2 = n >= 48 ? 0xffff : n > 32 ?
		    (__mmask16)((1u << (n - 32)) - 1) : 0;
		__mmask16 m3 = n >= 64 ? 0xffff : n > 48 ?
		    (__mmask16)((1u << (n - 48)) - 1) : 0;
		for (int l = 0; l < L; l++) {
			const float *vr = v + (size_t)l * ldkv + i;
			__m512 a = _mm512_set1_ps(att[l]);
			if (l + NN_ATT_AHEAD < L)
				for (int c = 0; c < n; c += 16)
					_mm_prefetch((const char *)(vr + (size_t)
					    NN_ATT_AHEAD * ldkv + c), _MM_HINT_T0);
			o0 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m0, vr), o0);
			o1 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m1, vr + 16),
			    o1);
			o2 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m2, vr + 32),
			    o2);
			o3 = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m3, vr + 48),
			    o3);
		}
		_mm512_mask_storeu_ps(out + i, m0, o0);
		_mm512_mask_storeu_ps(out + i + 16, m1, o1);
		_mm512_mask_storeu_ps(out + i + 32, m2, o2);
		_mm512_mask_storeu_ps(out + i + 48, m3, o3);
	}
}

__attribute__((target("avx2,fma"))) static void
attend_one_256(float *out, const float *q, const float *k, const float *v,
    int ldkv, float *att, int L, int hd, float scale)
{
	nn_attend_one_body(out, q, k, v, ldkv, att, L, hd, scale);
}
#endif

void
nn_attend_one(float *out, const float *q, const float *k, const float *v,
    int ldkv, float *att, int L, int hd, float scale)
{
#ifdef NN_X86
	if (isa() == 2) {
		attend_one_512(out, q, k, v, ldkv, att, L, hd, scale);
		return;
	}
	if (isa() == 1) {
		attend_one_256(out, q, k, v, ldkv, att, L, hd, scale);
		return;
	}
#endif
	nn_attend_one_body(out, q, k, v, ldkv, att, L, hd, scale);
}

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

/* -- The encoder's layer pieces, spread over the workers ------------------- */

/*
 * out (N,OC) = inp (N,C) w^T + b for an f32 Linear weight w (OC,C), over
 * the workers; results do not depend on their number.  From NN_MANY_ROWS
 * rows on through nn_matmul_many (packed panels, gemm.c); fewer rows (from
 * NN_GEMV_ROWS) through nn_gemm, whose dot products read W where it lies;
 * one to three rows through nn_matmul's GEMV.  The sgemm slices at the end
 * are what is left if nn_matmul_many has no memory for its panels.
 */
/* Rows up to which nn_linear_workers's products go through nn_gemm. */
#ifndef NN_NT_ROWS
#define NN_NT_ROWS 128
#endif

struct nt_job {
	float *out;
	const float *inp, *w, *b;
	int N, C, OC;
	int width;		/* output columns per task, a multiple of 4 */
	size_t ld;		/* inp's row stride in a worker's copy, or 0 */
	unsigned gen;		/* this job's number */
};

/* The job whose input this thread's scratch holds a copy of. */
static _Thread_local unsigned nt_copied;
static atomic_uint nt_gen;

static void
nt_task(void *arg, int t, float *scratch)
{
	struct nt_job *j = arg;
	int o0 = t * j->width, o1 = o0 + j->width < j->OC ? o0 + j->width :
	    j->OC;
	const float *a = j->inp;
	size_t lda = (size_t)j->C;
	nn_weight w = {j->w, QKV_F32, j->OC, j->C};

	if (j->ld) {
		/* rows a multiple of 1 KiB apart share a few L1 sets: 6
		 * of them streamed beside 4 of W evict one another (1.3x
		 * slower at 3072 columns), so each worker works on a copy
		 * with rows 64 bytes longer, made once per job */
		if (nt_copied != j->gen) {
			for (int r = 0; r < j->N; r++)
				memcpy(scratch + r * j->ld, j->inp + r * lda,
				    lda * sizeof *a);
			nt_copied = j->gen;
		}
		a = scratch;
		lda = j->ld;
	}
	nn_gemm(j->out, j->OC, a, (int)lda, &w, 1, j->b, j->N, j->C, o0, o1,
	    NULL);
}

/* out (N,OC) = inp (N,C) w^T + b through nn_gemm, in blocks of rows that
 * fit a worker's scratch when inp is copied. */
static void
linear_nt(float *out, const float *inp, const float *w, const float *b,
    int N, int C, int OC)
{
	struct nt_job j = {NULL, NULL, w, b, 0, C, OC, 0, 0, 0};
	int rows = N;

	/* tasks of about OC / 16 columns even out the workers' shares */
	j.width = ((OC + 15) / 16 + 3) & ~3;
	if (j.width < 16)
		j.width = 16;
	if (C % 256 == 0) {
		/* blocks of about equal rows */
		int nb;
		j.ld = (size_t)C + 16;
		rows = (int)(NN_SCRATCH / j.ld);
		nb = (N + rows - 1) / rows;
		rows = (N + nb - 1) / nb;
	}
	for (int r = 0; r < N; r += rows) {
		j.out = out + (size_t)r * OC;
		j.inp = inp + (size_t)r * C;
		j.N = N - r < rows ? N - r : rows;
		j.gen = atomic_fetch_add(&nt_gen, 1) + 1;
		nn_parallel((OC + j.width - 1) / j.width, nt_task, &j);
	}
}

/* Rows from which nn_linear_workers's products go through
 * nn_matmul_many: below, W's rows read in place as dot products stream
 * from memory faster than panels are made (bert-base, 2 workers: 1171
 * against 934 tokens/s of products at 16 rows; 1807 against 1712 at 64,
 * 2093 against 1764 at 128). */
#ifndef NN_MANY_ROWS
#define NN_MANY_ROWS 64
#endif

void
nn_linear_workers(float *out, const float *inp, const float *w,
    const float *b, int N, int C, int OC)
{
	nn_weight wt = {w, QKV_F32, OC, C};
	struct mm_job j = {out, inp, &wt, 1, b, N, C, OC, 0, 1, C, NULL};

	/* many rows: packed panels, the same bits for any worker count */
	if (N >= NN_MANY_ROWS && nn_matmul_many(out, OC, inp, C, &wt, 1, b, N,
	    C, OC, NN_ACT_NONE) == 0)
		return;
	if (N >= NN_GEMV_ROWS && N <= NN_NT_ROWS && C + 16 <= NN_SCRATCH) {
		/* a few rows: W read in place, no packing (gemm.c) */
		linear_nt(out, inp, w, b, N, C, OC);
		return;
	}
	if (N < NN_GEMV_ROWS || (double)N * C * OC < 64e6) {
		nn_matmul(out, inp, &wt, 1, b, N, C, OC);
		return;
	}
	/* no memory for the panels: slices of OC alone, as nn_matmul */
	j.width = ((OC + NN_SLICES - 1) / NN_SLICES + 15) & ~15;
	nn_parallel((OC + j.width - 1) / j.width, mm_sgemm_task, &j);
}

void
nn_linear_act(float *out, const float *inp, const float *w, const float *b,
    int N, int C, int OC, int act)
{
	nn_weight wt = {w, QKV_F32, OC, C};

	if (N >= NN_MANY_ROWS && nn_matmul_many(out, OC, inp, C, &wt, 1, b, N,
	    C, OC, act) == 0)
		return;
	nn_linear_workers(out, inp, w, NULL, N, C, OC);
	if (act == NN_ACT_GELU_ERF && b != NULL) {
		nn_bias_gelu_erf(out, b, N, OC);
		return;
	}
	if (b != NULL)
		for (int n = 0; n < N; n++)
			nn_add(out + (size_t)n * OC, b, (size_t)OC);
	nn_activate(out, (size_t)N * OC, act);
}

/* x (C) = LN(x + y + bias) * w + b in place; y, bias may be NULL.  Sums
 * in NN_BLK float lanes (vectorised; each lane adds C / NN_BLK terms, so
 * the rounding stays well under the reference's own). */
static inline __attribute__((always_inline)) void
nn_residual_ln_row_body(float *x, const float *y, const float *bias,
    const float *w, const float *b, int C, float eps)
{
	float s[NN_BLK], v[NN_BLK];
	double sum = 0, var = 0;
	int i, j, c0 = C - C % NN_BLK;

	if (y != NULL)
		for (i = 0; i < C; i++)
			x[i] += y[i];
	if (bias != NULL)
		for (i = 0; i < C; i++)
			x[i] += bias[i];
	for (j = 0; j < NN_BLK; j++)
		s[j] = 0;
	for (i = 0; i < c0; i += NN_BLK)
		for (j = 0; j < NN_BLK; j++)
			s[j] += x[i + j];
	for (j = 0; j < NN_BLK; j++)
		sum += s[j];
	for (i = c0; i < C; i++)
		sum += x[i];
	float mean = (float)(sum / C);
	for (j = 0; j < NN_BLK; j++)
		v[j] = 0;
	for (i = 0; i < c0; i += NN_BLK)
		for (j = 0; j < NN_BLK; j++) {
			float d = x[i + j] - mean;
			v[j] += d * d;
		}
	for (j = 0; j < NN_BLK; j++)
		var += v[j];
	for (i = c0; i < C; i++)
		var += (double)(x[i] - mean) * (x[i] - mean);
	float rstd = (float)(1.0 / sqrt(var / C + eps));
	for (i = 0; i < C; i++)
		x[i] = (x[i] - mean) * rstd * w[i] + b[i];
}
NN_DISPATCH(nn_residual_ln_row, (float *x, const float *y,
    const float *bias, const float *w, const float *b, int C, float eps),
    (x, y, bias, w, b, C, eps))

/* x (C) = gelu(x + bias) in place */
static inline __attribute__((always_inline)) void
nn_bias_gelu_row_body(float *x, const float *bias, int C)
{
	float tail[NN_BLK];
	int i;

	for (i = 0; i + NN_BLK <= C; i += NN_BLK) {
		for (int j = 0; j < NN_BLK; j++)
			x[i + j] += bias[i + j];
		gelu_erf_block(x + i);
	}
	if (i < C) {
		memset(tail, 0, sizeof tail);
		for (int j = 0; i + j < C; j++)
			tail[j] = x[i + j] + bias[i + j];
		gelu_erf_block(tail);
		memcpy(x + i, tail, (size_t)(C - i) * sizeof *x);
	}
}
NN_DISPATCH(nn_bias_gelu_row, (float *x, const float *bias, int C),
    (x, bias, C))

#define NN_ROWS_PER_TASK 16

struct rows_job {
	float *x;
	const float *y, *bias, *w, *b;
	int N, C;
	float eps;
	int per;		/* per task: columns (bias_gelu_task) or
				 * rows (residual_ln_task) */
};

static void
residual_ln_task(void *arg, int t, float *scratch)
{
	struct rows_job *j = arg;
	int rt = j->per, r1 = (t + 1) * rt < j->N ? (t + 1) * rt : j->N;

	(void)scratch;
	for (int r = t * rt; r < r1; r++)
		nn_residual_ln_row(j->x + (size_t)r * j->C,
		    j->y ? j->y + (size_t)r * j->C : NULL, j->bias, j->w, j->b,
		    j->C, j->eps);
}

void
nn_residual_layernorm(float *x, const float *y, const float *bias,
    const float *w, const float *b, int N, int C, float eps)
{
	/* rows per task: at least 4 tasks for a query's few rows */
	int rt = N >= 4 * NN_ROWS_PER_TASK ? NN_ROWS_PER_TASK : (N + 3) / 4;
	struct rows_job j = {x, y, bias, w, b, N, C, eps, rt > 0 ? rt : 1};

	nn_parallel((N + j.per - 1) / j.per, residual_ln_task, &j);
}

static void
bias_gelu_task(void *arg, int t, float *scratch)
{
	struct rows_job *j = arg;
	int ncb = (j->C + j->per - 1) / j->per, rb = t / ncb;
	int c0 = t % ncb * j->per, cn = j->C - c0 < j->per ? j->C - c0 : j->per;
	int r1 = (rb + 1) * NN_ROWS_PER_TASK < j->N ? (rb + 1) *
	    NN_ROWS_PER_TASK : j->N;

	(void)scratch;
	for (int r = rb * NN_ROWS_PER_TASK; r < r1; r++)
		nn_bias_gelu_row(j->x + (size_t)r * j->C + c0, j->bias + c0, cn);
}

void
nn_bias_gelu_erf(float *x, const float *bias, int N, int C)
{
	struct rows_job j = {x, NULL, bias, NULL, NULL, N, C, 0, C};
	int nrb = (N + NN_ROWS_PER_TASK - 1) / NN_ROWS_PER_TASK;

	/* a query's few rows were one task, run by one worker while the
	 * others waited: blocks of columns too (elementwise, so the same
	 * bits) */
	if (nrb < 4)
		j.per = ((C + 3) / 4 + NN_BLK - 1) / NN_BLK * NN_BLK;
	nn_parallel(nrb * ((C + j.per - 1) / j.per), bias_gelu_task, &j);
}

struct enc_att_job {
	float *out;
	const float *q, *k, *v;
	int ld, ldo;
	const int *len;
	const size_t *off;
	int nhead, hd;
	float scale;
};

/* enc_att_task through sgemm, for sequences too long for its packing
 * space beside a row of scores. */
static void
enc_att_sgemm(const struct enc_att_job *j, int s, int h, float *att)
{
	int T = j->len[s], hd = j->hd;
	size_t o = j->off[s], col = (size_t)h * hd;
	int R = NN_SCRATCH / T < T ? NN_SCRATCH / T : T;

	for (int r0 = 0; r0 < T; r0 += R) {
		int nr = T - r0 < R ? T - r0 : R;
		nn_sgemm(0, 1, nr, T, hd, j->scale, j->q + (o + r0) * j->ld +
		    col, j->ld, j->k + o * j->ld + col, j->ld, 0.0f, att, T);
		nn_softmax_fast(att, nr, T);
		nn_sgemm(0, 0, nr, hd, T, 1.0f, att, T, j->v + o * j->ld + col,
		    j->ld, 0.0f, j->out + (o + r0) * j->ldo + col, j->ldo);
	}
}

/* One (sequence, head): scores, softmax and weighted values, in blocks of
 * query rows so that the scores fit the worker's scratch. */
static void
enc_att_task(void *arg, int t, float *att)
{
	struct enc_att_job *j = arg;
	int s = t / j->nhead, h = t % j->nhead, T = j->len[s], hd = j->hd;
	size_t o = j->off[s], col = (size_t)h * hd;
	int R;

	if (T <= 0)
		return;
	/* the scores, then the packing space of the larger product */
	int kmax = T > hd ? T : hd;
	if (nn_pgemm_small_scratch(1, kmax) + (size_t)T + 32 > NN_SCRATCH) {
		enc_att_sgemm(j, s, h, att);	/* very long sequences */
		return;
	}
	R = (int)((NN_SCRATCH - nn_pgemm_small_scratch(0, kmax) - 32) /
	    (size_t)(T + kmax));
	R = R > T ? T : R < 1 ? 1 : R;
	float *ps = att + ((size_t)R * T + 15) / 16 * 16;

	for (int r0 = 0; r0 < T; r0 += R) {
		int nr = T - r0 < R ? T - r0 : R;
		/* att (nr,T) = q_h (nr,hd) k_h^T (hd,T) * scale: gemm.c's
		 * kernels, not sgemm, so the bits do not depend on
		 * OpenBLAS's choices (and its Haswell kernels were the
		 * slower here) */
		nn_pgemm_small(att, T, j->q + (o + r0) * j->ld + col, j->ld,
		    j->k + o * j->ld + col, j->ld, 1, nr, hd, T, ps);
		for (size_t i = 0; i < (size_t)nr * T; i++)
			att[i] *= j->scale;
		nn_softmax_fast(att, nr, T);
		/* out_h (nr,hd) = att (nr,T) v_h (T,hd) */
		nn_pgemm_small(j->out + (o + r0) * j->ldo + col, j->ldo, att, T,
		    j->v + o * j->ld + col, j->ld, 0, nr, T, hd, ps);
	}
}

void
nn_attention(float *out, int ldo, const float *q, const float *k,
    const float *v, int ld, const int *len, const size_t *off, int nseq,
    int nhead, int hd, float scale)
{
	struct enc_att_job j = {out, q, k, v, ld, ldo, len, off, nhead, hd,
	    scale};

	nn_parallel(nseq * nhead, enc_att_task, &j);
}

/* x (N,C) in place as GPT-2 activations: NN_ACT_NONE leaves it. */
void
nn_activate(float *x, size_t n, int act)
{
	if (act == NN_ACT_GELU_TANH)
		nn_gelu_tanh_fast(x, n);
	else if (act == NN_ACT_GELU_ERF)
		nn_gelu_erf_fast(x, n);
	else if (act == NN_ACT_RELU)
		for (size_t i = 0; i < n; i++)
			x[i] = x[i] > 0 ? x[i] : 0;
}

struct add_ln_job {
	struct rows_job r;
	float *out;
};

static void
add_ln_task(void *arg, int t, float *scratch)
{
	struct add_ln_job *a = arg;
	struct rows_job *j = &a->r;
	int r1 = (t + 1) * NN_ROWS_PER_TASK < j->N ? (t + 1) *
	    NN_ROWS_PER_TASK : j->N;

	(void)scratch;
	for (int r = t * NN_ROWS_PER_TASK; r < r1; r++) {
		float *x = j->x + (size_t)r * j->C, *o = a->out + (size_t)r * j->C;
		if (j->y != NULL)
			nn_add(x, j->y + (size_t)r * j->C, (size_t)j->C);
		memcpy(o, x, (size_t)j->C * sizeof *o);
		nn_residual_ln_row(o, NULL, NULL, j->w, j->b, j->C, j->eps);
	}
}

void
nn_add_layernorm(float *x, const float *y, float *out, const float *w,
    const float *b, int N, int C, float eps)
{
	struct add_ln_job j = {{x, y, NULL, w, b, N, C, eps, 0}, out};

	nn_parallel((N + NN_ROWS_PER_TASK - 1) / NN_ROWS_PER_TASK, add_ln_task,
	    &j);
}
