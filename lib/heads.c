/* heads.c - BERT's pretraining heads on top of the encoder (bert.c): the
 * masked-LM head and the next-sentence head of BertForPreTraining. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"

struct bert_mlm {
	bert *b;
	int H, V;
	const float *tw, *tb;	/* transform.dense (H,H), (H) */
	const float *lw, *lb;	/* transform.LayerNorm (H), (H) */
	const float *emb;	/* the decoder: word embeddings (V,H), tied */
	const float *bias;	/* decoder bias (V) */
	float *t;		/* workspace (rows, H) */
	size_t trows;
	float *hid, *rows, *logits;	/* bert_mlm_fill's */
	size_t hidcap, rowcap, logcap;
};

bert_mlm *
bert_mlm_load(bert *b, qkv_err *e)
{
	const bert_config *c = bert_cfg(b);
	bert_mlm *h;
	qkv_err e2;

	if ((h = qkv_calloc(1, sizeof *h, e)) == NULL)
		return NULL;
	h->b = b;
	h->H = c->hidden;
	h->V = c->vocab;
	if ((h->tw = bert_weight(b, "cls.predictions.transform.dense.weight",
	    h->H, h->H, e)) == NULL ||
	    (h->tb = bert_weight(b, "cls.predictions.transform.dense.bias",
	    h->H, 0, e)) == NULL ||
	    (h->lw = bert_weight(b,
	    "cls.predictions.transform.LayerNorm.weight", h->H, 0, e)) ==
	    NULL ||
	    (h->lb = bert_weight(b, "cls.predictions.transform.LayerNorm.bias",
	    h->H, 0, e)) == NULL ||
	    (h->emb = bert_weight(b, "embeddings.word_embeddings.weight", h->V,
	    h->H, e)) == NULL)
		goto fail;
	/* the bias is cls.predictions.bias; newer files also (or only)
	 * hold it as the decoder's */
	if ((h->bias = bert_weight(b, "cls.predictions.bias", h->V, 0,
	    e)) == NULL &&
	    (h->bias = bert_weight(b, "cls.predictions.decoder.bias", h->V, 0,
	    &e2)) == NULL)
		goto fail;
	return h;
fail:
	free(h);
	return NULL;
}

void
bert_mlm_free(bert_mlm *h)
{
	if (h == NULL)
		return;
	free(h->t);
	free(h->hid);
	free(h->rows);
	free(h->logits);
	free(h);
}

static void
activation(int act, float *x, size_t n)
{
	switch (act) {
	case BERT_GELU_TANH:
		nn_gelu_tanh(x, n);
		break;
	case BERT_RELU:
		for (size_t i = 0; i < n; i++)
			x[i] = x[i] > 0 ? x[i] : 0;
		break;
	default:
		nn_gelu_erf(x, n);
	}
}

/*
 * hidden is (n,H), logits (n,V):
 *   t = LN(act(hidden Wt^T + bt));  logits = t E^T + bias
 * with E the word embeddings (the decoder is tied to them).
 */
int
bert_mlm_logits(bert_mlm *h, const float *hidden, int n, float *logits,
    qkv_err *e)
{
	const bert_config *c = bert_cfg(h->b);

	if (n <= 0)
		return 0;
	if ((size_t)n > h->trows) {
		float *t = realloc(h->t, (size_t)n * (size_t)h->H * sizeof *t);
		if (t == NULL)
			return qkv_errf(e, "out of memory");
		h->t = t;
		h->trows = (size_t)n;
	}
	nn_linear(h->t, hidden, h->tw, h->tb, n, h->H, h->H);
	activation(c->act, h->t, (size_t)n * (size_t)h->H);
	nn_layernorm(h->t, h->t, h->lw, h->lb, n, h->H, c->eps);
	nn_linear(logits, h->t, h->emb, h->bias, n, h->H, h->V);
	return 0;
}

