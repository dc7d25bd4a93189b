/* embed - BERT vectors for token id sequences. */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qkv.h"

#define MAX_LINE (64u << 20)

static _Noreturn void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: embed [-bnNqrtTx] [-B batch] [-j threads] [-l length]\n"
	    "             [-m model] [-o file] [-p pooling] [file ...]\n");
	exit(status);
}

/* A batch of packed sequences and what is carried through. */
struct batch {
	int32_t *ids, *types;
	size_t ntok, tokcap;
	int *len;
	size_t *textoff;	/* n + 1 offsets into text */
	char *text;
	size_t textlen, textcap;
	int n, cap;
};

static struct {
	int pool, normalize, text, raw, reject, quiet, batch, maxlen, rawtext;
	int32_t cls, sep;	/* -1 if the model has none */
	int has_text;		/* the output carries a text column */
} o;

static bert *model;
static qkv_tok *tok;		/* NULL if the model has no tokenizer files */
static qkv_tokenc *enc;
static qkv_out *out;
static qkv_writer *w;
static float *hidden, *vecs;
static size_t hiddencap, veccap;
static long ntrunc;
static char *firsttrunc_where;
static uint64_t nseq;		/* sequences written so far */

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

/*
 * Append one sequence to the batch as the model wants it: a sequence
 * without special tokens gets [CLS] ... [SEP] around it, as `tok -s`
 * would have added (a pair: [CLS] A [SEP] B [SEP], B being the tokens of
 * type 1), so tok's output with or without -s gives the same vectors.
 * Whether they are there: a stream's "specials" metadata says so (tok -b
 * writes it), else a sequence that starts with [CLS] has them; -r takes
 * ids as they are.  Token types, when the input has none, are 0
 * up to the first [SEP] and 1 after it, as in a pair.  Too long: truncated
 * (keeping a final [SEP]) or, with -x, an error.  where names the input
 * line or row for messages.
 */
static void
add_seq(struct batch *b, const int32_t *ids, const int32_t *types, size_t n,
    const char *text, size_t textlen, const char *where, int specials)
{
	const bert_config *c = bert_cfg(model);
	size_t start = b->ntok, nb = 0, i;
	int wrap = !o.raw && o.cls >= 0 && o.sep >= 0 && (specials >= 0 ?
	    !specials : n == 0 || ids[0] != o.cls);
	int seen_sep = 0;

	if (wrap && types != NULL)
		for (i = 0; i < n; i++)
			nb += types[i] != 0;
	b->ids = grow(b->ids, &b->tokcap, b->ntok + n + 3, sizeof *b->ids);
	if ((b->types = reallocarray(b->types, b->tokcap,
	    sizeof *b->types)) == NULL)
		err(1, NULL);
	if (wrap)
		b->ids[b->ntok++] = o.cls;
	for (i = 0; i < n; i++) {
		if (wrap && nb > 0 && i == n - nb)
			b->ids[b->ntok++] = o.sep;
		if (ids[i] < 0 || ids[i] >= c->vocab)
			errx(1, "%s: id %ld is outside the vocabulary (0 to %d)",
			    where, (long)ids[i], c->vocab - 1);
		b->ids[b->ntok++] = ids[i];
	}
	if (wrap)
		b->ids[b->ntok++] = o.sep;
	if ((n = b->ntok - start) == 0)
		errx(1, "%s: no token ids", where);
	/* token types: as given (shifted by the specials), else by [SEP] */
	for (i = 0; i < n; i++) {
		int32_t t;
		if (types != NULL && !wrap)
			t = types[i];
		else if (types != NULL)
			t = nb > 0 && i >= n - nb - 1;
		else	/* a model with one token type has no pairs */
			t = seen_sep && i > 0 && c->type_vocab > 1;
		if (t < 0 || t >= c->type_vocab)
			errx(1, "%s: token type %ld is outside 0 to %d", where,
			    (long)t, c->type_vocab - 1);
		b->types[start + i] = t;
		seen_sep |= b->ids[start + i] == o.sep;
	}
	if (n > (size_t)o.maxlen) {
		if (o.reject)
			errx(1, "%s: %zu tokens, more than the model's maximum "
			    "of %d", where, n, o.maxlen);
		if (ntrunc++ == 0 && (firsttrunc_where = strdup(where)) == NULL)
			err(1, NULL);
		int keep_sep = b->ids[b->ntok - 1] == o.sep;
		b->ntok = start + (size_t)o.maxlen;
		if (keep_sep)
			b->ids[b->ntok - 1] = o.sep;
		n = (size_t)o.maxlen;
	}
	if (b->n + 1 > b->cap) {
		size_t cap = (size_t)b->cap;
		b->len = grow(b->len, &cap, (size_t)b->n + 1, sizeof *b->len);
		if ((b->textoff = reallocarray(b->textoff, cap + 1,
		    sizeof *b->textoff)) == NULL)
			err(1, NULL);
		b->cap = (int)cap;
	}
	b->text = grow(b->text, &b->textcap, b->textlen + textlen + 1, 1);
	if (textlen > 0)
		memcpy(b->text + b->textlen, text, textlen);
	b->textoff[b->n] = b->textlen;
	b->textlen += textlen;
	b->textoff[b->n + 1] = b->textlen;
	b->len[b->n++] = (int)n;
}

