/* exercise.h - what the model fuzz targets (qkvmodel.c, hfdir.c) do with
 * a model that loads: the tokenizer, the BERT encoder (sentence-transformers
 * defaults, pooling, both heads) and the GPT-2 decoder built from whatever
 * it holds, each run once on a few tokens, so that what a loader accepts is
 * also safe to use.  Included by those targets only. */
#include <stdlib.h>
#include <string.h>

#include "qkv.h"

static void
tokenizer(qkv_model *m)
{
	static const char text[] = "Hello, [MASK] w\xc3\xb6rld!<|endoftext|> "
	    "\xe4\xb8\xad don't \xff 12";
	qkv_err e;
	qkv_tok *t = qkv_tok_open(m, &e);
	qkv_tokenc *x;
	size_t dl;

	if (t == NULL)
		return;
	if ((x = qkv_tokenc_new(&e)) != NULL) {
		for (int f = 0; f < 4; f++) {
			if (qkv_tok_encode(t, x, text, sizeof text - 1,
			    f & 1 ? "b" : NULL, f & 1, f | QKV_TOK_SPECIALS, 0,
			    &e) < 0)
				continue;
			for (size_t i = 0; i < x->n; i++)
				if (x->ids[i] < 0 ||
				    x->ids[i] >= qkv_tok_vocab_size(t))
					__builtin_trap();
			(void)qkv_tok_decode(t, x, x->ids, x->n, 0, &dl, &e);
		}
		qkv_tokenc_free(x);
	}
	qkv_tok_close(t);
}

static void
encoder(qkv_model *m)
{
	qkv_err e;
	bert *b = bert_load(m, &e);
	const bert_config *c;
	int32_t ids[8], types[8];
	int len[2], pool, norm, maxlen, n;
	float *hid = NULL, *out = NULL, *lg = NULL;
	bert_mlm *h;

	if (b == NULL)
		return;
	c = bert_cfg(b);
	(void)bert_st_defaults(bert_model(b), &pool, &norm, &maxlen, &e);
	len[0] = c->max_positions < 5 ? c->max_positions : 5;
	len[1] = c->max_positions < 3 ? c->max_positions : 3;
	n = len[0] + len[1];
	for (int i = 0; i < n; i++) {
		ids[i] = (i * 7) % c->vocab;
		types[i] = i >= len[0] && c->type_vocab > 1;
	}
	hid = malloc((size_t)n * c->hidden * sizeof *hid);
	out = malloc(2 * (size_t)c->hidden * sizeof *out);
	if (hid == NULL || out == NULL ||
	    bert_encode(b, ids, types, len, 2, hid, &e) < 0)
		goto done;
	for (int p = BERT_POOL_CLS; p < BERT_POOL_NONE; p++)
		(void)bert_pool(b, p, hid, len, 2, out, &e);
	if (bert_pooler(b, hid, len, 2, out, &e) == 0) {
		float nl[4];
		(void)bert_nsp_logits(b, out, 2, nl, &e);
	}
	if ((h = bert_mlm_load(b, &e)) != NULL) {
		if ((lg = malloc((size_t)n * c->vocab * sizeof *lg)) != NULL)
			(void)bert_mlm_logits(h, hid, n, lg, &e);
		bert_mlm_free(h);
	}
done:
	free(lg);
	free(out);
	free(hid);
	bert_free(b);
}

static void
decoder(qkv_model *m)
{
	qkv_err e;
	gpt2 *g = gpt2_open(m, &e);
	const gpt2_config *c;
	gpt2_state *s;
	int32_t ids[4];
	double lp[3];
	float *lg;
	int T;

	if (g == NULL)
		return;
	c = gpt2_cfg(g);
	/* the KV cache is sized by the config (n_layer * n_ctx * n_embd),
	 * not by the file: calloc'd and touched as it fills, by design;
	 * keep the fuzzer's malloc limit out of it */
	if ((double)c->n_layer * c->n_ctx * c->n_embd > (1 << 24)) {
		gpt2_close(g);
		return;
	}
	T = c->n_ctx < 4 ? c->n_ctx : 4;
	for (int i = 0; i < T; i++)
		ids[i] = (i * 13) % c->n_vocab;
	if ((s = gpt2_state_new(g, 2, &e)) != NULL &&
	    (lg = malloc((size_t)T * c->n_vocab * sizeof *lg)) != NULL) {
		if (gpt2_forward(s, ids, T, lg, 1, &e) < 0)
			__builtin_trap();	/* valid ids, room in n_ctx */
		gpt2_state_reset(s);
		if (gpt2_score(s, ids, T, lp, &e) < 0)
			__builtin_trap();
		free(lg);
	}
	gpt2_state_free(s);
	gpt2_close(g);
}

static void
exercise(qkv_model *m)
{
	tokenizer(m);
	encoder(m);
	decoder(m);
}
