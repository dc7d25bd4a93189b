/*
 * Unit tests: the BERT encoder against the PyTorch reference outputs of
 * every golden BERT directory (all name layouts, F32 and BF16), and the
 * vectorised kernels against libm.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

#define G "tests/data/golden/"

static const char *dirs[] = {
	"bert-tiny", "bert-tiny-legacy-bf16", "bert-tiny-st", "bert-tiny-std01",
};
static const char *cases[] = {"single", "batch", "pair", "long"};

static qkv_npy *
npy(const char *dir, const char *c, const char *name)
{
	char p[512];
	qkv_err e;
	qkv_npy *n;

	snprintf(p, sizeof p, G "%s/ref/%s/%s.npy", dir, c, name);
	if ((n = qkv_npy_open(p, &e)) == NULL)
		printf("# %s\n", e.msg);
	return n;
}

static double
maxdiff(const float *a, const float *b, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		if (!(d <= m))
			m = d;		/* NaN counts as a failure */
	}
	return m;
}

static void
kernels(void)
{
	float x[1003], y[1003];
	double d, worst = 0;

	/* exp: relative error against libm over the softmax range */
	for (int i = 0; i < 1003; i++)
		x[i] = -87.0f + 87.0f * i / 1002;
	memcpy(y, x, sizeof x);
	nn_exp_fast(y, 1003);
	for (int i = 0; i < 1003; i++) {
		d = fabs(y[i] - exp(x[i])) / exp(x[i]);
		worst = d > worst ? d : worst;
	}
	ok(worst < 3e-7, "nn_exp_fast relative error %.2g", worst);
	/* GELU: absolute error against the exact erf form in double */
	worst = 0;
	for (int i = 0; i < 1003; i++)
		x[i] = -12.0f + 24.0f * i / 1002;
	memcpy(y, x, sizeof x);
	nn_gelu_erf_fast(y, 1003);
	for (int i = 0; i < 1003; i++) {
		d = fabs(y[i] - 0.5 * x[i] * (1 + erf(x[i] / sqrt(2))));
		worst = d > worst ? d : worst;
	}
	ok(worst < 2e-6, "nn_gelu_erf_fast absolute error %.2g", worst);
	/* softmax rows of odd length sum to 1 and match the scalar one */
	for (int i = 0; i < 1003; i++)
		x[i] = (float)sin(i * 0.37) * 20;
	memcpy(y, x, sizeof x);
	nn_softmax_fast(y, 17, 59);
	nn_softmax(x, 17, 59);
	ok(maxdiff(x, y, 17 * 59) < 1e-7, "nn_softmax_fast equals nn_softmax "
	    "(%.2g)", maxdiff(x, y, 17 * 59));
}

static void
golden(const char *dir)
{
	char path[256];
	qkv_err e;
	qkv_model *m;
	bert *b;
	double tol = strstr(dir, "std01") ? 5e-4 : 1e-4;

	snprintf(path, sizeof path, G "%s", dir);
	m = qkv_model_open(path, &e);
	b = m ? bert_load(m, &e) : NULL;
	ok(b != NULL, "%s loads%s%s", dir, b ? "" : ": ", b ? "" : e.msg);
	if (b == NULL) {
		qkv_model_close(m);
		return;
	}
	int H = bert_cfg(b)->hidden;
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		qkv_npy *ni = npy(dir, cases[c], "input_ids");
		qkv_npy *nt = npy(dir, cases[c], "token_type_ids");
		qkv_npy *nm = npy(dir, cases[c], "attention_mask");
		qkv_npy *nh = npy(dir, cases[c], "last_hidden_state");
		qkv_npy *np = npy(dir, cases[c], "pooled");
		qkv_npy *nmp = npy(dir, cases[c], "mean_pooled");
		qkv_npy *nl2 = npy(dir, cases[c], "mean_pooled_l2");
		if (!ni || !nt || !nm || !nh || !np || !nmp || !nl2) {
			ok(0, "%s/%s: reference files", dir, cases[c]);
			goto next;
		}
		const qkv_tensor *ti = qkv_npy_tensor(ni);
		int B = (int)ti->shape[0], T = (int)ti->shape[1];
		const int64_t *ids = qkv_npy_tensor(ni)->data;
		const int64_t *tt = qkv_npy_tensor(nt)->data;
		const int64_t *mask = qkv_npy_tensor(nm)->data;
		const float *rh = qkv_npy_tensor(nh)->data;
		int32_t *pid = calloc((size_t)B * T, sizeof *pid);
		int32_t *ptt = calloc((size_t)B * T, sizeof *ptt);
		int *len = calloc((size_t)B, sizeof *len);
		float *hid = calloc((size_t)B * T * H, sizeof *hid);
		float *pool = calloc((size_t)B * H, sizeof *pool);
		size_t N = 0;
		/* pack the real tokens (mask 1; padding is on the right) */
		for (int s = 0; s < B; s++)
			for (int t = 0; t < T; t++)
				if (mask[s * T + t]) {
					pid[N] = (int32_t)ids[s * T + t];
					ptt[N++] = (int32_t)tt[s * T + t];
					len[s]++;
				}
		int rc = bert_encode(b, pid, ptt, len, B, hid, &e);
		ok(rc == 0, "%s/%s encodes%s%s", dir, cases[c], rc ? ": " : "",
		    rc ? e.msg : "");
		double d = 0;
		size_t o = 0;
		for (int s = 0; s < B; s++)
			for (int t = 0; t < len[s]; t++, o++) {
				double x = maxdiff(hid + o * H,
				    rh + ((size_t)s * T + t) * H, (size_t)H);
				d = x > d ? x : d;
			}
		ok(d <= tol, "%s/%s last_hidden_state max abs diff %.3g",
		    dir, cases[c], d);
		rc = bert_pool(b, BERT_POOL_POOLER, hid, len, B, pool, &e);
		d = rc ? 1 : maxdiff(pool, qkv_npy_tensor(np)->data,
		    (size_t)B * H);
		ok(d <= tol, "%s/%s pooled max abs diff %.3g", dir, cases[c], d);
		rc = bert_pool(b, BERT_POOL_MEAN, hid, len, B, pool, &e);
		d = rc ? 1 : maxdiff(pool, qkv_npy_tensor(nmp)->data,
		    (size_t)B * H);
		ok(d <= tol, "%s/%s mean_pooled max abs diff %.3g", dir,
		    cases[c], d);
		nn_l2_normalize(pool, B, H, 1e-12f);
		d = maxdiff(pool, qkv_npy_tensor(nl2)->data, (size_t)B * H);
		ok(d <= tol, "%s/%s mean_pooled_l2 max abs diff %.3g", dir,
		    cases[c], d);
		free(pid);
		free(ptt);
		free(len);
		free(hid);
		free(pool);
next:
		qkv_npy_close(ni);
		qkv_npy_close(nt);
		qkv_npy_close(nm);
		qkv_npy_close(nh);
		qkv_npy_close(np);
		qkv_npy_close(nmp);
		qkv_npy_close(nl2);
	}
	bert_free(b);
	qkv_model_close(m);
}