/* The output stream's columns, declared before the first row: text (when
 * the input carries it), then the vector; per-token rows (-p none) also
 * say which sequence, position and id they are. */
static void
open_writer(void)
{
	qkv_col cols[5];
	int nc = 0, H = bert_cfg(model)->hidden;
	const char *pool = bert_pool_name(o.pool);
	qkv_err e;

	memset(cols, 0, sizeof cols);
	if (o.has_text) {
		strcpy(cols[nc].name, "text");
		cols[nc].kind = QKV_COL_STRING;
		cols[nc++].dtype = QKV_STR;
	}
	if (o.pool == BERT_POOL_NONE) {
		strcpy(cols[nc].name, "seq");
		cols[nc++].dtype = QKV_I64;
		strcpy(cols[nc].name, "pos");
		cols[nc++].dtype = QKV_I32;
		strcpy(cols[nc].name, "id");
		cols[nc++].dtype = QKV_I32;
	}
	strcpy(cols[nc].name, "vec");
	cols[nc].dtype = QKV_F32;
	cols[nc].ndim = 1;
	cols[nc++].shape[0] = H;
	if ((w = qkv_writer_open(out->f, out->path ? out->path : "<stdout>",
	    cols, nc, &e)) == NULL ||
	    qkv_writer_meta(w, "model", qkv_model_path(bert_model(model)),
	    strlen(qkv_model_path(bert_model(model))), &e) < 0 ||
	    qkv_writer_meta(w, "pooling", pool, strlen(pool), &e) < 0 ||
	    qkv_writer_meta(w, "normalized", o.normalize ? "1" : "0", 1, &e) < 0)
		errx(1, "%s", e.msg);
}

static void
put_text(const float *v, size_t n)
{
	for (size_t j = 0; j < n; j++)
		fprintf(out->f, j ? " %.9g" : "%.9g", v[j]);
	putc('\n', out->f);
}

/* Row of sequence s; with t >= 0 the row of its token t, the token's
 * index in the packed batch being k. */
static void
put_row(struct batch *b, int s, int t, size_t k, const float *v)
{
	qkv_cell cells[5];
	int nc = 0;
	int64_t seq = (int64_t)(nseq + (uint64_t)s + 1);
	int32_t pos = t, id;
	qkv_err e;

	if (o.has_text) {
		cells[nc].p = b->text + b->textoff[s];
		cells[nc++].n = b->textoff[s + 1] - b->textoff[s];
	}
	if (t >= 0) {
		id = b->ids[k];
		cells[nc++].p = &seq;
		cells[nc++].p = &pos;
		cells[nc++].p = &id;
	}
	cells[nc++].p = v;
	if (qkv_writer_row(w, cells, &e) < 0)
		errx(1, "%s", e.msg);
}

