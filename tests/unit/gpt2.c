/*
 * GPT-2 parity with the PyTorch reference: logits at every position, the
 * KV-cache path against the full pass, greedy continuations and their
 * logits, chunked prompts, and the same bits with 1 and 2 workers.
 *
 *   gpt2                    every GPT-2 directory in tests/data/golden
 *   gpt2 DIR TOL [CASE...]  one directory in the golden layout (the big
 *                           random checkpoint made by tests/gpt2_ref.py)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "tap.h"

static const char *golden[][2] = {
	{"tests/data/golden/gpt2-tiny", "1e-4"},
	{"tests/data/golden/gpt2-tiny-legacy-f16", "1e-4"},
	{"tests/data/golden/gpt2-tiny-std01", "5e-4"},
};
static const char *golden_cases[] = {"single", "batch", "long", "long_gen"};

static qkv_npy *
npy(const char *dir, const char *c, const char *name)
{
	char p[1024];
	qkv_err e;

	snprintf(p, sizeof p, "%s/ref/%s/%s.npy", dir, c, name);
	return qkv_npy_open(p, &e);
}

static int64_t
i64at(const qkv_tensor *t, size_t i)
{
	int64_t v;

	memcpy(&v, (const char *)t->data + 8 * i, 8);
	return v;
}

static float
f32at(const qkv_tensor *t, size_t i)
{
	float v;

	memcpy(&v, (const char *)t->data + 4 * i, 4);
	return v;
}

static double
maxdiff(const float *a, const qkv_tensor *ref, size_t off, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - f32at(ref, off + i));
		if (!(d <= m))	/* NaN counts as a mismatch */
			m = isnan(d) ? INFINITY : d;
	}
	return m;
}

static double
maxdiff2(const float *a, const float *b, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		if (!(d <= m))
			m = isnan(d) ? INFINITY : d;
	}
	return m;
}

