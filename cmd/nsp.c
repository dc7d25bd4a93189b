/* nsp - not built yet: its issue will replace this stub. */
#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "usage: nsp ...\nnsp: not implemented yet\n");
	return 2;
}
