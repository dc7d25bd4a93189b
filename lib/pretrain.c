/* pretrain.c - BERT pretraining data: next-sentence pairs and masked LM.
 *
 * The recipe is google-research/bert's create_pretraining_data.py, taken
 * apart so it can stream:
 *  - pairs of one document depend only on that document, the random-next
 *    document and a random stream; the stream is CPython's Mersenne Twister
 *    shared by everything in --google mode (the reference, draw for draw),
 *    or a keyed Philox stream per (seed, document, pass) otherwise, so a
 *    shard computes exactly what a whole run computes for its documents;
 *  - masking runs inline in --google mode (it consumes the shared stream
 *    between pairs) and as a separate stage keyed by each instance's key
 *    otherwise.
 * The same functions do both; only the generator behind them differs. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"
#include "ptint.h"

/* Purposes of keyed streams (low 4 bits; the pass or epoch above). */
enum { PURPOSE_NSP = 1, PURPOSE_MASK = 2 };

int
qkv_pt_grow(void *pp, size_t *cap, size_t need, size_t size, qkv_err *e)
{
	void **p = pp;
	size_t c = *cap ? *cap : 64, bytes;
	void *np;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 4)
			return qkv_errf(e, "out of memory");
		c *= 2;
	}
	if (qkv_mul_size(c, size, &bytes) < 0 ||
	    (np = realloc(*p, bytes)) == NULL)
		return qkv_errf(e, "out of memory (%zu elements)", c);
	*p = np;
	*cap = c;
	return 0;
}

/* ---- vocabulary ------------------------------------------------------ */

enum { TOK_CONT = 1, TOK_SPECIAL = 2 };

struct qkv_ptvocab {
	size_t n;
	int32_t cls, sep, mask, pad;
	uint8_t *flags;		/* TOK_* per id */
	/* The reference keeps vocab.txt in a dict: a token listed twice maps
	 * to its last id, and its list of words has each token once, where
	 * it was first seen.  canon[id] and words[] are that view. */
	int32_t *canon;
	int32_t *words;
	size_t nwords;
};

/* FNV-1a: tokens are short, and this runs once per vocabulary entry */
static uint32_t
tok_strhash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

qkv_ptvocab *
qkv_ptvocab_new(const char *const *tokens, size_t n, qkv_err *e)
{
	qkv_ptvocab *v;
	int32_t *slot = NULL, *first = NULL, *last = NULL;
	size_t cap = 64;

	if (n == 0 || n > INT32_MAX) {
		qkv_errf(e, "vocabulary of %zu tokens", n);
		return NULL;
	}
	while (cap < 2 * n)
		cap *= 2;
	if ((v = qkv_calloc(1, sizeof *v, e)) == NULL)
		return NULL;
	v->n = n;
	if ((v->flags = qkv_calloc(n, 1, e)) == NULL ||
	    (v->canon = qkv_calloc(n, sizeof *v->canon, e)) == NULL ||
	    (v->words = qkv_calloc(n, sizeof *v->words, e)) == NULL ||
	    (slot = qkv_malloc(cap * sizeof *slot, e)) == NULL ||
	    (first = qkv_calloc(n, sizeof *first, e)) == NULL ||
	    (last = qkv_calloc(n, sizeof *last, e)) == NULL)
		goto fail;
	/* a hash of the distinct tokens: first[id] is the first id of id's
	 * token, last[f] the last id of the token first seen at f (a sort
	 * of 30 000 strings took three quarters of mask's start-up) */
	memset(slot, 0xff, cap * sizeof *slot);
#define TOKEN(i) (tokens[i] ? tokens[i] : "")
	for (size_t i = 0; i < n; i++) {
		const char *t = TOKEN(i);
		size_t h = tok_strhash(t) & (cap - 1);
		while (slot[h] >= 0 && strcmp(TOKEN(slot[h]), t) != 0)
			h = (h + 1) & (cap - 1);
		if (slot[h] < 0)
			slot[h] = (int32_t)i;
		first[i] = slot[h];
		last[first[i]] = (int32_t)i;
		if (strncmp(t, "##", 2) == 0)
			v->flags[i] |= TOK_CONT;
	}
	/* canon = the token's last id; words ordered by first id */
	size_t nw = 0;
	for (size_t i = 0; i < n; i++) {
		v->canon[i] = last[first[i]];
		if (first[i] == (int32_t)i)
			v->words[nw++] = v->canon[i];
	}
	v->nwords = nw;

	v->cls = v->sep = v->mask = v->pad = -1;
	static const char *const names[4] = {"[CLS]", "[SEP]", "[MASK]", "[PAD]"};
	int32_t *slots[4] = {&v->cls, &v->sep, &v->mask, &v->pad};
	for (int k = 0; k < 4; k++) {
		size_t h = tok_strhash(names[k]) & (cap - 1);
		while (slot[h] >= 0 && strcmp(TOKEN(slot[h]), names[k]) != 0)
			h = (h + 1) & (cap - 1);
		if (slot[h] >= 0)
			*slots[k] = last[slot[h]];
	}
#undef TOKEN
	for (int k = 0; k < 3; k++)
		if (*slots[k] < 0) {
			qkv_errf(e, "the vocabulary has no %s token", names[k]);
			goto fail;
		}
	/* every id of a special token, duplicates included */
	for (size_t i = 0; i < n; i++) {
		int32_t c = v->canon[i];
		if (c == v->cls || c == v->sep || c == v->mask || c == v->pad)
			v->flags[i] |= TOK_SPECIAL;
	}
	free(slot);
	free(first);
	free(last);
	return v;
fail:
	free(slot);
	free(first);
	free(last);
	qkv_ptvocab_free(v);
	return NULL;
}

