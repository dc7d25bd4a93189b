/*
 * tokjson.c - a tokenizer's vocabulary object ("token": id, ...) read
 * straight from the JSON text.
 *
 * Building jansson's tree for tokenizer.json's model.vocab (30 to 50
 * thousand keys, each a malloc'd string, a value and a hash entry, lexed a
 * byte at a time) was two thirds of tok's start-up, and start-up is on
 * every pipeline's critical path.  So the loader finds the vocabulary's
 * span without building anything, reads it here, and gives jansson the
 * rest with the span replaced by an empty object (its newlines kept, so
 * jansson's line numbers stay right).
 *
 * The reader here is at least as strict as jansson: whatever it is unsure
 * of (an escaped or repeated key on the way, a value that is not a small
 * non-negative integer, bad UTF-8, deep nesting) makes it decline, and the
 * caller parses the whole text with jansson as before, so every error
 * message and every accepted file stays what it was.
 */
#include <string.h>

#include "tokint.h"

#define MAXDEPTH 64		/* deeper: decline, jansson judges */

static size_t
skip_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' ||
	    s[i] == '\r'))
		i++;
	return i;
}

/* The end of the string whose '"' is s[i] (one past the closing quote), or
 * 0 if it has none.  *esc tells whether it holds a backslash.  Only the
 * structure: the vocabulary's own strings are checked by tj_vocab. */
static size_t
skip_string(const char *s, size_t n, size_t i, int *esc)
{
	size_t j = i + 1;

	*esc = 0;
	while (j < n) {
		const char *q = memchr(s + j, '"', n - j);
		if (q == NULL)
			return 0;
		size_t k = (size_t)(q - s), b = k;
		while (b > i + 1 && s[b - 1] == '\\')
			b--;
		if (memchr(s + j, '\\', k - j) != NULL)
			*esc = 1;
		if ((k - b) % 2 == 0)
			return k + 1;
		j = k + 1;	/* an escaped quote */
	}
	return 0;
}

/* The end of the value starting at s[i], or 0. */
static size_t
skip_value(const char *s, size_t n, size_t i, int depth)
{
	int esc;

	if (i >= n)
		return 0;
	if (s[i] == '"')
		return skip_string(s, n, i, &esc);
	if (s[i] == '{' || s[i] == '[') {
		char close = s[i] == '{' ? '}' : ']';
		if (depth >= MAXDEPTH)
			return 0;
		i = skip_ws(s, n, i + 1);
		if (i < n && s[i] == close)
			return i + 1;
		for (;;) {
			if (close == '}') {
				if (i >= n || s[i] != '"' ||
				    (i = skip_string(s, n, i, &esc)) == 0)
					return 0;
				i = skip_ws(s, n, i);
				if (i >= n || s[i] != ':')
					return 0;
				i = skip_ws(s, n, i + 1);
			}
			if ((i = skip_value(s, n, i, depth + 1)) == 0)
				return 0;
			i = skip_ws(s, n, i);
			if (i < n && s[i] == ',') {
				i = skip_ws(s, n, i + 1);
				continue;
			}
			return i < n && s[i] == close ? i + 1 : 0;
		}
	}
	size_t j = i;	/* a number or a literal: jansson checks it */
	while (j < n && ((s[j] >= '0' && s[j] <= '9') || (s[j] >= 'a' &&
	    s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || s[j] == '-' ||
	    s[j] == '+' || s[j] == '.'))
		j++;
	return j > i ? j : 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* \uXXXX at s[i] (the backslash), its value in *u, or -1. */
static long
u_escape(const char *s, size_t n, size_t i)
{
	long u = 0;

	if (i + 6 > n || s[i + 1] != 'u')
		return -1;
	for (int k = 2; k < 6; k++) {
		int h = hexval(s[i + k]);
		if (h < 0)
			return -1;
		u = u << 4 | h;
	}
	return u;
}

/* The key string at s[i] ('"'), decoded into out (room for its raw
 * length: no escape decodes longer than itself).  Returns the end, or 0
 * where jansson would refuse it or where it holds a NUL. */
static size_t
read_key(const char *s, size_t n, size_t i, char *out, size_t *olen)
{
	size_t o = 0;

	for (i++; i < n; ) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"') {
			*olen = o;
			return i + 1;
		}
		if (c < 0x20)
			return 0;
		if (c != '\\') {
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return 0;
		const char *m = strchr("\"\\/bfnrt", s[i + 1]);
		if (m != NULL && s[i + 1] != '\0') {
			out[o++] = "\"\\/\b\f\n\r\t"[m - "\"\\/bfnrt"];
			i += 2;
			continue;
		}
		long u = u_escape(s, n, i);
		if (u < 0 || u == 0 || (u >= 0xdc00 && u <= 0xdfff))
			return 0;
		i += 6;
		if (u >= 0xd800 && u <= 0xdbff) {
			long lo = u_escape(s, n, i);
			if (i >= n || s[i] != '\\' || lo < 0xdc00 ||
			    lo > 0xdfff)
				return 0;
			u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			i += 6;
		}
		o += (size_t)tu_encode((uint32_t)u, out + o);
	}
	return 0;
}

/* The object of "token": id at s[i], members handed to add (if not NULL)
 * in order: its end in *end and 1, 0 if declined, -1 if add failed. */
static int
vocab_scan(const char *s, size_t n, size_t i, int32_t maxid, tj_add_fn add,
    void *ctx, size_t *end, qkv_err *e)
{
	char *key;
	size_t klen;
	int rc = 0;

	if (i >= n || s[i] != '{' || (key = malloc(n - i)) == NULL)
		return 0;
	i = skip_ws(s, n, i + 1);
	if (i < n && s[i] == '}')
		goto end;
	for (;;) {
		int32_t id = 0;
		if (i >= n || s[i] != '"' || (i = read_key(s, n, i, key,
		    &klen)) == 0)
			goto out;
		i = skip_ws(s, n, i);
		if (i >= n || s[i] != ':')
			goto out;
		i = skip_ws(s, n, i + 1);
		/* an integer in [0, maxid): digits, no leading zero */
		size_t d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9' && i - d < 9) {
			id = id * 10 + (s[i] - '0');
			i++;
		}
		if (i == d || (s[d] == '0' && i - d > 1) || id >= maxid)
			goto out;
		if (i < n && (s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
		    (s[i] >= '0' && s[i] <= '9')))
			goto out;
		if (add != NULL && add(ctx, key, klen, id, e) < 0) {
			rc = -1;
			goto out;
		}
		i = skip_ws(s, n, i);
		if (i < n && s[i] == ',') {
			i = skip_ws(s, n, i + 1);
			continue;
		}
		if (i < n && s[i] == '}')
			break;
		goto out;
	}
end:
	*end = i + 1;
	rc = 1;
out:
	free(key);
	return rc;
}

