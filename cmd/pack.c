/* pack - not built yet: its issue will replace this stub. */
#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "usage: pack ...\npack: not implemented yet\n");
	return 2;
}
