/*
 * tokutil.c - the tokenizers' containers: a string hash table, a byte
 * trie, and the matching of added tokens (leftmost-longest, with the
 * single_word / lstrip / rstrip rules of Hugging Face's AddedVocabulary).
 */
#include <string.h>
#include <utf8proc.h>

#include "tokint.h"

uint32_t
tok_hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull), v;

	while (n >= 8) {
		memcpy(&v, s, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		s += 8;
		n -= 8;
	}
	v = 0;
	memcpy(&v, s, n);
	h = (h ^ v) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (uint32_t)h;
}

int
tok_grow(void *pp, size_t *cap, size_t need, size_t elsize, qkv_err *e)
{
	void **p = pp;
	size_t nc = *cap ? *cap : 16, bytes;
	void *np;

	if (need <= *cap)
		return 0;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return qkv_errf(e, "out of memory");
		nc *= 2;
	}
	if (qkv_mul_size(nc, elsize, &bytes) < 0 ||
	    (np = realloc(*p, bytes)) == NULL)
		return qkv_errf(e, "out of memory");
	*p = np;
	*cap = nc;
	return 0;
}

/* ---- strtab ------------------------------------------------------------ */

int
strtab_init(struct strtab *t, size_t hint, qkv_err *e)
{
	size_t n = 64;

	memset(t, 0, sizeof *t);
	while (n < hint * 2)
		n *= 2;
	if ((t->slot = qkv_malloc(n * sizeof *t->slot, e)) == NULL)
		return -1;
	memset(t->slot, 0xff, n * sizeof *t->slot);
	t->mask = n - 1;
	return 0;
}

void
strtab_free(struct strtab *t)
{
	free(t->slot);
	free(t->ent);
	free(t->arena);
	memset(t, 0, sizeof *t);
}

static inline int
same_key(const char *a, const char *b, size_t n)
{
	/* words are short: compare in place before calling memcmp */
	if (n <= 8) {
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i])
				return 0;
		return 1;
	}
	return memcmp(a, b, n) == 0;
}

static size_t
strtab_find(const struct strtab *t, const char *k, size_t n, uint32_t h)
{
	size_t i = h & t->mask;

	for (;;) {
		const struct stslot *x = &t->slot[i];
		if (x->len == UINT32_MAX ||
		    (x->hash == h && x->len == n &&
		    same_key(t->arena + x->off, k, n)))
			return i;
		i = (i + 1) & t->mask;
	}
}

static int
strtab_rehash(struct strtab *t, qkv_err *e)
{
	size_t n = (t->mask + 1) * 2;
	struct stslot *ns = qkv_malloc(n * sizeof *ns, e);

	if (ns == NULL)
		return -1;
	memset(ns, 0xff, n * sizeof *ns);
	free(t->slot);
	t->slot = ns;
	t->mask = n - 1;
	for (size_t j = 0; j < t->n; j++) {
		const struct stent *x = &t->ent[j];
		size_t i = x->hash & t->mask;
		while (t->slot[i].len != UINT32_MAX)
			i = (i + 1) & t->mask;
		t->slot[i] = (struct stslot){x->hash, x->val, x->off, x->len};
	}
	return 0;
}

int
strtab_put(struct strtab *t, const char *k, size_t n, int32_t v, qkv_err *e)
{
	uint32_t h = tok_hash(k, n);
	size_t i = strtab_find(t, k, n, h);

	if (t->slot[i].len != UINT32_MAX) {
		/* overwrite: the slot and the key's entry (entries are in
		 * arena order, so found by its offset) */
		size_t lo = 0, hi = t->n;
		t->slot[i].val = v;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (t->ent[mid].off < t->slot[i].off)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < t->n && t->ent[lo].off == t->slot[i].off)
			t->ent[lo].val = v;
		return 0;
	}
	if (n >= UINT32_MAX || t->alen + n > UINT32_MAX || t->n >= INT32_MAX)
		return qkv_errf(e, "vocabulary too large");
	if (tok_grow(&t->ent, &t->cap, t->n + 1, sizeof *t->ent, e) < 0 ||
	    tok_grow(&t->arena, &t->acap, t->alen + n + 1, 1, e) < 0)
		return -1;
	memcpy(t->arena + t->alen, k, n);
	t->arena[t->alen + n] = '\0';
	t->ent[t->n++] = (struct stent){(uint32_t)t->alen, (uint32_t)n, h, v};
	t->slot[i] = (struct stslot){h, v, (uint32_t)t->alen, (uint32_t)n};
	t->alen += n + 1;
	if (t->n * 2 > t->mask + 1)
		return strtab_rehash(t, e);
	return 0;
}

int32_t
strtab_get(const struct strtab *t, const char *k, size_t n)
{
	uint32_t h = tok_hash(k, n);

	return t->slot[strtab_find(t, k, n, h)].val;
}

/* ---- btrie ------------------------------------------------------------- */

int
btrie_init(struct btrie *t, int ndense, qkv_err *e)
{
	memset(t, 0, sizeof *t);
	memset(t->dense, 0xff, sizeof t->dense);
	t->ndense = ndense;
	if (tok_grow(&t->term, &t->ncap, 1024, sizeof *t->term, e) < 0)
		return -1;
	t->nnodes = (size_t)ndense;
	for (int i = 0; i < ndense; i++)
		t->term[i] = -1;
	t->emask = 1023;
	if ((t->ekey = qkv_calloc(t->emask + 1, sizeof *t->ekey, e)) == NULL ||
	    (t->eval = qkv_malloc((t->emask + 1) * sizeof *t->eval, e)) ==
	    NULL)
		return -1;
	return 0;
}