void
qkv_ptvocab_free(qkv_ptvocab *v)
{
	if (v == NULL)
		return;
	free(v->flags);
	free(v->canon);
	free(v->words);
	free(v);
}

qkv_ptvocab *
qkv_ptvocab_from_model(qkv_model *m, qkv_err *e)
{
	const char *text, *p, *end;
	const char **tok = NULL;
	char *copy = NULL;
	size_t len, n = 0, cap = 0;
	qkv_ptvocab *v = NULL;

	if ((text = qkv_model_file(m, "vocab.txt", &len)) == NULL) {
		qkv_errf(e, "%s: no vocab.txt (a WordPiece vocabulary is "
		    "needed)", qkv_model_path(m));
		return NULL;
	}
	/* one token a line, stripped as the reference strips it */
	if ((copy = qkv_malloc(len + 1, e)) == NULL)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (p = copy, end = copy + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p)), *t = (char *)p;
		char *te = nl ? nl : (char *)end;
		p = nl ? nl + 1 : end;
		while (te > t && (te[-1] == ' ' || te[-1] == '\t' ||
		    te[-1] == '\r'))
			te--;
		while (t < te && (*t == ' ' || *t == '\t'))
			t++;
		*te = '\0';
		if (qkv_pt_grow(&tok, &cap, n + 1, sizeof *tok, e) < 0)
			goto out;
		tok[n++] = t;
	}
	if (n == 0) {
		qkv_errf(e, "%s: empty vocab.txt", qkv_model_path(m));
		goto out;
	}
	if ((v = qkv_ptvocab_new(tok, n, e)) == NULL)
		qkv_errprefix(e, qkv_model_path(m));
out:
	free(tok);
	free(copy);
	return v;
}

size_t qkv_ptvocab_size(const qkv_ptvocab *v) { return v->n; }
int32_t qkv_ptvocab_cls(const qkv_ptvocab *v) { return v->cls; }
int32_t qkv_ptvocab_sep(const qkv_ptvocab *v) { return v->sep; }
int32_t qkv_ptvocab_mask(const qkv_ptvocab *v) { return v->mask; }

/* ---- options --------------------------------------------------------- */

void
qkv_ptopts_default(qkv_ptopts *o, int google)
{
	memset(o, 0, sizeof *o);
	o->max_seq_length = 128;
	o->short_seq_prob = 0.1;
	o->dupe = google ? 10 : 1;
	o->seed = 12345;
	o->masked_lm_prob = 0.15;
	o->max_predictions = 20;
}

#define MAX_SEQ (1 << 20)

int
qkv_ptopts_check(const qkv_ptopts *o, qkv_err *e)
{
	/* [CLS] A [SEP] B [SEP] with A, B non-empty, and the short target
	 * randint(2, L - 3), need L >= 5 */
	if (o->max_seq_length < 5 || o->max_seq_length > MAX_SEQ)
		return qkv_errf(e, "-l %d: the length must be in [5, %d]",
		    o->max_seq_length, MAX_SEQ);
	if (!(o->short_seq_prob >= 0 && o->short_seq_prob <= 1))
		return qkv_errf(e, "--short %g: not a probability",
		    o->short_seq_prob);
	if (!(o->masked_lm_prob >= 0 && o->masked_lm_prob <= 1))
		return qkv_errf(e, "--prob %g: not a probability",
		    o->masked_lm_prob);
	if (o->dupe < 1 || o->dupe > (1 << 20))
		return qkv_errf(e, "--dupe %d: must be in [1, %d]", o->dupe,
		    1 << 20);
	if (o->max_predictions < 0 || o->max_predictions > MAX_SEQ)
		return qkv_errf(e, "--max-pred %d: must be in [0, %d]",
		    o->max_predictions, MAX_SEQ);
	if ((uint64_t)o->epoch * (uint64_t)o->dupe + (uint64_t)o->dupe >
	    (1u << 28))
		return qkv_errf(e, "--epoch %u: too large", o->epoch);
	return 0;
}

