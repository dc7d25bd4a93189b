/*
 * bpe.c - GPT-2's tokenizer: Hugging Face's ByteLevel pre-tokenizer (the
 * GPT-2 pattern, written out over character classes instead of a regex
 * engine) and the BPE model (merges by rank, lowest first, leftmost on
 * ties), with a per-thread cache of recently seen pieces.
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * The classes \p{L}, \p{N} and \s are the reference's (Oniguruma's), from
 * tu_props.  Everything else is a fourth class, "other".
 */
#include <string.h>

#include "tokint.h"

#define NORANK UINT32_MAX
#define SMALL 64		/* pieces up to this many bytes merge by scan */

struct mslot {
	uint64_t key;		/* (a << 32 | b) + 1; 0 = empty */
	uint32_t rank;
	int32_t id;
};

struct bpe {
	struct strtab vocab;
	int32_t byte_id[256];	/* the token of each byte, -1 if none */
	struct mslot *m;
	size_t mmask, nm;
	uint32_t nrank;
	int prefix_space;
	uint8_t acls[128];
	struct tu_lazy cls;
};

/* The per-thread cache of pieces: direct-mapped, small pieces only. */
#define BC_SLOTS 8192
#define BC_KEY 23
#define BC_IDS 7
struct bc_slot {
	uint32_t hash;
	uint8_t klen, nids;
	uint8_t ends[BC_IDS];
	char key[BC_KEY];
	int32_t ids[BC_IDS];
};
struct bpe_cache {
	const struct bpe *owner;
	struct bc_slot slot[BC_SLOTS];
};

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100 upward in byte order. */
static uint32_t
byte_char(unsigned b)
{
	unsigned n = 0;

	if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)
		return b;
	for (unsigned x = 0; x < b; x++)
		if (!((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) ||
		    x >= 0xae))
			n++;
	return 0x100 + n;
}

static int
char_byte(uint32_t c)
{
	static int16_t inv[0x144];
	static atomic_int ready;

	if (!atomic_load(&ready)) {
		for (unsigned b = 0; b < 256; b++)
			inv[byte_char(b)] = (int16_t)b;
		atomic_store(&ready, 1);
	}
	if (c >= 0x144)
		return -1;
	if (c < 0x100 && byte_char(c) != c)
		return -1;
	return inv[c];
}

long
bpe_token_bytes(const char *tok, size_t len, char *out)
{
	const unsigned char *u = (const unsigned char *)tok;
	size_t k = 0;

	for (size_t i = 0; i < len;) {
		int32_t c;
		int l = tu_decode(u + i, len - i, &c), b;
		if (c < 0 || (b = char_byte((uint32_t)c)) < 0)
			return -1;
		out[k++] = (char)b;
		i += (size_t)l;
	}
	return (long)k;
}

/* ---- merges ------------------------------------------------------------ */

static inline const struct mslot *
merge_find(const struct bpe *b, int32_t x, int32_t y)
{
	uint64_t k = ((uint64_t)(uint32_t)x << 32 | (uint32_t)y) + 1;
	size_t h = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 40) & b->mmask;

	for (;;) {
		const struct mslot *s = &b->m[h];
		if (s->key == k || s->key == 0)
			return s;
		h = (h + 1) & b->mmask;
	}
}

static int
merge_put(struct bpe *b, int32_t x, int32_t y, uint32_t rank, int32_t id,
    qkv_err *e)
{
	struct mslot *s;

	if ((b->nm + 1) * 2 > b->mmask + 1) {
		size_t on = b->mmask + 1, nn = on * 2;
		struct mslot *old = b->m;
		if ((b->m = qkv_calloc(nn, sizeof *b->m, e)) == NULL) {
			b->m = old;
			return -1;
		}
		b->mmask = nn - 1;
		for (size_t i = 0; i < on; i++)
			if (old[i].key != 0) {
				struct mslot *d = (struct mslot *)merge_find(b,
				    (int32_t)((old[i].key - 1) >> 32),
				    (int32_t)(old[i].key - 1));
				*d = old[i];
			}
		free(old);
	}
	s = (struct mslot *)merge_find(b, x, y);
	if (s->key == 0)
		b->nm++;
	s->key = ((uint64_t)(uint32_t)x << 32 | (uint32_t)y) + 1;
	s->rank = rank;
	s->id = id;
	return 0;
}

