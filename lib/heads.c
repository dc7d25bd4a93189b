/* heads.c - BERT's pretraining heads on top of the encoder (bert.c): the
 * masked-LM head and the next-sentence head of BertForPreTraining. */
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