/* pooled is (n,H), logits (n,2): index 0 is IsNext, 1 random. */
int
bert_nsp_logits(bert *b, const float *pooled, int n, float *logits,
    qkv_err *e)
{
	int H = bert_cfg(b)->hidden;
	const float *w, *bias;

	if ((w = bert_weight(b, "cls.seq_relationship.weight", 2, H, e)) ==
	    NULL ||
	    (bias = bert_weight(b, "cls.seq_relationship.bias", 2, 0, e)) ==
	    NULL)
		return -1;
	if (n > 0)
		nn_linear(logits, pooled, w, bias, n, H, 2);
	return 0;
}

/* Each row of logits (m,V) becomes probabilities (softmax, in place);
 * ids and probs (m,k) get its k most probable ids, best first, ties to
 * the lower id (k <= V). */
void
bert_topk(float *logits, int m, int V, int k, int32_t *ids, float *probs)
{
	nn_softmax(logits, m, V);
	for (int r = 0; r < m; r++) {
		const float *p = logits + (size_t)r * V;
		int32_t *ti = ids + (size_t)r * k;
		float *tp = probs + (size_t)r * k;
		int n = 0;
		/* insertion into a sorted list of k: k is small */
		for (int v = 0; v < V; v++) {
			if (n == k && !(p[v] > tp[k - 1]))
				continue;
			int j = n < k ? n++ : k - 1;
			for (; j > 0 && p[v] > tp[j - 1]; j--) {
				tp[j] = tp[j - 1];
				ti[j] = ti[j - 1];
			}
			tp[j] = p[v];
			ti[j] = v;
		}
	}
}

/* Grow *p to hold n floats. */
static int
reserve(float **p, size_t *cap, size_t n, qkv_err *e)
{
	float *q;

	if (n <= *cap)
		return 0;
	if ((q = realloc(*p, n * sizeof *q)) == NULL)
		return qkv_errf(e, "out of memory (%zu floats)", n);
	*p = q;
	*cap = n;
	return 0;
}

int
bert_mlm_fill(bert_mlm *h, const int32_t *ids, const int32_t *types,
    const int *len, int n, int32_t mask, int k, int32_t *top, float *prob,
    qkv_err *e)
{
	size_t N = 0, H = (size_t)h->H, V = (size_t)h->V, M = 0;

	if (k < 1 || k > h->V)
		return qkv_errf(e, "-k %d: must be in [1, %d]", k, h->V);
	for (int s = 0; s < n; s++)
		N += (size_t)len[s];
	for (size_t i = 0; i < N; i++)
		M += ids[i] == mask;
	if (M == 0)
		return 0;
	if (reserve(&h->hid, &h->hidcap, N * H, e) < 0 ||
	    reserve(&h->rows, &h->rowcap, M * H, e) < 0 ||
	    reserve(&h->logits, &h->logcap, M * V, e) < 0)
		return -1;
	if (bert_encode(h->b, ids, types, len, n, h->hid, e) < 0)
		return -1;
	/* the head runs on the masked rows only */
	for (size_t i = 0, m = 0; i < N; i++)
		if (ids[i] == mask)
			memcpy(h->rows + H * m++, h->hid + H * i, H * sizeof(float));
	if (bert_mlm_logits(h, h->rows, (int)M, h->logits, e) < 0)
		return -1;
	bert_topk(h->logits, (int)M, h->V, k, top, prob);
	return (int)M;
}

int
bert_nsp_score(bert *b, const int32_t *ids, const int32_t *types,
    const int *len, int n, float *p, qkv_err *e)
{
	size_t N = 0, H = (size_t)bert_cfg(b)->hidden;
	float *hid, *pooled, *lg;
	int rc = -1;

	for (int s = 0; s < n; s++)
		N += (size_t)len[s];
	hid = qkv_malloc(N * H * sizeof *hid, e);
	pooled = qkv_malloc((size_t)n * H * sizeof *pooled, e);
	lg = qkv_malloc((size_t)n * 2 * sizeof *lg, e);
	if (hid && pooled && lg &&
	    bert_encode(b, ids, types, len, n, hid, e) == 0 &&
	    bert_pool(b, BERT_POOL_POOLER, hid, len, n, pooled, e) == 0 &&
	    bert_nsp_logits(b, pooled, n, lg, e) == 0) {
		nn_softmax(lg, n, 2);
		for (int s = 0; s < n; s++)
			p[s] = lg[2 * s];
		rc = 0;
	}
	free(hid);
	free(pooled);
	free(lg);
	return rc;
}