int
bpe_merge_add(struct bpe *b, const char *a, size_t alen, const char *c,
    size_t clen, qkv_err *e)
{
	int32_t x = strtab_get(&b->vocab, a, alen);
	int32_t y = strtab_get(&b->vocab, c, clen), id;
	char *ac;

	if (x < 0)
		return qkv_errf(e, "merge token '%.*s' is not in the "
		    "vocabulary", (int)(alen > 64 ? 64 : alen), a);
	if (y < 0)
		return qkv_errf(e, "merge token '%.*s' is not in the "
		    "vocabulary", (int)(clen > 64 ? 64 : clen), c);
	if ((ac = qkv_malloc(alen + clen + 1, e)) == NULL)
		return -1;
	memcpy(ac, a, alen);
	memcpy(ac + alen, c, clen);
	id = strtab_get(&b->vocab, ac, alen + clen);
	if (id < 0)
		qkv_errf(e, "merged token '%.*s' is not in the vocabulary",
		    (int)(alen + clen > 64 ? 64 : alen + clen), ac);
	free(ac);
	if (id < 0)
		return -1;
	return merge_put(b, x, y, b->nrank++, id, e);
}

/* ---- loading ----------------------------------------------------------- */

struct bpe *
bpe_new(qkv_err *e)
{
	struct bpe *b = qkv_calloc(1, sizeof *b, e);

	if (b == NULL)
		return NULL;
	b->mmask = 1023;
	if (strtab_init(&b->vocab, 65536, e) < 0 ||
	    (b->m = qkv_calloc(b->mmask + 1, sizeof *b->m, e)) == NULL) {
		bpe_free(b);
		return NULL;
	}
	return b;
}

void
bpe_free(struct bpe *b)
{
	if (b == NULL)
		return;
	strtab_free(&b->vocab);
	free(b->m);
	tu_lazy_free(&b->cls);
	free(b);
}

int
bpe_add(struct bpe *b, const char *tok, size_t len, int32_t id, qkv_err *e)
{
	return strtab_put(&b->vocab, tok, len, id, e);
}

const struct strtab *
bpe_vocab(const struct bpe *b)
{
	return &b->vocab;
}

static void *
build_cls(const void *ctx, uint32_t base)
{
	uint8_t *blk = malloc(256);
	struct tu_props p;

	(void)ctx;
	if (blk != NULL)
		for (uint32_t i = 0; i < 256; i++) {
			tu_props(base + i, &p);
			blk[i] = p.bl;
		}
	return blk;
}

int
bpe_finish(struct bpe *b, int prefix_space, qkv_err *e)
{
	const uint8_t *blk;

	b->prefix_space = prefix_space;
	for (unsigned i = 0; i < 256; i++) {
		char u8[4];
		int l = tu_encode(byte_char(i), u8);
		b->byte_id[i] = strtab_get(&b->vocab, u8, (size_t)l);
	}
	b->cls.build = build_cls;
	if ((blk = tu_lazy_get(&b->cls, 0)) == NULL)
		return qkv_errf(e, "out of memory");
	memcpy(b->acls, blk, 128);
	return 0;
}

/* ---- pre-tokenizer ----------------------------------------------------- */

static inline int
cls_at(const struct bpe *b, const unsigned char *u, size_t n, size_t i,
    size_t *len)
{
	int32_t cp;
	const uint8_t *blk;

	if (u[i] < 0x80) {
		*len = 1;
		return b->acls[u[i]];
	}
	*len = (size_t)tu_decode(u + i, n - i, &cp);
	if (cp < 0) {
		*len = 1;	/* a raw invalid byte: a character of its own */
		return TU_BL_O;
	}
	if ((blk = tu_lazy_get((struct tu_lazy *)&b->cls, (uint32_t)cp)) ==
	    NULL) {
		struct tu_props p;
		tu_props((uint32_t)cp, &p);
		return p.bl;
	}
	return blk[cp & 0xff];
}

/* End of the piece that starts at i. */
static size_t
next_piece(const struct bpe *b, const unsigned char *u, size_t n, size_t i)
{
	size_t len, j, last;
	int k;

	if (u[i] == '\'' && i + 1 < n) {
		unsigned char d = u[i + 1];
		if (d == 's' || d == 't' || d == 'm' || d == 'd')
			return i + 2;
		if (i + 2 < n && ((d == 'r' && u[i + 2] == 'e') ||
		    (d == 'v' && u[i + 2] == 'e') ||
		    (d == 'l' && u[i + 2] == 'l')))
			return i + 3;
	}
	k = cls_at(b, u, n, i, &len);
	j = i;
	if (u[i] == ' ' && i + 1 < n) {
		size_t l2;
		int k2 = cls_at(b, u, n, i + 1, &l2);
		if (k2 != TU_BL_S) {
			j = i + 1;
			k = k2;
			len = l2;
		}
	}
	if (k != TU_BL_S) {
		j += len;
		while (j < n && cls_at(b, u, n, j, &len) == k)
			j += len;
		return j;
	}
	/* whitespace: \s+(?!\S) takes all of a run that ends the text, or
	 * all but its last character; a lone one before \S is \s+ */
	last = j;
	j += len;
	while (j < n && cls_at(b, u, n, j, &len) == TU_BL_S) {
		last = j;
		j += len;
	}
	if (j == n || last == i)
		return j;
	return last;
}

