/* knn.c - knn_topk and the piecewise search against a plain brute force:
 * every score in double, sorted best first, ties to the lower row. */
#include <math.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

static uint64_t rs = 88172645463325252ull;

static double
urand(void)			/* xorshift64, uniform in [0,1) */
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (double)(rs >> 11) / 9007199254740992.0;
}

static int metric_;

static double
score(const float *q, const float *x, int dim)
{
	double qx = 0, qq = 0, xx = 0;

	for (int d = 0; d < dim; d++) {
		qx += metric_ == KNN_L2 ? ((double)q[d] - x[d]) *
		    ((double)q[d] - x[d]) : (double)q[d] * x[d];
		qq += (double)q[d] * q[d];
		xx += (double)x[d] * x[d];
	}
	if (metric_ == KNN_L2)
		return -sqrt(qx);	/* higher is better throughout */
	if (metric_ == KNN_COS)
		return qq > 0 && xx > 0 ? qx / sqrt(qq * xx) : 0;
	return qx;
}

typedef struct {
	double s;
	int64_t row;
} ref;

static int
ref_cmp(const void *a, const void *b)
{
	const ref *x = a, *y = b;

	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	return x->row < y->row ? -1 : 1;
}

/* Compare hits with the brute force for every query.  exact: scores are
 * exact in float (small integers), so rows must match one for one;
 * otherwise rows may differ only where scores are within tol. */
static int
check(const float *x, int64_t n, const float *q, int nq, int dim, int k,
    const knn_hit *hits, int nh, int exact, const char *what)
{
	ref *r = malloc(n * sizeof *r);
	int bad = 0, want = k < n ? k : (int)n;
	double tol = 1e-5;

	if (nh != want) {
		printf("# %s: %d hits per query, want %d\n", what, nh, want);
		free(r);
		return 0;
	}
	for (int i = 0; i < nq && !bad; i++) {
		const float *qi = q + (size_t)i * dim;
		const knn_hit *h = hits + (size_t)i * k;
		for (int64_t j = 0; j < n; j++)
			r[j] = (ref){score(qi, x + j * dim, dim), j};
		qsort(r, n, sizeof *r, ref_cmp);
		for (int j = 0; j < nh && !bad; j++) {
			double got = metric_ == KNN_L2 ? -h[j].score : h[j].score;
			double mine = score(qi, x + h[j].row * dim, dim);
			if (fabs(got - mine) > tol * (1 + fabs(mine)))
				bad = printf("# %s: q%d rank %d row %lld score %g, "
				    "exact %g\n", what, i, j, (long long)h[j].row,
				    got, mine);
			else if (exact ? h[j].row != r[j].row :
			    fabs(mine - r[j].s) > tol * (1 + fabs(mine)))
				bad = printf("# %s: q%d rank %d row %lld (%g), brute "
				    "force row %lld (%g)\n", what, i, j,
				    (long long)h[j].row, mine, (long long)r[j].row,
				    r[j].s);
			else if (j > 0 && (h[j].row == h[j - 1].row ||
			    (h[j].score == h[j - 1].score &&
			    h[j].row < h[j - 1].row)))
				bad = printf("# %s: q%d rank %d: tie out of order\n",
				    what, i, j);
		}
	}
	free(r);
	return !bad;
}

/* n rows: random, or small integers; a fifth of them copies of others. */
static float *
make_rows(int64_t n, int dim, int ints)
{
	float *x = malloc(n * dim * sizeof *x);

	for (int64_t j = 0; j < n * dim; j++)
		x[j] = ints ? (float)(int)(urand() * 7) - 3 : (float)(urand() * 2 - 1);
	for (int64_t j = 0; j < n / 5; j++) {
		int64_t a = (int64_t)(urand() * n), b = (int64_t)(urand() * n);
		memcpy(x + a * dim, x + b * dim, dim * sizeof *x);
	}
	return x;
}

