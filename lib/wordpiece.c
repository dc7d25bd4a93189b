/*
 * wordpiece.c - BERT's tokenizer: Hugging Face's BertNormalizer,
 * BertPreTokenizer and WordPiece model, and the WordPiece decoder.
 *
 * The normalizer works per code point except for one thing (NFD's
 * canonical reordering of combining marks), so each code point's fate
 * under the model's settings is computed once, a block of 256 at a time,
 * into a table: removed, a separator, one word character, one isolated
 * character (punctuation or a CJK ideograph, which the normalizer pads
 * with spaces), or a sequence of those.  Encoding is then one pass over
 * the text that builds words and hands each to the longest-match-first
 * WordPiece walk over a byte trie of the vocabulary.  Text that needs the
 * reordering, or normalized added tokens, takes the general path that
 * materializes the normalized text.
 */
#include <string.h>

#include "tokint.h"

int wp_force_general;

enum { NK_WORD, NK_ISO, NK_SPACE };		/* pre-tokenizer kinds */
enum { E_REMOVE, E_SPACE, E_WORD, E_ISO, E_SEQ };	/* table entries */

#define MAXITEMS 40		/* items one code point can become */

struct nchar {
	uint32_t cp;
	uint8_t kind;		/* NK_* */
	uint8_t ccc;
	uint8_t drop;		/* a mark strip_accents removes */
	uint32_t s, e;		/* input span */
};

struct wpent {
	uint8_t kind;		/* E_* */
	uint8_t n;		/* E_WORD/E_ISO: UTF-8 bytes; E_SEQ: items */
	uint8_t risk;		/* keeps a combining mark: reordering matters */
	uint8_t pad;
	uint32_t v;		/* UTF-8 bytes, or the first item in pool */
};

struct wpblock {
	struct wpent e[256];
	uint32_t pool[];	/* E_SEQ items: cp | kind << 24 */
};

struct wordpiece {
	struct strtab vocab;
	struct strtab cont;	/* continuation tokens, prefix removed */
	struct btrie trie;	/* node 0: word starts; node 1: after prefix */
	struct bertnorm bn;
	char *prefix;
	size_t plen;
	int32_t unk;
	size_t maxchars;
	struct tu_lazy norm;
	const struct wpblock *ascii;
};

/* ---- the normalizer, general form -------------------------------------- */

/* Stage 1 for one code point: clean_text, Chinese padding, NFD (when
 * stripping accents).  Appends NFD-stage items to it[]. */
static int
stage1(const struct bertnorm *bn, uint32_t cp, uint32_t s, uint32_t e,
    struct nchar *it)
{
	struct tu_props p, q;
	int k = 0, pad;

	tu_props(cp, &p);
	if (bn->clean) {
		if (p.clean == TU_REMOVE)
			return 0;
		if (p.clean == TU_SPACE) {
			cp = ' ';
			tu_props(cp, &p);
		}
	}
	pad = bn->chinese && p.cjk;
	if (pad)
		it[k++] = (struct nchar){' ', 0, 0, 0, s, e};
	if (bn->strip) {
		for (int i = 0; i < p.nnfd; i++) {
			tu_props(p.nfd[i], &q);
			it[k++] = (struct nchar){p.nfd[i], 0, q.ccc, q.mn, s, e};
		}
	} else
		it[k++] = (struct nchar){cp, 0, 0, 0, s, e};
	if (pad)
		it[k++] = (struct nchar){' ', 0, 0, 0, s, e};
	return k;
}

/* NFD's canonical ordering: stable sort of each run of nonzero ccc. */
static void
reorder(struct nchar *it, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (it[i].ccc == 0)
			continue;
		struct nchar c = it[i];
		size_t j = i;
		while (j > 0 && it[j - 1].ccc > c.ccc)
			it[j] = it[j - 1], j--;
		it[j] = c;
	}
}

/* Stage 2: drop stripped marks, lowercase, classify for the
 * pre-tokenizer.  Returns the number of items written to out. */
static size_t
stage2(const struct bertnorm *bn, const struct nchar *it, size_t n,
    struct nchar *out)
{
	struct tu_props p, q;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (bn->strip && it[i].drop)
			continue;
		uint32_t one = it[i].cp;
		const uint32_t *m = &one;
		int nm = 1;
		if (bn->lower) {
			tu_props(it[i].cp, &p);
			m = p.low;
			nm = p.nlow;
		}
		for (int j = 0; j < nm; j++) {
			tu_props(m[j], &q);
			out[k] = it[i];
			out[k].cp = m[j];
			out[k].kind = q.ws ? NK_SPACE : q.punct ? NK_ISO :
			    NK_WORD;
			k++;
		}
	}
	return k;
}

