/*
 * gpt2.c - the GPT-2 decoder: loading a checkpoint, the forward pass over
 * a KV cache, and scoring.
 *
 * Pre-LN blocks: x += c_proj(attn(ln_1 x)); x += mlp.c_proj(gelu(mlp.c_fc(
 * ln_2 x))); then ln_f and logits = h . wte^T (or lm_head).  Conv1D
 * weights are stored [in, out].  The prompt goes through as one batch of
 * rows (sgemm); each later token is one row (GEMV), reading keys and
 * values of the earlier positions from the cache.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qkv.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22	/* Linux 5.14 */
#endif

#define HEAD_DIM_GUESS 64	/* every released GPT-2 size */

struct layer {
	const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
	nn_weight attn_w, proj_w, fc_w, fcproj_w;
	const float *attn_b, *proj_b, *fc_b, *fcproj_b;
};

struct gpt2 {
	gpt2_config cfg;
	nn_weight wte, wpe, head;	/* head: lm_head, or wte when tied */
	const float *lnf_w, *lnf_b;
	struct layer *layer;
	void **owned;			/* widened or realigned copies */
	int nowned;
};

struct gpt2_state {
	const gpt2 *g;
	int chunk, len;
	float *kc, *vc;		/* (n_layer, n_ctx, C) each */
	float *x, *h, *qkv, *ao, *fc, *att;
	float *lbuf;		/* (chunk, V) logits for scoring, lazily */
};

const gpt2_config *
gpt2_cfg(const gpt2 *g)
{
	return &g->cfg;
}

void
gpt2_close(gpt2 *g)
{
	if (g == NULL)
		return;
	for (int i = 0; i < g->nowned; i++)
		free(g->owned[i]);
	free(g->owned);
	free(g->layer);
	free(g);
}

static void *
own(gpt2 *g, size_t nbytes, qkv_err *e)
{
	void **no = realloc(g->owned, (size_t)(g->nowned + 1) * sizeof *no);
	void *p;

	if (no == NULL)
		return qkv_errf(e, "out of memory"), NULL;
	g->owned = no;
	if ((p = aligned_alloc(64, (nbytes + 63) & ~(size_t)63)) == NULL)
		return qkv_errf(e, "out of memory"), NULL;
	g->owned[g->nowned++] = p;
	return p;
}

/* A tensor by its GPT2Model name, with or without "transformer.". */
static const qkv_tensor *
find(qkv_model *m, const char *name)
{
	char buf[256];
	const qkv_tensor *t;

	snprintf(buf, sizeof buf, "transformer.%s", name);
	if ((t = qkv_model_tensor(m, buf)) != NULL)
		return t;
	return qkv_model_tensor(m, name);
}

static int
is_float(int dtype)
{
	return dtype == QKV_F32 || dtype == QKV_F16 || dtype == QKV_BF16 ||
	    dtype == QKV_F64;
}

static int
check(const qkv_tensor *t, const char *name, int rows, int cols, qkv_err *e)
{
	if (t == NULL)
		return qkv_errf(e, "no tensor '%s' (or 'transformer.%s')",
		    name, name);
	if (!is_float(t->dtype))
		return qkv_errf(e, "tensor '%s': dtype %s, not a float", name,
		    qkv_dtype_name(t->dtype));
	if (rows == 0) {
		if (t->ndim != 1 || t->shape[0] != cols)
			return qkv_errf(e, "tensor '%s': expected shape [%d]",
			    name, cols);
	} else if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
		return qkv_errf(e, "tensor '%s': expected shape [%d, %d]", name,
		    rows, cols);
	return 0;
}

/* A vector of n floats: the mapping itself when F32 and aligned, else a
 * widened copy. */
static const float *
vec(gpt2 *g, qkv_model *m, const char *name, int n, qkv_err *e)
{
	const qkv_tensor *t = find(m, name);
	float *p;

	if (check(t, name, 0, n, e) < 0)
		return NULL;
	if (t->dtype == QKV_F32 && ((uintptr_t)t->data & 3) == 0)
		return t->data;
	if ((p = own(g, (size_t)n * sizeof *p, e)) == NULL)
		return NULL;
	qkv_to_f32(p, t->data, t->dtype, (size_t)n);
	return p;
}