void
btrie_free(struct btrie *t)
{
	free(t->term);
	free(t->ekey);
	free(t->eval);
	memset(t, 0, sizeof *t);
}

static size_t
edge_slot(const struct btrie *t, uint64_t k)
{
	size_t h = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & t->emask;

	while (t->ekey[h] != 0 && t->ekey[h] != k)
		h = (h + 1) & t->emask;
	return h;
}

/* The edge table resized to n (a power of two) slots. */
static int
edge_rehash(struct btrie *t, size_t n, qkv_err *e)
{
	uint64_t *ok = t->ekey;
	int32_t *ov = t->eval;
	size_t on = t->emask + 1;

	if ((t->ekey = qkv_calloc(n, sizeof *t->ekey, e)) == NULL) {
		t->ekey = ok;
		return -1;
	}
	if ((t->eval = qkv_malloc(n * sizeof *t->eval, e)) == NULL) {
		free(t->ekey);
		t->ekey = ok;
		t->eval = ov;
		return -1;
	}
	t->emask = n - 1;
	for (size_t i = 0; i < on; i++) {
		if (ok[i] == 0)
			continue;
		size_t h = edge_slot(t, ok[i]);
		t->ekey[h] = ok[i];
		t->eval[h] = ov[i];
	}
	free(ok);
	free(ov);
	return 0;
}

int
btrie_reserve(struct btrie *t, size_t nodes, qkv_err *e)
{
	size_t n = t->emask + 1;

	/* room for nodes nodes and edges, the edge table at most half full:
	 * growing by doubling rehashed every edge about twice over */
	if (tok_grow(&t->term, &t->ncap, nodes, sizeof *t->term, e) < 0)
		return -1;
	while (n < 2 * nodes && n < ((size_t)1 << 40))
		n *= 2;
	return n > t->emask + 1 ? edge_rehash(t, n, e) : 0;
}

int
btrie_insert(struct btrie *t, int32_t node, const char *s, size_t n,
    int32_t val, qkv_err *e)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)s[i];
		int32_t c = btrie_child(t, node, b);
		if (c < 0) {
			if (t->nnodes >= INT32_MAX ||
			    tok_grow(&t->term, &t->ncap, t->nnodes + 1,
			    sizeof *t->term, e) < 0)
				return qkv_errf(e, "out of memory");
			c = (int32_t)t->nnodes++;
			t->term[c] = -1;
			if (node < t->ndense)
				t->dense[node][b] = c;
			else {
				uint64_t k = ((uint64_t)node << 8 | b) + 1;
				size_t h = edge_slot(t, k);
				t->ekey[h] = k;
				t->eval[h] = c;
				if (++t->nedges * 2 > t->emask + 1 &&
				    edge_rehash(t, (t->emask + 1) * 2, e) < 0)
					return -1;
			}
		}
		node = c;
	}
	t->term[node] = val;
	return 0;
}

/* ---- added tokens ------------------------------------------------------ */

/* Rust regex \w and \s, as AddedVocabulary's single_word and strip rules
 * use them. */
static int
word_char(int32_t c)
{
	utf8proc_category_t k;

	if (c < 0)
		return 0;
	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '_';
	if (c == 0x200c || c == 0x200d)
		return 1;
	k = utf8proc_category(c);
	return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ND) ||
	    k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
}

static int
space_char(int32_t c)
{
	struct tu_props p;

	if (c < 0)
		return 0;
	if (c < 0x80)
		return c == ' ' || (c >= 9 && c <= 13);
	tu_base((uint32_t)c, &p);
	return p.ws;
}

/* The character ending at s[end) (walking back over continuation bytes). */
static int32_t
char_before(const char *s, size_t end, size_t *start)
{
	size_t i = end;
	int32_t c;

	while (i > 0 && end - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0)
		i--;
	if (tu_decode((const unsigned char *)s + i, end - i, &c) !=
	    (int)(end - i))
		c = -1;
	*start = i;
	return c;
}

long
addset_next(const struct addset *a, const char *s, size_t n, size_t from,
    size_t prev_end, int plain, size_t *ms, size_t *me)
{
	const unsigned char *u = (const unsigned char *)s;

	if (a == NULL || a->n == 0)
		return -1;
	for (size_t pos = from; pos < n;) {
		if (!a->first[u[pos]]) {
			pos++;
			continue;
		}
		/* longest match starting here */
		int32_t node = btrie_child(&a->trie, 0, u[pos]);
		long best = -1;
		size_t bend = 0;
		for (size_t i = pos; node >= 0;) {
			if (a->trie.term[node] >= 0) {
				best = a->trie.term[node];
				bend = i + 1;
			}
			if (++i >= n)
				break;
			node = btrie_child(&a->trie, node, u[i]);
		}
		if (best < 0) {
			pos++;
			continue;
		}
		const struct addtok *t = &a->toks[best];
		size_t start = pos, stop = bend, cs;
		int32_t c;
		if (plain && t->special) {
			pos = bend;
			continue;
		}
		if (t->single_word) {
			int lw = start > 0 && word_char(char_before(s, start,
			    &cs));
			int rw = 0;
			if (stop < n && tu_decode(u + stop, n - stop, &c) > 0)
				rw = word_char(c);
			if (lw || rw) {
				pos = bend;
				continue;
			}
		}
		if (t->lstrip) {
			while (start > prev_end) {
				c = char_before(s, start, &cs);
				if (!space_char(c) || cs < prev_end)
					break;
				start = cs;
			}
		}
		if (t->rstrip) {
			while (stop < n) {
				int l = tu_decode(u + stop, n - stop, &c);
				if (!space_char(c))
					break;
				stop += (size_t)l;
			}
		}
		*ms = start;
		*me = stop;
		return best;
	}
	return -1;
}