int
qkv_ptopts_set(qkv_ptopts *o, const char *name, const char *arg, qkv_err *e)
{
	const char *flag = strlen(name) == 1 ? "-" : "--";
	long v;
	double d;
	int rc = 0;

	if (strcmp(name, "wwm") == 0) {
		o->whole_word = 1;
		return 0;
	}
	if (strcmp(name, "l") == 0) {
		if ((rc = qkv_parse_long(arg, 5, MAX_SEQ, &v, e)) == 0)
			o->max_seq_length = (int)v;
	} else if (strcmp(name, "s") == 0) {
		if ((rc = qkv_parse_long(arg, 0, LONG_MAX, &v, e)) == 0)
			o->seed = (uint64_t)v;
	} else if (strcmp(name, "dupe") == 0) {
		if ((rc = qkv_parse_long(arg, 1, 1 << 20, &v, e)) == 0)
			o->dupe = (int)v;
	} else if (strcmp(name, "epoch") == 0) {
		if ((rc = qkv_parse_long(arg, 0, 1 << 24, &v, e)) == 0)
			o->epoch = (uint32_t)v;
	} else if (strcmp(name, "max-pred") == 0) {
		if ((rc = qkv_parse_long(arg, 0, MAX_SEQ, &v, e)) == 0)
			o->max_predictions = (int)v;
	} else if (strcmp(name, "short") == 0) {
		if ((rc = qkv_parse_double(arg, 0, 1, &d, e)) == 0)
			o->short_seq_prob = d;
	} else if (strcmp(name, "prob") == 0) {
		if ((rc = qkv_parse_double(arg, 0, 1, &d, e)) == 0)
			o->masked_lm_prob = d;
	} else
		return -2;
	if (rc < 0) {
		char pre[32];
		snprintf(pre, sizeof pre, "%s%s", flag, name);
		return qkv_errprefix(e, pre);
	}
	return 0;
}

/* ---- the generator behind the recipe --------------------------------- */

/* Either CPython's MT (the reference's draws) or a keyed Philox stream;
 * both give random(), randint(a, b) and shuffle() with the reference's
 * structure, so the recipe code is one. */
typedef struct prng {
	qkv_mt *mt;
	qkv_rng ph;
} prng;

static double
p_random(prng *r)
{
	return r->mt ? qkv_mt_random(r->mt) : qkv_rng_uniform(&r->ph);
}

static int64_t
p_randint(prng *r, int64_t a, int64_t b)
{
	if (r->mt)
		return qkv_mt_randint(r->mt, a, b);
	return a + (int64_t)qkv_rng_below(&r->ph, (uint64_t)(b - a) + 1);
}

static void
p_shuffle32(prng *r, int32_t *x, size_t n)
{
	if (r->mt)
		qkv_mt_shuffle(r->mt, x, n, sizeof *x);
	else
		qkv_rng_shuffle32(&r->ph, x, n);
}

/* ---- masked LM -------------------------------------------------------- */

struct qkv_masker {
	const qkv_ptvocab *v;
	qkv_ptopts o;
	int google;		/* reference rules: skip only [CLS]/[SEP],
				 * random words from its word list */
	int32_t *mem, *gstart, *order;	/* candidate groups */
	size_t memcap, gcap, ordcap;
	uint8_t *chosen;	/* per position: chosen (0 between calls) */
	size_t chosencap;
};

qkv_masker *
qkv_masker_new(const qkv_ptvocab *v, const qkv_ptopts *o, qkv_err *e)
{
	qkv_masker *m;

	if (qkv_ptopts_check(o, e) < 0)
		return NULL;
	if ((m = qkv_calloc(1, sizeof *m, e)) == NULL)
		return NULL;
	m->v = v;
	m->o = *o;
	return m;
}

void
qkv_masker_free(qkv_masker *m)
{
	if (m == NULL)
		return;
	free(m->mem);
	free(m->gstart);
	free(m->order);
	free(m->chosen);
	free(m);
}

