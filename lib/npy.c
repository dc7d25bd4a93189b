/*
 * npy.c - NumPy .npy files: map one for reading, write one.
 * Versions 1.0-3.0; little-endian (or byte-order-free) numeric dtypes in C
 * order.  The header is a Python dict literal; only the three keys NumPy
 * writes are accepted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qkv.h"

struct qkv_npy {
	qkv_tensor t;
	char *name;
	void *map;
	size_t maplen;
};

static const struct {
	const char *descr;
	int dtype;
} descrs[] = {
	{"<f4", QKV_F32}, {"<f8", QKV_F64}, {"<f2", QKV_F16},
	{"<i4", QKV_I32}, {"<i8", QKV_I64}, {"<i2", QKV_I16},
	{"<u2", QKV_U16}, {"|i1", QKV_I8}, {"|u1", QKV_U8}, {"|b1", QKV_U8},
	{"<i1", QKV_I8}, {"<u1", QKV_U8},
};

static const char *
skipws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n'))
		p++;
	return p;
}

/* Parse the header dict {'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), } in any key order. */
static int
parse_header(const char *h, size_t n, qkv_tensor *t, const char *name,
    qkv_err *e)
{
	const char *p = h, *end = h + n;
	int have = 0;

	p = skipws(p, end);
	if (p >= end || *p++ != '{')
		return qkv_errf(e, "%s: bad .npy header", name);
	for (;;) {
		char key[32];
		size_t k = 0;
		p = skipws(p, end);
		if (p < end && *p == '}')
			break;
		if (p >= end || *p++ != '\'')
			return qkv_errf(e, "%s: bad .npy header", name);
		while (p < end && *p != '\'' && k < sizeof key - 1)
			key[k++] = *p++;
		key[k] = '\0';
		if (p >= end || *p++ != '\'')
			return qkv_errf(e, "%s: bad .npy header", name);
		p = skipws(p, end);
		if (p >= end || *p++ != ':')
			return qkv_errf(e, "%s: bad .npy header", name);
		p = skipws(p, end);
		if (strcmp(key, "descr") == 0) {
			char d[16];
			size_t j = 0;
			if (p >= end || *p++ != '\'')
				return qkv_errf(e, "%s: bad .npy descr", name);
			while (p < end && *p != '\'' && j < sizeof d - 1)
				d[j++] = *p++;
			d[j] = '\0';
			if (p >= end || *p++ != '\'')
				return qkv_errf(e, "%s: bad .npy descr", name);
			t->dtype = QKV_NONE;
			for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
				if (strcmp(d, descrs[i].descr) == 0)
					t->dtype = descrs[i].dtype;
			if (t->dtype == QKV_NONE)
				return qkv_errf(e, "%s: unsupported .npy dtype '%s'",
				    name, d);
			have |= 1;
		} else if (strcmp(key, "fortran_order") == 0) {
			if (end - p >= 5 && memcmp(p, "False", 5) == 0)
				p += 5;
			else if (end - p >= 4 && memcmp(p, "True", 4) == 0)
				return qkv_errf(e, "%s: Fortran-order .npy files "
				    "are not supported", name);
			else
				return qkv_errf(e, "%s: bad .npy header", name);
			have |= 2;
		} else if (strcmp(key, "shape") == 0) {
			if (p >= end || *p++ != '(')
				return qkv_errf(e, "%s: bad .npy shape", name);
			t->ndim = 0;
			for (;;) {
				p = skipws(p, end);
				if (p < end && *p == ')') {
					p++;
					break;
				}
				if (p >= end || *p < '0' || *p > '9')
					return qkv_errf(e, "%s: bad .npy shape",
					    name);
				if (t->ndim == QKV_MAXDIM)
					return qkv_errf(e, "%s: more than %d "
					    "dimensions", name, QKV_MAXDIM);
				int64_t v = 0;
				while (p < end && *p >= '0' && *p <= '9') {
					if (v > (INT64_MAX - 9) / 10)
						return qkv_errf(e, "%s: .npy "
						    "dimension too large", name);
					v = v * 10 + (*p++ - '0');
				}
				t->shape[t->ndim++] = v;
				p = skipws(p, end);
				if (p < end && *p == ',')
					p++;
			}
			have |= 4;
		} else
			return qkv_errf(e, "%s: unknown .npy header key '%s'",
			    name, key);
		p = skipws(p, end);
		if (p < end && *p == ',')
			p++;
	}
	if (have != 7)
		return qkv_errf(e, "%s: .npy header lacks a key", name);
	return 0;
}

