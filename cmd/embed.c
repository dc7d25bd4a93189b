/* embed - BERT vectors for token id sequences. */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qkv.h"

#define MAX_LINE (64u << 20)

static void
usage(void)
{
	fprintf(stderr,
	    "usage: embed [-nNqrtx] [-B batch] [-j threads] [-l len] [-m model]\n"
	    "             [-o file] [-p pooling] [file ...]\n");
	exit(2);
}

/* A batch of packed sequences and what is carried through. */
struct batch {
	int32_t *ids, *types;
	size_t ntok, tokcap;
	int *len;
	long *lineno;
	int n, cap;
};

struct opts {
	int pool, normalize, text, raw, reject, quiet, batch;
	int maxlen;
	int32_t cls, sep;		/* -1 if the model has none */
};

static bert *model;
static struct opts o;
static FILE *out;
static const char *outname;
static float *hidden, *vecs;
static size_t hiddencap, veccap;
static long ntrunc, firsttrunc;
static char *firsttrunc_file;

static void *
grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	if ((p = reallocarray(p, n, size)) == NULL)
		err(1, NULL);
	*cap = n;
	return p;
}

/* The [CLS] and [SEP] ids from the model's vocabulary, -1 when absent. */
static void
find_specials(qkv_model *m)
{
	size_t len;
	const char *v = qkv_model_file(m, "vocab.txt", &len), *p, *end;
	int32_t id = 0;

	o.cls = o.sep = -1;
	if (v == NULL)
		return;
	for (p = v, end = v + len; p < end; id++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 5 && memcmp(p, "[CLS]", 5) == 0)
			o.cls = id;
		if (n == 5 && memcmp(p, "[SEP]", 5) == 0)
			o.sep = id;
		p = nl ? nl + 1 : end;
	}
}

/*
 * Append one sequence to the batch as the model wants it: a sequence that
 * does not start with [CLS] gets [CLS] ... [SEP] around it, as `tok -s`
 * would have added (a pair: [CLS] A [SEP] B [SEP], B being the tokens of
 * type 1), so tok's output with or without -s gives the same vectors;
 * -r takes ids as they are.  Token types, when the input has none, are 0
 * up to the first [SEP] and 1 after it, as in a pair.  Too long: truncated
 * (keeping a final [SEP]) or, with -x, an error.
 */
static void
add_seq(struct batch *b, const int32_t *ids, const int32_t *types, size_t n,
    const char *file, long lineno)
{
	const bert_config *c = bert_cfg(model);
	size_t start = b->ntok, nb = 0, i;
	int wrap = !o.raw && o.cls >= 0 && o.sep >= 0 &&
	    (n == 0 || ids[0] != o.cls);

	if (wrap && types != NULL)
		for (i = 0; i < n; i++)
			nb += types[i] != 0;
	b->ids = grow(b->ids, &b->tokcap, b->ntok + n + 3, sizeof *b->ids);
	b->types = reallocarray(b->types, b->tokcap, sizeof *b->types);
	if (b->types == NULL)
		err(1, NULL);
	if (wrap)
		b->ids[b->ntok++] = o.cls;
	for (i = 0; i < n; i++) {
		if (wrap && nb > 0 && i == n - nb)
			b->ids[b->ntok++] = o.sep;
		if (ids[i] < 0 || ids[i] >= c->vocab)
			errx(1, "%s: line %ld: id %ld is outside the vocabulary "
			    "(0 to %d)", file, lineno, (long)ids[i],
			    c->vocab - 1);
		b->ids[b->ntok++] = ids[i];
	}
	if (wrap)
		b->ids[b->ntok++] = o.sep;
	n = b->ntok - start;
	if (n == 0)
		errx(1, "%s: line %ld: no token ids", file, lineno);
	/* token types: as given (shifted by the specials), else by [SEP] */
	int seen_sep = 0;
	for (i = 0; i < n; i++) {
		int32_t t;
		if (types != NULL && !wrap)
			t = types[i];
		else if (types != NULL)
			t = nb > 0 && i >= n - nb - 1;
		else
			t = seen_sep && i > 0;
		if (t < 0 || t >= c->type_vocab)
			errx(1, "%s: line %ld: token type %ld is outside 0 to %d",
			    file, lineno, (long)t, c->type_vocab - 1);
		b->types[start + i] = t;
		seen_sep |= b->ids[start + i] == o.sep;
	}
	if (n > (size_t)o.maxlen) {
		if (o.reject)
			errx(1, "%s: line %ld: %zu tokens, more than the model's "
			    "maximum of %d", file, lineno, n, o.maxlen);
		if (ntrunc++ == 0) {
			firsttrunc = lineno;
			if ((firsttrunc_file = strdup(file)) == NULL)
				err(1, NULL);
		}
		int keep_sep = b->ids[b->ntok - 1] == o.sep;
		b->ntok = start + (size_t)o.maxlen;
		if (keep_sep)
			b->ids[b->ntok - 1] = o.sep;
		n = (size_t)o.maxlen;
	}
	if (b->n + 1 > b->cap) {
		size_t cap = (size_t)b->cap;
		b->len = grow(b->len, &cap, (size_t)b->n + 1, sizeof *b->len);
		if ((b->lineno = reallocarray(b->lineno, cap,
		    sizeof *b->lineno)) == NULL)
			err(1, NULL);
		b->cap = (int)cap;
	}
	b->len[b->n] = (int)n;
	b->lineno[b->n++] = lineno;
}

