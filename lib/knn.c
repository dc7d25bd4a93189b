/*
 * knn.c - exact nearest-neighbour search.
 *
 * A batch of queries is scored against the index one block of rows at a
 * time with one sgemm, (nq,dim) x (nb,dim)^T -> (nq,nb); each query keeps
 * its k best rows in a heap whose root is the worst kept, so nearly every
 * score costs one comparison.  Every block has the same shape (a short one
 * is zero-padded), so identical rows get bit-identical scores; rows come in
 * order and a later row never displaces an equal score, so ties go to the
 * lower row as in a stable brute-force sort.
 *
 * Rows that enter a heap are kept aside (vector and text, in row order,
 * compacted when they pile up); at the end each query's hits are scored
 * again in double precision and sorted, so the printed scores are exact and
 * do not depend on how queries were batched.  Memory is O(nq*k*dim + nb*dim)
 * whatever the index size.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qkv.h"

typedef struct kept {		/* one row that entered a heap */
	int64_t row;
	size_t toff, tlen;	/* its text in text[]; tlen SIZE_MAX: none */
} kept;

struct knn {
	int dim, metric, k, nq;
	size_t nb;		/* rows per block */
	int64_t nrows;		/* rows scored so far */
	const float *q;		/* (nq,dim) queries as given (caller's) */
	float *qs;		/* (nq,dim) as scored: unit length for cos */
	float *tile;		/* (nq,nb) scores of one block */
	float *xf;		/* (nb) per row: 1/|x| (cos) or |x|^2 (l2) */
	float *buf;		/* (nb,dim) rows being gathered, zero-padded */
	size_t nbuf;		/* rows in buf */
	char *btext;		/* texts of the rows in buf */
	size_t btcap, btused, *btoff, *btlen;	/* (nb) each; SIZE_MAX: none */
	unsigned char *hit;	/* (nb) rows of the block that entered a heap */
	knn_hit *heap;		/* (nq,k) */
	int *nheap;		/* (nq) */
	kept *kp;		/* rows kept aside, in row order */
	float *kvec;		/* (nkept,dim) */
	char *ktext;
	size_t nkept, kcap, kvcap, ktused, ktcap;
	int64_t *live;		/* (nq*k) scratch for compaction */
};