static qkv_npy *
npy_parse(qkv_npy *n, const unsigned char *b, size_t len, qkv_err *e)
{
	size_t hlen, hoff, nbytes = qkv_dtype_size(0);
	const char *name = n->name;

	if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
		qkv_errf(e, "%s: not a .npy file", name);
		return NULL;
	}
	if (b[6] == 1) {
		hlen = b[8] | (size_t)b[9] << 8;
		hoff = 10;
	} else if (b[6] == 2 || b[6] == 3) {
		if (len < 12) {
			qkv_errf(e, "%s: truncated .npy header", name);
			return NULL;
		}
		hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
		    (size_t)b[11] << 24;
		hoff = 12;
	} else {
		qkv_errf(e, "%s: unsupported .npy version %d", name, b[6]);
		return NULL;
	}
	if (hlen > len - hoff) {
		qkv_errf(e, "%s: truncated .npy header", name);
		return NULL;
	}
	if (parse_header((const char *)b + hoff, hlen, &n->t, name, e) < 0)
		return NULL;
	nbytes = qkv_dtype_size(n->t.dtype);
	for (int i = 0; i < n->t.ndim; i++) {
		if (qkv_mul_size(nbytes, (size_t)n->t.shape[i], &nbytes) < 0) {
			qkv_errf(e, "%s: .npy size overflows", name);
			return NULL;
		}
	}
	if (nbytes != len - hoff - hlen) {
		qkv_errf(e, "%s: .npy data is %zu bytes, shape says %zu", name,
		    len - hoff - hlen, nbytes);
		return NULL;
	}
	n->t.name = n->name;
	n->t.data = b + hoff + hlen;
	n->t.nbytes = nbytes;
	return n;
}

qkv_npy *
qkv_npy_open(const char *path, qkv_err *e)
{
	qkv_npy *n;
	struct stat st;
	int fd;

	if ((n = qkv_calloc(1, sizeof *n, e)) == NULL)
		return NULL;
	if ((n->name = strdup(path)) == NULL) {
		free(n);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		qkv_errf(e, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		qkv_errf(e, "%s: not a regular file", path);
		goto fail;
	}
	n->maplen = (size_t)st.st_size;
	if (n->maplen > 0) {
		n->map = mmap(NULL, n->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
		if (n->map == MAP_FAILED) {
			n->map = NULL;
			qkv_errf(e, "%s: %s", path, strerror(errno));
			goto fail;
		}
	}
	close(fd);
	fd = -1;
	if (npy_parse(n, n->map, n->maplen, e) == NULL)
		goto fail;
	return n;
fail:
	if (fd >= 0)
		close(fd);
	qkv_npy_close(n);
	return NULL;
}

qkv_npy *
qkv_npy_parse(const void *buf, size_t len, const char *name, qkv_err *e)
{
	qkv_npy *n;

	if ((n = qkv_calloc(1, sizeof *n, e)) == NULL)
		return NULL;
	if ((n->name = strdup(name)) == NULL) {
		free(n);
		qkv_errf(e, "out of memory");
		return NULL;
	}
	if (npy_parse(n, buf, len, e) == NULL) {
		qkv_npy_close(n);
		return NULL;
	}
	return n;
}

const qkv_tensor *
qkv_npy_tensor(const qkv_npy *n)
{
	return &n->t;
}

void
qkv_npy_close(qkv_npy *n)
{
	if (n == NULL)
		return;
	if (n->map != NULL)
		munmap(n->map, n->maplen);
	free(n->name);
	free(n);
}

int
qkv_npy_write_header(FILE *f, int dtype, int ndim, const int64_t *shape,
    qkv_err *e)
{
	char dict[512], shp[256] = "";
	const char *descr = NULL;
	size_t len = 0;

	for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
		if (descrs[i].dtype == dtype && descr == NULL)
			descr = descrs[i].descr;
	if (descr == NULL)
		return qkv_errf(e, "dtype %s has no .npy equivalent",
		    qkv_dtype_name(dtype));
	if (ndim < 0 || ndim > QKV_MAXDIM)
		return qkv_errf(e, "bad rank %d", ndim);
	for (int i = 0; i < ndim; i++)
		len += (size_t)snprintf(shp + len, sizeof shp - len, "%" PRId64 "%s",
		    shape[i], ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
	int n = snprintf(dict, sizeof dict,
	    "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
	    descr, shp);
	/* pad with spaces so that data starts on a 64-byte boundary */
	size_t total = 10 + (size_t)n + 1;
	size_t pad = (64 - total % 64) % 64;
	size_t hlen = (size_t)n + pad + 1;
	unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
	    (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
	if (fwrite(pre, 1, 10, f) != 10 || fwrite(dict, 1, (size_t)n, f) != (size_t)n)
		return qkv_errf(e, "write error: %s", strerror(errno));
	for (size_t i = 0; i < pad; i++)
		if (putc(' ', f) == EOF)
			return qkv_errf(e, "write error: %s", strerror(errno));
	if (putc('\n', f) == EOF)
		return qkv_errf(e, "write error: %s", strerror(errno));
	return 0;
}

int
qkv_npy_write(FILE *f, int dtype, int ndim, const int64_t *shape,
    const void *data, qkv_err *e)
{
	size_t nbytes = qkv_dtype_size(dtype);

	for (int i = 0; i < ndim; i++)
		if (shape[i] < 0 || qkv_mul_size(nbytes, (size_t)shape[i], &nbytes) < 0)
			return qkv_errf(e, "array size overflows");
	if (qkv_npy_write_header(f, dtype, ndim, shape, e) < 0)
		return -1;
	if (nbytes > 0 && fwrite(data, 1, nbytes, f) != nbytes)
		return qkv_errf(e, "write error: %s", strerror(errno));
	return 0;
}
