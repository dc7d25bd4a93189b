/*
 * safetensors.c - read safetensors files by mapping them.
 *
 * Layout: u64 little-endian N, N bytes of JSON header, then the data
 * buffer.  The header maps each tensor name to {dtype, shape,
 * data_offsets: [begin, end)} relative to the data buffer, plus an
 * optional "__metadata__" object of strings.  Every number is checked
 * against the file before use: the file comes from the internet.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qkv.h"

#define ST_MAX_HEADER (100u << 20)	/* what the reference accepts */

struct qkv_st {
	char *name;
	void *map;		/* NULL when parsing caller's memory */
	size_t maplen;
	int n;
	qkv_tensor *t;		/* sorted by data offset */
	int nmeta;
	char **mkey, **mval;
};

static const struct {
	const char *name;
	int dtype;
} st_dtypes[] = {
	{"F32", QKV_F32}, {"F16", QKV_F16}, {"BF16", QKV_BF16},
	{"F64", QKV_F64}, {"I64", QKV_I64}, {"I32", QKV_I32},
	{"I16", QKV_I16}, {"I8", QKV_I8}, {"U8", QKV_U8}, {"BOOL", QKV_U8},
	{"U16", QKV_U16},
};

void
qkv_st_close(qkv_st *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < st->n; i++)
		free((char *)st->t[i].name);
	for (int i = 0; i < st->nmeta; i++) {
		free(st->mkey[i]);
		free(st->mval[i]);
	}
	free(st->mkey);
	free(st->mval);
	free(st->t);
	if (st->map != NULL)
		munmap(st->map, st->maplen);
	free(st->name);
	free(st);
}

static int
cmp_offset(const void *a, const void *b)
{
	const qkv_tensor *x = a, *y = b;
	const char *px = x->data, *py = y->data;

	if (px != py)
		return px < py ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
parse_meta(qkv_st *st, json_t *meta, qkv_err *e)
{
	const char *k;
	json_t *v;
	size_t n = json_object_size(meta);

	if (!json_is_object(meta))
		return qkv_errf(e, "%s: __metadata__ is not an object",
		    st->name);
	st->mkey = calloc(n ? n : 1, sizeof *st->mkey);
	st->mval = calloc(n ? n : 1, sizeof *st->mval);
	if (st->mkey == NULL || st->mval == NULL)
		return qkv_errf(e, "out of memory");
	json_object_foreach(meta, k, v) {
		if (!json_is_string(v))
			return qkv_errf(e, "%s: __metadata__ value of '%s' is "
			    "not a string", st->name, k);
		st->mkey[st->nmeta] = strdup(k);
		st->mval[st->nmeta] = strdup(json_string_value(v));
		if (st->mkey[st->nmeta] == NULL || st->mval[st->nmeta] == NULL)
			return qkv_errf(e, "out of memory");
		st->nmeta++;
	}
	return 0;
}

static int
parse_tensor(qkv_st *st, const char *k, json_t *v, const unsigned char *data,
    size_t datalen, qkv_tensor *t, qkv_err *e)
{
	json_t *dt = json_object_get(v, "dtype");
	json_t *shape = json_object_get(v, "shape");
	json_t *off = json_object_get(v, "data_offsets");
	size_t nbytes, i;
	json_int_t b, en;

	if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(shape)
	    || !json_is_array(off) || json_array_size(off) != 2)
		return qkv_errf(e, "%s: tensor '%s': needs dtype, shape and "
		    "data_offsets", st->name, k);
	t->dtype = QKV_NONE;
	for (i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
		if (strcmp(json_string_value(dt), st_dtypes[i].name) == 0)
			t->dtype = st_dtypes[i].dtype;
	if (t->dtype == QKV_NONE)
		return qkv_errf(e, "%s: tensor '%s': unsupported dtype %s",
		    st->name, k, json_string_value(dt));
	if (json_array_size(shape) > QKV_MAXDIM)
		return qkv_errf(e, "%s: tensor '%s': more than %d dimensions",
		    st->name, k, QKV_MAXDIM);
	t->ndim = (int)json_array_size(shape);
	nbytes = qkv_dtype_size(t->dtype);
	for (i = 0; i < json_array_size(shape); i++) {
		json_t *d = json_array_get(shape, i);
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return qkv_errf(e, "%s: tensor '%s': bad shape",
			    st->name, k);
		t->shape[i] = json_integer_value(d);
		if (qkv_mul_size(nbytes, (size_t)t->shape[i], &nbytes) < 0)
			return qkv_errf(e, "%s: tensor '%s': size overflows",
			    st->name, k);
	}
	if (!json_is_integer(json_array_get(off, 0)) ||
	    !json_is_integer(json_array_get(off, 1)))
		return qkv_errf(e, "%s: tensor '%s': bad data_offsets",
		    st->name, k);
	b = json_integer_value(json_array_get(off, 0));
	en = json_integer_value(json_array_get(off, 1));
	if (b < 0 || en < b || (uint64_t)en > datalen)
		return qkv_errf(e, "%s: tensor '%s': data_offsets [%lld, %lld) "
		    "outside the %zu-byte data buffer", st->name, k,
		    (long long)b, (long long)en, datalen);
	if ((size_t)(en - b) != nbytes)
		return qkv_errf(e, "%s: tensor '%s': %lld bytes of data, shape "
		    "and dtype say %zu", st->name, k, (long long)(en - b),
		    nbytes);
	if ((t->name = strdup(k)) == NULL)
		return qkv_errf(e, "out of memory");
	t->data = data + b;
	t->nbytes = nbytes;
	return 0;
}

static qkv_st *
st_parse(qkv_st *st, const unsigned char *buf, size_t len, qkv_err *e)
{
	uint64_t hlen = 0;
	json_t *root = NULL, *v;
	json_error_t je;
	const char *k;

	if (len < 8) {
		qkv_errf(e, "%s: too short for a safetensors file (%zu bytes)",
		    st->name, len);
		goto fail;
	}
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | buf[i];
	if (hlen > ST_MAX_HEADER || hlen > len - 8) {
		qkv_errf(e, "%s: offset 0: header length %llu does not fit "
		    "the %zu-byte file", st->name, (unsigned long long)hlen,
		    len);
		goto fail;
	}
	root = json_loadb((const char *)buf + 8, (size_t)hlen,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (root == NULL) {
		qkv_errf(e, "%s: offset %d: bad JSON header: %s", st->name,
		    8 + je.position, je.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		qkv_errf(e, "%s: offset 8: JSON header is not an object",
		    st->name);
		goto fail;
	}
	st->t = calloc(json_object_size(root) + 1, sizeof *st->t);
	if (st->t == NULL) {
		qkv_errf(e, "out of memory");
		goto fail;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "__metadata__") == 0) {
			if (parse_meta(st, v, e) < 0)
				goto fail;
			continue;
		}
		if (parse_tensor(st, k, v, buf + 8 + hlen, len - 8 - hlen,
		    &st->t[st->n], e) < 0)
			goto fail;
		st->n++;
	}
	qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_offset);
	json_decref(root);
	return st;
fail:
	json_decref(root);
	qkv_st_close(st);
	return NULL;
}