static void
put_vec(const float *v, size_t n)
{
	for (size_t j = 0; j < n; j++)
		fprintf(out, j ? " %.9g" : "%.9g", v[j]);
	putc('\n', out);
}

/* Encode, pool and write the batch, then empty it. */
static void
flush(struct batch *b)
{
	size_t H = (size_t)bert_cfg(model)->hidden;
	qkv_err e;

	if (b->n == 0)
		return;
	hidden = grow(hidden, &hiddencap, b->ntok * H, sizeof *hidden);
	if (bert_encode(model, b->ids, b->types, b->len, b->n, hidden, &e) < 0)
		errx(1, "%s", e.msg);
	if (o.pool == BERT_POOL_NONE) {
		if (o.normalize)
			nn_l2_normalize(hidden, (int)b->ntok, (int)H, 1e-12f);
		const float *h = hidden;
		for (int s = 0; s < b->n; s++) {
			for (int t = 0; t < b->len[s]; t++, h += H)
				put_vec(h, H);
			putc('\n', out);
		}
	} else {
		vecs = grow(vecs, &veccap, (size_t)b->n * H, sizeof *vecs);
		if (bert_pool(model, o.pool, hidden, b->len, b->n, vecs, &e) < 0)
			errx(1, "%s", e.msg);
		if (o.normalize)
			nn_l2_normalize(vecs, b->n, (int)H, 1e-12f);
		for (int s = 0; s < b->n; s++)
			put_vec(vecs + (size_t)s * H, H);
	}
	if (ferror(out))
		err(1, "%s", outname);
	b->n = 0;
	b->ntok = 0;
}

static void
embed_file(const char *path, struct batch *b)
{
	qkv_err e;
	qkv_in *in;
	char *line;
	size_t len, n = 0, cap = 0;
	int32_t *ids = NULL;
	int rc;

	if ((in = qkv_in_open(path, &e)) == NULL)
		errx(1, "%s", e.msg);
	if (qkv_in_is_qkv(in))
		errx(1, "%s: qkv streams are not supported yet",
		    qkv_in_name(in));
	while ((rc = qkv_in_line(in, &line, &len, MAX_LINE, &e)) > 0) {
		n = 0;
		if (qkv_pt_parse_ids(line, len, 0, &ids, &n, &cap, &e) < 0)
			errx(1, "%s: line %ld: %s", qkv_in_name(in),
			    qkv_in_lineno(in), e.msg);
		add_seq(b, ids, NULL, n, qkv_in_name(in), qkv_in_lineno(in));
		if (b->n >= o.batch)
			flush(b);
	}
	if (rc < 0)
		errx(1, "%s", e.msg);
	free(ids);
	qkv_in_close(in);
}