/* In the object at s[i], the member named path[0] (no escapes), and in
 * its value (an object) path[1], and so on: the last one's value, a
 * vocabulary object of ids below maxid, spans [*at, *end).  Returns the
 * end of the object, or 0 if it is malformed, names a key with an escape
 * (which might spell the name) or names it twice.  *at = 0 if absent. */
static size_t
member(const char *s, size_t n, size_t i, const char *const *path,
    int32_t maxid, size_t *at, size_t *end)
{
	size_t kl = strlen(path[0]);
	int esc, found = 0;

	*at = *end = 0;
	if (i >= n || s[i] != '{')
		return 0;
	i = skip_ws(s, n, i + 1);
	if (i < n && s[i] == '}')
		return i + 1;
	for (;;) {
		size_t k = i, v;
		if (i >= n || s[i] != '"' || (i = skip_string(s, n, i,
		    &esc)) == 0 || esc)
			return 0;
		int hit = i - k - 2 == kl && memcmp(s + k + 1, path[0], kl) == 0;
		i = skip_ws(s, n, i);
		if (i >= n || s[i] != ':')
			return 0;
		v = skip_ws(s, n, i + 1);
		if (hit && found++)
			return 0;
		if (!hit)
			i = skip_value(s, n, v, 1);
		else if (path[1] != NULL)
			i = member(s, n, v, path + 1, maxid, at, end);
		else if (vocab_scan(s, n, v, maxid, NULL, NULL, &i, NULL) ==
		    1)
			*at = v, *end = i;
		else
			i = 0;
		if (i == 0)
			return 0;
		i = skip_ws(s, n, i);
		if (i < n && s[i] == ',') {
			i = skip_ws(s, n, i + 1);
			continue;
		}
		return i < n && s[i] == '}' ? i + 1 : 0;
	}
}

int
tj_find_vocab(const char *s, size_t n, int32_t maxid, size_t *at,
    size_t *len)
{
	static const char *const path[] = {"model", "vocab", NULL};
	size_t i = skip_ws(s, n, 0), end;

	/* jansson refuses bad UTF-8 anywhere: check it once */
	if (tu_valid((const unsigned char *)s, n) != n)
		return 0;
	if ((i = member(s, n, i, path, maxid, at, &end)) == 0 || *at == 0 ||
	    skip_ws(s, n, i) != n)
		return 0;
	*len = end - *at;
	return 1;
}

int
tj_vocab(const char *s, size_t n, int32_t maxid, tj_add_fn add, void *ctx,
    qkv_err *e)
{
	size_t i = skip_ws(s, n, 0), end;
	int rc;

	if (tu_valid((const unsigned char *)s, n) != n)
		return 0;
	if ((rc = vocab_scan(s, n, i, maxid, add, ctx, &end, e)) != 1)
		return rc;
	return skip_ws(s, n, end) == n;
}