/* Encode, pool and write the batch, then empty it. */
static void
flush(struct batch *b)
{
	size_t H = (size_t)bert_cfg(model)->hidden;
	qkv_err e;

	if (b->n == 0)
		return;
	if (!o.text && w == NULL)
		open_writer();
	hidden = grow(hidden, &hiddencap, b->ntok * H, sizeof *hidden);
	if (bert_encode(model, b->ids, b->types, b->len, b->n, hidden, &e) < 0)
		errx(1, "%s", e.msg);
	if (o.pool == BERT_POOL_NONE) {
		if (o.normalize)
			nn_l2_normalize(hidden, (int)b->ntok, (int)H, 1e-12f);
		size_t k = 0;
		for (int s = 0; s < b->n; s++) {
			for (int t = 0; t < b->len[s]; t++, k++)
				if (o.text)
					put_text(hidden + k * H, H);
				else
					put_row(b, s, t, k, hidden + k * H);
			if (o.text)
				putc('\n', out->f);
		}
	} else {
		vecs = grow(vecs, &veccap, (size_t)b->n * H, sizeof *vecs);
		if (bert_pool(model, o.pool, hidden, b->len, b->n, vecs, &e) < 0)
			errx(1, "%s", e.msg);
		if (o.normalize)
			nn_l2_normalize(vecs, b->n, (int)H, 1e-12f);
		for (int s = 0; s < b->n; s++)
			if (o.text)
				put_text(vecs + (size_t)s * H, H);
			else
				put_row(b, s, -1, 0, vecs + (size_t)s * H);
	}
	/* a consumer down the pipe sees each batch as soon as it is done */
	if (w != NULL && qkv_writer_flush(w, &e) < 0)
		errx(1, "%s", e.msg);
	if (o.text && (fflush(out->f) == EOF || ferror(out->f)))
		err(1, "%s", out->path ? out->path : "<stdout>");
	nseq += (uint64_t)b->n;
	b->n = 0;
	b->ntok = 0;
	b->textlen = 0;
}

/* A column of integers as int32, or an error naming it. */
static const int32_t *
int_cell(const qkv_col *c, const qkv_cell *cell, int32_t **buf, size_t *cap,
    const char *where)
{
	size_t n = cell->n;

	*buf = grow(*buf, cap, n + 1, sizeof **buf);
	if (n > 0 && (c->dtype < QKV_U8 || c->dtype > QKV_I64))
		errx(1, "%s: column '%s' holds %s, not integers", where,
		    c->name, qkv_dtype_name(c->dtype));
	for (size_t i = 0; i < n; i++) {
		int64_t v = qkv_int_at(cell->p, c->dtype, i);
		if (v < INT32_MIN || v > INT32_MAX)
			errx(1, "%s: column '%s': %lld is out of range", where,
			    c->name, (long long)v);
		(*buf)[i] = (int32_t)v;
	}
	return *buf;
}

/* A qkv stream from tok -b: `ids` (ragged integers), token types if it
 * has them, `text` carried through. */
