/*
 * bert.c - BERT-family encoders: loading every name layout people download
 * (Hugging Face BertModel / BertForPreTraining with or without the "bert."
 * prefix, legacy LayerNorm gamma/beta, sentence-transformers), the encoder,
 * the pooler and the pooling modes.
 *
 * Shapes: B sequences packed one after another, N tokens in all, H hidden,
 * NH heads of D = H / NH features, I intermediate.  A batch is never
 * padded: the projections and the feed-forward network treat the N packed
 * tokens as one (N,H) matrix, and attention runs per sequence and head on
 * that sequence's own length.  This computes exactly what the reference
 * computes for the real tokens of a right-padded batch (padded keys get
 * weight exp(finfo.min) = 0 there), and no padded token costs anything, so
 * no sorting into length buckets is needed.
 *
 * Work is done in chunks of whole sequences of at most CHUNK tokens, all
 * layers on one chunk before the next, so the activations take a few MB
 * whatever the batch size, while each sgemm still has hundreds of rows.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qkv.h"

#define CHUNK 1024		/* tokens per chunk (or the longest sequence) */
#define MAX_DIM (1 << 16)	/* hidden, intermediate, heads: sanity bound */
#define MAX_VOCAB (1 << 24)

struct bert_layer {
	float *wqkv, *bqkv;		/* (3H,H), (3H): query, key, value */
	const float *wo, *bo, *ln1w, *ln1b;		/* attention output */
	const float *w1, *b1, *w2, *b2;		/* (I,H) (I) (H,I) (H) */
	const float *ln2w, *ln2b;
};

/* A weight converted to f32 (owned) or used in place (F32, aligned). */
struct bert_wt {
	const qkv_tensor *t;
	float *owned;
	const float *f;
};

struct bert {
	qkv_model *m;		/* the model the tensors come from */
	qkv_model *sub;		/* sentence-transformers Transformer path */
	char *prefix;		/* "bert.", "" ... */
	bert_config c;
	const float *wemb, *pemb, *temb, *embw, *embb;
	struct bert_layer *layer;
	const float *poolw, *poolb;	/* NULL when the model has no pooler */
	struct bert_wt *wt;
	int nwt;
	/* workspace for one chunk of at most cap tokens */
	int cap;
	float *qkv, *ctx, *tmp, *ffn;	/* (cap,3H) (cap,H) (cap,H) (cap,I) */
	size_t *off;			/* (cap+1) first row of each sequence */
};

static const char *
model_name(const bert *b)
{
	return qkv_model_path(b->m);
}

const bert_config *
bert_cfg(const bert *b)
{
	return &b->c;
}

qkv_model *
bert_model(bert *b)
{
	return b->sub != NULL ? b->sub : b->m;
}

void
bert_free(bert *b)
{
	if (b == NULL)
		return;
	for (int i = 0; i < b->nwt; i++)
		free(b->wt[i].owned);
	free(b->wt);
	for (int l = 0; b->layer != NULL && l < b->c.layers; l++) {
		free(b->layer[l].wqkv);
		free(b->layer[l].bqkv);
	}
	free(b->layer);
	free(b->prefix);
	free(b->qkv);
	free(b->off);
	qkv_model_close(b->sub);
	free(b);
}

/* ---- config --------------------------------------------------------------- */

static int
cfg_int(json_t *root, const char *key, int def, long lo, long hi, int *v,
    const char *file, qkv_err *e)
{
	json_t *j = json_object_get(root, key);

	if (j == NULL || json_is_null(j)) {
		if (def < 0)
			return qkv_errf(e, "%s: no \"%s\"", file, key);
		*v = def;
		return 0;
	}
	if (!json_is_integer(j) || json_integer_value(j) < lo ||
	    json_integer_value(j) > hi)
		return qkv_errf(e, "%s: \"%s\" must be an integer from %ld to %ld",
		    file, key, lo, hi);
	*v = (int)json_integer_value(j);
	return 0;
}

/* The architecture must be BERT: model_type "bert" and every listed
 * architecture a Bert* class (BertModel, BertForPreTraining,
 * BertForMaskedLM, ...); others (RoBERTa's position offset, GPT-2's
 * decoder) would load and compute the wrong thing. */