/* A matrix kept as stored (F32/F16/BF16); F32 data that is not 4-byte
 * aligned (BLAS wants float pointers) and F64 are copied as f32. */
static int
mat(gpt2 *g, qkv_model *m, const char *name, int rows, int cols,
    nn_weight *w, qkv_err *e)
{
	const qkv_tensor *t = find(m, name);

	if (check(t, name, rows, cols, e) < 0)
		return -1;
	w->rows = rows;
	w->cols = cols;
	w->dtype = t->dtype;
	w->data = t->data;
	if (t->dtype == QKV_F64 ||
	    (t->dtype == QKV_F32 && ((uintptr_t)t->data & 3) != 0)) {
		float *p = own(g, (size_t)rows * cols * sizeof *p, e);
		if (p == NULL)
			return -1;
		qkv_to_f32(p, t->data, t->dtype, (size_t)rows * cols);
		w->dtype = QKV_F32;
		w->data = p;
	}
	return 0;
}

static int
jint(json_t *root, const char *key, int dflt, int *v, qkv_err *e)
{
	json_t *j = json_object_get(root, key);

	if (j == NULL || json_is_null(j)) {
		*v = dflt;
		return 0;
	}
	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    json_integer_value(j) > (1 << 24))
		return qkv_errf(e, "config.json: '%s' is not a count", key);
	*v = (int)json_integer_value(j);
	return 0;
}

/* The shape must make sense before anything is sized by it. */
static int
check_config(const gpt2_config *c, qkv_err *e)
{
	if (c->n_vocab < 1 || c->n_ctx < 1 || c->n_embd < 1 || c->n_layer < 1 ||
	    c->n_head < 1 || c->n_inner < 1 || c->n_embd % c->n_head != 0 ||
	    c->n_embd > (1 << 16) || c->n_inner > (1 << 18) ||
	    c->n_layer > 4096 || c->n_ctx > (1 << 20))
		return qkv_errf(e, "config.json: impossible shape (n_embd %d, "
		    "n_head %d, n_inner %d, n_layer %d, n_positions %d)",
		    c->n_embd, c->n_head, c->n_inner, c->n_layer, c->n_ctx);
	return 0;
}

int
gpt2_parse_config(gpt2_config *c, const char *text, size_t len, qkv_err *e)
{
	json_error_t je;
	json_t *root, *j;
	int rc = -1, npos;

	if ((root = json_loadb(text, len, 0, &je)) == NULL)
		return qkv_errf(e, "config.json: line %d: %s", je.line, je.text);
	if (!json_is_object(root)) {
		qkv_errf(e, "config.json: not a JSON object");
		goto out;
	}
	j = json_object_get(root, "model_type");
	if (json_is_string(j) && strcmp(json_string_value(j), "gpt2") != 0) {
		qkv_errf(e, "config.json: model_type '%s', not gpt2",
		    json_string_value(j));
		goto out;
	}
	if (jint(root, "vocab_size", 50257, &c->n_vocab, e) < 0 ||
	    jint(root, "n_ctx", 1024, &npos, e) < 0 ||
	    jint(root, "n_positions", npos, &c->n_ctx, e) < 0 ||
	    jint(root, "n_embd", 768, &c->n_embd, e) < 0 ||
	    jint(root, "n_layer", 12, &c->n_layer, e) < 0 ||
	    jint(root, "n_head", 12, &c->n_head, e) < 0 ||
	    jint(root, "n_inner", 4 * c->n_embd, &c->n_inner, e) < 0)
		goto out;
	j = json_object_get(root, "eos_token_id");
	c->eos = json_is_integer(j) ? (int)json_integer_value(j) :
	    (j == NULL ? 50256 : -1);
	j = json_object_get(root, "layer_norm_epsilon");
	c->eps = json_is_number(j) ? (float)json_number_value(j) : 1e-5f;
	j = json_object_get(root, "activation_function");
	const char *act = json_is_string(j) ? json_string_value(j) : "gelu_new";
	if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") ==
	    0 || strcmp(act, "gelu_fast") == 0)
		c->act = GPT2_GELU_TANH;
	else if (strcmp(act, "gelu") == 0)
		c->act = GPT2_GELU_ERF;
	else if (strcmp(act, "relu") == 0)
		c->act = GPT2_RELU;
	else {
		qkv_errf(e, "config.json: activation_function '%s' is not "
		    "supported", act);
		goto out;
	}
	j = json_object_get(root, "scale_attn_weights");
	c->scale_attn = j == NULL || json_is_true(j);
	j = json_object_get(root, "tie_word_embeddings");
	c->tied = j == NULL || json_is_true(j);
	j = json_object_get(root, "scale_attn_by_inverse_layer_idx");
	c->scale_by_layer = json_is_true(j);
	c->dtype = QKV_NONE;
	rc = check_config(c, e);