static void
check_case(const char *dir, const char *c, gpt2 *g, double tol)
{
	const gpt2_config *cfg = gpt2_cfg(g);
	int V = cfg->n_vocab;
	qkv_npy *ni = npy(dir, c, "input_ids"), *nl = npy(dir, c, "lengths"),
	    *nlog = npy(dir, c, "logits"), *ngen = npy(dir, c, "generated"),
	    *ngl = npy(dir, c, "gen_logits");
	qkv_err e = {{0}};

	if (ni == NULL || nl == NULL || nlog == NULL) {
		ok(0, "%s %s: reference files present", dir, c);
		goto out;
	}
	const qkv_tensor *ids = qkv_npy_tensor(ni), *lens = qkv_npy_tensor(nl),
	    *logits = qkv_npy_tensor(nlog);
	int B = (int)ids->shape[0], Tmax = (int)ids->shape[1];
	float *full = malloc((size_t)Tmax * V * sizeof *full);
	float *step = malloc((size_t)V * sizeof *step);
	float *full2 = malloc((size_t)Tmax * V * sizeof *full2);
	int32_t *row = malloc((size_t)(Tmax + 64) * sizeof *row);
	gpt2_state *s = gpt2_state_new(g, 0, &e), *s7 = gpt2_state_new(g, 7, &e);

	for (int b = 0; b < B; b++) {
		int T = (int)i64at(lens, (size_t)b);
		for (int t = 0; t < T; t++)
			row[t] = (int32_t)i64at(ids, (size_t)b * Tmax + t);
		size_t off = (size_t)b * Tmax * V;

		/* the prompt as one batch */
		nn_set_workers(1, NULL);
		gpt2_state_reset(s);
		int rc = gpt2_forward(s, row, T, full, 1, &e);
		double d = rc < 0 ? INFINITY : maxdiff(full, logits, off,
		    (size_t)T * V);
		ok(d <= tol, "%s %s row %d: logits at all %d positions, max "
		    "abs diff %.3g <= %g %s", dir, c, b, T, d, tol,
		    rc < 0 ? e.msg : "");

		/* the same bits with two workers */
		nn_set_workers(2, NULL);
		gpt2_state_reset(s);
		gpt2_forward(s, row, T, full2, 1, &e);
		ok(memcmp(full, full2, (size_t)T * V * sizeof *full) == 0,
		    "%s %s row %d: 2 workers give the same bits as 1", dir,
		    c, b);

		/* fed in chunks of 7 through the cache */
		gpt2_state_reset(s7);
		gpt2_forward(s7, row, T, full2, 1, &e);
		d = maxdiff2(full, full2, (size_t)T * V);
		ok(d <= 1e-5, "%s %s row %d: chunks of 7 agree with one pass "
		    "(%.3g)", dir, c, b, d);

		/* one token at a time through the KV cache */
		gpt2_state_reset(s);
		double dk = 0;
		for (int t = 0; t < T; t++) {
			gpt2_forward(s, row + t, 1, step, 0, &e);
			double dd = maxdiff2(step, full + (size_t)t * V,
			    (size_t)V);
			if (!(dd <= dk))
				dk = isnan(dd) ? INFINITY : dd;
		}
		ok(dk <= 1e-5, "%s %s row %d: KV cache one token at a time "
		    "agrees with the full pass (%.3g)", dir, c, b, dk);

		if (ngen == NULL || ngl == NULL)
			continue;
		/* greedy continuation: argmax, ties to the lowest id */
		const qkv_tensor *gen = qkv_npy_tensor(ngen),
		    *gl = qkv_npy_tensor(ngl);
		int N = (int)gen->shape[1], same = 0;
		double dg = 0;
		gpt2_state_reset(s);
		gpt2_forward(s, row, T, step, 0, &e);
		for (int n = 0; n < N; n++) {
			double dd = maxdiff(step, gl, ((size_t)b * N + n) * V,
			    (size_t)V);
			if (!(dd <= dg))
				dg = isnan(dd) ? INFINITY : dd;
			int32_t best = 0;
			for (int v = 1; v < V; v++)
				if (step[v] > step[best])
					best = v;
			if (best != i64at(gen, (size_t)b * N + n))
				break;
			same++;
			if (n + 1 < N && gpt2_forward(s, &best, 1, step, 0,
			    &e) < 0)
				break;
		}
		ok(same == N, "%s %s row %d: greedy %d tokens identical (%d)",
		    dir, c, b, N, same);
		ok(dg <= tol, "%s %s row %d: logits of each greedy step, max "
		    "abs diff %.3g", dir, c, b, dg);
	}
	/* past the context: refused, nothing fed */
	if (Tmax == cfg->n_ctx) {
		gpt2_state_reset(s);
		gpt2_forward(s, row, Tmax, NULL, 0, &e);
		ok(gpt2_forward(s, row, 1, step, 0, &e) < 0 &&
		    strstr(e.msg, "context") && gpt2_state_len(s) == Tmax,
		    "%s %s: token %d refused: %s", dir, c, Tmax + 1, e.msg);
	}
	free(full);
	free(full2);
	free(step);
	free(row);
	gpt2_state_free(s);
	gpt2_state_free(s7);
out:
	qkv_npy_close(ni);
	qkv_npy_close(nl);
	qkv_npy_close(nlog);
	qkv_npy_close(ngen);
	qkv_npy_close(ngl);
}

static void
check_dir(const char *dir, double tol, const char **cases, int ncases)
{
	qkv_err e = {{0}};
	qkv_model *m = qkv_model_open(dir, &e);
	gpt2 *g = m ? gpt2_open(m, &e) : NULL;

	ok(g != NULL, "%s opens %s", dir, g ? "" : e.msg);
	if (g == NULL) {
		qkv_model_close(m);
		return;
	}
	for (int i = 0; i < ncases; i++)
		check_case(dir, cases[i], g, tol);
	gpt2_close(g);
	qkv_model_close(m);
}