int
main(void)
{
	qkv_err e;
	const char *mname[] = {"cos", "dot", "l2"};

	ok(knn_metric_parse("cos") == KNN_COS && knn_metric_parse("dot") ==
	    KNN_DOT && knn_metric_parse("l2") == KNN_L2 &&
	    knn_metric_parse("L2") == -1, "metric names");

	/* odd sizes: blocks end mid-way, tails padded, k beyond n */
	static const struct { int64_t n; int dim, nq, k, ints; } cases[] = {
		{1, 3, 1, 5, 0}, {5000, 16, 1, 10, 0}, {5000, 16, 37, 10, 0},
		{4099, 33, 300, 7, 0}, {70, 5, 3, 100, 0}, {9000, 8, 64, 25, 1},
		{3000, 3, 5, 1, 1}, {20000, 24, 130, 50, 1},
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		int64_t n = cases[c].n;
		int dim = cases[c].dim, nq = cases[c].nq, k = cases[c].k;
		float *x = make_rows(n, dim, cases[c].ints);
		float *q = make_rows(nq, dim, cases[c].ints);
		knn_hit *h = malloc((size_t)nq * k * sizeof *h);
		if (nq > 2)	/* some queries are index rows */
			memcpy(q, x + (n / 2) * dim, dim * sizeof *q);
		for (metric_ = 0; metric_ < 3; metric_++) {
			char what[128];
			int nh = knn_topk(x, n, q, nq, dim, metric_, k, h, &e);
			snprintf(what, sizeof what, "n=%lld dim=%d nq=%d k=%d %s%s",
			    (long long)n, dim, nq, k, mname[metric_],
			    cases[c].ints ? " ints" : "");
			ok(check(x, n, q, nq, dim, k, h, nh,
			    cases[c].ints && metric_ != KNN_COS, what), "%s", what);
		}
		free(x);
		free(q);
		free(h);
	}

	/* rows one by one with text, and stable ties: every row the same */
	{
		int64_t n = 3000;
		int dim = 4, k = 5;
		float q[4] = {1, 2, 3, 4}, v[4] = {1, 0, 0, 0}, *x;
		knn_hit h[5];
		size_t len;
		const char *t;
		knn *s = knn_begin(q, 1, dim, KNN_DOT, k, &e);
		int good = s != NULL;
		for (int64_t j = 0; good && j < n; j++) {
			char buf[32];
			int m = snprintf(buf, sizeof buf, "row %lld", (long long)j);
			good = knn_row(s, v, QKV_F32, j % 2 ? buf : NULL,
			    (size_t)m, &e) == 0;
		}
		good = good && knn_end(s, h, &e) == k;
		for (int j = 0; good && j < k; j++)
			good = h[j].row == j && h[j].score == 1;
		ok(good, "all rows tie: the first k rows, in order");
		t = knn_text(s, 1, &len);
		ok(t != NULL && len == 5 && memcmp(t, "row 1", 5) == 0 &&
		    knn_text(s, 0, &len) == NULL && knn_text(s, 2000, &len) ==
		    NULL, "texts of hits");
		knn_free(s);

		/* f16 rows through knn_row, mixed with f32 rows in place */
		x = make_rows(100, dim, 1);
		s = knn_begin(q, 1, dim, KNN_L2, k, &e);
		good = s != NULL && knn_rows(s, x, 50, &e) == 0;
		for (int j = 50; good && j < 100; j++) {
			uint16_t hv[4];
			for (int d = 0; d < dim; d++)
				hv[d] = qkv_f32_to_f16(x[j * dim + d]);
			good = knn_row(s, hv, QKV_F16, NULL, 0, &e) == 0;
		}
		metric_ = KNN_L2;
		ok(good && check(x, 100, q, 1, dim, k, h, knn_end(s, h, &e), 1,
		    "mixed"), "f32 rows in place, then f16 rows");
		knn_free(s);
		free(x);
	}

	/* zero vectors under cos score 0; NaN rows rank last */
	{
		float x[3 * 2] = {0, 0, NAN, 1, 1, 1}, q[2] = {1, 0};
		knn_hit h[3];
		int nh = knn_topk(x, 3, q, 1, 2, KNN_COS, 3, h, &e);
		ok(nh == 3 && h[0].row == 2 && h[1].row == 0 && h[1].score == 0 &&
		    h[2].row == 1, "zero vector scores 0, NaN last");
	}

	/* text vectors */
	{
		float v[3];
		const char *l = " 1.5\t-2e-1   3 \r";
		ok(knn_parse_vec(l, strlen(l), v, 3, &e) == 0 && v[0] == 1.5f &&
		    v[1] == -0.2f && v[2] == 3, "parse a text vector");
		ok(knn_parse_vec("1 2", 3, v, 3, &e) < 0 &&
		    strcmp(e.msg, "expected 3 numbers, found 2") == 0,
		    "too few numbers: %s", e.msg);
		ok(knn_parse_vec("1 2 3 4", 7, v, 3, &e) < 0, "too many numbers");
		ok(knn_parse_vec("1 x 3", 5, v, 3, &e) < 0 &&
		    strcmp(e.msg, "'x' is not a number") == 0, "not a number");
		ok(knn_parse_vec("1 nan 3", 7, v, 3, &e) < 0, "nan refused");
		ok(knn_parse_vec("1,2,3", 5, v, 3, &e) < 0, "commas refused");
		ok(knn_parse_vec("", 0, v, 3, &e) < 0, "empty line refused");
	}
	done_testing();
}
