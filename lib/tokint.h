/*
 * tokint.h - internals shared by the tokenizer files: tokuni.c (Unicode
 * properties as the reference sees them), tokutil.c (tables, tries),
 * wordpiece.c, bpe.c and tokenizer.c (the front).  Not installed; users
 * see only qkv.h.
 */
#ifndef TOKINT_H
#define TOKINT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "qkv.h"

/* ---- Unicode properties (tokuni.c) ------------------------------------ */

#define TU_MAXNFD 8		/* longest canonical decomposition we keep */
#define TU_MAXLOW 4		/* longest full lowercase mapping */
#define TU_NCP 0x110000

enum { TU_KEEP, TU_REMOVE, TU_SPACE };		/* BertNormalizer clean_text */
enum { TU_BL_O, TU_BL_L, TU_BL_N, TU_BL_S };	/* GPT-2 regex classes */

/* One code point as the reference's tables see it. */
struct tu_props {
	uint8_t clean;		/* TU_KEEP / TU_REMOVE / TU_SPACE */
	uint8_t cjk;		/* inside BERT's "Chinese character" ranges */
	uint8_t mn;		/* nonspacing mark: strip_accents drops it */
	uint8_t ws;		/* whitespace (BertPreTokenizer splits on it) */
	uint8_t punct;		/* punctuation (BertPreTokenizer isolates it) */
	uint8_t bl;		/* TU_BL_*: \p{L}, \p{N}, \s or other */
	uint8_t ccc;		/* canonical combining class (0 if unknown) */
	uint8_t nnfd, nlow;
	uint32_t nfd[TU_MAXNFD];	/* canonical decomposition */
	uint32_t low[TU_MAXLOW];	/* full lowercase mapping */
};
/* What utf8proc says, before the generated corrections. */
void tu_base(uint32_t cp, struct tu_props *p);
/* What the reference says: tu_base corrected by lib/tokuni_fix.h. */
void tu_props(uint32_t cp, struct tu_props *p);
/* The utf8proc version the correction table was made against. */
const char *tu_fix_version(void);

/* Decode one UTF-8 character at s (n > 0 bytes available).  Returns its
 * length and sets *cp; an invalid sequence returns the length of its
 * maximal invalid subpart (1..3) and sets *cp to -1. */
int tu_decode(const unsigned char *s, size_t n, int32_t *cp);
/* Encode cp as UTF-8 into out (4 bytes room); returns the length. */
int tu_encode(uint32_t cp, char *out);
/* Offset of the first invalid UTF-8 byte in s, or n. */
size_t tu_valid(const unsigned char *s, size_t n);

/* ---- vocabulary objects in JSON (tokjson.c) --------------------------- */

typedef int (*tj_add_fn)(void *ctx, const char *tok, size_t len, int32_t id,
    qkv_err *e);
/* Where model.vocab's value lies in the JSON text s, an object tj_vocab
 * reads (ids below maxid): sets *at and *len and returns 1; 0 if s is not
 * plainly a tokenizer.json with one such object (let jansson read all of
 * it then). */
int tj_find_vocab(const char *s, size_t n, int32_t maxid, size_t *at,
    size_t *len);
/* Read the JSON object s[0..n) of "token": id (ids in [0, maxid)), calling
 * add (if not NULL) for each member in order.  Returns 1 when read, 0 if
 * it declines (anything jansson might read otherwise or refuse), -1 with e
 * set if add failed. */
int tj_vocab(const char *s, size_t n, int32_t maxid, tj_add_fn add, void *ctx,
    qkv_err *e);

/* A table of one entry per code point, built a block of 256 at a time on
 * first use, safely from any thread. */
struct tu_lazy {
	_Atomic(void *) blk[TU_NCP / 256];
	void *(*build)(const void *ctx, uint32_t base);	/* malloc'd block */
	const void *ctx;
};
static inline const void *
tu_lazy_get(struct tu_lazy *l, uint32_t cp)
{
	void *b = atomic_load_explicit(&l->blk[cp >> 8], memory_order_acquire);
	if (b == NULL) {
		void *nb = l->build(l->ctx, cp & ~0xffu), *expect = NULL;
		if (nb == NULL)
			return NULL;
		if (atomic_compare_exchange_strong(&l->blk[cp >> 8], &expect,
		    nb))
			b = nb;
		else {
			free(nb);
			b = expect;
		}
	}
	return b;
}
void tu_lazy_free(struct tu_lazy *l);

/* ---- tables and tries (tokutil.c) ------------------------------------- */