/* Normalize text[0..n) into s->nc2 (returned count), the general way. */
static long
normalize_general(const struct wordpiece *wp, struct qkv_tokscratch *s,
    const char *text, size_t n, qkv_err *e)
{
	const unsigned char *u = (const unsigned char *)text;
	size_t k = 0, m;

	for (size_t i = 0; i < n;) {
		int32_t cp;
		int l = tu_decode(u + i, n - i, &cp);
		if (cp < 0)
			cp = 0xfffd;
		if (tok_grow(&s->nc, &s->nccap, k + MAXITEMS, sizeof *s->nc,
		    e) < 0)
			return -1;
		k += (size_t)stage1(&wp->bn, (uint32_t)cp, (uint32_t)i,
		    (uint32_t)(i + (size_t)l), s->nc + k);
		i += (size_t)l;
	}
	if (wp->bn.strip)
		reorder(s->nc, k);
	if (tok_grow(&s->nc2, &s->nc2cap, k * TU_MAXLOW + 1, sizeof *s->nc2,
	    e) < 0)
		return -1;
	m = stage2(&wp->bn, s->nc, k, s->nc2);
	return (long)m;
}

/* ---- the per-code-point table ----------------------------------------- */

static void *
build_block(const void *ctx, uint32_t base)
{
	const struct wordpiece *wp = ctx;
	struct nchar it[MAXITEMS], out[MAXITEMS * TU_MAXLOW];
	static const size_t maxpool = 256 * MAXITEMS * TU_MAXLOW;
	uint32_t *pool = malloc(maxpool * sizeof *pool);
	struct wpent ent[256];
	size_t np = 0;
	struct wpblock *b;

	if (pool == NULL)
		return NULL;
	for (uint32_t i = 0; i < 256; i++) {
		struct wpent *en = &ent[i];
		int k = stage1(&wp->bn, base + i, 0, 1, it);
		size_t m, nsp = 0, nw = 0, niso = 0;
		if (wp->bn.strip)
			reorder(it, (size_t)k);
		m = stage2(&wp->bn, it, (size_t)k, out);
		memset(en, 0, sizeof *en);
		for (size_t j = 0; j < m; j++) {
			nsp += out[j].kind == NK_SPACE;
			nw += out[j].kind == NK_WORD;
			niso += out[j].kind == NK_ISO;
			if (out[j].ccc > 0)
				en->risk = 1;
		}
		char u8[4];
		if (m == 0)
			en->kind = E_REMOVE;
		else if (nsp == m)
			en->kind = E_SPACE;
		else if (m == 1 && nw == 1) {
			en->kind = E_WORD;
			en->n = (uint8_t)tu_encode(out[0].cp, u8);
			memcpy(&en->v, u8, 4);
		} else if ((m == 1 && niso == 1) || (m == 3 && nsp == 2 &&
		    out[0].kind == NK_SPACE && out[2].kind == NK_SPACE)) {
			/* a lone isolated character, or one padded by spaces:
			 * either way a word of its own */
			const struct nchar *c = m == 1 ? &out[0] : &out[1];
			en->kind = E_ISO;
			en->n = (uint8_t)tu_encode(c->cp, u8);
			memcpy(&en->v, u8, 4);
		} else {
			en->kind = E_SEQ;
			en->n = (uint8_t)m;
			en->v = (uint32_t)np;
			for (size_t j = 0; j < m; j++)
				pool[np++] = out[j].cp |
				    (uint32_t)out[j].kind << 24;
		}
	}
	if ((b = malloc(sizeof *b + np * sizeof *pool)) != NULL) {
		memcpy(b->e, ent, sizeof ent);
		memcpy(b->pool, pool, np * sizeof *pool);
	}
	free(pool);
	return b;
}

/* ---- WordPiece --------------------------------------------------------- */

/* Encode one word w[0..n); ws/we give each byte's input span (or NULL
 * when offsets are not wanted). */