/* ---- BPE --------------------------------------------------------------- */

static int
sym_room(struct qkv_tokscratch *s, size_t n, qkv_err *e)
{
	size_t c = s->symcap ? s->symcap : 64;
	void *p;

	if (n + 1 <= s->symcap)
		return 0;
	while (c < n + 1) {
		if (c > SIZE_MAX / 64)
			return qkv_errf(e, "out of memory");
		c *= 2;
	}
#define REALLOC(f, k) \
	if ((p = realloc(s->f, (k) * sizeof *s->f)) == NULL) \
		return qkv_errf(e, "out of memory"); \
	s->f = p;
	REALLOC(sym, c)
	REALLOC(sst, c)
	REALLOC(srank, c)
	REALLOC(snew, c)
	REALLOC(sprev, c)
	REALLOC(snext, c)
	REALLOC(heap, 3 * c)
#undef REALLOC
	s->symcap = c;
	return 0;
}

/* Merge sym[0..n) (starts in st) by scanning for the lowest rank. */
static size_t
merge_scan(const struct bpe *b, struct qkv_tokscratch *s, size_t n)
{
	int32_t *sym = s->sym, *nid = s->snew;
	uint32_t *st = s->sst, *rank = s->srank;

	for (size_t k = 0; k + 1 < n; k++) {
		const struct mslot *m = merge_find(b, sym[k], sym[k + 1]);
		rank[k] = m->key ? m->rank : NORANK;
		nid[k] = m->id;
	}
	while (n > 1) {
		uint32_t best = NORANK;
		size_t bi = 0;
		for (size_t k = 0; k + 1 < n; k++)
			if (rank[k] < best) {
				best = rank[k];
				bi = k;
			}
		if (best == NORANK)
			break;
		sym[bi] = nid[bi];
		n--;
		memmove(sym + bi + 1, sym + bi + 2, (n - bi - 1) * sizeof *sym);
		memmove(st + bi + 1, st + bi + 2, (n - bi - 1) * sizeof *st);
		if (n - bi > 1) {
			memmove(rank + bi + 1, rank + bi + 2,
			    (n - bi - 2) * sizeof *rank);
			memmove(nid + bi + 1, nid + bi + 2,
			    (n - bi - 2) * sizeof *nid);
		}
		for (size_t k = bi > 0 ? bi - 1 : 0; k <= bi && k + 1 < n; k++) {
			const struct mslot *m = merge_find(b, sym[k],
			    sym[k + 1]);
			rank[k] = m->key ? m->rank : NORANK;
			nid[k] = m->id;
		}
	}
	return n;
}

static void
heap_push(uint64_t *h, size_t *n, uint64_t v)
{
	size_t i = (*n)++;

	while (i > 0 && h[(i - 1) / 2] > v) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = v;
}