static void
embed_stream(qkv_in *in, struct batch *b)
{
	static const char *const typecols[] = {
		"types", "token_types", "token_type_ids", "type_ids",
		"segment_ids",
	};
	const char *name = qkv_in_name(in);
	int32_t *ids = NULL, *types = NULL;
	size_t idcap = 0, typecap = 0;
	int ci, ct = -1, cx, rc, specials;
	const char *sp;
	size_t splen;
	qkv_cell *cells;
	qkv_reader *r;
	qkv_err e;
	char where[512];

	if ((r = qkv_reader_open(in, &e)) == NULL)
		errx(1, "%s", e.msg);
	if ((ci = qkv_reader_find(r, "ids")) < 0 ||
	    qkv_reader_col(r, ci)->kind == QKV_COL_STRING)
		errx(1, "%s: the stream has no 'ids' column of token ids "
		    "(as tok -b writes)", name);
	for (size_t i = 0; ct < 0 && i < sizeof typecols / sizeof *typecols;
	    i++)
		ct = qkv_reader_find(r, typecols[i]);
	if ((cx = qkv_reader_find(r, "text")) >= 0 &&
	    qkv_reader_col(r, cx)->kind != QKV_COL_STRING)
		cx = -1;
	/* the first input decides whether the output has a text column */
	if (nseq == 0 && b->n == 0 && w == NULL)
		o.has_text = cx >= 0;
	/* tok -b says whether it added the special tokens */
	sp = qkv_reader_meta(r, "specials", &splen);
	specials = sp != NULL && splen == 1 && (*sp == '0' || *sp == '1') ?
	    *sp - '0' : -1;
	if ((cells = calloc((size_t)qkv_reader_ncols(r), sizeof *cells)) == NULL)
		err(1, NULL);
	while ((rc = qkv_reader_next(r, cells, &e)) > 0) {
		snprintf(where, sizeof where, "%s: row %llu", name,
		    (unsigned long long)qkv_reader_rows(r));
		const int32_t *pi = int_cell(qkv_reader_col(r, ci), &cells[ci],
		    &ids, &idcap, where);
		const int32_t *pt = NULL;
		if (ct >= 0) {
			if (cells[ct].n != cells[ci].n)
				errx(1, "%s: %zu token types for %zu ids", where,
				    cells[ct].n, cells[ci].n);
			pt = int_cell(qkv_reader_col(r, ct), &cells[ct], &types,
			    &typecap, where);
		}
		add_seq(b, pi, pt, cells[ci].n, cx >= 0 ? cells[cx].p : NULL,
		    cx >= 0 ? cells[cx].n : 0, where, specials);
		if (b->n >= o.batch)
			flush(b);
	}
	if (rc < 0)
		errx(1, "%s", e.msg);
	qkv_reader_close(r);
	free(cells);
	free(ids);
	free(types);
}

/* Lines of raw text (-T), tokenised here as `tok -s` would: a line with a
 * TAB is a sentence pair.  Too long: truncated as Hugging Face truncates
 * (the longer sentence of a pair first), or rejected with -x.  The line is
 * carried through as the text. */
static void
embed_text(qkv_in *in, struct batch *b)
{
	char *line, where[512];
	size_t len, cap = 0;
	int32_t *types = NULL;
	qkv_err e;
	int rc;

	while ((rc = qkv_in_line(in, &line, &len, MAX_LINE, &e)) > 0) {
		char *tab = memchr(line, '\t', len);
		size_t alen = tab ? (size_t)(tab - line) : len;
		snprintf(where, sizeof where, "%s: line %ld", qkv_in_name(in),
		    qkv_in_lineno(in));
		const char *bt = tab ? tab + 1 : NULL;
		size_t blen = tab ? len - alen - 1 : 0;
		if (qkv_tok_encode(tok, enc, line, alen, bt, blen,
		    QKV_TOK_SPECIALS, 0, &e) < 0)
			errx(1, "%s: %s", where, e.msg);
		/* too long: again with the tokenizer's own truncation (the
		 * longer sentence of a pair first), counted for the warning */
		if (enc->n > (size_t)o.maxlen && !o.reject) {
			if (qkv_tok_encode(tok, enc, line, alen, bt, blen,
			    QKV_TOK_SPECIALS, (size_t)o.maxlen, &e) < 0)
				errx(1, "%s: %s", where, e.msg);
			if (ntrunc++ == 0 &&
			    (firsttrunc_where = strdup(where)) == NULL)
				err(1, NULL);
		}
		types = grow(types, &cap, enc->n + 1, sizeof *types);
		for (size_t i = 0; i < enc->n; i++)
			types[i] = enc->types[i];
		add_seq(b, enc->ids, types, enc->n, line, len, where, 1);
		if (b->n >= o.batch)
			flush(b);
	}
	if (rc < 0)
		errx(1, "%s", e.msg);
	free(types);
}