out:
	json_decref(root);
	return rc;
}

/* No config.json (a lone safetensors file): the shape from the tensors. */
static int
infer_config(gpt2_config *c, qkv_model *m, qkv_err *e)
{
	const qkv_tensor *wte = find(m, "wte.weight"), *wpe = find(m,
	    "wpe.weight"), *fc = find(m, "h.0.mlp.c_fc.weight");
	char name[64];

	if (wte == NULL || wpe == NULL || fc == NULL || wte->ndim != 2 ||
	    wpe->ndim != 2 || fc->ndim != 2)
		return qkv_errf(e, "no config.json, and the tensors are not "
		    "a GPT-2's");
	c->n_vocab = (int)wte->shape[0];
	c->n_embd = (int)wte->shape[1];
	c->n_ctx = (int)wpe->shape[0];
	c->n_inner = (int)fc->shape[1];
	c->n_head = c->n_embd / HEAD_DIM_GUESS;
	for (c->n_layer = 0; c->n_layer < 1000; c->n_layer++) {
		snprintf(name, sizeof name, "h.%d.ln_1.weight", c->n_layer);
		if (find(m, name) == NULL)
			break;
	}
	c->eps = 1e-5f;
	c->eos = c->n_vocab == 50257 ? 50256 : -1;
	c->act = GPT2_GELU_TANH;
	c->scale_attn = 1;
	c->scale_by_layer = 0;
	c->tied = find(m, "lm_head.weight") == NULL;
	return 0;
}

static int
load_layer(gpt2 *g, qkv_model *m, int l, qkv_err *e)
{
	struct layer *L = &g->layer[l];
	int C = g->cfg.n_embd, I = g->cfg.n_inner;
	char n[20][96];
	const char *part[] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight",
	    "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
	    "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
	    "mlp.c_proj.weight", "mlp.c_proj.bias"};

	for (int i = 0; i < 12; i++)
		snprintf(n[i], sizeof n[i], "h.%d.%s", l, part[i]);
	if ((L->ln1_w = vec(g, m, n[0], C, e)) == NULL ||
	    (L->ln1_b = vec(g, m, n[1], C, e)) == NULL ||
	    mat(g, m, n[2], C, 3 * C, &L->attn_w, e) < 0 ||
	    (L->attn_b = vec(g, m, n[3], 3 * C, e)) == NULL ||
	    mat(g, m, n[4], C, C, &L->proj_w, e) < 0 ||
	    (L->proj_b = vec(g, m, n[5], C, e)) == NULL ||
	    (L->ln2_w = vec(g, m, n[6], C, e)) == NULL ||
	    (L->ln2_b = vec(g, m, n[7], C, e)) == NULL ||
	    mat(g, m, n[8], C, I, &L->fc_w, e) < 0 ||
	    (L->fc_b = vec(g, m, n[9], I, e)) == NULL ||
	    mat(g, m, n[10], I, C, &L->fcproj_w, e) < 0 ||
	    (L->fcproj_b = vec(g, m, n[11], C, e)) == NULL)
		return -1;
	return 0;
}

/* Map every page of a mapped weight now, in one call, rather than by a
 * fault per page in the first forward pass (which would be billed to the
 * first prompt).  Older kernels say EINVAL: the faults then happen. */
