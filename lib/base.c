/* base.c - errors, dtypes, half floats, checked arithmetic. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "qkv.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "qkv assumes a little-endian host"
#endif

int
qkv_errf(qkv_err *e, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
qkv_errprefix(qkv_err *e, const char *prefix)
{
	char tmp[sizeof e->msg];
	size_t n;

	if (e == NULL)
		return -1;
	memcpy(tmp, e->msg, sizeof tmp);
	n = strlen(prefix);
	if (n > sizeof e->msg / 2)
		n = sizeof e->msg / 2;
	memcpy(e->msg, prefix, n);
	memcpy(e->msg + n, ": ", 2);
	tmp[sizeof tmp - n - 3] = '\0';
	memcpy(e->msg + n + 2, tmp, strlen(tmp) + 1);
	return -1;
}

static const struct {
	const char *name;
	size_t size;
} dtypes[QKV_NDTYPE] = {
	[QKV_NONE] = {"none", 0},
	[QKV_U8] = {"u8", 1}, [QKV_I8] = {"i8", 1},
	[QKV_U16] = {"u16", 2}, [QKV_I16] = {"i16", 2},
	[QKV_I32] = {"i32", 4}, [QKV_I64] = {"i64", 8},
	[QKV_F16] = {"f16", 2}, [QKV_BF16] = {"bf16", 2},
	[QKV_F32] = {"f32", 4}, [QKV_F64] = {"f64", 8},
	[QKV_STR] = {"str", 0},
};

size_t
qkv_dtype_size(int dtype)
{
	if (dtype <= 0 || dtype >= QKV_NDTYPE)
		return 0;
	return dtypes[dtype].size;
}

const char *
qkv_dtype_name(int dtype)
{
	if (dtype < 0 || dtype >= QKV_NDTYPE)
		return "?";
	return dtypes[dtype].name;
}

int
qkv_dtype_parse(const char *name)
{
	for (int i = 1; i < QKV_NDTYPE; i++)
		if (strcmp(name, dtypes[i].name) == 0)
			return i;
	return QKV_NONE;
}

float
qkv_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
	float f;

	if (exp == 0) {
		/* zero or subnormal: exact in f32 */
		f = ldexpf((float)man, -24);
		return sign ? -f : f;
	}
	if (exp == 31)
		u = sign | 0x7f800000u | (man << 13);
	else
		u = sign | ((exp + 112) << 23) | (man << 13);
	memcpy(&f, &u, 4);
	return f;
}

uint16_t
qkv_f32_to_f16(float f)
{
	uint32_t u, sign, man;
	int exp;

	memcpy(&u, &f, 4);
	sign = (u >> 16) & 0x8000;
	exp = (int)((u >> 23) & 0xff);
	man = u & 0x7fffff;
	if (exp == 255)		/* inf or nan (keep nan quiet) */
		return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
	exp -= 127 - 15;
	if (exp >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		/* subnormal or zero in f16 */
		if (exp < -10)
			return (uint16_t)sign;
		man |= 0x800000;
		int shift = 14 - exp;
		uint32_t half = man >> shift;
		uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (half & 1)))
			half++;
		return (uint16_t)(sign | half);
	}
	uint32_t h = ((uint32_t)exp << 10) | (man >> 13);
	uint32_t rem = man & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;		/* may carry into the exponent: still correct */
	return (uint16_t)(sign | h);
}

float
qkv_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

uint16_t
qkv_f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffff) > 0x7f800000)	/* nan: keep it a quiet nan */
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

void
qkv_to_f32(float *dst, const void *src, int dtype, size_t n)
{
	const unsigned char *p = src;

	for (size_t i = 0; i < n; i++) {
		switch (dtype) {
		case QKV_U8: dst[i] = p[i]; break;
		case QKV_I8: dst[i] = (int8_t)p[i]; break;
		case QKV_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = v; break; }
		case QKV_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = v; break; }
		case QKV_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); dst[i] = (float)v; break; }
		case QKV_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; break; }
		case QKV_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = qkv_f16_to_f32(v); break; }
		case QKV_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = qkv_bf16_to_f32(v); break; }
		case QKV_F32: memcpy(dst + i, p + 4 * i, 4); break;
		case QKV_F64: { double v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; break; }
		default: dst[i] = 0; break;
		}
	}
}

int
qkv_mul_size(size_t a, size_t b, size_t *r)
{
	if (__builtin_mul_overflow(a, b, r))
		return -1;
	return 0;
}

int
qkv_add_size(size_t a, size_t b, size_t *r)
{
	if (__builtin_add_overflow(a, b, r))
		return -1;
	return 0;
}

void *
qkv_malloc(size_t n, qkv_err *e)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		qkv_errf(e, "out of memory allocating %zu bytes", n);
	return p;
}

void *
qkv_calloc(size_t n, size_t size, qkv_err *e)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		qkv_errf(e, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

int64_t
qkv_tensor_numel(const qkv_tensor *t)
{
	int64_t n = 1;

	for (int i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	return n;
}