static int
wp_word(const struct wordpiece *wp, const unsigned char *w, size_t n,
    const uint32_t *ws, const uint32_t *we, struct tokout *o)
{
	size_t mark = o->x->n, start = 0;
	int32_t root = 0;

	if (n > wp->maxchars) {
		size_t nch = 0;
		for (size_t i = 0; i < n; i++)
			nch += (w[i] & 0xc0) != 0x80;
		if (nch > wp->maxchars)
			goto unk;
	}
	while (start < n) {
		/* most often the rest is a token: one lookup, not a walk */
		int32_t id = strtab_get(start ? &wp->cont : &wp->vocab,
		    (const char *)w + start, n - start);
		if (id >= 0)
			return tokout_push(o, id, ws ? ws[start] : 0,
			    we ? we[n - 1] : 0);
		int32_t node = btrie_child(&wp->trie, root, w[start]), bid = -1;
		size_t bend = 0;
		for (size_t i = start; node >= 0;) {
			int32_t t = wp->trie.term[node];
			if (t >= 0) {
				bid = t;
				bend = i + 1;
			}
			if (++i >= n)
				break;
			node = btrie_child(&wp->trie, node, w[i]);
		}
		if (bid < 0) {
			o->x->n = mark;
			goto unk;
		}
		if (tokout_push(o, bid, ws ? ws[start] : 0,
		    we ? we[bend - 1] : 0) < 0)
			return -1;
		start = bend;
		root = 1;
	}
	return 0;
unk:
	return tokout_push(o, wp->unk, ws ? ws[0] : 0, we ? we[n - 1] : 0);
}

/* The word being built. */
struct wbuf {
	struct qkv_tokscratch *s;
	size_t n;
	int offsets;
	qkv_err *e;
};

static inline int
wb_room(struct wbuf *b, size_t more)
{
	struct qkv_tokscratch *s = b->s;

	if (b->n + more > s->bufcap &&
	    tok_grow(&s->buf, &s->bufcap, b->n + more, 1, b->e) < 0)
		return -1;
	if (b->offsets && b->n + more > s->wcap) {
		size_t c = s->wcap;
		if (tok_grow(&s->ws, &c, b->n + more, sizeof *s->ws, b->e) <
		    0 || tok_grow(&s->we, &s->wcap, b->n + more,
		    sizeof *s->we, b->e) < 0)
			return -1;
	}
	return 0;
}

static inline void
wb_add(struct wbuf *b, const char *u8, size_t len, uint32_t cs, uint32_t ce)
{
	memcpy(b->s->buf + b->n, u8, 4);
	if (b->offsets)
		for (size_t j = 0; j < len; j++) {
			b->s->ws[b->n + j] = cs;
			b->s->we[b->n + j] = ce;
		}
	b->n += len;
}

static inline int
wb_flush(const struct wordpiece *wp, struct wbuf *b, struct tokout *o)
{
	int rc = 0;

	if (b->n > 0)
		rc = wp_word(wp, (const unsigned char *)b->s->buf, b->n,
		    b->offsets ? b->s->ws : NULL,
		    b->offsets ? b->s->we : NULL, o);
	b->n = 0;
	return rc;
}

static inline const struct wpent *
entry(const struct wordpiece *wp, uint32_t cp, const struct wpblock **blk)
{
	*blk = tu_lazy_get((struct tu_lazy *)&wp->norm, cp);
	return *blk ? &(*blk)->e[cp & 0xff] : NULL;
}

/* Returns 0, -1 on error, 1 if the text needs the general path. */
static int
wp_fast(const struct wordpiece *wp, struct qkv_tokscratch *s,
    const char *text, size_t n, struct tokout *o)
{
	const unsigned char *u = (const unsigned char *)text;
	struct wbuf b = {s, 0, o->offsets, o->e};
	const struct wpblock *blk;
	char u8[4];

	if (wb_room(&b, 256) < 0)
		return -1;
	for (size_t i = 0; i < n;) {
		const struct wpent *en;
		uint32_t cs = (uint32_t)i;
		if (u[i] < 0x80) {
			blk = wp->ascii;
			en = &blk->e[u[i]];
			i++;
		} else {
			int32_t cp;
			i += (size_t)tu_decode(u + i, n - i, &cp);
			if ((en = entry(wp, cp < 0 ? 0xfffd : (uint32_t)cp,
			    &blk)) == NULL)
				return qkv_errf(o->e, "out of memory");
		}
		if (en->risk)
			return 1;
		if (b.n + 160 > s->bufcap && wb_room(&b, 160 + b.n) < 0)
			return -1;
		switch (en->kind) {
		case E_WORD:
			memcpy(u8, &en->v, 4);
			wb_add(&b, u8, en->n, cs, (uint32_t)i);
			break;
		case E_SPACE:
			if (wb_flush(wp, &b, o) < 0)
				return -1;
			break;
		case E_REMOVE:
			break;
		case E_ISO:
			memcpy(u8, &en->v, 4);
			if (wb_flush(wp, &b, o) < 0)
				return -1;
			wb_add(&b, u8, en->n, cs, (uint32_t)i);
			if (wb_flush(wp, &b, o) < 0)
				return -1;
			break;
		default:
			for (unsigned j = 0; j < en->n; j++) {
				uint32_t x = blk->pool[en->v + j];
				int kind = (int)(x >> 24), l;
				l = tu_encode(x & 0xffffff, u8);
				if (kind != NK_WORD && wb_flush(wp, &b, o) < 0)
					return -1;
				if (kind == NK_SPACE)
					continue;
				wb_add(&b, u8, (size_t)l, cs, (uint32_t)i);
				if (kind == NK_ISO && wb_flush(wp, &b, o) < 0)
					return -1;
			}
		}
	}
	return wb_flush(wp, &b, o);
}