static void
populate_range(const void *p, size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);

	if (pg > 0 && n > 0)
		(void)madvise((void *)a, (uintptr_t)p + n - a, MADV_POPULATE_READ);
}

static void
populate(const gpt2 *g)
{
	const nn_weight *w[] = {&g->wte, &g->wpe, &g->head};

	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		populate_range(w[i]->data, (size_t)w[i]->rows * w[i]->cols *
		    qkv_dtype_size(w[i]->dtype));
	for (int l = 0; l < g->cfg.n_layer; l++) {
		const nn_weight *lw[] = {&g->layer[l].attn_w, &g->layer[l].proj_w,
		    &g->layer[l].fc_w, &g->layer[l].fcproj_w};
		for (size_t i = 0; i < 4; i++)
			populate_range(lw[i]->data, (size_t)lw[i]->rows *
			    lw[i]->cols * qkv_dtype_size(lw[i]->dtype));
	}
}

gpt2 *
gpt2_open(qkv_model *m, qkv_err *e)
{
	gpt2 *g;
	gpt2_config *c;
	const char *cfg;
	size_t len;

	if ((g = qkv_calloc(1, sizeof *g, e)) == NULL)
		return NULL;
	c = &g->cfg;
	cfg = qkv_model_file(m, "config.json", &len);
	if ((cfg ? gpt2_parse_config(c, cfg, len, e) : infer_config(c, m, e)) <
	    0 || check_config(c, e) < 0)
		goto fail;
	if (c->eos >= c->n_vocab)
		c->eos = -1;
	if ((g->layer = qkv_calloc((size_t)c->n_layer, sizeof *g->layer,
	    e)) == NULL)
		goto fail;
	if (mat(g, m, "wte.weight", c->n_vocab, c->n_embd, &g->wte, e) < 0 ||
	    mat(g, m, "wpe.weight", c->n_ctx, c->n_embd, &g->wpe, e) < 0 ||
	    (g->lnf_w = vec(g, m, "ln_f.weight", c->n_embd, e)) == NULL ||
	    (g->lnf_b = vec(g, m, "ln_f.bias", c->n_embd, e)) == NULL)
		goto fail;
	for (int l = 0; l < c->n_layer; l++)
		if (load_layer(g, m, l, e) < 0)
			goto fail;
	/* lm_head is wte (a copy in the file changes nothing) unless the
	 * config unties them */
	g->head = g->wte;
	if (!c->tied && mat(g, m, "lm_head.weight", c->n_vocab, c->n_embd,
	    &g->head, e) < 0)
		goto fail;
	c->dtype = g->layer[0].attn_w.dtype;
	populate(g);
	return g;
fail:
	qkv_errprefix(e, qkv_model_path(m));
	gpt2_close(g);
	return NULL;
}

/* -- State ---------------------------------------------------------------- */

void
gpt2_state_free(gpt2_state *s)
{
	if (s == NULL)
		return;
	free(s->kc);
	free(s->vc);
	free(s->x);
	free(s->h);
	free(s->qkv);
	free(s->ao);
	free(s->fc);
	free(s->att);
	free(s->lbuf);
	free(s);
}

static float *
fbuf(size_t a, size_t b, size_t c, qkv_err *e)
{
	size_t n;

	if (qkv_mul_size(a, b, &n) < 0 || qkv_mul_size(n, c, &n) < 0 ||
	    qkv_mul_size(n, sizeof(float), &n) < 0)
		return qkv_errf(e, "buffer size overflows"), NULL;
	return qkv_calloc(1, n, e);
}

