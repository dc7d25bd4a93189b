/*
 * sample - generate from a GPT-2 model, or score text with it.
 *
 * Each input line is one prompt of token ids; each output line holds the
 * ids generated for it, written as they are made.  With --score, each
 * line's log-probability, token count and perplexity instead.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "qkv.h"

#define MAXLINE (64u << 20)

static _Noreturn void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: sample [-Eq] [-m model] [-n tokens] [-t temperature] "
	    "[-k top_k]\n"
	    "              [-p top_p] [-r penalty] [-s seed] [-j threads] "
	    "[-o file] [--echo]\n"
	    "              [file]\n"
	    "       sample --score [-qv] [-m model] [-j threads] [-o file] "
	    "[file]\n");
	exit(status);
}

struct opts {
	int n, echo, score, verbose, past_eos, quiet;
	gpt2_sampler s;
};

/* -v timing of generation: prompt tokens and generated tokens */
static struct {
	double prompt_s, gen_s;
	long prompt_n, gen_n;
} tm;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One line of ids (the library's id-line parser) into *ids. */
static int
line_ids(const char *line, size_t len, int32_t **ids, size_t *cap, int *n,
    int V, qkv_err *e)
{
	size_t got = 0;

	if (qkv_pt_parse_ids(line, len, (size_t)V, ids, &got, cap, e) < 0)
		return -1;
	if (got == 0)
		return qkv_errf(e, "empty prompt");
	*n = got > INT32_MAX ? INT32_MAX : (int)got;
	return 0;
}

/* One row of a qkv stream's "ids" column (any integer dtype) as ids. */
static int
row_ids(const qkv_cell *c, int dtype, int32_t **ids, size_t *cap, int *n,
    int V, qkv_err *e)
{
	if (c->n == 0)
		return qkv_errf(e, "empty prompt");
	if (c->n > *cap) {
		int32_t *ni = realloc(*ids, c->n * sizeof *ni);
		if (ni == NULL)
			return qkv_errf(e, "out of memory");
		*ids = ni;
		*cap = c->n;
	}
	for (size_t i = 0; i < c->n; i++) {
		int64_t v = qkv_int_at(c->p, dtype, i);
		if (v < 0 || v >= V)
			return qkv_errf(e, "id %lld is not in the vocabulary "
			    "(%d ids)", (long long)v, V);
		(*ids)[i] = (int32_t)v;
	}
	*n = (int)(c->n > INT32_MAX ? INT32_MAX : c->n);
	return 0;
}

/* The "ids" column of a qkv stream: ragged, of an integer dtype. */
static int
ids_col(qkv_reader *r, const char *name, qkv_err *e)
{
	int i = qkv_reader_find(r, "ids");
	const qkv_col *c;

	if (i < 0)
		return qkv_errf(e, "%s: the stream has no 'ids' column", name);
	c = qkv_reader_col(r, i);
	if (c->kind != QKV_COL_RAGGED || c->dtype < QKV_U8 ||
	    c->dtype > QKV_I64)
		return qkv_errf(e, "%s: column 'ids' is not a ragged integer "
		    "column", name);
	return i;
}

static int
score(gpt2_state *st, const int32_t *ids, int T, FILE *out, int verbose,
    double **lp, qkv_err *e)
{
	double total = 0;
	double *nl = realloc(*lp, (size_t)T * sizeof *nl);

	if (nl == NULL)
		return qkv_errf(e, "out of memory");
	*lp = nl;
	if (gpt2_score(st, ids, T, nl, e) < 0)
		return -1;
	for (int t = 0; t < T - 1; t++)
		total += nl[t];
	fprintf(out, "%.6f\t%d\t%.6f", total, T - 1,
	    T > 1 ? exp(-total / (T - 1)) : NAN);
	if (verbose) {
		fputc('\t', out);
		for (int t = 0; t < T - 1; t++)
			fprintf(out, t ? " %.6f" : "%.6f", nl[t]);
	}
	fputc('\n', out);
	return 0;
}

/* Generate for one prompt, writing ids as they come. */
static int
generate(gpt2_state *st, gpt2_pick *pk, const gpt2_config *cfg,
    const struct opts *o, const int32_t *ids, int T, uint64_t item,
    float *logits, FILE *out, int stream, int *full, qkv_err *e)
{
	int32_t id;

	gpt2_state_reset(st);
	gpt2_pick_clear(pk);
	gpt2_pick_seen(pk, ids, T);
	if (o->echo)
		for (int t = 0; t < T; t++)
			fprintf(out, t ? " %d" : "%d", ids[t]);
	double t0 = now(), t1;
	if (gpt2_forward(st, ids, T, logits, 0, e) < 0)
		return -1;
	t1 = now();
	tm.prompt_s += t1 - t0;
	tm.prompt_n += T;
	for (int n = 0; n < o->n; n++) {
		id = gpt2_pick_next(pk, &o->s, logits, item, (uint64_t)n);
		if (id == cfg->eos && !o->past_eos)
			break;
		fprintf(out, n || o->echo ? " %d" : "%d", id);
		if (stream && fflush(out) == EOF)
			return qkv_errf(e, "write error: %s", strerror(errno));
		if (n + 1 == o->n)
			break;
		/* prompt + generated may fill the context, no more */
		if (gpt2_state_len(st) + 1 >= cfg->n_ctx) {
			*full = 1;
			break;
		}
		gpt2_pick_seen(pk, &id, 1);
		if (gpt2_forward(st, &id, 1, logits, 0, e) < 0)
			return -1;
	}
	/* each generated token costs one pick, and all but the last one a
	 * forward step: time per token is what a user waits */
	tm.gen_s += now() - t1;
	tm.gen_n += gpt2_state_len(st) - T + 1;
	fputc('\n', out);
	if (stream && fflush(out) == EOF)
		return qkv_errf(e, "write error: %s", strerror(errno));
	return 0;
}

static uint64_t
random_seed(void)
{
	uint64_t s;

	if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
		s = (uint64_t)time(NULL) ^ (uint64_t)clock();
	return s;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"echo", no_argument, NULL, 'e'},
		{"score", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	struct opts o = {.n = 64, .s = {.temperature = 1.0, .top_k = 0,
	    .top_p = 1.0, .rep_penalty = 1.0}};
	const char *model = NULL, *outpath = NULL;
	long v, threads = 0;
	double d;
	int ch, seeded = 0, full = 0, rc = 0;
	qkv_err e = {{0}};

	qkv_cli_init();
	while ((ch = getopt_long(argc, argv, "Ehj:k:m:n:o:p:qr:s:t:vV",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'E':
			o.past_eos = 1;
			break;
		case 'e':
			o.echo = 1;
			break;
		case 'S':
			o.score = 1;
			break;
		case 'j':
			if (qkv_parse_long(optarg, 1, 256, &threads, &e) < 0)
				errx(2, "-j: %s", e.msg);
			break;
		case 'k':
			if (qkv_parse_long(optarg, 0, 1L << 30, &v, &e) < 0)
				errx(2, "-k: %s", e.msg);
			o.s.top_k = (int)v;
			break;
		case 'm':
			model = optarg;
			break;
		case 'n':
			if (qkv_parse_long(optarg, 0, 1L << 30, &v, &e) < 0)
				errx(2, "-n: %s", e.msg);
			o.n = (int)v;
			break;
		case 'o':
			outpath = optarg;
			break;
		case 'p':
			if (qkv_parse_double(optarg, 0, 1, &d, &e) < 0 || d == 0)
				errx(2, "-p: %s", d == 0 ? "must be above 0" :
				    e.msg);
			o.s.top_p = d;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'r':
			if (qkv_parse_double(optarg, 1e-6, 1e6, &d, &e) < 0)
				errx(2, "-r: %s", e.msg);
			o.s.rep_penalty = d;
			break;
		case 's':
			if (qkv_parse_long(optarg, 0, 0x7fffffffffffffffL, &v,
			    &e) < 0)
				errx(2, "-s: %s", e.msg);
			o.s.seed = (uint64_t)v;
			seeded = 1;
			break;
		case 't':
			if (qkv_parse_double(optarg, 0, 1e6, &d, &e) < 0)
				errx(2, "-t: %s", e.msg);
			o.s.temperature = d;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'V':
			printf("sample (qkv) %s\n", QKV_VERSION);
			return 0;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1)
		usage(2);
	if (!seeded)
		o.s.seed = random_seed();

	qkv_model *m = qkv_model_open(qkv_model_default(model), &e);
	if (m == NULL)
		errx(1, "%s", e.msg);
	gpt2 *g = gpt2_open(m, &e);
	if (g == NULL)
		errx(1, "%s", e.msg);
	const gpt2_config *cfg = gpt2_cfg(g);
	nn_set_threads(1);
	if (nn_set_workers(threads ? (int)threads : qkv_ncpu(), &e) < 0)
		errx(1, "%s", e.msg);
	gpt2_state *st = gpt2_state_new(g, 0, &e);
	gpt2_pick *pk = gpt2_pick_new(cfg->n_vocab, &e);
	float *logits = malloc((size_t)cfg->n_vocab * sizeof *logits);
	if (st == NULL || pk == NULL || logits == NULL)
		errx(1, "%s", st && pk ? "out of memory" : e.msg);

	qkv_in *in = qkv_in_open(argc ? argv[0] : NULL, &e);
	if (in == NULL)
		errx(1, "%s", e.msg);
	qkv_out *out = qkv_out_open(outpath, &e);
	if (out == NULL)
		errx(1, "%s", e.msg);
	/* stream to a pipe or terminal: each token is flushed as it comes */
	int stream = outpath == NULL || strcmp(outpath, "-") == 0;

	int32_t *ids = NULL;
	size_t cap = 0;
	double *lp = NULL;
	uint64_t item = 0;
	char *line;
	size_t len;
	int T, r, col = -1;
	/* id lines, or the qkv stream of `tok -b` */
	qkv_reader *qr = NULL;
	qkv_cell *cells = NULL;
	if (qkv_in_is_qkv(in)) {
		if ((qr = qkv_reader_open(in, &e)) == NULL ||
		    (col = ids_col(qr, qkv_in_name(in), &e)) < 0 ||
		    (cells = qkv_calloc((size_t)qkv_reader_ncols(qr),
		    sizeof *cells, &e)) == NULL)
			errx(1, "%s", e.msg);
	}
	for (;;) {
		const char *what = qr ? "row" : "line";
		long lineno;
		if (qr) {
			if ((r = qkv_reader_next(qr, cells, &e)) != 1)
				break;
			lineno = (long)qkv_reader_rows(qr);
		} else {
			if ((r = qkv_in_line(in, &line, &len, MAXLINE, &e)) != 1)
				break;
			lineno = qkv_in_lineno(in);
		}
		if ((qr ? row_ids(&cells[col], qkv_reader_col(qr, col)->dtype,
		    &ids, &cap, &T, cfg->n_vocab, &e) : line_ids(line, len, &ids,
		    &cap, &T, cfg->n_vocab, &e)) < 0 ||
		    (T > cfg->n_ctx && qkv_errf(&e, "%d tokens exceed the "
		    "context of %d positions", T, cfg->n_ctx) < 0) ||
		    (o.score ? score(st, ids, T, out->f, o.verbose, &lp, &e) :
		    generate(st, pk, cfg, &o, ids, T, item, logits, out->f,
		    stream, &full, &e)) < 0) {
			warnx("%s: %s %ld: %s", qkv_in_name(in), what, lineno,
			    e.msg);
			rc = 1;
			break;
		}
		item++;
	}
	if (r < 0) {
		warnx("%s", e.msg);
		rc = 1;
	}
	if (o.verbose && !o.score)
		fprintf(stderr, "sample: prompt %ld tokens in %.3f s, %.1f "
		    "tokens/s; generated %ld tokens in %.3f s, %.1f tokens/s\n",
		    tm.prompt_n, tm.prompt_s, tm.prompt_n / (tm.prompt_s + 1e-12),
		    tm.gen_n, tm.gen_s, tm.gen_n / (tm.gen_s + 1e-12));
	if (full && !o.quiet)
		warnx("prompt and generated tokens filled the context of %d "
		    "positions: generation stopped there", cfg->n_ctx);
	if (rc == 0 && qkv_out_commit(out, &e) < 0) {
		warnx("%s", e.msg);
		rc = 1;
	} else if (rc != 0) {
		if (stream)
			fflush(out->f);	/* earlier lines stay intact */
		qkv_out_abort(out);
	}
	qkv_reader_close(qr);
	free(cells);
	qkv_in_close(in);
	free(ids);
	free(lp);
	free(logits);
	gpt2_pick_free(pk);
	gpt2_state_free(st);
	gpt2_close(g);
	qkv_model_close(m);
	return rc;
}