/* Loading: names, shapes and config errors on the tiny checkpoint. */
static void
check_loading(void)
{
	qkv_err e = {{0}};
	qkv_model *m;
	gpt2 *g;

	m = qkv_model_open("tests/data/golden/gpt2-tiny-legacy-f16/"
	    "model.safetensors", &e);
	g = m ? gpt2_open(m, &e) : NULL;
	ok(g && gpt2_cfg(g)->dtype == QKV_F16 && gpt2_cfg(g)->n_layer == 2 &&
	    gpt2_cfg(g)->eos == 999, "a lone safetensors file with its "
	    "config.json beside it loads as F16 %s", g ? "" : e.msg);
	gpt2_close(g);
	qkv_model_close(m);

	/* the released sizes, from config.json files shaped as the hub's
	 * (no n_inner, n_ctx beside n_positions, extra keys) */
	static const struct { const char *name; int layer, embd, head; } sz[] = {
		{"distilgpt2", 6, 768, 12}, {"gpt2", 12, 768, 12},
		{"gpt2-medium", 24, 1024, 16}, {"gpt2-large", 36, 1280, 20},
		{"gpt2-xl", 48, 1600, 25}};
	for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
		char json[1024];
		gpt2_config c;
		snprintf(json, sizeof json, "{\"_num_labels\": 1, "
		    "\"activation_function\": \"gelu_new\", \"architectures\": "
		    "[\"GPT2LMHeadModel\"], \"attn_pdrop\": 0.1, "
		    "\"bos_token_id\": 50256, \"embd_pdrop\": 0.1, "
		    "\"eos_token_id\": 50256, \"initializer_range\": 0.02, "
		    "\"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\", "
		    "\"n_ctx\": 1024, \"n_embd\": %d, \"n_head\": %d, "
		    "\"n_layer\": %d, \"n_positions\": 1024, "
		    "\"resid_pdrop\": 0.1, \"summary_activation\": null, "
		    "\"task_specific_params\": {\"text-generation\": "
		    "{\"do_sample\": true, \"max_length\": 50}}, "
		    "\"vocab_size\": 50257}", sz[i].embd, sz[i].head, sz[i].layer);
		int rc = gpt2_parse_config(&c, json, strlen(json), &e);
		ok(rc == 0 && c.n_layer == sz[i].layer && c.n_embd == sz[i].embd &&
		    c.n_embd / c.n_head == 64 && c.n_inner == 4 * c.n_embd &&
		    c.n_ctx == 1024 && c.n_vocab == 50257 && c.eos == 50256 &&
		    c.eps == 1e-5f && c.act == GPT2_GELU_TANH && c.tied &&
		    c.scale_attn && !c.scale_by_layer, "%s config: %d layers, "
		    "%d wide, heads of 64, inner %d %s", sz[i].name, c.n_layer,
		    c.n_embd, c.n_inner, rc ? e.msg : "");
	}
	const char *bad[] = {"{\"n_embd\": 100, \"n_head\": 3}",
	    "{\"activation_function\": \"swish\"}", "{\"n_layer\": -1}",
	    "[1]", "{\"n_embd\": 64, \"n_head\": 4, \"n_positions\": 0}"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		gpt2_config c;
		ok(gpt2_parse_config(&c, bad[i], strlen(bad[i]), &e) < 0 &&
		    strncmp(e.msg, "config.json: ", 13) == 0,
		    "config refused: %s", e.msg);
	}

	m = qkv_model_open("tests/data/golden/bert-tiny", &e);
	g = m ? gpt2_open(m, &e) : NULL;
	ok(g == NULL && strstr(e.msg, "model_type 'bert'"),
	    "a BERT directory is refused: %s", e.msg);
	gpt2_close(g);
	qkv_model_close(m);
}

int
main(int argc, char **argv)
{
	nn_set_threads(1);
	if (argc >= 3) {
		double tol = atof(argv[2]);
		if (argc > 3)
			check_dir(argv[1], tol, (const char **)argv + 3,
			    argc - 3);
		else
			check_dir(argv[1], tol, golden_cases, 4);
		done_testing();
	}
	nn_set_threads(1);
	check_loading();
	for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++)
		check_dir(golden[i][0], atof(golden[i][1]), golden_cases, 4);
	done_testing();
}
