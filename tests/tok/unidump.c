/*
 * unidump - print, one line per Unicode scalar value, the properties the
 * tokenizers use (lib/tokint.h: struct tu_props): utf8proc's answers, or
 * with -f the corrected ones.  tests/tok/mkunitab.js compares them with
 * the reference; -v prints the utf8proc version.  Line: cp clean cjk nfd mn low ws punct bl ccc (hex
 * lists comma-separated; clean K/R/S, bl O/L/N/S).
 */
#include <stdio.h>
#include <string.h>

#include <utf8proc.h>

#include "tokint.h"

static void
list(const uint32_t *v, int n)
{
	for (int i = 0; i < n; i++)
		printf("%s%x", i ? "," : "", v[i]);
}

int
main(int argc, char **argv)
{
	int fixed = argc > 1 && strcmp(argv[1], "-f") == 0;
	struct tu_props p;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		printf("%s (Unicode %s)\n", utf8proc_version(),
		    utf8proc_unicode_version());
		return 0;
	}

	for (uint32_t c = 0; c < TU_NCP; c++) {
		if (c >= 0xd800 && c < 0xe000)
			continue;
		if (fixed)
			tu_props(c, &p);
		else
			tu_base(c, &p);
		printf("%x\t%c\t%d\t", c, "KRS"[p.clean], p.cjk);
		list(p.nfd, p.nnfd);
		printf("\t%d\t", p.mn);
		list(p.low, p.nlow);
		printf("\t%d\t%d\t%c\t%d\n", p.ws, p.punct, "OLNS"[p.bl],
		    p.ccc);
	}
	return 0;
}