gpt2_state *
gpt2_state_new(const gpt2 *g, int chunk, qkv_err *e)
{
	const gpt2_config *c = &g->cfg;
	gpt2_state *s;
	size_t C = (size_t)c->n_embd;

	if ((s = qkv_calloc(1, sizeof *s, e)) == NULL)
		return NULL;
	if (chunk < 1 || chunk > c->n_ctx)
		chunk = c->n_ctx < 256 ? c->n_ctx : 256;
	s->g = g;
	s->chunk = chunk;
	/* calloc: pages of the cache are touched only as it fills */
	if ((s->kc = fbuf((size_t)c->n_layer, (size_t)c->n_ctx, C, e)) == NULL ||
	    (s->vc = fbuf((size_t)c->n_layer, (size_t)c->n_ctx, C, e)) == NULL ||
	    (s->x = fbuf((size_t)chunk, C, 1, e)) == NULL ||
	    (s->h = fbuf((size_t)chunk, C, 1, e)) == NULL ||
	    (s->qkv = fbuf((size_t)chunk, 3 * C, 1, e)) == NULL ||
	    (s->ao = fbuf((size_t)chunk, C, 1, e)) == NULL ||
	    (s->fc = fbuf((size_t)chunk, (size_t)c->n_inner, 1, e)) == NULL ||
	    (s->att = fbuf((size_t)c->n_head, (size_t)chunk,
	    (size_t)c->n_ctx, e)) == NULL) {
		gpt2_state_free(s);
		return NULL;
	}
	return s;
}

void
gpt2_state_reset(gpt2_state *s)
{
	s->len = 0;
}

int
gpt2_state_len(const gpt2_state *s)
{
	return s->len;
}

/* -- Forward -------------------------------------------------------------- */

/* x (T,C) = wte[ids] + wpe[past..past+T-1] */
static void
embed(const gpt2 *g, float *x, float *tmp, const int32_t *ids, int T,
    int past)
{
	size_t C = (size_t)g->cfg.n_embd;
	size_t ew = qkv_dtype_size(g->wte.dtype), ep = qkv_dtype_size(
	    g->wpe.dtype);

	for (int t = 0; t < T; t++) {
		float *row = x + (size_t)t * C;
		nn_widen(row, (const char *)g->wte.data + (size_t)ids[t] * C * ew,
		    g->wte.dtype, C);
		nn_widen(tmp, (const char *)g->wpe.data + (size_t)(past + t) *
		    C * ep, g->wpe.dtype, C);
		nn_add(row, tmp, C);
	}
}

static int
nn_act(int act)
{
	return act == GPT2_GELU_TANH ? NN_ACT_GELU_TANH : act == GPT2_GELU_ERF ?
	    NN_ACT_GELU_ERF : NN_ACT_RELU;
}

/*
 * One block over T new rows at positions past..past+T-1.
 * x (T,C) is the residual stream and h (T,C) holds ln_1(x) on entry; on
 * return h holds the MLP's output, which the caller adds to x together
 * with the next LayerNorm (nn_add_layernorm, over the workers).
 * kc, vc (n_ctx,C) are this layer's cache.
 */
static void
block(gpt2_state *s, int l, int T)
{
	const gpt2 *g = s->g;
	const gpt2_config *c = &g->cfg;
	const struct layer *L = &g->layer[l];
	int C = c->n_embd, past = s->len, hd = C / c->n_head;
	float *kc = s->kc + (size_t)l * c->n_ctx * C;
	float *vc = s->vc + (size_t)l * c->n_ctx * C;
	float scale = 1.0f;

	if (c->scale_attn)
		scale /= sqrtf((float)hd);
	if (c->scale_by_layer)
		scale /= (float)(l + 1);
	nn_matmul(s->qkv, s->h, &L->attn_w, 0, L->attn_b, T, C, 3 * C);
	for (int t = 0; t < T; t++) {
		const float *r = s->qkv + (size_t)t * 3 * C;
		memcpy(kc + (size_t)(past + t) * C, r + C, (size_t)C * 4);
		memcpy(vc + (size_t)(past + t) * C, r + 2 * C, (size_t)C * 4);
	}
	nn_attention_causal(s->ao, s->qkv, 3 * C, kc, vc, C, s->att, T, past,
	    c->n_head, hd, scale);
	nn_matmul(s->h, s->ao, &L->proj_w, 0, L->proj_b, T, C, C);
	nn_add_layernorm(s->x, s->h, s->h, L->ln2_w, L->ln2_b, T, C, c->eps);
	nn_matmul_act(s->fc, s->h, &L->fc_w, 0, L->fc_b, T, C, c->n_inner,
	    nn_act(c->act));
	nn_matmul(s->h, s->fc, &L->fcproj_w, 0, L->fcproj_b, T, c->n_inner, C);
}