uint32_t tok_hash(const void *p, size_t n);
/* Grow *p (elements of elsize, capacity *cap) to hold need elements. */
int tok_grow(void *pp, size_t *cap, size_t need, size_t elsize, qkv_err *e);

/* String -> int32 hash table; keys live in an arena.  A slot holds what
 * a lookup needs (hash, value, key's place) so a hit costs the slot and
 * the key's bytes, a miss usually the slot alone; ent keeps the keys in
 * insertion order for iteration. */
struct stslot {
	uint32_t hash;
	int32_t val;
	uint32_t off, len;	/* len UINT32_MAX: empty */
};
struct strtab {
	struct stslot *slot;
	size_t mask;
	struct stent { uint32_t off, len, hash; int32_t val; } *ent;
	size_t n, cap;
	char *arena;
	size_t alen, acap;
};
int strtab_init(struct strtab *t, size_t hint, qkv_err *e);
void strtab_free(struct strtab *t);
/* Insert, or overwrite the value of an existing key. */
int strtab_put(struct strtab *t, const char *k, size_t n, int32_t v,
    qkv_err *e);
int32_t strtab_get(const struct strtab *t, const char *k, size_t n);
static inline const char *
strtab_key(const struct strtab *t, size_t i, size_t *len)
{
	*len = t->ent[i].len;
	return t->arena + t->ent[i].off;
}

/* A byte trie: node 0 (and node 1 if asked) have dense child arrays, the
 * rest hashed edges.  term[node] is the value stored at a node, or -1. */
struct btrie {
	int32_t *term;
	size_t nnodes, ncap;
	uint64_t *ekey;		/* (node << 8 | byte) + 1; 0 = empty */
	int32_t *eval;
	size_t emask, nedges;
	int32_t dense[2][256];
	int ndense;
};
int btrie_init(struct btrie *t, int ndense, qkv_err *e);
void btrie_free(struct btrie *t);
/* Make room for about nodes nodes (and edges) before inserting them. */
int btrie_reserve(struct btrie *t, size_t nodes, qkv_err *e);
int btrie_insert(struct btrie *t, int32_t from, const char *s, size_t n,
    int32_t val, qkv_err *e);
static inline int32_t
btrie_child(const struct btrie *t, int32_t node, unsigned char b)
{
	if (node < t->ndense)
		return t->dense[node][b];
	uint64_t k = ((uint64_t)node << 8 | b) + 1;
	size_t h = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & t->emask;
	for (;;) {
		uint64_t x = t->ekey[h];
		if (x == k)
			return t->eval[h];
		if (x == 0)
			return -1;
		h = (h + 1) & t->emask;
	}
}

/* ---- added tokens ----------------------------------------------------- */

struct addtok {
	char *content;		/* as written */
	size_t clen;
	int32_t id;
	uint8_t special, single_word, lstrip, rstrip, normalized;
};
/* Leftmost-longest matching of added tokens, with HF's single_word,
 * lstrip and rstrip rules. */
struct addset {
	struct btrie trie;	/* pattern -> index into toks */
	int n;			/* patterns in the trie */
	uint8_t first[256];	/* bytes a pattern can start with */
	const struct addtok *toks;
};
/* The next match in s[from..n): returns the token index and sets the
 * split [*ms, *me) (whitespace absorbed by lstrip/rstrip included; never
 * before prev_end), or -1.  plain: special tokens are not matched. */
long addset_next(const struct addset *a, const char *s, size_t n,
    size_t from, size_t prev_end, int plain, size_t *ms, size_t *me);

/* ---- encoding --------------------------------------------------------- */

/* Per-thread scratch memory of an encoding (qkv_tokenc.s). */
struct qkv_tokscratch {
	char *buf;		/* normalized word */
	size_t bufcap;
	char *dbuf;		/* decode output */
	size_t dbufcap;
	uint32_t *ws, *we;	/* per normalized word byte: input span */
	size_t wcap;
	char *fix;		/* the line with invalid UTF-8 repaired */
	size_t fixcap;
	uint32_t *omap;		/* fixed byte -> input offset */
	size_t omapcap;
	struct nchar *nc, *nc2;	/* the BERT normalizer's general path */
	size_t nccap, nc2cap;
	char *nbuf;		/* ... its normalized text */
	uint32_t *nidx;		/* ... nbuf byte -> nc index */
	size_t nbufcap, nidxcap;
	int32_t *ids2;		/* the sequences, while specials go in */
	uint32_t *offs2;
	size_t cap2, capo2;
	struct bpe_cache *cache;	/* BPE words seen lately */
	int32_t *sym;		/* BPE symbols of one piece */
	uint32_t *sst, *srank;
	int32_t *snew, *sprev, *snext;
	uint64_t *heap;
	size_t symcap;
};