/* create_masked_lm_predictions over ids (n), drawing from r. */
static int
mask_seq(qkv_masker *m, prng *r, const int32_t *ids, size_t n, int32_t *out,
    int32_t *pos, int32_t *label, qkv_err *e)
{
	const qkv_ptvocab *v = m->v;
	size_t ng = 0, nm = 0;

	if (qkv_pt_grow(&m->mem, &m->memcap, n, sizeof *m->mem, e) < 0 ||
	    qkv_pt_grow(&m->gstart, &m->gcap, n + 1, sizeof *m->gstart, e) < 0 ||
	    qkv_pt_grow(&m->order, &m->ordcap, n, sizeof *m->order, e) < 0)
		return -1;
	if (n > m->chosencap) {	/* zeroed; the scan below keeps it so */
		free(m->chosen);
		m->chosencap = 0;
		if ((m->chosen = qkv_calloc(n, 1, e)) == NULL)
			return -1;
		m->chosencap = n;
	}
	for (size_t i = 0; i < n; i++) {
		int32_t id = ids[i];
		int skip = m->google ? id == v->cls || id == v->sep :
		    id < 0 || (size_t)id >= v->n ||
		    (v->flags[id] & TOK_SPECIAL);
		if (skip)
			continue;
		/* whole words: a ## piece joins the group before it, even
		 * across a skipped [SEP], as the reference does */
		int cont = m->o.whole_word && ng > 0 && id >= 0 &&
		    (size_t)id < v->n && (v->flags[id] & TOK_CONT);
		if (!cont)
			m->gstart[ng++] = (int32_t)nm;
		m->mem[nm++] = (int32_t)i;
	}
	m->gstart[ng] = (int32_t)nm;
	for (size_t g = 0; g < ng; g++)
		m->order[g] = (int32_t)g;
	/* The reference shuffles every candidate, then takes them in order
	 * until enough are chosen.  (Drawing the order lazily from the front
	 * would save a fifth of mask's time with the same distribution, but
	 * change every masking made so far with the same seed.) */
	p_shuffle32(r, m->order, ng);

	if (n > 0)
		memcpy(out, ids, n * sizeof *out);
	/* Python 3 round: half to even, as rint does */
	long want = (long)rint((double)n * m->o.masked_lm_prob);
	if (want < 1)
		want = 1;
	if (want > m->o.max_predictions)
		want = m->o.max_predictions;
	long np = 0;
	for (size_t k = 0; k < ng; k++) {
		if (np >= want)
			break;
		int32_t g = m->order[k];
		long len = m->gstart[g + 1] - m->gstart[g];
		if (np + len > want)
			continue;	/* a whole word that does not fit */
		for (int32_t j = m->gstart[g]; j < m->gstart[g + 1]; j++) {
			int32_t i = m->mem[j], tok;
			if (p_random(r) < 0.8)
				tok = v->mask;
			else if (p_random(r) < 0.5)
				tok = ids[i];
			else if (m->google)
				tok = v->words[p_randint(r, 0,
				    (int64_t)v->nwords - 1)];
			else
				tok = (int32_t)p_randint(r, 0, (int64_t)v->n - 1);
			out[i] = tok;
			m->chosen[i] = 1;
			np++;
		}
	}
	/* the chosen positions in order: a scan without branches costs less
	 * than sorting random positions with mispredicted ones */
	if (np > 0) {
		int32_t *at = m->order;	/* done with; room for n */
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			at[k] = (int32_t)i;
			k += m->chosen[i];
			m->chosen[i] = 0;
		}
		for (long j = 0; j < np; j++) {
			pos[j] = at[j];
			label[j] = ids[at[j]];
		}
	}
	return (int)np;
}

int
qkv_masker_run(qkv_masker *m, uint64_t key, const int32_t *ids, size_t n,
    int32_t *out, int32_t *pos, int32_t *label, qkv_err *e)
{
	prng r = {0};

	qkv_rng_init(&r.ph, m->o.seed, key,
	    PURPOSE_MASK | (uint32_t)m->o.epoch << 4);
	return mask_seq(m, &r, ids, n, out, pos, label, e);
}

/* ---- next-sentence pairs ---------------------------------------------- */

/* Where random-next documents come from. */
typedef struct docsrc {
	qkv_docget get;
	void *ctx;
	size_t n;
	int avoid_self;		/* the reference's ten tries to miss itself */
} docsrc;

typedef struct builder {
	const qkv_ptvocab *v;
	const qkv_ptopts *o;
	int32_t *a, *b, *seq, *mseq, *pos, *label;
	size_t acap, bcap;
	qkv_masker *m;		/* inline masking (reference mode) */
} builder;