static int
check_arch(json_t *root, const char *file, qkv_err *e)
{
	json_t *mt = json_object_get(root, "model_type");
	json_t *arch = json_object_get(root, "architectures");
	const char *type = json_string_value(mt);
	size_t i;
	json_t *a;

	if (mt != NULL && (type == NULL || strcmp(type, "bert") != 0))
		return qkv_errf(e, "%s: model_type \"%s\" is not a BERT model "
		    "(embed supports model_type \"bert\")", file,
		    type ? type : "?");
	if (arch != NULL && !json_is_array(arch))
		return qkv_errf(e, "%s: \"architectures\" is not a list", file);
	json_array_foreach(arch, i, a) {
		const char *s = json_string_value(a);
		if (s == NULL || strncmp(s, "Bert", 4) != 0)
			return qkv_errf(e, "%s: architecture \"%s\" is not a BERT "
			    "model (BertModel, BertForPreTraining, ...)", file,
			    s ? s : "?");
	}
	if (mt == NULL && arch == NULL)
		return qkv_errf(e, "%s: neither model_type nor architectures: "
		    "cannot tell that this is a BERT model", file);
	return 0;
}

int
bert_config_parse(bert_config *c, const char *text, const char *file,
    qkv_err *e)
{
	json_error_t je;
	json_t *root, *j;
	int rc = -1;

	if ((root = json_loads(text, 0, &je)) == NULL)
		return qkv_errf(e, "%s: line %d: %s", file, je.line, je.text);
	if (!json_is_object(root)) {
		qkv_errf(e, "%s: not a JSON object", file);
		goto out;
	}
	if (check_arch(root, file, e) < 0 ||
	    cfg_int(root, "vocab_size", -1, 1, MAX_VOCAB, &c->vocab, file, e) ||
	    cfg_int(root, "hidden_size", -1, 1, MAX_DIM, &c->hidden, file, e) ||
	    cfg_int(root, "num_hidden_layers", -1, 0, 1024, &c->layers, file,
	    e) ||
	    cfg_int(root, "num_attention_heads", -1, 1, MAX_DIM, &c->heads,
	    file, e) ||
	    cfg_int(root, "intermediate_size", -1, 1, 4 * MAX_DIM,
	    &c->intermediate, file, e) ||
	    cfg_int(root, "max_position_embeddings", -1, 1, 1 << 20,
	    &c->max_positions, file, e) ||
	    cfg_int(root, "type_vocab_size", 2, 1, 1 << 16, &c->type_vocab,
	    file, e) ||
	    cfg_int(root, "pad_token_id", 0, 0, MAX_VOCAB, &c->pad_id, file, e))
		goto out;
	if (c->hidden % c->heads != 0) {
		qkv_errf(e, "%s: hidden_size %d is not a multiple of "
		    "num_attention_heads %d", file, c->hidden, c->heads);
		goto out;
	}
	c->eps = 1e-12f;
	if ((j = json_object_get(root, "layer_norm_eps")) != NULL) {
		if (!json_is_number(j) || json_number_value(j) < 0 ||
		    json_number_value(j) > 1) {
			qkv_errf(e, "%s: bad \"layer_norm_eps\"", file);
			goto out;
		}
		c->eps = (float)json_number_value(j);
	}
	c->act = BERT_GELU;
	if ((j = json_object_get(root, "hidden_act")) != NULL) {
		const char *s = json_string_value(j);
		if (s != NULL && strcmp(s, "gelu") == 0)
			c->act = BERT_GELU;
		else if (s != NULL && (strcmp(s, "gelu_new") == 0 ||
		    strcmp(s, "gelu_pytorch_tanh") == 0))
			c->act = BERT_GELU_TANH;
		else if (s != NULL && strcmp(s, "relu") == 0)
			c->act = BERT_RELU;
		else {
			qkv_errf(e, "%s: hidden_act \"%s\" is not supported "
			    "(gelu, gelu_new, gelu_pytorch_tanh, relu)", file,
			    s ? s : "?");
			goto out;
		}
	}
	if ((j = json_object_get(root, "position_embedding_type")) != NULL &&
	    (!json_is_string(j) || strcmp(json_string_value(j),
	    "absolute") != 0)) {
		qkv_errf(e, "%s: position_embedding_type \"%s\" is not "
		    "supported (absolute)", file,
		    json_is_string(j) ? json_string_value(j) : "?");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- weights -------------------------------------------------------------- */

/* The tensor for a canonical name: with the model's prefix or without it
 * (heads such as "cls.predictions.bias" sit outside "bert."), and
 * LayerNorm.gamma/.beta for LayerNorm.weight/.bias. */
static const qkv_tensor *
find_tensor(const bert *b, const char *name)
{
	const qkv_model *m = b->sub != NULL ? b->sub : b->m;
	char buf[512], alt[512];
	const qkv_tensor *t;
	size_t n = strlen(name);

	snprintf(alt, sizeof alt, "%s", name);
	if (n > 16 && strcmp(name + n - 16, "LayerNorm.weight") == 0)
		snprintf(alt + n - 6, sizeof alt - n + 6, "gamma");
	else if (n > 14 && strcmp(name + n - 14, "LayerNorm.bias") == 0)
		snprintf(alt + n - 4, sizeof alt - n + 4, "beta");
	for (int pass = 0; pass < 2; pass++) {
		const char *nm = pass ? alt : name;
		snprintf(buf, sizeof buf, "%s%s", b->prefix, nm);
		if ((t = qkv_model_tensor(m, buf)) != NULL)
			return t;
		if ((t = qkv_model_tensor(m, nm)) != NULL)
			return t;
	}
	return NULL;
}

static void
shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
	size_t o = 0;

	o += (size_t)snprintf(buf + o, len - o, "[");
	for (int i = 0; i < ndim && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "",
		    (long long)shape[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

/* Release the file pages a converted tensor was read from: the f32 copy
 * is what stays, so the mapping need not hold memory too.  MADV_PAGEOUT
 * reclaims without discarding: pages of a mapped file are read again if
 * needed, and memory that is not a file mapping keeps its contents. */
static void
drop_pages(const void *p, size_t n)
{
#ifdef MADV_PAGEOUT
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p, z = a + n;

	if (pg <= 0)
		return;
	a = (a + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
	z &= ~((uintptr_t)pg - 1);
	if (z > a)
		madvise((void *)a, z - a, MADV_PAGEOUT);
#else
	(void)p;
	(void)n;
#endif
}

/* A tensor as it is stored, checked against the shape it must have. */
static const qkv_tensor *
stored(bert *b, const char *name, int64_t rows, int64_t cols, qkv_err *e)
{
	const qkv_tensor *t = find_tensor(b, name);
	char s1[64], s2[64];
	int64_t want[2] = {rows, cols};
	int ndim = cols > 0 ? 2 : 1;

	if (t == NULL) {
		qkv_errf(e, "%s: missing tensor '%s%s'", model_name(b),
		    b->prefix, name);
		return NULL;
	}
	if (t->ndim != ndim || t->shape[0] != rows ||
	    (ndim == 2 && t->shape[1] != cols)) {
		shape_str(s1, sizeof s1, t->ndim, t->shape);
		shape_str(s2, sizeof s2, ndim, want);
		qkv_errf(e, "%s: tensor '%s' has shape %s, expected %s",
		    model_name(b), t->name, s1, s2);
		return NULL;
	}
	if (t->dtype != QKV_F32 && t->dtype != QKV_F16 &&
	    t->dtype != QKV_BF16 && t->dtype != QKV_F64) {
		qkv_errf(e, "%s: tensor '%s' has dtype %s, not a float type",
		    model_name(b), t->name, qkv_dtype_name(t->dtype));
		return NULL;
	}
	return t;
}

const float *
bert_weight(bert *b, const char *name, int64_t rows, int64_t cols, qkv_err *e)
{
	const qkv_tensor *t;
	struct bert_wt *w;

	if ((t = stored(b, name, rows, cols, e)) == NULL)
		return NULL;
	for (int i = 0; i < b->nwt; i++)
		if (b->wt[i].t == t)
			return b->wt[i].f;
	w = realloc(b->wt, (size_t)(b->nwt + 1) * sizeof *w);
	if (w == NULL) {
		qkv_errf(e, "out of memory");
		return NULL;
	}
	b->wt = w;
	w = &b->wt[b->nwt];
	memset(w, 0, sizeof *w);
	w->t = t;
	b->nwt++;
	if (t->dtype == QKV_F32 && ((uintptr_t)t->data & 3) == 0)
		w->f = t->data;
	else {
		size_t n = (size_t)qkv_tensor_numel(t);
		if ((w->owned = qkv_malloc(n * sizeof(float), e)) == NULL)
			return NULL;
		qkv_to_f32(w->owned, t->data, t->dtype, n);
		drop_pages(t->data, t->nbytes);
		w->f = w->owned;
	}
	return w->f;
}

/* The prefix is whatever precedes "embeddings.word_embeddings.weight":
 * "bert." (BertForPreTraining), "" (BertModel, sentence-transformers), or
 * another wrapper's name. */
static int
find_prefix(bert *b, qkv_err *e)
{
	const qkv_model *m = b->sub != NULL ? b->sub : b->m;
	static const char key[] = "embeddings.word_embeddings.weight";
	size_t k = sizeof key - 1;
	const char *best = NULL;
	size_t bestlen = 0;

	for (int i = 0; i < qkv_model_ntensors(m); i++) {
		const char *nm = qkv_model_tensor_at(m, i)->name;
		size_t n = strlen(nm);
		if (n < k || strcmp(nm + n - k, key) != 0)
			continue;
		if (n > k && nm[n - k - 1] != '.')
			continue;
		if (best == NULL || n - k < bestlen) {
			best = nm;
			bestlen = n - k;
		}
	}
	if (best == NULL)
		return qkv_errf(e, "%s: missing tensor '%s' (with or without a "
		    "prefix such as 'bert.'): not a BERT checkpoint",
		    qkv_model_path(m), key);
	if ((b->prefix = strndup(best, bestlen)) == NULL)
		return qkv_errf(e, "out of memory");
	return 0;
}

/*
 * Query, key and value as one (3H,H) matrix, so one product makes all
 * three: wider products run closer to the sgemm ceiling, and the input
 * is packed once instead of three times.  The stored tensors' pages are
 * released after the copy, so memory holds them once.
 */
static int
fuse_qkv(bert *b, int l, struct bert_layer *L, qkv_err *e)
{
	static const char *const part[] = {"query", "key", "value"};
	size_t H = (size_t)b->c.hidden;
	char nm[256];

	if ((L->wqkv = qkv_malloc(3 * H * H * sizeof(float), e)) == NULL ||
	    (L->bqkv = qkv_malloc(3 * H * sizeof(float), e)) == NULL)
		return -1;
	for (int i = 0; i < 3; i++) {
		const qkv_tensor *w, *bias;
		snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s."
		    "weight", l, part[i]);
		if ((w = stored(b, nm, (int64_t)H, (int64_t)H, e)) == NULL)
			return -1;
		snprintf(nm, sizeof nm, "encoder.layer.%d.attention.self.%s."
		    "bias", l, part[i]);
		if ((bias = stored(b, nm, (int64_t)H, 0, e)) == NULL)
			return -1;
		qkv_to_f32(L->wqkv + i * H * H, w->data, w->dtype, H * H);
		qkv_to_f32(L->bqkv + i * H, bias->data, bias->dtype, H);
		drop_pages(w->data, w->nbytes);
	}
	return 0;
}

static int
load_weights(bert *b, qkv_err *e)
{
	const bert_config *c = &b->c;
	int H = c->hidden, I = c->intermediate;
	char nm[256];

#define W(dst, name, r, cc) \
	if (((dst) = bert_weight(b, name, r, cc, e)) == NULL) return -1
	W(b->wemb, "embeddings.word_embeddings.weight", c->vocab, H);
	W(b->pemb, "embeddings.position_embeddings.weight", c->max_positions,
	    H);
	W(b->temb, "embeddings.token_type_embeddings.weight", c->type_vocab,
	    H);
	W(b->embw, "embeddings.LayerNorm.weight", H, 0);
	W(b->embb, "embeddings.LayerNorm.bias", H, 0);
	if ((b->layer = qkv_calloc((size_t)c->layers + 1, sizeof *b->layer,
	    e)) == NULL)
		return -1;
	for (int l = 0; l < c->layers; l++) {
		struct bert_layer *L = &b->layer[l];
#define LW(dst, name, r, cc) \
	snprintf(nm, sizeof nm, "encoder.layer.%d.%s", l, name); \
	W(dst, nm, r, cc)
		if (fuse_qkv(b, l, L, e) < 0)
			return -1;
		LW(L->wo, "attention.output.dense.weight", H, H);
		LW(L->bo, "attention.output.dense.bias", H, 0);
		LW(L->ln1w, "attention.output.LayerNorm.weight", H, 0);
		LW(L->ln1b, "attention.output.LayerNorm.bias", H, 0);
		LW(L->w1, "intermediate.dense.weight", I, H);
		LW(L->b1, "intermediate.dense.bias", I, 0);
		LW(L->w2, "output.dense.weight", H, I);
		LW(L->b2, "output.dense.bias", H, 0);
		LW(L->ln2w, "output.LayerNorm.weight", H, 0);
		LW(L->ln2b, "output.LayerNorm.bias", H, 0);
#undef LW
	}
#undef W
	/* The pooler is optional (some sentence-transformers checkpoints
	 * drop it); asking for pooled output then names what is missing. */
	if (find_tensor(b, "pooler.dense.weight") != NULL) {
		if ((b->poolw = bert_weight(b, "pooler.dense.weight", H, H,
		    e)) == NULL ||
		    (b->poolb = bert_weight(b, "pooler.dense.bias", H, 0,
		    e)) == NULL)
			return -1;
	}
	return 0;
}

/* sentence-transformers keeps the BERT in the Transformer module's path
 * (usually the root, "", but older exports use "0_Transformer"). */
static int
open_st_sub(bert *b, qkv_err *e)
{
	const char *mods = qkv_model_file(b->m, "modules.json", NULL);
	json_t *root, *mod;
	size_t i;
	int rc = 0;

	if (mods == NULL || qkv_model_ntensors(b->m) > 0)
		return 0;
	if ((root = json_loads(mods, 0, NULL)) == NULL)
		return qkv_errf(e, "%s: modules.json: invalid JSON",
		    model_name(b));
	json_array_foreach(root, i, mod) {
		const char *type = json_string_value(json_object_get(mod,
		    "type"));
		const char *path = json_string_value(json_object_get(mod,
		    "path"));
		char *p;
		if (type == NULL || path == NULL || *path == '\0' ||
		    strstr(type, "Transformer") == NULL)
			continue;
		if (strstr(path, "..") != NULL || path[0] == '/') {
			rc = qkv_errf(e, "%s: modules.json: bad path \"%s\"",
			    model_name(b), path);
			break;
		}
		if (asprintf(&p, "%s/%s", model_name(b), path) < 0) {
			rc = qkv_errf(e, "out of memory");
			break;
		}
		b->sub = qkv_model_open(p, e);
		free(p);
		rc = b->sub != NULL ? 0 : -1;
		break;
	}
	json_decref(root);
	return rc;
}

bert *
bert_load(qkv_model *m, qkv_err *e)
{
	const char *cfg;
	bert *b;

	if ((b = qkv_calloc(1, sizeof *b, e)) == NULL)
		return NULL;
	b->m = m;
	if (open_st_sub(b, e) < 0)
		goto fail;
	cfg = qkv_model_file(bert_model(b), "config.json", NULL);
	if (cfg == NULL) {
		qkv_errf(e, "%s: no config.json", qkv_model_path(bert_model(b)));
		goto fail;
	}
	if (bert_config_parse(&b->c, cfg, "config.json", e) < 0) {
		qkv_errprefix(e, qkv_model_path(bert_model(b)));
		goto fail;
	}
	if (qkv_model_ntensors(bert_model(b)) == 0) {
		qkv_errf(e, "%s: no weights (model.safetensors)",
		    qkv_model_path(bert_model(b)));
		goto fail;
	}
	if (find_prefix(b, e) < 0 || load_weights(b, e) < 0)
		goto fail;
	return b;
fail:
	bert_free(b);
	return NULL;
}

/* ---- the encoder ---------------------------------------------------------- */

/* Workspace for a chunk of up to cap tokens; allocated before the layer
 * loop, grown only here. */
static int
reserve(bert *b, int cap, qkv_err *e)
{
	size_t H = (size_t)b->c.hidden, I = (size_t)b->c.intermediate;
	float *p;

	if (cap <= b->cap)
		return 0;
	free(b->qkv);
	free(b->off);
	b->qkv = NULL;
	b->off = NULL;
	b->cap = 0;
	/* qkv (cap,3H), ctx and tmp (cap,H), ffn (cap,I) in one block */
	if ((p = qkv_malloc((size_t)cap * (5 * H + I) * sizeof *p, e)) == NULL)
		return -1;
	if ((b->off = qkv_malloc(((size_t)cap + 1) * sizeof *b->off,
	    e)) == NULL) {
		free(p);
		return -1;
	}
	b->qkv = p;
	b->ctx = p + (size_t)cap * 3 * H;
	b->tmp = p + (size_t)cap * 4 * H;
	b->ffn = p + (size_t)cap * 5 * H;
	b->cap = cap;
	return 0;
}

/*
 * Embeddings: out (N,H) = LN(word[id] + type[tt] + position[t]), with t
 * counting from 0 in each of the n sequences of len[] tokens.
 */
static void
bert_embed(const bert *b, float *out, const int32_t *ids,
    const int32_t *types, const int *len, int n)
{
	size_t H = (size_t)b->c.hidden;
	float *o = out;

	for (int s = 0; s < n; s++) {
		for (int t = 0; t < len[s]; t++, o += H) {
			const float *we = b->wemb + (size_t)*ids++ * H;
			const float *te = b->temb + (size_t)(types ? *types++ :
			    0) * H;
			const float *pe = b->pemb + (size_t)t * H;
			for (size_t j = 0; j < H; j++)
				o[j] = (we[j] + te[j]) + pe[j];
		}
	}
	nn_residual_layernorm(out, NULL, NULL, b->embw, b->embb,
	    (int)((size_t)(o - out) / H), (int)H, b->c.eps);
}

/* The config's activation as nn's */
static int
nn_act(const bert *b)
{
	return b->c.act == BERT_GELU ? NN_ACT_GELU_ERF :
	    b->c.act == BERT_GELU_TANH ? NN_ACT_GELU_TANH : NN_ACT_RELU;
}

/*
 * One post-LN layer on x (N,H) in place, n packed sequences of len[]
 * tokens starting at rows off[]:
 *   qkv = x Wqkv^T + bqkv;  ctx = attention per sequence and head;
 *   x = LN(x + ctx Wo^T + bo);  x = LN(x + act(x W1^T + b1) W2^T + b2).
 * Products are split by output columns among the nn workers; attention by
 * sequence and head; LayerNorm and activation by rows.
 */
static void
bert_layer_forward(bert *b, const struct bert_layer *L, float *x, int N,
    const int *len, int n)
{
	int H = b->c.hidden, I = b->c.intermediate, NH = b->c.heads;

	nn_linear_workers(b->qkv, x, L->wqkv, L->bqkv, N, H, 3 * H);
	nn_attention(b->ctx, H, b->qkv, b->qkv + H, b->qkv + 2 * H, 3 * H, len,
	    b->off, n, NH, H / NH, 1.0f / sqrtf((float)(H / NH)));
	nn_linear_workers(b->tmp, b->ctx, L->wo, NULL, N, H, H);
	nn_residual_layernorm(x, b->tmp, L->bo, L->ln1w, L->ln1b, N, H,
	    b->c.eps);
	nn_linear_act(b->ffn, x, L->w1, L->b1, N, H, I, nn_act(b));
	nn_linear_workers(b->tmp, b->ffn, L->w2, NULL, N, I, H);
	nn_residual_layernorm(x, b->tmp, L->b2, L->ln2w, L->ln2b, N, H,
	    b->c.eps);
}

int
bert_check_ids(const bert *b, const int32_t *ids, const int32_t *types,
    const int *len, int n, qkv_err *e)
{
	size_t o = 0;

	for (int s = 0; s < n; s++) {
		if (len[s] < 1 || len[s] > b->c.max_positions)
			return qkv_errf(e, "sequence %d has %d tokens; the model "
			    "takes 1 to %d", s + 1, len[s], b->c.max_positions);
		for (int t = 0; t < len[s]; t++, o++) {
			if (ids[o] < 0 || ids[o] >= b->c.vocab)
				return qkv_errf(e, "sequence %d, token %d: id %ld "
				    "is outside the vocabulary (0 to %d)", s + 1,
				    t + 1, (long)ids[o], b->c.vocab - 1);
			if (types != NULL && (types[o] < 0 ||
			    types[o] >= b->c.type_vocab))
				return qkv_errf(e, "sequence %d, token %d: token "
				    "type %ld is outside 0 to %d", s + 1, t + 1,
				    (long)types[o], b->c.type_vocab - 1);
		}
	}
	return 0;
}

int
bert_encode(bert *b, const int32_t *ids, const int32_t *types,
    const int *len, int n, float *hidden, qkv_err *e)
{
	size_t H = (size_t)b->c.hidden;
	int tmax = 0;

	if (bert_check_ids(b, ids, types, len, n, e) < 0)
		return -1;
	for (int s = 0; s < n; s++)
		tmax = len[s] > tmax ? len[s] : tmax;
	if (reserve(b, tmax > CHUNK ? tmax : CHUNK, e) < 0)
		return -1;
	for (int s0 = 0; s0 < n;) {
		/* a chunk: whole sequences s0..s1-1, at most cap tokens */
		int s1 = s0, N = 0;
		while (s1 < n && N + len[s1] <= b->cap) {
			b->off[s1 - s0] = (size_t)N;
			N += len[s1++];
		}
		bert_embed(b, hidden, ids, types, len + s0, s1 - s0);
		for (int l = 0; l < b->c.layers; l++)
			bert_layer_forward(b, &b->layer[l], hidden, N, len + s0,
			    s1 - s0);
		hidden += (size_t)N * H;
		ids += N;
		if (types != NULL)
			types += N;
		s0 = s1;
	}
	return 0;
}

/* ---- pooling -------------------------------------------------------------- */

/* pooled (n,H) = tanh(W h[CLS] + b), the [CLS] row being each sequence's
 * first; in blocks of the workspace's rows so any n fits. */
int
bert_pooler(bert *b, const float *hidden, const int *len, int n,
    float *pooled, qkv_err *e)
{
	size_t H = (size_t)b->c.hidden, off = 0;

	if (b->poolw == NULL)
		return qkv_errf(e, "%s: missing tensor '%spooler.dense.weight': "
		    "this model has no pooler", model_name(b), b->prefix);
	if (reserve(b, CHUNK, e) < 0)
		return -1;
	for (int s0 = 0; s0 < n; s0 += b->cap) {
		int m = n - s0 < b->cap ? n - s0 : b->cap;
		for (int s = 0; s < m; s++) {
			memcpy(b->tmp + (size_t)s * H, hidden + off * H,
			    H * sizeof *hidden);
			off += (size_t)len[s0 + s];
		}
		float *out = pooled + (size_t)s0 * H;
		nn_linear(out, b->tmp, b->poolw, b->poolb, m, (int)H, (int)H);
		for (size_t i = 0; i < (size_t)m * H; i++)
			out[i] = tanhf(out[i]);
	}
	return 0;
}

static const char *const pool_names[] = {
	[BERT_POOL_CLS] = "cls", [BERT_POOL_MEAN] = "mean",
	[BERT_POOL_MAX] = "max", [BERT_POOL_MEAN_SQRT] = "mean_sqrt_len",
	[BERT_POOL_WEIGHTED_MEAN] = "weightedmean",
	[BERT_POOL_LAST] = "lasttoken", [BERT_POOL_POOLER] = "pooler",
	[BERT_POOL_NONE] = "none",
};

int
bert_pool_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof pool_names / sizeof *pool_names); i++)
		if (strcmp(name, pool_names[i]) == 0)
			return i;
	return -1;
}

const char *
bert_pool_name(int mode)
{
	if (mode < 0 || mode >= (int)(sizeof pool_names / sizeof *pool_names))
		return "?";
	return pool_names[mode];
}

/*
 * One vector per sequence, out (n,H), from hidden (N,H) packed:
 *   cls: the first token; mean: sum / T; max: elementwise maximum;
 *   mean_sqrt_len: sum / sqrt(T); weightedmean: token t weighted t+1;
 *   lasttoken: the last token; pooler: bert_pooler.
 * Sums are in double, which is at least as close to the reference's as
 * its own float sum.
 */
int
bert_pool(bert *b, int mode, const float *hidden, const int *len, int n,
    float *out, qkv_err *e)
{
	size_t H = (size_t)b->c.hidden;
	double *acc;

	if (mode == BERT_POOL_POOLER)
		return bert_pooler(b, hidden, len, n, out, e);
	if (mode < 0 || mode == BERT_POOL_NONE || mode > BERT_POOL_NONE)
		return qkv_errf(e, "pooling mode %d gives no single vector",
		    mode);
	if ((acc = qkv_malloc(H * sizeof *acc, e)) == NULL)
		return -1;
	for (int s = 0; s < n; s++) {
		const float *h = hidden;
		float *o = out + (size_t)s * H;
		int T = len[s];
		double wsum = 0;

		hidden += (size_t)T * H;
		if (T <= 0) {
			memset(o, 0, H * sizeof *o);	/* nothing to pool */
			continue;
		}
		switch (mode) {
		case BERT_POOL_CLS:
			memcpy(o, h, H * sizeof *o);
			continue;
		case BERT_POOL_LAST:
			memcpy(o, h + (size_t)(T - 1) * H, H * sizeof *o);
			continue;
		case BERT_POOL_MAX:
			memcpy(o, h, H * sizeof *o);
			for (int t = 1; t < T; t++)
				for (size_t j = 0; j < H; j++)
					if (h[(size_t)t * H + j] > o[j])
						o[j] = h[(size_t)t * H + j];
			continue;
		}
		memset(acc, 0, H * sizeof *acc);
		for (int t = 0; t < T; t++) {
			double w = mode == BERT_POOL_WEIGHTED_MEAN ? t + 1 : 1;
			for (size_t j = 0; j < H; j++)
				acc[j] += w * h[(size_t)t * H + j];
			wsum += w;
		}
		if (mode == BERT_POOL_MEAN_SQRT)
			wsum = sqrt(wsum);
		for (size_t j = 0; j < H; j++)
			o[j] = (float)(acc[j] / wsum);
	}
	free(acc);
	return 0;
}

/* ---- sentence-transformers defaults --------------------------------------- */

static json_t *
load_json(qkv_model *m, const char *file, qkv_err *e)
{
	const char *text = qkv_model_file(m, file, NULL);
	json_error_t je;
	json_t *j;

	if (text == NULL) {
		qkv_errf(e, "%s: no %s", qkv_model_path(m), file);
		return NULL;
	}
	if ((j = json_loads(text, 0, &je)) == NULL)
		qkv_errf(e, "%s: %s: line %d: %s", qkv_model_path(m), file,
		    je.line, je.text);
	return j;
}

static int
st_pooling(qkv_model *m, const char *path, int *pool, qkv_err *e)
{
	static const struct {
		const char *key;
		int mode;
	} keys[] = {
		{"pooling_mode_cls_token", BERT_POOL_CLS},
		{"pooling_mode_mean_tokens", BERT_POOL_MEAN},
		{"pooling_mode_max_tokens", BERT_POOL_MAX},
		{"pooling_mode_mean_sqrt_len_tokens", BERT_POOL_MEAN_SQRT},
		{"pooling_mode_weightedmean_tokens", BERT_POOL_WEIGHTED_MEAN},
		{"pooling_mode_lasttoken", BERT_POOL_LAST},
	};
	char file[512];
	json_t *j;
	int found = -1, nset = 0;

	snprintf(file, sizeof file, "%s%sconfig.json", path, *path ? "/" : "");
	if ((j = load_json(m, file, e)) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (json_is_true(json_object_get(j, keys[i].key))) {
			found = keys[i].mode;
			nset++;
		}
	json_decref(j);
	if (nset != 1)
		return qkv_errf(e, "%s: %s: %s pooling modes are set; embed "
		    "takes exactly one (give -p to choose)", qkv_model_path(m),
		    file, nset ? "several" : "no");
	*pool = found;
	return 0;
}

/*
 * Defaults from the sentence-transformers files when modules.json is
 * present: the Pooling module's mode, Normalize, and the Transformer's
 * max_seq_length (sentence_bert_config.json).  Returns 1 if the model is a
 * sentence-transformers one, 0 if not (*pool = cls, no normalisation,
 * *maxlen = 0), -1 on error: a module embed cannot apply (Dense, ...)
 * is an error rather than a silently different vector.
 */
int
bert_st_defaults(qkv_model *m, int *pool, int *normalize, int *maxlen,
    qkv_err *e)
{
	json_t *root, *mod;
	size_t i;
	int rc = 1;

	*pool = BERT_POOL_CLS;
	*normalize = 0;
	*maxlen = 0;
	if (qkv_model_file(m, "modules.json", NULL) == NULL)
		return 0;
	if ((root = load_json(m, "modules.json", e)) == NULL)
		return -1;
	if (!json_is_array(root)) {
		json_decref(root);
		return qkv_errf(e, "%s: modules.json: not a list",
		    qkv_model_path(m));
	}
	json_array_foreach(root, i, mod) {
		const char *type = json_string_value(json_object_get(mod,
		    "type"));
		const char *path = json_string_value(json_object_get(mod,
		    "path"));
		const char *cls;
		if (type == NULL || path == NULL || strstr(path, "..") != NULL) {
			rc = qkv_errf(e, "%s: modules.json: module %zu has no "
			    "valid type and path", qkv_model_path(m), i);
			break;
		}
		cls = strrchr(type, '.') ? strrchr(type, '.') + 1 : type;
		if (strcmp(cls, "Transformer") == 0) {
			char file[512];
			const char *sb;
			snprintf(file, sizeof file, "%s%ssentence_bert_config.json",
			    path, *path ? "/" : "");
			if ((sb = qkv_model_file(m, file, NULL)) != NULL) {
				json_t *j = json_loads(sb, 0, NULL);
				json_t *v = json_object_get(j, "max_seq_length");
				if (json_is_integer(v) && json_integer_value(v) > 0 &&
				    json_integer_value(v) < (1 << 20))
					*maxlen = (int)json_integer_value(v);
				json_decref(j);
			}
		} else if (strcmp(cls, "Pooling") == 0) {
			if (st_pooling(m, path, pool, e) < 0) {
				rc = -1;
				break;
			}
		} else if (strcmp(cls, "Normalize") == 0)
			*normalize = 1;
		else {
			rc = qkv_errf(e, "%s: modules.json: module %s is not "
			    "supported", qkv_model_path(m), type);
			break;
		}
	}
	json_decref(root);
	return rc;
}