/* Lines of space-separated ids (tok's text output). */
static void
embed_lines(qkv_in *in, struct batch *b)
{
	char *line, where[512];
	size_t len, n, cap = 0;
	int32_t *ids = NULL;
	qkv_err e;
	int rc;

	while ((rc = qkv_in_line(in, &line, &len, MAX_LINE, &e)) > 0) {
		snprintf(where, sizeof where, "%s: line %ld", qkv_in_name(in),
		    qkv_in_lineno(in));
		n = 0;
		if (qkv_pt_parse_ids(line, len, 0, &ids, &n, &cap, &e) < 0)
			errx(1, "%s: %s", where, e.msg);
		add_seq(b, ids, NULL, n, NULL, 0, where, -1);
		if (b->n >= o.batch)
			flush(b);
	}
	if (rc < 0)
		errx(1, "%s", e.msg);
	free(ids);
}

int
main(int argc, char **argv)
{
	const char *mpath = NULL, *pool = NULL, *outpath = NULL;
	struct batch b = {0};
	qkv_model *m;
	qkv_err e;
	long v;
	int c, threads = 0, nonorm = 0, st_pool, st_norm, st_max;

	qkv_cli_init();
	o.batch = 32;
	while ((c = getopt(argc, argv, "B:bhj:l:m:nNo:p:qrtTVx")) != -1) {
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
			outpath = optarg;
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
		case 'T':
			o.rawtext = 1;
			break;
		case 'V':
			printf("embed (qkv) %s\n", QKV_VERSION);
			return 0;
		case 'x':
			o.reject = 1;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
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
	/* the tokenizer gives [CLS] and [SEP] (and -T its tokens) */
	o.cls = o.sep = -1;
	if ((tok = qkv_tok_open(bert_model(model), &e)) != NULL) {
		o.cls = qkv_tok_special(tok, QKV_TOK_CLS);
		o.sep = qkv_tok_special(tok, QKV_TOK_SEP);
		if ((enc = qkv_tokenc_new(&e)) == NULL)
			errx(1, "%s", e.msg);
	} else if (o.rawtext)
		errx(1, "-T: %s", e.msg);
	o.has_text = o.rawtext;
	/* the encoder splits its work among nn workers, each calling BLAS
	 * single-threaded: no two thread pools compete for the processors,
	 * and the vectors do not depend on the number of threads */
	nn_set_threads(1);
	if (nn_set_workers(threads > 0 ? threads : qkv_ncpu(), &e) < 0)
		errx(1, "%s", e.msg);
	if ((out = qkv_out_open(outpath, &e)) == NULL)
		errx(1, "%s", e.msg);
	for (int i = 0; i < (argc ? argc : 1); i++) {
		qkv_in *in = qkv_in_open(argc ? argv[i] : NULL, &e);
		if (in == NULL)
			errx(1, "%s", e.msg);
		if (qkv_in_is_qkv(in))
			embed_stream(in, &b);
		else if (o.rawtext)
			embed_text(in, &b);
		else
			embed_lines(in, &b);
		qkv_in_close(in);
	}
	flush(&b);
	if (!o.text && w == NULL)
		open_writer();		/* no input: an empty stream */
	if (w != NULL && qkv_writer_close(w, &e) < 0)
		errx(1, "%s", e.msg);
	if (qkv_out_commit(out, &e) < 0)
		errx(1, "%s", e.msg);
	if (ntrunc > 0 && !o.quiet)
		warnx("%ld sequence%s longer than %d tokens truncated (first: "
		    "%s); -x rejects them", ntrunc, ntrunc > 1 ? "s" : "",
		    o.maxlen, firsttrunc_where);
	qkv_tokenc_free(enc);
	qkv_tok_close(tok);
	bert_free(model);
	qkv_model_close(m);
	free(b.ids);
	free(b.types);
	free(b.len);
	free(b.textoff);
	free(b.text);
	free(hidden);
	free(vecs);
	free(firsttrunc_where);
	return 0;
}