static int
builder_init(builder *b, const qkv_ptvocab *v, const qkv_ptopts *o,
    int google, qkv_err *e)
{
	size_t L = (size_t)o->max_seq_length;

	memset(b, 0, sizeof *b);
	b->v = v;
	b->o = o;
	if ((b->seq = qkv_calloc(L, sizeof *b->seq, e)) == NULL ||
	    (b->mseq = qkv_calloc(L, sizeof *b->mseq, e)) == NULL ||
	    (b->pos = qkv_calloc(L, sizeof *b->pos, e)) == NULL ||
	    (b->label = qkv_calloc(L, sizeof *b->label, e)) == NULL)
		return -1;
	if (google) {
		if ((b->m = qkv_masker_new(v, o, e)) == NULL)
			return -1;
		b->m->google = 1;
	}
	return 0;
}

static void
builder_free(builder *b)
{
	free(b->a);
	free(b->b);
	free(b->seq);
	free(b->mseq);
	free(b->pos);
	free(b->label);
	qkv_masker_free(b->m);
}

static size_t
sent_len(const qkv_doc *d, size_t s)
{
	return (size_t)(d->off[s + 1] - d->off[s]);
}

/* Append sentences [s0, s1) of d to the buffer at *buf holding *len. */
static int
append_sents(int32_t **buf, size_t *cap, size_t *len, const qkv_doc *d,
    size_t s0, size_t s1, qkv_err *e)
{
	size_t k = (size_t)(d->off[s1] - d->off[s0]);

	if (qkv_pt_grow(buf, cap, *len + k, sizeof **buf, e) < 0)
		return -1;
	memcpy(*buf + *len, d->ids + d->off[s0], k * sizeof **buf);
	*len += k;
	return 0;
}

/* A 63-bit instance key: Philox of (document, pass, index) under a fixed
 * key, so keys are unique in practice and need no shared counter. */
static int64_t
inst_key(uint64_t doc, uint32_t pass, uint32_t index)
{
	static const uint32_t k[2] = {0x7165796bu, 0x6b657973u};
	uint32_t c[4] = {(uint32_t)doc, (uint32_t)(doc >> 32), pass, index}, o[4];

	qkv_philox4x32(c, k, o);
	return (int64_t)((((uint64_t)o[1] << 32) | o[0]) >> 1);
}

/* create_instances_from_document: the pairs of document self (of src),
 * one pass.  emit gets each; in reference mode they are masked first. */
static int
doc_instances(builder *b, prng *r, const qkv_doc *doc, size_t self,
    const docsrc *src, uint64_t gdoc, uint32_t pass, qkv_ptemit emit,
    void *ctx, qkv_err *e)
{
	const qkv_ptopts *o = b->o;
	int64_t max_tokens = o->max_seq_length - 3;
	int64_t target = max_tokens;
	uint32_t index = 0;

	if (p_random(r) < o->short_seq_prob)
		target = p_randint(r, 2, max_tokens);

	size_t cs = 0;		/* first sentence of the current chunk */
	int64_t cur = 0;
	for (size_t i = 0; i < doc->nsent; i++) {
		cur += (int64_t)sent_len(doc, i);
		if (i != doc->nsent - 1 && cur < target)
			continue;
		size_t nchunk = i - cs + 1, a_end = 1, la = 0, lb = 0;
		if (nchunk >= 2)
			a_end = (size_t)p_randint(r, 1, (int64_t)nchunk - 1);
		if (append_sents(&b->a, &b->acap, &la, doc, cs, cs + a_end,
		    e) < 0)
			return -1;
		int random_next = nchunk == 1 || p_random(r) < 0.5;
		if (random_next) {
			int64_t target_b = target - (int64_t)la;
			size_t rdi = self;
			qkv_doc rd = *doc;
			if (src->n > 0) {
				for (int t = 0; t < 10; t++) {
					rdi = (size_t)p_randint(r, 0,
					    (int64_t)src->n - 1);
					if (!src->avoid_self || rdi != self)
						break;
				}
				if (src->get(src->ctx, rdi, &rd) < 0)
					return qkv_errf(e, "document %zu "
					    "cannot be read", rdi);
			}
			size_t rs = (size_t)p_randint(r, 0,
			    (int64_t)rd.nsent - 1);
			for (size_t j = rs; j < rd.nsent; j++) {
				if (append_sents(&b->b, &b->bcap, &lb, &rd,
				    j, j + 1, e) < 0)
					return -1;
				if ((int64_t)lb >= target_b)
					break;
			}
			/* put the unused sentences back */
			i -= nchunk - a_end;
		} else if (append_sents(&b->b, &b->bcap, &lb, doc,
		    cs + a_end, i + 1, e) < 0)
			return -1;

		/* truncate_seq_pair: the longer side loses a token at a
		 * random end until the pair fits */
		size_t a0 = 0, b0 = 0;
		while ((int64_t)(la + lb) > max_tokens) {
			int front = p_random(r) < 0.5;
			if (la > lb) {
				if (front)
					a0++;
				la--;
			} else {
				if (front)
					b0++;
				lb--;
			}
		}
		int32_t *s = b->seq;
		size_t n = 0;
		s[n++] = b->v->cls;
		memcpy(s + n, b->a + a0, la * sizeof *s);
		n += la;
		s[n++] = b->v->sep;
		memcpy(s + n, b->b + b0, lb * sizeof *s);
		n += lb;
		s[n++] = b->v->sep;

		qkv_ptinst in = {
			.ids = s, .n = (int32_t)n, .a_len = (int32_t)la,
			.is_random_next = random_next,
			.key = inst_key(gdoc, pass, index++),
		};
		if (b->m != NULL) {
			int np = mask_seq(b->m, r, s, n, b->mseq, b->pos,
			    b->label, e);
			if (np < 0)
				return -1;
			in.ids = b->mseq;
			in.npred = np;
			in.pos = b->pos;
			in.label = b->label;
		}
		if (emit(ctx, &in, e) < 0)
			return -1;
		cs = i + 1;
		cur = 0;
	}
	return 0;
}