/* nn_attention against a plain triple loop in double, for sequences of
 * several lengths packed together, including one whose scores do not fit
 * a worker's scratch (600 x 600 floats), which goes in row blocks. */
static void
attention(void)
{
	enum { NH = 2, HD = 8, W = NH * HD, NS = 3 };
	int len[NS] = {5, 600, 37};
	size_t off[NS], N = 0;
	for (int s = 0; s < NS; s++) {
		off[s] = N;
		N += (size_t)len[s];
	}
	float *qkv = malloc(N * 3 * W * sizeof *qkv);
	float *out = malloc(N * W * sizeof *out);
	double *sc = malloc(600 * sizeof *sc), worst = 0;
	unsigned r = 1;
	for (size_t i = 0; i < N * 3 * W; i++) {
		r = r * 1103515245 + 12345;
		qkv[i] = (float)((r >> 8) % 2001) / 1000.0f - 1.0f;
	}
	nn_attention(out, W, qkv, qkv + W, qkv + 2 * W, 3 * W, len, off, NS, NH,
	    HD, 0.5f);
	for (int s = 0; s < NS; s++)
		for (int h = 0; h < NH; h++)
			for (int i = 0; i < len[s]; i++) {
				const float *q = qkv + (off[s] + i) * 3 * W + h * HD;
				double mx = -1e300, sum = 0;
				for (int j = 0; j < len[s]; j++) {
					const float *k = qkv + (off[s] + j) * 3 * W +
					    W + h * HD;
					double d = 0;
					for (int c = 0; c < HD; c++)
						d += (double)q[c] * k[c];
					sc[j] = d * 0.5;
					mx = sc[j] > mx ? sc[j] : mx;
				}
				for (int j = 0; j < len[s]; j++)
					sum += sc[j] = exp(sc[j] - mx);
				for (int c = 0; c < HD; c++) {
					double o = 0;
					for (int j = 0; j < len[s]; j++)
						o += sc[j] / sum * qkv[(off[s] + j) * 3 *
						    W + 2 * W + h * HD + c];
					double d = fabs(o - out[(off[s] + i) * W +
					    h * HD + c]);
					worst = d > worst ? d : worst;
				}
			}
	ok(worst < 1e-5, "nn_attention on packed sequences of 5, 600 and 37 "
	    "rows: max abs diff %.2g", worst);
	free(qkv);
	free(out);
	free(sc);
}

/* sentence-transformers defaults: mean pooling and Normalize from the
 * module files; a plain checkpoint is not one. */
static void
st_defaults(void)
{
	qkv_err e;
	qkv_model *m = qkv_model_open(G "bert-tiny-st", &e);
	int pool = -1, norm = -1, maxlen = -1;

	ok(m && bert_st_defaults(m, &pool, &norm, &maxlen, &e) == 1 &&
	    pool == BERT_POOL_MEAN && norm == 1 && maxlen == 128,
	    "bert-tiny-st: mean pooling, Normalize, max_seq_length 128 "
	    "(%d %d %d)", pool, norm, maxlen);
	qkv_model_close(m);
	m = qkv_model_open(G "bert-tiny", &e);
	ok(m && bert_st_defaults(m, &pool, &norm, &maxlen, &e) == 0 &&
	    pool == BERT_POOL_CLS && norm == 0 && maxlen == 0,
	    "bert-tiny: no sentence-transformers files, cls");
	qkv_model_close(m);
	ok(bert_pool_parse("mean") == BERT_POOL_MEAN &&
	    bert_pool_parse("pooler") == BERT_POOL_POOLER &&
	    bert_pool_parse("nope") == -1 &&
	    strcmp(bert_pool_name(BERT_POOL_NONE), "none") == 0,
	    "pooling names");
}

int
main(void)
{
	/* the encoder's work spread over two workers, as embed runs it */
	nn_set_threads(1);
	if (nn_set_workers(2, NULL) < 0)
		return 1;
	kernels();
	attention();
	st_defaults();
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
		golden(dirs[i]);
	done_testing();
}