static uint64_t
heap_pop(uint64_t *h, size_t *n)
{
	uint64_t top = h[0], v = h[--*n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
	return top;
}

/* Merge a long piece: a linked list and a heap of (rank, position). */
static size_t
merge_heap(const struct bpe *b, struct qkv_tokscratch *s, size_t n)
{
	int32_t *sym = s->sym, *prev = s->sprev, *next = s->snext;
	uint64_t *h = s->heap;
	size_t nh = 0, k = 0;

	for (size_t i = 0; i < n; i++) {
		prev[i] = (int32_t)i - 1;
		next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
	}
	for (size_t i = 0; i + 1 < n; i++) {
		const struct mslot *m = merge_find(b, sym[i], sym[i + 1]);
		if (m->key)
			heap_push(h, &nh, (uint64_t)m->rank << 32 | i);
	}
	while (nh > 0) {
		uint64_t top = heap_pop(h, &nh);
		uint32_t r = (uint32_t)(top >> 32);
		int32_t p = (int32_t)(uint32_t)top, q;
		if (sym[p] < 0 || (q = next[p]) < 0)
			continue;
		const struct mslot *m = merge_find(b, sym[p], sym[q]);
		if (!m->key || m->rank != r)
			continue;
		sym[p] = m->id;
		sym[q] = -1;
		next[p] = next[q];
		if (next[q] >= 0)
			prev[next[q]] = p;
		if (prev[p] >= 0) {
			m = merge_find(b, sym[prev[p]], sym[p]);
			if (m->key)
				heap_push(h, &nh, (uint64_t)m->rank << 32 |
				    (uint32_t)prev[p]);
		}
		if (next[p] >= 0) {
			m = merge_find(b, sym[p], sym[next[p]]);
			if (m->key)
				heap_push(h, &nh, (uint64_t)m->rank << 32 |
				    (uint32_t)p);
		}
	}
	/* compact the survivors in order */
	for (int32_t i = 0; i >= 0; i = next[i]) {
		sym[k] = sym[i];
		s->sst[k] = s->sst[i];
		k++;
	}
	return k;
}

/* Encode one piece p[0..n) at offset off of the text. */
static int
bpe_piece(const struct bpe *b, struct qkv_tokscratch *s,
    const unsigned char *p, size_t n, size_t off, int shift,
    struct tokout *o)
{
	struct bc_slot *slot = NULL;
	uint32_t h = 0;
	size_t k = 0, m;

	if (n <= BC_KEY) {
		h = tok_hash(p, n);
		slot = &s->cache->slot[h & (BC_SLOTS - 1)];
		if (slot->hash == h && slot->klen == n && slot->nids > 0 &&
		    memcmp(slot->key, p, n) == 0) {
			size_t st = 0;
			for (unsigned i = 0; i < slot->nids; i++) {
				size_t a = off + st, z = off + slot->ends[i];
				if (shift) {
					a = a ? a - 1 : 0;
					z = z ? z - 1 : 0;
				}
				if (tokout_push(o, slot->ids[i], a, z) < 0)
					return -1;
				st = slot->ends[i];
			}
			return 0;
		}
	}
	if (sym_room(s, n, o->e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int32_t id = b->byte_id[p[i]];
		if (id < 0)
			continue;	/* not in the vocabulary: HF drops it */
		s->sym[k] = id;
		s->sst[k] = (uint32_t)i;
		k++;
	}
	m = k <= SMALL ? merge_scan(b, s, k) : merge_heap(b, s, k);
	s->sst[m] = (uint32_t)n;
	for (size_t i = 0; i < m; i++) {
		size_t a = off + s->sst[i], z = off + s->sst[i + 1];
		if (shift) {
			a = a ? a - 1 : 0;
			z = z ? z - 1 : 0;
		}
		if (tokout_push(o, s->sym[i], a, z) < 0)
			return -1;
	}
	if (slot != NULL && m <= BC_IDS && m > 0) {
		slot->hash = h;
		slot->klen = (uint8_t)n;
		slot->nids = (uint8_t)m;
		memcpy(slot->key, p, n);
		for (size_t i = 0; i < m; i++) {
			slot->ids[i] = s->sym[i];
			slot->ends[i] = (uint8_t)s->sst[i + 1];
		}
	}
	return 0;
}

void
bpe_cache_free(struct bpe_cache *c)
{
	free(c);
}

int
bpe_encode(const struct bpe *b, struct qkv_tokscratch *s, const char *text,
    size_t n, struct tokout *o)
{
	const unsigned char *u = (const unsigned char *)text;
	int shift = 0;

	if (s->cache == NULL || s->cache->owner != b) {
		if (s->cache == NULL &&
		    (s->cache = qkv_malloc(sizeof *s->cache, o->e)) == NULL)
			return -1;
		memset(s->cache, 0, sizeof *s->cache);
		s->cache->owner = b;
	}
	if (b->prefix_space && n > 0 && u[0] != ' ') {
		/* HF prepends a space; its tokens point at the text's start */
		if (tok_grow(&s->buf, &s->bufcap, n + 1, 1, o->e) < 0)
			return -1;
		s->buf[0] = ' ';
		memcpy(s->buf + 1, text, n);
		u = (const unsigned char *)s->buf;
		n++;
		shift = 1;
	}
	for (size_t i = 0; i < n;) {
		size_t j = next_piece(b, u, n, i);
		if (bpe_piece(b, s, u + i, j - i, i, shift, o) < 0)
			return -1;
		i = j;
	}
	return 0;
}