/* ---- the filters: mask --fill and nsp --score ---------------------------- */

#define BATCH_LINES 64
#define BATCH_TOKENS 16384

struct batch {
	int32_t *ids, *types, *top;
	int *len;
	long *line;
	float *prob;
	size_t n, N, tokcap, M, mcap;
};

static int
batch_flush(struct batch *bt, bert *b, bert_mlm *h, const qkv_tok *t,
    int mode, int k, FILE *out, qkv_err *e)
{
	if (bt->n == 0)
		return 0;
	if (mode == BERT_FILL) {
		int M = bert_mlm_fill(h, bt->ids, bt->types, bt->len,
		    (int)bt->n, qkv_tok_special(t, QKV_TOK_MASK), k, bt->top,
		    bt->prob, e);
		if (M < 0)
			return -1;
		size_t o = 0, m = 0;
		int32_t mask = qkv_tok_special(t, QKV_TOK_MASK);
		for (size_t s = 0; s < bt->n; s++) {
			int ord = 0;
			for (int i = 0; i < bt->len[s]; i++, o++) {
				if (bt->ids[o] != mask)
					continue;
				ord++;
				for (int r = 0; r < k; r++, m++) {
					size_t tl;
					const char *ts = qkv_tok_token(t, bt->top[m],
					    &tl);
					fprintf(out, "%ld\t%d\t%d\t%.6g\t%d\t%.*s\n",
					    bt->line[s], ord, r + 1, bt->prob[m],
					    bt->top[m], ts ? (int)tl : 0,
					    ts ? ts : "");
				}
			}
		}
	} else {
		if (bert_nsp_score(b, bt->ids, bt->types, bt->len, (int)bt->n,
		    bt->prob, e) < 0)
			return -1;
		for (size_t s = 0; s < bt->n; s++)
			fprintf(out, "%.6g\n", bt->prob[s]);
	}
	bt->n = bt->N = bt->M = 0;
	return ferror(out) ? qkv_errf(e, "write error: %s",
	    strerror(errno ? errno : EIO)) : 0;
}