/* Pre-tokenize and encode normalized items it[0..n). */
static int
wp_items(const struct wordpiece *wp, struct qkv_tokscratch *s,
    const struct nchar *it, size_t n, struct tokout *o)
{
	struct wbuf b = {s, 0, o->offsets, o->e};
	char u8[4];

	for (size_t i = 0; i < n; i++) {
		if (it[i].kind != NK_WORD && wb_flush(wp, &b, o) < 0)
			return -1;
		if (it[i].kind == NK_SPACE)
			continue;
		if (wb_room(&b, 4) < 0)
			return -1;
		int l = tu_encode(it[i].cp, u8);
		wb_add(&b, u8, (size_t)l, it[i].s, it[i].e);
		if (it[i].kind == NK_ISO && wb_flush(wp, &b, o) < 0)
			return -1;
	}
	return wb_flush(wp, &b, o);
}

static int
wp_general(const struct wordpiece *wp, struct qkv_tokscratch *s,
    const char *text, size_t n, const struct addset *pat, int plain,
    struct tokout *o)
{
	long m = normalize_general(wp, s, text, n, o->e);
	size_t nb = 0, from = 0, prev = 0, ms, me, i0 = 0;
	long k;

	if (m < 0)
		return -1;
	if (pat == NULL || pat->n == 0)
		return wp_items(wp, s, s->nc2, (size_t)m, o);
	/* normalized added tokens: match them in the normalized text */
	if (tok_grow(&s->nbuf, &s->nbufcap, (size_t)m * 4 + 1, 1, o->e) < 0 ||
	    tok_grow(&s->nidx, &s->nidxcap, (size_t)m * 4 + 1,
	    sizeof *s->nidx, o->e) < 0)
		return -1;
	for (long i = 0; i < m; i++) {
		int l = tu_encode(s->nc2[i].cp, s->nbuf + nb);
		for (int j = 0; j < l; j++)
			s->nidx[nb + (size_t)j] = (uint32_t)i;
		nb += (size_t)l;
	}
	s->nidx[nb] = (uint32_t)m;
	while ((k = addset_next(pat, s->nbuf, nb, from, prev, plain, &ms,
	    &me)) >= 0) {
		size_t a = s->nidx[ms], z = s->nidx[me];
		if (wp_items(wp, s, s->nc2 + i0, a - i0, o) < 0 ||
		    tokout_push(o, pat->toks[k].id, s->nc2[a].s,
		    s->nc2[z - 1].e) < 0)
			return -1;
		i0 = z;
		from = prev = me;
	}
	return wp_items(wp, s, s->nc2 + i0, (size_t)m - i0, o);
}

int
wp_encode(const struct wordpiece *wp, struct qkv_tokscratch *s,
    const char *text, size_t n, const struct addset *pat, int plain,
    struct tokout *o)
{
	size_t mark = o->x->n;
	int rc;

	if (!wp_force_general && (pat == NULL || pat->n == 0)) {
		if ((rc = wp_fast(wp, s, text, n, o)) <= 0)
			return rc;
		o->x->n = mark;
	}
	return wp_general(wp, s, text, n, pat, plain, o);
}

char *
wp_normalize(const struct wordpiece *wp, const char *text, size_t n,
    size_t *outlen, qkv_err *e)
{
	struct qkv_tokscratch s;
	long m;
	char *out = NULL;
	size_t k = 0;

	memset(&s, 0, sizeof s);
	if ((m = normalize_general(wp, &s, text, n, e)) >= 0 &&
	    (out = qkv_malloc((size_t)m * 4 + 1, e)) != NULL) {
		for (long i = 0; i < m; i++)
			k += (size_t)tu_encode(s.nc2[i].cp, out + k);
		out[k] = '\0';
		*outlen = k;
	}
	free(s.nc);
	free(s.nc2);
	return out;
}