static int
check_doc(const qkv_doc *d, qkv_err *e)
{
	for (size_t s = 0; s < d->nsent; s++)
		if (d->off[s + 1] <= d->off[s])
			return qkv_errf(e, "sentence %zu of a document is empty",
			    s + 1);
	return 0;
}

static uint32_t
pass_purpose(const qkv_ptopts *o, int p)
{
	uint32_t pass = o->epoch * (uint32_t)o->dupe + (uint32_t)p;

	return PURPOSE_NSP | pass << 4;
}

/* ---- streaming: pool mode and corpus ranges --------------------------- */

struct pooldoc {
	int32_t *ids;
	int64_t *off;
	size_t nsent, idcap, offcap;
};

struct qkv_nsp {
	const qkv_ptvocab *v;
	qkv_ptopts o;
	builder b;
	struct pooldoc *pool;	/* ring, oldest at head */
	size_t cap, count, head;
	uint64_t ndoc;		/* documents seen: the next one's index */
};

qkv_nsp *
qkv_nsp_new(const qkv_ptvocab *v, const qkv_ptopts *o, size_t pool,
    qkv_err *e)
{
	qkv_nsp *s;

	if (qkv_ptopts_check(o, e) < 0)
		return NULL;
	if ((s = qkv_calloc(1, sizeof *s, e)) == NULL)
		return NULL;
	s->v = v;
	s->o = *o;
	if (builder_init(&s->b, v, &s->o, 0, e) < 0 ||
	    (pool > 0 && (s->pool = qkv_calloc(pool, sizeof *s->pool, e)) ==
	    NULL)) {
		qkv_nsp_free(s);
		return NULL;
	}
	s->cap = pool;
	return s;
}

void
qkv_nsp_free(qkv_nsp *s)
{
	if (s == NULL)
		return;
	builder_free(&s->b);
	for (size_t i = 0; s->pool != NULL && i < s->cap; i++) {
		free(s->pool[i].ids);
		free(s->pool[i].off);
	}
	free(s->pool);
	free(s);
}

static int
pool_get(void *ctx, size_t i, qkv_doc *d)
{
	qkv_nsp *s = ctx;
	struct pooldoc *p = &s->pool[(s->head + i) % s->cap];

	d->ids = p->ids;
	d->off = p->off;
	d->nsent = p->nsent;
	return 0;
}

static int
pool_keep(qkv_nsp *s, const qkv_doc *d, qkv_err *e)
{
	struct pooldoc *p;
	size_t nids = (size_t)(d->off[d->nsent] - d->off[0]);

	if (s->cap == 0)
		return 0;
	if (s->count < s->cap) {
		p = &s->pool[(s->head + s->count) % s->cap];
		s->count++;
	} else {
		p = &s->pool[s->head];
		s->head = (s->head + 1) % s->cap;
	}
	if (qkv_pt_grow(&p->ids, &p->idcap, nids, sizeof *p->ids, e) < 0 ||
	    qkv_pt_grow(&p->off, &p->offcap, d->nsent + 1, sizeof *p->off, e) < 0)
		return -1;
	memcpy(p->ids, d->ids + d->off[0], nids * sizeof *p->ids);
	for (size_t k = 0; k <= d->nsent; k++)
		p->off[k] = d->off[k] - d->off[0];
	p->nsent = d->nsent;
	return 0;
}