int
bert_heads_filter(bert *b, bert_mlm *h, const qkv_tok *t, int mode, int k,
    qkv_in *in, FILE *out, long *lineno, qkv_err *e)
{
	struct batch bt = {0};
	qkv_tokenc *x = qkv_tokenc_new(e);
	int32_t mask = qkv_tok_special(t, QKV_TOK_MASK);
	int maxpos = bert_cfg(b)->max_positions, rc = -1, got;
	char *s;
	size_t len;

	if (x == NULL)
		return -1;
	if (mode == BERT_FILL && mask < 0) {
		qkv_errf(e, "the tokenizer has no [MASK] token");
		goto out;
	}
	if ((bt.len = calloc(BATCH_LINES, sizeof *bt.len)) == NULL ||
	    (bt.line = calloc(BATCH_LINES, sizeof *bt.line)) == NULL ||
	    (mode == BERT_SCORE && (bt.prob = calloc(BATCH_LINES,
	    sizeof *bt.prob)) == NULL)) {
		qkv_errf(e, "out of memory");
		goto out;
	}
	while ((got = qkv_in_line(in, &s, &len, (size_t)1 << 30, e)) > 0) {
		long ln = ++*lineno;
		const char *tab = NULL;
		if (mode == BERT_SCORE &&
		    (tab = memchr(s, '\t', len)) == NULL) {
			qkv_errf(e, "%s: line %ld: no TAB between the sentences",
			    qkv_in_name(in), qkv_in_lineno(in));
			goto out;
		}
		/* a pair is cut to the model's length, longer side first; a
		 * fill line must fit whole, or its masks would be lost */
		if (qkv_tok_encode(t, x, s, tab ? (size_t)(tab - s) : len,
		    tab ? tab + 1 : NULL, tab ? len - (size_t)(tab - s) - 1 : 0,
		    QKV_TOK_SPECIALS, mode == BERT_SCORE ? (size_t)maxpos : 0,
		    e) < 0)
			goto where;
		if (x->n > (size_t)maxpos) {
			qkv_errf(e, "%zu tokens, more than the model's %d",
			    x->n, maxpos);
			goto where;
		}
		size_t nm = 0;
		for (size_t i = 0; i < x->n; i++)
			nm += x->ids[i] == mask;
		if (mode == BERT_FILL && nm == 0) {
			qkv_errf(e, "no [MASK] to fill");
			goto where;
		}
		if (bt.n == BATCH_LINES || bt.N + x->n > BATCH_TOKENS ||
		    (bt.M + nm) * (size_t)bert_cfg(b)->vocab > ((size_t)1 << 24))
			if (batch_flush(&bt, b, h, t, mode, k, out, e) < 0)
				goto out;
		if (bt.N + x->n > bt.tokcap) {
			size_t c = (bt.N + x->n) * 2;
			int32_t *a = realloc(bt.ids, c * sizeof *a);
			int32_t *y = a ? realloc(bt.types, c * sizeof *y) : NULL;
			if (a)
				bt.ids = a;
			if (y == NULL) {
				qkv_errf(e, "out of memory");
				goto out;
			}
			bt.types = y;
			bt.tokcap = c;
		}
		if ((bt.M + nm) * (size_t)k > bt.mcap) {
			size_t c = (bt.M + nm) * (size_t)k * 2;
			int32_t *a = realloc(bt.top, c * sizeof *a);
			float *p = a ? realloc(bt.prob, c * sizeof *p) : NULL;
			if (a)
				bt.top = a;
			if (p == NULL) {
				qkv_errf(e, "out of memory");
				goto out;
			}
			bt.prob = p;
			bt.mcap = c;
		}
		for (size_t i = 0; i < x->n; i++) {
			bt.ids[bt.N + i] = x->ids[i];
			bt.types[bt.N + i] = x->types[i];
		}
		bt.N += x->n;
		bt.M += nm;
		bt.line[bt.n] = ln;
		bt.len[bt.n++] = (int)x->n;
	}
	if (got == 0)
		rc = batch_flush(&bt, b, h, t, mode, k, out, e);
	goto out;
where:
	{
		char pre[512];
		snprintf(pre, sizeof pre, "%s: line %ld", qkv_in_name(in),
		    qkv_in_lineno(in));
		qkv_errprefix(e, pre);
	}
out:
	qkv_tokenc_free(x);
	free(bt.ids);
	free(bt.types);
	free(bt.top);
	free(bt.prob);
	free(bt.len);
	free(bt.line);
	return rc;
}

int
bert_heads_run(qkv_model *m, int mode, int k, int nfiles, char **files,
    const char *outpath, qkv_err *e)
{
	bert *b = bert_load(m, e);
	bert_mlm *h = NULL;
	qkv_tok *t = NULL;
	qkv_out *out = NULL;
	long line = 0;
	float p[1];
	int rc = -1;

	/* a model without the head fails here, before any input is read */
	if (b == NULL || (mode == BERT_FILL && (h = bert_mlm_load(b, e)) ==
	    NULL) || (mode == BERT_SCORE && bert_nsp_logits(b, p, 0, p, e) < 0) ||
	    (t = qkv_tok_open(m, e)) == NULL ||
	    (out = qkv_out_open(outpath, e)) == NULL)
		goto done;
	for (int i = 0; i < (nfiles > 0 ? nfiles : 1); i++) {
		qkv_in *in = qkv_in_open(nfiles > 0 ? files[i] : "-", e);
		int r = in ? bert_heads_filter(b, h, t, mode, k, in, out->f,
		    &line, e) : -1;
		qkv_in_close(in);
		if (r < 0) {
			qkv_out_abort(out);
			goto done;
		}
	}
	rc = qkv_out_commit(out, e);
done:
	qkv_tok_close(t);
	bert_mlm_free(h);
	bert_free(b);
	return rc;
}