int
main(int argc, char **argv)
{
	const char *mpath = NULL, *pool = NULL;
	struct batch b = {0};
	qkv_out *qo;
	qkv_model *m;
	qkv_err e;
	long v;
	int c, threads = 0, nonorm = 0, st_pool, st_norm, st_max;

	qkv_cli_init();
	o.batch = 32;
	while ((c = getopt(argc, argv, "B:bhj:l:m:nNo:p:qrtVx")) != -1) {
		switch (c) {
		case 'B':
			if (qkv_parse_long(optarg, 1, 1 << 20, &v, &e) < 0)
				errx(2, "-B: %s", e.msg);
			o.batch = (int)v;
			break;
		case 'b':
			o.text = 0;
			break;
		case 'j':
			if (qkv_parse_long(optarg, 1, 1024, &v, &e) < 0)
				errx(2, "-j: %s", e.msg);
			threads = (int)v;
			break;
		case 'l':
			if (qkv_parse_long(optarg, 1, 1 << 20, &v, &e) < 0)
				errx(2, "-l: %s", e.msg);
			o.maxlen = (int)v;
			break;
		case 'm':
			mpath = optarg;
			break;
		case 'n':
			o.normalize = 1;
			break;
		case 'N':
			nonorm = 1;
			break;
		case 'o':
			outname = optarg;
			break;
		case 'p':
			if (bert_pool_parse(optarg) < 0)
				errx(2, "-p: unknown pooling '%s' (cls, mean, max, "
				    "mean_sqrt_len, weightedmean, lasttoken, "
				    "pooler, none)", optarg);
			pool = optarg;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'r':
			o.raw = 1;
			break;
		case 't':
			o.text = 1;
			break;
		case 'V':
			printf("embed %s\n", QKV_VERSION);
			return 0;
		case 'x':
			o.reject = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (o.normalize && nonorm)
		errx(2, "-n and -N contradict each other");
	if ((m = qkv_model_open(qkv_model_default(mpath), &e)) == NULL ||
	    (model = bert_load(m, &e)) == NULL)
		errx(1, "%s", e.msg);
	if (bert_st_defaults(m, &st_pool, &st_norm, &st_max, &e) < 0)
		errx(1, "%s", e.msg);
	/* the model's Normalize belongs to its own pooling: with -p, only
	 * -n normalises */
	o.pool = pool ? bert_pool_parse(pool) : st_pool;
	o.normalize = (o.normalize || (st_norm && pool == NULL)) && !nonorm;
	if (o.maxlen == 0)
		o.maxlen = st_max;
	if (o.maxlen == 0 || o.maxlen > bert_cfg(model)->max_positions)
		o.maxlen = bert_cfg(model)->max_positions;
	find_specials(bert_model(model));
	if (threads > 0)
		nn_set_threads(threads);
	if ((qo = qkv_out_open(outname, &e)) == NULL)
		errx(1, "%s", e.msg);
	out = qo->f;
	outname = outname ? outname : "<stdout>";
	if (argc == 0)
		embed_file(NULL, &b);
	for (int i = 0; i < argc; i++)
		embed_file(argv[i], &b);
	flush(&b);
	if (qkv_out_commit(qo, &e) < 0)
		errx(1, "%s", e.msg);
	if (ntrunc > 0 && !o.quiet)
		warnx("%ld sequence%s longer than %d tokens truncated (first: "
		    "%s line %ld); -x rejects them", ntrunc, ntrunc > 1 ? "s" :
		    "", o.maxlen, firsttrunc_file, firsttrunc);
	bert_free(model);
	qkv_model_close(m);
	free(b.ids);
	free(b.types);
	free(b.len);
	free(b.lineno);
	free(hidden);
	free(vecs);
	return 0;
}