/* Where a model's tokens go: appended to x.  A model reports offsets
 * relative to the text it was given, which starts at seg in the
 * (repaired) sequence; omap (NULL: identity) maps those to the caller's
 * input, and base is added. */
struct tokout {
	qkv_tokenc *x;
	int offsets;
	const uint32_t *omap;
	size_t seg;
	uint32_t base;
	qkv_err *e;
};
int tokout_grow(struct tokout *o);
static inline int
tokout_push(struct tokout *o, int32_t id, size_t start, size_t end)
{
	qkv_tokenc *x = o->x;
	if (x->n == x->cap && tokout_grow(o) < 0)
		return -1;
	x->ids[x->n] = id;
	if (o->offsets) {
		start += o->seg;
		end += o->seg;
		if (o->omap != NULL) {
			start = o->omap[start];
			end = o->omap[end];
		}
		x->offs[2 * x->n] = o->base + (uint32_t)start;
		x->offs[2 * x->n + 1] = o->base + (uint32_t)end;
	}
	x->n++;
	return 0;
}

/* ---- WordPiece (wordpiece.c) ------------------------------------------ */

struct bertnorm {
	int clean, chinese, strip, lower;
};
struct wordpiece;
struct wordpiece *wp_new(qkv_err *e);
void wp_free(struct wordpiece *wp);
/* Vocabulary: token -> id; a later duplicate wins, as in HF. */
int wp_add(struct wordpiece *wp, const char *tok, size_t len, int32_t id,
    qkv_err *e);
int wp_finish(struct wordpiece *wp, const struct bertnorm *bn,
    const char *prefix, const char *unk, long maxchars, const char *where,
    qkv_err *e);
const struct strtab *wp_vocab(const struct wordpiece *wp);
const char *wp_prefix(const struct wordpiece *wp);
/* Normalize, pre-tokenize and encode text[0..n) (valid UTF-8).  pat:
 * normalized added tokens, matched in the normalized text (NULL: none). */
int wp_encode(const struct wordpiece *wp, struct qkv_tokscratch *s,
    const char *text, size_t n, const struct addset *pat, int plain,
    struct tokout *o);
/* The normalizer alone (for added tokens' contents): malloc'd string. */
char *wp_normalize(const struct wordpiece *wp, const char *text, size_t n,
    size_t *outlen, qkv_err *e);
/* Append one token as HF's WordPiece decoder renders it (a space before
 * it unless it continues a word; cleanup per token). */
int wp_decode_append(const char *prefix, int cleanup, const char *tok,
    size_t len, int first, char **buf, size_t *n, size_t *cap, qkv_err *e);
/* Force the general (slow) normalizer path: for tests. */
extern int wp_force_general;

/* ---- the front (tokenizer.c) ------------------------------------------ */

/* A tokenizer from files in memory (names like "vocab.txt"): for fuzzing
 * and tests. */
qkv_tok *tok_open_mem(const char *const names[], const char *const bufs[],
    const size_t lens[], int n, qkv_err *e);

/* ---- byte-level BPE (bpe.c) ------------------------------------------- */

struct bpe;
struct bpe *bpe_new(qkv_err *e);
void bpe_free(struct bpe *b);
int bpe_add(struct bpe *b, const char *tok, size_t len, int32_t id,
    qkv_err *e);
/* Merge of rank `rank` (0, 1, ...): tokens a and c. */
int bpe_merge_add(struct bpe *b, const char *a, size_t alen, const char *c,
    size_t clen, qkv_err *e);
int bpe_finish(struct bpe *b, int prefix_space, qkv_err *e);
const struct strtab *bpe_vocab(const struct bpe *b);
/* Pre-tokenize with the GPT-2 pattern and encode text[0..n).  raw: the
 * text may hold invalid UTF-8, each invalid byte a character of its own
 * (class "other") kept as its byte token. */
int bpe_encode(const struct bpe *b, struct qkv_tokscratch *s,
    const char *text, size_t n, struct tokout *o);
/* The bytes a token stands for (its byte-level characters undone) into
 * out (len bytes room suffice); -1 if a character is outside the
 * byte-level alphabet. */
long bpe_token_bytes(const char *tok, size_t len, char *out);
void bpe_cache_free(struct bpe_cache *c);

#endif