/* ---- loading ----------------------------------------------------------- */

struct wordpiece *
wp_new(qkv_err *e)
{
	struct wordpiece *wp = qkv_calloc(1, sizeof *wp, e);

	if (wp == NULL)
		return NULL;
	if (strtab_init(&wp->vocab, 32768, e) < 0) {
		free(wp);
		return NULL;
	}
	return wp;
}

void
wp_free(struct wordpiece *wp)
{
	if (wp == NULL)
		return;
	strtab_free(&wp->vocab);
	strtab_free(&wp->cont);
	btrie_free(&wp->trie);
	tu_lazy_free(&wp->norm);
	free(wp->prefix);
	free(wp);
}

int
wp_add(struct wordpiece *wp, const char *tok, size_t len, int32_t id,
    qkv_err *e)
{
	return strtab_put(&wp->vocab, tok, len, id, e);
}

const struct strtab *
wp_vocab(const struct wordpiece *wp)
{
	return &wp->vocab;
}

const char *
wp_prefix(const struct wordpiece *wp)
{
	return wp->prefix;
}

int
wp_finish(struct wordpiece *wp, const struct bertnorm *bn, const char *prefix,
    const char *unk, long maxchars, const char *where, qkv_err *e)
{
	const struct strtab *v = &wp->vocab;

	wp->bn = *bn;
	wp->maxchars = maxchars < 0 ? 0 : (size_t)maxchars;
	if ((wp->prefix = strdup(prefix)) == NULL)
		return qkv_errf(e, "out of memory");
	wp->plen = strlen(prefix);
	if ((wp->unk = strtab_get(v, unk, strlen(unk))) < 0)
		return qkv_errf(e, "%s: the unknown token %s is not in the "
		    "vocabulary", where, unk);
	/* a trie of every token and every continuation: at most as many
	 * nodes as the tokens have bytes */
	if (btrie_init(&wp->trie, 2, e) < 0 ||
	    btrie_reserve(&wp->trie, v->alen, e) < 0 ||
	    strtab_init(&wp->cont, v->n, e) < 0)
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		size_t len;
		const char *t = v->arena + v->ent[i].off;
		/* a duplicated token has one entry, holding the winning id */
		int32_t id = v->ent[i].val;
		len = v->ent[i].len;
		if (len > 0 && btrie_insert(&wp->trie, 0, t, len, id, e) < 0)
			return -1;
		if (len > wp->plen && memcmp(t, prefix, wp->plen) == 0 &&
		    (btrie_insert(&wp->trie, 1, t + wp->plen, len - wp->plen,
		    id, e) < 0 || strtab_put(&wp->cont, t + wp->plen,
		    len - wp->plen, id, e) < 0))
			return -1;
	}
	wp->norm.build = build_block;
	wp->norm.ctx = wp;
	if ((wp->ascii = tu_lazy_get(&wp->norm, 0)) == NULL)
		return qkv_errf(e, "out of memory");
	return 0;
}

/* ---- decoding ---------------------------------------------------------- */

/* HF's WordPiece decoder cleanup, applied to each token on its own. */
static const char *const cleanups[][2] = {
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
	{" 've", "'ve"}, {" 're", "'re"},
};

/* Replace every occurrence of from by to (never longer) in t[0..*n). */
static void
replace_all(char *t, size_t *n, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), r = 0, w = 0;

	while (r < *n) {
		if (r + fl <= *n && memcmp(t + r, from, fl) == 0) {
			memcpy(t + w, to, tl);
			w += tl;
			r += fl;
		} else
			t[w++] = t[r++];
	}
	*n = w;
}

int
wp_decode_append(const char *prefix, int cleanup, const char *tok,
    size_t len, int first, char **buf, size_t *n, size_t *cap, qkv_err *e)
{
	size_t plen = strlen(prefix), k, start = *n;

	if (tok_grow(buf, cap, *n + len + 2, 1, e) < 0)
		return -1;
	k = *n;
	if (!first) {
		if (len >= plen && memcmp(tok, prefix, plen) == 0) {
			tok += plen;
			len -= plen;
		} else
			(*buf)[k++] = ' ';
	}
	memcpy(*buf + k, tok, len);
	k += len;
	if (cleanup) {
		size_t tl = k - start;
		for (size_t i = 0; i < sizeof cleanups / sizeof cleanups[0];
		    i++)
			replace_all(*buf + start, &tl, cleanups[i][0],
			    cleanups[i][1]);
		k = start + tl;
	}
	*n = k;
	return 0;
}
