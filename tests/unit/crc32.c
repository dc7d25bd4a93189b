/* crc32.c - qkv_crc32 against zlib's crc32() on every length and alignment
 * the folding path splits differently, chained calls, and a large buffer. */
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "qkv.h"
#include "tap.h"

static uint32_t
zcrc(uint32_t crc, const unsigned char *p, size_t n)
{
	return (uint32_t)crc32(crc, p, (uInt)n);
}

int
main(void)
{
	enum { N = 1 << 20 };
	static unsigned char buf[N + 64];
	uint64_t s = 0x9e3779b97f4a7c15u;
	int bad;

	for (size_t i = 0; i < sizeof buf; i++) {	/* xorshift bytes */
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		buf[i] = (unsigned char)(s >> 32);
	}
	ok(qkv_crc32(0, "123456789", 9) == 0xcbf43926u,
	    "the check value of CRC-32");
	ok(qkv_crc32(0, NULL, 0) == 0 && qkv_crc32(0x1234u, buf, 0) == 0x1234u,
	    "no bytes leave the CRC alone");

	bad = 0;
	for (size_t n = 0; n <= 1100; n++)
		for (size_t off = 0; off < 17; off++) {
			uint32_t seed = (uint32_t)(n * 2654435761u + off);

			bad += qkv_crc32(seed, buf + off, n) !=
			    zcrc(seed, buf + off, n);
		}
	ok(bad == 0, "lengths 0-1100 at offsets 0-16, any start value: "
	    "%d differ from zlib", bad);

	bad = 0;
	for (size_t cut = 0; cut < 300; cut += 7) {
		uint32_t a = qkv_crc32(qkv_crc32(0, buf + 3, cut), buf + 3 + cut,
		    5000 - cut);

		bad += a != zcrc(0, buf + 3, 5000);
	}
	ok(bad == 0, "chained calls equal one call: %d differ", bad);

	memset(buf, 0, 4096);
	ok(qkv_crc32(0, buf, 4096) == zcrc(0, buf, 4096), "zero bytes");
	memset(buf, 0xff, 4096);
	ok(qkv_crc32(~0u, buf, 4096) == zcrc(~0u, buf, 4096), "0xff bytes");
	ok(qkv_crc32(7, buf + 1, N - 1) == zcrc(7, buf + 1, N - 1),
	    "1 MiB, unaligned");
	done_testing();
}