static qkv_st *
st_new(const char *name, qkv_err *e)
{
	qkv_st *st = qkv_calloc(1, sizeof *st, e);

	if (st != NULL && (st->name = strdup(name)) == NULL) {
		free(st);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	return st;
}

qkv_st *
qkv_st_parse(const void *buf, size_t len, const char *name, qkv_err *e)
{
	qkv_st *st = st_new(name, e);

	return st ? st_parse(st, buf, len, e) : NULL;
}

qkv_st *
qkv_st_open(const char *path, qkv_err *e)
{
	struct stat sb;
	qkv_st *st;
	int fd;

	if ((st = st_new(path, e)) == NULL)
		return NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		qkv_st_close(st);
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		qkv_errf(e, "%s: not a regular file", path);
		qkv_st_close(st);
		return NULL;
	}
	st->maplen = (size_t)sb.st_size;
	if (st->maplen > 0) {
		st->map = mmap(NULL, st->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
		if (st->map == MAP_FAILED) {
			st->map = NULL;
			qkv_errf(e, "%s: %s", path, strerror(errno));
			close(fd);
			qkv_st_close(st);
			return NULL;
		}
	}
	close(fd);
	return st_parse(st, st->map, st->maplen, e);
}

int
qkv_st_ntensors(const qkv_st *st)
{
	return st->n;
}

const qkv_tensor *
qkv_st_tensor(const qkv_st *st, int i)
{
	return i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const qkv_tensor *
qkv_st_find(const qkv_st *st, const char *name)
{
	for (int i = 0; i < st->n; i++)
		if (strcmp(st->t[i].name, name) == 0)
			return &st->t[i];
	return NULL;
}

const char *
qkv_st_meta(const qkv_st *st, const char *key)
{
	for (int i = 0; i < st->nmeta; i++)
		if (strcmp(st->mkey[i], key) == 0)
			return st->mval[i];
	return NULL;
}