/* T <= chunk new tokens; logits (T,V) if all, else (V) of the last. */
static void
forward_chunk(gpt2_state *s, const int32_t *ids, int T, float *logits,
    int all)
{
	const gpt2 *g = s->g;
	int C = g->cfg.n_embd, V = g->cfg.n_vocab;

	embed(g, s->x, s->ao, ids, T, s->len);
	nn_add_layernorm(s->x, NULL, s->h, g->layer[0].ln1_w,
	    g->layer[0].ln1_b, T, C, g->cfg.eps);
	for (int l = 0; l < g->cfg.n_layer; l++) {
		int last = l + 1 == g->cfg.n_layer;
		block(s, l, T);
		/* x += mlp; h = the next block's ln_1(x), or ln_f(x) */
		nn_add_layernorm(s->x, s->h, s->h, last ? g->lnf_w :
		    g->layer[l + 1].ln1_w, last ? g->lnf_b :
		    g->layer[l + 1].ln1_b, T, C, g->cfg.eps);
	}
	s->len += T;
	if (logits == NULL)
		return;
	if (all)
		nn_matmul(logits, s->h, &g->head, 1, NULL, T, C, V);
	else
		nn_matmul(logits, s->h + (size_t)(T - 1) * C, &g->head, 1,
		    NULL, 1, C, V);
}

static int
check_ids(const gpt2_state *s, const int32_t *ids, int T, qkv_err *e)
{
	const gpt2_config *c = &s->g->cfg;

	if (T < 1)
		return qkv_errf(e, "no tokens");
	if (T > c->n_ctx - s->len)
		return qkv_errf(e, "%d tokens exceed the context of %d "
		    "positions", s->len + T, c->n_ctx);
	for (int t = 0; t < T; t++)
		if (ids[t] < 0 || ids[t] >= c->n_vocab)
			return qkv_errf(e, "token %d: id %ld is outside the "
			    "vocabulary (0..%d)", t + 1, (long)ids[t],
			    c->n_vocab - 1);
	return 0;
}

int
gpt2_forward(gpt2_state *s, const int32_t *ids, int T, float *logits,
    int all, qkv_err *e)
{
	size_t V = (size_t)s->g->cfg.n_vocab;

	if (check_ids(s, ids, T, e) < 0)
		return -1;
	for (int t0 = 0; t0 < T; t0 += s->chunk) {
		int n = T - t0 < s->chunk ? T - t0 : s->chunk;
		int last = t0 + n == T;
		if (all)
			forward_chunk(s, ids + t0, n, logits ? logits +
			    (size_t)t0 * V : NULL, 1);
		else
			forward_chunk(s, ids + t0, n, last ? logits : NULL, 0);
	}
	return 0;
}

/* log softmax(row)[id], summed in double */
static double
logprob(const float *row, int V, int id)
{
	float mx = row[0];
	double sum = 0;

	for (int v = 1; v < V; v++)
		if (row[v] > mx)
			mx = row[v];
	for (int v = 0; v < V; v++)
		sum += exp((double)row[v] - mx);
	return (double)row[id] - mx - log(sum);
}

int
gpt2_score(gpt2_state *s, const int32_t *ids, int T, double *lp, qkv_err *e)
{
	int V = s->g->cfg.n_vocab;

	gpt2_state_reset(s);
	if (check_ids(s, ids, T, e) < 0)
		return -1;
	if (s->lbuf == NULL &&
	    (s->lbuf = fbuf((size_t)s->chunk, (size_t)V, 1, e)) == NULL)
		return -1;
	for (int t0 = 0; t0 < T - 1; t0 += s->chunk) {
		/* positions t0..t0+n-1 predict tokens t0+1..t0+n */
		int n = T - 1 - t0 < s->chunk ? T - 1 - t0 : s->chunk;
		forward_chunk(s, ids + t0, n, s->lbuf, 1);
		for (int i = 0; i < n; i++)
			lp[t0 + i] = logprob(s->lbuf + (size_t)i * V, V,
			    ids[t0 + i + 1]);
	}
	return 0;
}