int
knn_metric_parse(const char *name)
{
	static const char *names[] = {"cos", "dot", "l2"};

	for (int i = 0; i < 3; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* The one matrix product: tile = qs * x^T.  Shapes: qs (nq,dim), x
 * (nb,dim), tile (nq,nb).  nn_matmul_many sums each score in the order of
 * the dimensions whatever the row's place in the block, the batch or the
 * worker count: identical rows score the same bits, so ties stay ties. */
static void
score_block(knn *s, const float *x)
{
	nn_weight w = {x, QKV_F32, (int)s->nb, s->dim};

	if (nn_matmul_many(s->tile, (int)s->nb, s->qs, s->dim, &w, 1, NULL,
	    s->nq, s->dim, (int)s->nb, NN_ACT_NONE) < 0)
		nn_sgemm(0, 1, s->nq, (int)s->nb, s->dim, 1.0f, s->qs, s->dim,
		    x, s->dim, 0.0f, s->tile, (int)s->nb);
}

/* Rows per block: the score tile stays within a few MB of cache and the
 * block buffer within 16 MB; a multiple of 64 so sgemm runs no ragged
 * edge kernels along the rows. */
static size_t
block_rows(int nq, int dim)
{
	size_t nb = ((size_t)1 << 20) / (size_t)nq;
	size_t cap = ((size_t)1 << 22) / (size_t)dim;

	if (nb > cap)
		nb = cap;
	if (nb > 4096)
		nb = 4096;
	nb &= ~(size_t)63;
	return nb < 64 ? 64 : nb;
}

int
knn_batch_size(int dim, int k)
{
	/* per query: heap, kept rows (up to 2k) with vectors and some text,
	 * a row of the score tile; stay near 256 MB in all */
	double per = (double)k * (24 + 2.0 * (dim * 4.0 + 64)) + 4096.0 * 4;
	double n = (256.0 * (1 << 20)) / per;

	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

void
knn_free(knn *s)
{
	if (s == NULL)
		return;
	free(s->qs);
	free(s->tile);
	free(s->xf);
	free(s->buf);
	free(s->btext);
	free(s->btoff);
	free(s->btlen);
	free(s->hit);
	free(s->heap);
	free(s->nheap);
	free(s->kp);
	free(s->kvec);
	free(s->ktext);
	free(s->live);
	free(s);
}

knn *
knn_begin(const float *q, int nq, int dim, int metric, int k, qkv_err *e)
{
	knn *s;
	size_t nb;

	if (nq < 1 || dim < 1 || k < 1 || metric < 0 || metric > KNN_L2) {
		qkv_errf(e, "knn: bad arguments");
		return NULL;
	}
	if ((s = qkv_calloc(1, sizeof *s, e)) == NULL)
		return NULL;
	nb = block_rows(nq, dim);
	s->dim = dim;
	s->metric = metric;
	s->k = k;
	s->nq = nq;
	s->nb = nb;
	s->q = q;
	if ((s->qs = qkv_calloc((size_t)nq * dim, sizeof *s->qs, e)) == NULL ||
	    (s->tile = qkv_calloc((size_t)nq * nb, sizeof *s->tile, e)) == NULL ||
	    (s->xf = qkv_calloc(nb, sizeof *s->xf, e)) == NULL ||
	    (s->buf = qkv_calloc(nb * dim, sizeof *s->buf, e)) == NULL ||
	    (s->btoff = qkv_calloc(nb, sizeof *s->btoff, e)) == NULL ||
	    (s->btlen = qkv_calloc(nb, sizeof *s->btlen, e)) == NULL ||
	    (s->hit = qkv_calloc(nb, 1, e)) == NULL ||
	    (s->heap = qkv_calloc((size_t)nq * k, sizeof *s->heap, e)) == NULL ||
	    (s->nheap = qkv_calloc(nq, sizeof *s->nheap, e)) == NULL ||
	    (s->live = qkv_calloc((size_t)nq * k, sizeof *s->live, e)) == NULL) {
		knn_free(s);
		return NULL;
	}
	memcpy(s->qs, q, (size_t)nq * dim * sizeof *q);
	if (metric == KNN_COS)
		for (int i = 0; i < nq; i++) {
			float *v = s->qs + (size_t)i * dim;
			double ss = 0;
			for (int d = 0; d < dim; d++)
				ss += (double)v[d] * v[d];
			float inv = ss > 0 ? (float)(1 / sqrt(ss)) : 0;
			for (int d = 0; d < dim; d++)
				v[d] *= inv;
		}
	return s;
}

/* ---- heaps: the root is the worst hit kept ------------------------------ */

static int
worse(const knn_hit *a, const knn_hit *b)
{
	return a->score < b->score || (a->score == b->score && a->row > b->row);
}

static void
heap_add(knn_hit *h, int *n, int k, float score, int64_t row)
{
	knn_hit x = {row, score != score ? -INFINITY : score};
	int i;

	if (*n < k) {		/* sift up */
		for (i = (*n)++; i > 0 && worse(&x, &h[(i - 1) / 2]); i = (i - 1) / 2)
			h[i] = h[(i - 1) / 2];
		h[i] = x;
		return;
	}
	for (i = 0;;) {		/* replace the root, sift down */
		int c = 2 * i + 1;
		if (c >= k)
			break;
		if (c + 1 < k && worse(&h[c + 1], &h[c]))
			c++;
		if (!worse(&h[c], &x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/* Offer row j of the block (scores sc, transformed in place so higher is
 * better) to query i's heap. */
static void
select_top(knn *s, int i, float *sc, size_t n, int64_t row0)
{
	knn_hit *h = s->heap + (size_t)i * s->k;
	int *nh = &s->nheap[i], k = s->k;
	float thr = *nh < k ? -INFINITY : h[0].score;

	if (s->metric == KNN_COS)
		for (size_t j = 0; j < n; j++)
			sc[j] *= s->xf[j];
	else if (s->metric == KNN_L2)	/* -(|x|^2 - 2 q.x): |q|^2 is common */
		for (size_t j = 0; j < n; j++)
			sc[j] = 2 * sc[j] - s->xf[j];
	for (size_t j = 0; j < n; j += 16) {
		size_t m = n - j < 16 ? n - j : 16;
		if (m == 16 && *nh == k) {	/* one vector test rejects most */
			int any = 0;
			for (int u = 0; u < 16; u++)
				any |= sc[j + u] > thr;
			if (!any)
				continue;
		}
		for (size_t u = j; u < j + m; u++) {
			if (!(sc[u] > thr) && *nh == k)
				continue;
			heap_add(h, nh, k, sc[u], row0 + (int64_t)u);
			s->hit[u] = 1;
			thr = *nh < k ? -INFINITY : h[0].score;
		}
	}
}

/* ---- rows kept aside ----------------------------------------------------- */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Drop kept rows that no heap holds any more. */
static void
compact(knn *s)
{
	size_t nl = 0, u = 0, o = 0, tu = 0;

	for (int i = 0; i < s->nq; i++)
		for (int j = 0; j < s->nheap[i]; j++)
			s->live[nl++] = s->heap[(size_t)i * s->k + j].row;
	qsort(s->live, nl, sizeof *s->live, cmp_i64);
	for (size_t i = 0; i < s->nkept; i++) {
		kept kp = s->kp[i];
		while (u < nl && s->live[u] < kp.row)
			u++;
		if (u == nl || s->live[u] != kp.row)
			continue;
		memmove(s->kvec + o * s->dim, s->kvec + i * s->dim,
		    s->dim * sizeof *s->kvec);
		if (kp.tlen != SIZE_MAX) {
			memmove(s->ktext + tu, s->ktext + kp.toff, kp.tlen);
			kp.toff = tu;
			tu += kp.tlen;
		}
		s->kp[o++] = kp;
	}
	s->nkept = o;
	s->ktused = tu;
}

static int
grow(void **p, size_t *cap, size_t need, size_t size, qkv_err *e)
{
	size_t n = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if ((np = realloc(*p, n * size)) == NULL)
		return qkv_errf(e, "out of memory");
	*p = np;
	*cap = n;
	return 0;
}

/* Keep rows of block x (rows from row0) that entered a heap. */
static int
keep_hits(knn *s, const float *x, size_t n, int64_t row0, qkv_err *e)
{
	for (size_t j = 0; j < n; j++) {
		size_t tlen = s->btlen[j];
		if (!s->hit[j])
			continue;
		if (grow((void **)&s->kp, &s->kcap, s->nkept + 1, sizeof *s->kp,
		    e) < 0 || grow((void **)&s->kvec, &s->kvcap, s->nkept + 1,
		    s->dim * sizeof *s->kvec, e) < 0)
			return -1;
		kept *kp = &s->kp[s->nkept];
		kp->row = row0 + (int64_t)j;
		kp->tlen = tlen;
		kp->toff = s->ktused;
		memcpy(s->kvec + s->nkept * s->dim, x + j * s->dim,
		    s->dim * sizeof *x);
		if (tlen != SIZE_MAX) {
			if (grow((void **)&s->ktext, &s->ktcap, s->ktused + tlen,
			    1, e) < 0)
				return -1;
			memcpy(s->ktext + s->ktused, s->btext + s->btoff[j], tlen);
			s->ktused += tlen;
		}
		s->nkept++;
	}
	if (s->nkept > 2 * (size_t)s->nq * s->k + 1024)
		compact(s);
	return 0;
}

/* ---- blocks -------------------------------------------------------------- */

/* Score n <= nb rows x, numbered from s->nrows; x may be s->buf. */
static int
run_block(knn *s, const float *x, size_t n, qkv_err *e)
{
	size_t dim = s->dim;

	if (n == 0)
		return 0;
	if (x != s->buf)	/* rows from the caller carry no text */
		for (size_t j = 0; j < n; j++)
			s->btlen[j] = SIZE_MAX;
	if (n < s->nb) {	/* same shape for every block */
		if (x != s->buf)
			memcpy(s->buf, x, n * dim * sizeof *x);
		memset(s->buf + n * dim, 0, (s->nb - n) * dim * sizeof *x);
		x = s->buf;
	}
	if (s->metric != KNN_DOT)
		for (size_t j = 0; j < n; j++) {
			const float *v = x + j * dim;
			float ss = 0;
			for (size_t d = 0; d < dim; d++)
				ss += v[d] * v[d];
			s->xf[j] = s->metric == KNN_L2 ? ss :
			    ss > 0 ? 1 / sqrtf(ss) : 0;
		}
	score_block(s, x);
	memset(s->hit, 0, n);
	for (int i = 0; i < s->nq; i++)
		select_top(s, i, s->tile + (size_t)i * s->nb, n, s->nrows);
	if (keep_hits(s, x, n, s->nrows, e) < 0)
		return -1;
	s->nrows += (int64_t)n;
	s->nbuf = 0;
	s->btused = 0;
	return 0;
}

int
knn_rows(knn *s, const float *x, size_t n, qkv_err *e)
{
	if (s->nbuf > 0 && run_block(s, s->buf, s->nbuf, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i += s->nb)
		if (run_block(s, x + i * s->dim, n - i < s->nb ? n - i : s->nb,
		    e) < 0)
			return -1;
	return 0;
}

int
knn_row(knn *s, const void *v, int dtype, const char *text, size_t tlen,
    qkv_err *e)
{
	size_t j = s->nbuf;

	qkv_to_f32(s->buf + j * s->dim, v, dtype, s->dim);
	s->btlen[j] = SIZE_MAX;
	if (text != NULL) {
		if (grow((void **)&s->btext, &s->btcap, s->btused + tlen, 1,
		    e) < 0)
			return -1;
		memcpy(s->btext + s->btused, text, tlen);
		s->btoff[j] = s->btused;
		s->btlen[j] = tlen;
		s->btused += tlen;
	}
	if (++s->nbuf == s->nb)
		return run_block(s, s->buf, s->nbuf, e);
	return 0;
}

/* ---- results ------------------------------------------------------------- */

static const kept *
find_kept(const knn *s, int64_t row)
{
	size_t lo = 0, hi = s->nkept;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->kp[mid].row < row)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nkept && s->kp[lo].row == row ? &s->kp[lo] : NULL;
}

/* The score as reported, in double precision. */
static float
exact_score(int metric, const float *q, const float *x, int dim)
{
	double qx = 0, qq = 0, xx = 0;

	for (int d = 0; d < dim; d++) {
		if (metric == KNN_L2) {
			double t = (double)q[d] - x[d];
			qx += t * t;
		} else {
			qx += (double)q[d] * x[d];
			qq += (double)q[d] * q[d];
			xx += (double)x[d] * x[d];
		}
	}
	if (metric == KNN_L2)
		return (float)sqrt(qx);
	if (metric == KNN_COS)
		return qq > 0 && xx > 0 ? (float)(qx / sqrt(qq * xx)) : 0;
	return (float)qx;
}

static int
better_desc(const void *a, const void *b)
{
	return worse(b, a) ? -1 : worse(a, b) ? 1 : 0;
}

static int
better_asc(const void *a, const void *b)
{
	const knn_hit *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	return (x->row > y->row) - (x->row < y->row);
}

int
knn_end(knn *s, knn_hit *hits, qkv_err *e)
{
	int nh = 0;

	if (s->nbuf > 0 && run_block(s, s->buf, s->nbuf, e) < 0)
		return -1;
	for (int i = 0; i < s->nq; i++) {
		knn_hit *out = hits + (size_t)i * s->k;
		nh = s->nheap[i];
		for (int j = 0; j < nh; j++) {
			const kept *kp = find_kept(s, s->heap[(size_t)i * s->k + j].row);
			out[j].row = kp->row;
			out[j].score = exact_score(s->metric,
			    s->q + (size_t)i * s->dim,
			    s->kvec + (size_t)(kp - s->kp) * s->dim, s->dim);
			if (out[j].score != out[j].score)
				out[j].score = s->metric == KNN_L2 ? INFINITY : -INFINITY;
		}
		qsort(out, nh, sizeof *out, s->metric == KNN_L2 ? better_asc :
		    better_desc);
	}
	return nh;
}

const char *
knn_text(const knn *s, int64_t row, size_t *len)
{
	const kept *kp = find_kept(s, row);

	if (kp == NULL || kp->tlen == SIZE_MAX)
		return NULL;
	*len = kp->tlen;
	return s->ktext + kp->toff;
}

int
knn_topk(const float *x, int64_t n, const float *q, int nq, int dim,
    int metric, int k, knn_hit *hits, qkv_err *e)
{
	knn *s = knn_begin(q, nq, dim, metric, k, e);
	int nh;

	if (s == NULL)
		return -1;
	if (knn_rows(s, x, (size_t)n, e) < 0 || (nh = knn_end(s, hits, e)) < 0) {
		knn_free(s);
		return -1;
	}
	knn_free(s);
	return nh;
}

int
knn_parse_vec(const char *line, size_t len, float *v, int dim, qkv_err *e)
{
	const char *p = line, *end = line + len;
	int n = 0;

	for (;;) {
		char tmp[64], *te;
		size_t w;
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p == end)
			break;
		for (w = 0; p + w < end && p[w] != ' ' && p[w] != '\t' &&
		    p[w] != '\r'; w++)
			;
		if (w >= sizeof tmp)
			return qkv_errf(e, "number %d is too long", n + 1);
		memcpy(tmp, p, w);
		tmp[w] = '\0';
		float f = strtof(tmp, &te);
		if (te != tmp + w)
			return qkv_errf(e, "'%s' is not a number", tmp);
		if (!isfinite(f))
			return qkv_errf(e, "'%s' is not a finite number", tmp);
		if (n < dim)
			v[n] = f;
		n++;
		p += w;
	}
	if (n != dim)
		return qkv_errf(e, "expected %d numbers, found %d", dim, n);
	return 0;
}

/* ---- an index of files --------------------------------------------------- */

typedef struct src {
	const char *path;
	qkv_file *f;		/* a tensor file, mapped */
	qkv_npy *npy;		/* or a .npy file, mapped */
	const qkv_tensor *t;	/* its one 2-D tensor */
	qkv_in *in;		/* or a stream, opened by knn_index_open and */
	qkv_reader *r;		/* read on by the first search */
	int vc, tc;		/* its vector and text columns (tc -1: none) */
	int once;		/* a stream that cannot be read again (a pipe) */
} src;

struct knn_index {
	int n, dim;
	const char *col;
	src *src;
	knn *last;		/* the last search, for its texts */
};

static int
is_float(int dtype)
{
	return dtype == QKV_F16 || dtype == QKV_BF16 || dtype == QKV_F32 ||
	    dtype == QKV_F64;
}

int
knn_vec_col(const qkv_reader *r, const char *col, int *dim, const char *name,
    qkv_err *e)
{
	int c = qkv_reader_find(r, col);
	const qkv_col *cl;
	int64_t n = 1;

	if (c < 0)
		return qkv_errf(e, "%s: no column '%s'", name, col);
	cl = qkv_reader_col(r, c);
	for (int d = 0; d < cl->ndim && n > 0; d++)
		n = cl->shape[d] > INT32_MAX / n ? -1 : n * cl->shape[d];
	if (cl->kind != QKV_COL_FIXED || !is_float(cl->dtype) || n < 1)
		return qkv_errf(e, "%s: column '%s' is not a fixed column of "
		    "float vectors", name, col);
	if (*dim > 0 && n != *dim)
		return qkv_errf(e, "%s: '%s' has dimension %lld, the index has %d",
		    name, col, (long long)n, *dim);
	*dim = (int)n;
	return c;
}

static int
stream_open(knn_index *ix, src *sr, qkv_err *e)
{
	int tc;

	if ((sr->in == NULL && (sr->in = qkv_in_open(sr->path, e)) == NULL) ||
	    (sr->r = qkv_reader_open(sr->in, e)) == NULL ||
	    (sr->vc = knn_vec_col(sr->r, ix->col, &ix->dim, sr->path, e)) < 0)
		return -1;
	tc = qkv_reader_find(sr->r, "text");
	sr->tc = tc >= 0 && qkv_reader_col(sr->r, tc)->kind == QKV_COL_STRING ?
	    tc : -1;
	return 0;
}

static void
stream_close(src *sr)
{
	if (sr->r != NULL)
		qkv_reader_close(sr->r);
	qkv_in_close(sr->in);
	sr->r = NULL;
	sr->in = NULL;
}

/* A stream, a tensor file or a .npy file, told apart by their first bytes. */
static int
src_open(knn_index *ix, src *sr, qkv_err *e)
{
	const unsigned char *p;
	const qkv_tensor *t;
	struct stat st;
	long got;
	int kind;

	if (stat(sr->path, &st) < 0)
		return qkv_errf(e, "%s: %s", sr->path, strerror(errno));
	sr->once = !S_ISREG(st.st_mode);
	if ((sr->in = qkv_in_open(sr->path, e)) == NULL ||
	    (got = qkv_in_peek(sr->in, 8, &p, e)) < 0)
		return -1;
	if ((kind = qkv_kind(p, (size_t)got)) == 'S')
		return stream_open(ix, sr, e);
	int npy = got >= 6 && memcmp(p, "\x93NUMPY", 6) == 0;
	qkv_in_close(sr->in);
	sr->in = NULL;
	if (kind == 'T') {
		if ((sr->f = qkv_file_open(sr->path, e)) == NULL)
			return -1;
		if (qkv_file_ntensors(sr->f) != 1)
			return qkv_errf(e, "%s: %d tensors; an index holds one",
			    sr->path, qkv_file_ntensors(sr->f));
		t = qkv_file_tensor(sr->f, 0);
	} else if (npy) {
		if ((sr->npy = qkv_npy_open(sr->path, e)) == NULL)
			return -1;
		t = qkv_npy_tensor(sr->npy);
	} else
		return qkv_errf(e, "%s: not a qkv vector stream, qkv tensor file "
		    "or .npy file", sr->path);
	if (t->ndim != 2 || !is_float(t->dtype) || t->shape[1] < 1 ||
	    t->shape[1] > INT32_MAX)
		return qkv_errf(e, "%s: an index tensor is 2-D float, (rows, "
		    "dimension); this one is %dD %s", sr->path, t->ndim,
		    qkv_dtype_name(t->dtype));
	if (ix->dim > 0 && t->shape[1] != ix->dim)
		return qkv_errf(e, "%s: dimension %lld, the index has %d", sr->path,
		    (long long)t->shape[1], ix->dim);
	ix->dim = (int)t->shape[1];
	sr->t = t;
	return 0;
}

void
knn_index_close(knn_index *ix)
{
	if (ix == NULL)
		return;
	for (int i = 0; i < ix->n; i++) {
		stream_close(&ix->src[i]);
		if (ix->src[i].f != NULL)
			qkv_file_close(ix->src[i].f);
		if (ix->src[i].npy != NULL)
			qkv_npy_close(ix->src[i].npy);
	}
	knn_free(ix->last);
	free(ix->src);
	free(ix);
}

knn_index *
knn_index_open(char *const *paths, int n, const char *col, qkv_err *e)
{
	knn_index *ix;

	if ((ix = qkv_calloc(1, sizeof *ix, e)) == NULL ||
	    (ix->src = qkv_calloc(n, sizeof *ix->src, e)) == NULL) {
		free(ix);
		return NULL;
	}
	ix->col = col;
	for (ix->n = 0; ix->n < n; ix->n++) {
		ix->src[ix->n].path = paths[ix->n];
		if (src_open(ix, &ix->src[ix->n], e) < 0) {
			ix->n++;
			knn_index_close(ix);
			return NULL;
		}
	}
	return ix;
}

int
knn_index_dim(const knn_index *ix)
{
	return ix->dim;
}

static int
scan(knn *s, src *sr, knn_index *ix, qkv_err *e)
{
	const qkv_tensor *t = sr->t;
	qkv_cell cells[QKV_MAXCOLS];
	int rc;

	if (t != NULL && t->dtype == QKV_F32)
		return knn_rows(s, t->data, (size_t)t->shape[0], e);
	if (t != NULL) {
		size_t rowbytes = (size_t)t->shape[1] * qkv_dtype_size(t->dtype);
		for (int64_t j = 0; j < t->shape[0]; j++)
			if (knn_row(s, (const char *)t->data + j * rowbytes,
			    t->dtype, NULL, 0, e) < 0)
				return -1;
		return 0;
	}
	if (sr->r == NULL) {
		if (sr->once)
			return qkv_errf(e, "%s: not a regular file, so it can be "
			    "read only once, for one batch of queries", sr->path);
		if (stream_open(ix, sr, e) < 0)
			return -1;
	}
	if (qkv_reader_ncols(sr->r) > QKV_MAXCOLS)
		return qkv_errf(e, "%s: too many columns", sr->path);
	int dtype = qkv_reader_col(sr->r, sr->vc)->dtype;
	while ((rc = qkv_reader_next(sr->r, cells, e)) == 1)
		if (knn_row(s, cells[sr->vc].p, dtype, sr->tc < 0 ? NULL :
		    cells[sr->tc].p, sr->tc < 0 ? 0 : cells[sr->tc].n, e) < 0)
			break;
	stream_close(sr);
	return rc == 0 ? 0 : -1;
}

int
knn_index_search(knn_index *ix, const float *q, int nq, int metric, int k,
    knn_hit *hits, qkv_err *e)
{
	knn_free(ix->last);
	if ((ix->last = knn_begin(q, nq, ix->dim, metric, k, e)) == NULL)
		return -1;
	for (int i = 0; i < ix->n; i++)
		if (scan(ix->last, &ix->src[i], ix, e) < 0)
			return -1;
	return knn_end(ix->last, hits, e);
}

const char *
knn_index_text(const knn_index *ix, int64_t row, size_t *len)
{
	return ix->last ? knn_text(ix->last, row, len) : NULL;
}