int
qkv_nsp_doc(qkv_nsp *s, const qkv_doc *d, qkv_ptemit emit, void *ctx,
    qkv_err *e)
{
	docsrc src = {pool_get, s, s->count, 0};
	uint64_t g = s->ndoc;

	if (d->nsent == 0)
		return 0;
	if (check_doc(d, e) < 0)
		return -1;
	s->ndoc++;
	for (int p = 0; p < s->o.dupe; p++) {
		prng r = {0};
		qkv_rng_init(&r.ph, s->o.seed, g, pass_purpose(&s->o, p));
		if (doc_instances(&s->b, &r, d, 0, &src, g,
		    s->o.epoch * (uint32_t)s->o.dupe + (uint32_t)p, emit, ctx,
		    e) < 0)
			return -1;
	}
	return pool_keep(s, d, e);
}

int
qkv_nsp_range(qkv_nsp *s, qkv_docget get, void *gctx, size_t ndocs,
    size_t lo, size_t hi, qkv_ptemit emit, void *ctx, qkv_err *e)
{
	docsrc src = {get, gctx, ndocs, 1};

	for (size_t g = lo; g < hi && g < ndocs; g++) {
		qkv_doc d;
		if (get(gctx, g, &d) < 0)
			return qkv_errf(e, "document %zu cannot be read", g);
		if (d.nsent == 0)
			continue;
		if (check_doc(&d, e) < 0)
			return qkv_errf(e, "document %zu: a sentence is empty",
			    g);
		for (int p = 0; p < s->o.dupe; p++) {
			prng r = {0};
			qkv_rng_init(&r.ph, s->o.seed, g, pass_purpose(&s->o, p));
			if (doc_instances(&s->b, &r, &d, g, &src, g,
			    s->o.epoch * (uint32_t)s->o.dupe + (uint32_t)p,
			    emit, ctx, e) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- the reference, record for record ------------------------------- */

#define ARENA_BLOCK ((size_t)1 << 20)	/* int32s */

struct qkv_google {
	const qkv_ptvocab *v;
	qkv_ptopts o;
	/* documents: flat sentences, document k = sentences
	 * [dstart[k], dstart[k + 1]) */
	int32_t *ids;
	int64_t *off;
	size_t *dstart;
	size_t nids, idcap, noff, offcap, ndocs, dcap;
	int32_t *order;		/* the shuffled documents */
	/* instances and the arena holding their arrays */
	qkv_ptinst *inst;
	size_t ninst, icap;
	int32_t **blocks;
	size_t nblocks, bcap, bused, bsize;
	size_t *perm;		/* the shuffled instances */
};

qkv_google *
qkv_google_new(const qkv_ptvocab *v, const qkv_ptopts *o, qkv_err *e)
{
	qkv_google *g;

	if (qkv_ptopts_check(o, e) < 0)
		return NULL;
	if ((g = qkv_calloc(1, sizeof *g, e)) == NULL)
		return NULL;
	g->v = v;
	g->o = *o;
	if (qkv_pt_grow(&g->off, &g->offcap, 1, sizeof *g->off, e) < 0 ||
	    qkv_pt_grow(&g->dstart, &g->dcap, 1, sizeof *g->dstart, e) < 0) {
		qkv_google_free(g);
		return NULL;
	}
	g->off[0] = 0;
	g->noff = 1;
	g->dstart[0] = 0;
	return g;
}

void
qkv_google_free(qkv_google *g)
{
	if (g == NULL)
		return;
	free(g->ids);
	free(g->off);
	free(g->dstart);
	free(g->order);
	free(g->inst);
	for (size_t i = 0; i < g->nblocks; i++)
		free(g->blocks[i]);
	free(g->blocks);
	free(g->perm);
	free(g);
}

int
qkv_google_add(qkv_google *g, const qkv_doc *d, qkv_err *e)
{
	size_t nids = (size_t)(d->off[d->nsent] - d->off[0]);

	if (d->nsent == 0)
		return 0;	/* the reference drops empty documents */
	if (check_doc(d, e) < 0)
		return -1;
	if (g->ndocs >= INT32_MAX)
		return qkv_errf(e, "more than %d documents", INT32_MAX);
	if (qkv_pt_grow(&g->ids, &g->idcap, g->nids + nids, sizeof *g->ids, e) < 0 ||
	    qkv_pt_grow(&g->off, &g->offcap, g->noff + d->nsent, sizeof *g->off,
	    e) < 0 ||
	    qkv_pt_grow(&g->dstart, &g->dcap, g->ndocs + 2, sizeof *g->dstart, e) < 0)
		return -1;
	/* the reference converts tokens back to ids through its dict */
	for (size_t k = 0; k < nids; k++) {
		int32_t id = d->ids[d->off[0] + (int64_t)k];
		if (id < 0 || (size_t)id >= g->v->n)
			return qkv_errf(e, "id %d is not in the vocabulary "
			    "(%zu ids)", id, g->v->n);
		g->ids[g->nids + k] = g->v->canon[id];
	}
	for (size_t s = 1; s <= d->nsent; s++)
		g->off[g->noff + s - 1] = (int64_t)g->nids +
		    (d->off[s] - d->off[0]);
	g->nids += nids;
	g->noff += d->nsent;
	g->ndocs++;
	g->dstart[g->ndocs] = g->noff - 1;
	return 0;
}

static int
google_get(void *ctx, size_t i, qkv_doc *d)
{
	qkv_google *g = ctx;
	size_t k = (size_t)g->order[i];

	d->ids = g->ids;
	d->off = g->off + g->dstart[k];
	d->nsent = g->dstart[k + 1] - g->dstart[k];
	return 0;
}

static int32_t *
arena_alloc(qkv_google *g, size_t n, qkv_err *e)
{
	if (g->nblocks == 0 || g->bsize - g->bused < n) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		if (qkv_pt_grow(&g->blocks, &g->bcap, g->nblocks + 1,
		    sizeof *g->blocks, e) < 0 ||
		    (g->blocks[g->nblocks] = qkv_malloc(size * sizeof(int32_t),
		    e)) == NULL)
			return NULL;
		g->nblocks++;
		g->bused = 0;
		g->bsize = size;
	}
	g->bused += n;
	return g->blocks[g->nblocks - 1] + (g->bused - n);
}

static int
google_store(void *ctx, const qkv_ptinst *in, qkv_err *e)
{
	qkv_google *g = ctx;
	qkv_ptinst *c;
	int32_t *mem;

	if (qkv_pt_grow(&g->inst, &g->icap, g->ninst + 1, sizeof *g->inst, e) < 0 ||
	    (mem = arena_alloc(g, (size_t)in->n + 2 * (size_t)in->npred,
	    e)) == NULL)
		return -1;
	c = &g->inst[g->ninst++];
	*c = *in;
	c->ids = mem;
	c->pos = mem + in->n;
	c->label = c->pos + in->npred;
	memcpy(c->ids, in->ids, (size_t)in->n * sizeof *mem);
	memcpy(c->pos, in->pos, (size_t)in->npred * sizeof *mem);
	memcpy(c->label, in->label, (size_t)in->npred * sizeof *mem);
	return 0;
}

int
qkv_google_run(qkv_google *g, qkv_err *e)
{
	qkv_mt mt;
	uint32_t seedw[2] = {(uint32_t)g->o.seed, (uint32_t)(g->o.seed >> 32)};
	builder b;
	prng r = {.mt = &mt};
	int rc = -1;

	qkv_mt_seed_words(&mt, seedw, g->o.seed == 0 ? 0 :
	    seedw[1] != 0 ? 2 : 1);
	if ((g->order = qkv_calloc(g->ndocs, sizeof *g->order, e)) == NULL)
		return -1;
	for (size_t k = 0; k < g->ndocs; k++)
		g->order[k] = (int32_t)k;
	qkv_mt_shuffle(&mt, g->order, g->ndocs, sizeof *g->order);

	if (builder_init(&b, g->v, &g->o, 1, e) < 0)
		goto out;
	docsrc src = {google_get, g, g->ndocs, 1};
	for (int p = 0; p < g->o.dupe; p++)
		for (size_t k = 0; k < g->ndocs; k++) {
			qkv_doc d;
			google_get(g, k, &d);
			if (doc_instances(&b, &r, &d, k, &src, k, (uint32_t)p,
			    google_store, g, e) < 0)
				goto out;
		}
	if ((g->perm = qkv_calloc(g->ninst, sizeof *g->perm, e)) == NULL)
		goto out;
	for (size_t k = 0; k < g->ninst; k++)
		g->perm[k] = k;
	qkv_mt_shuffle(&mt, g->perm, g->ninst, sizeof *g->perm);
	rc = 0;
out:
	builder_free(&b);
	return rc;
}

size_t
qkv_google_count(const qkv_google *g)
{
	return g->perm ? g->ninst : 0;
}

const qkv_ptinst *
qkv_google_inst(const qkv_google *g, size_t i)
{
	return &g->inst[g->perm[i]];
}
