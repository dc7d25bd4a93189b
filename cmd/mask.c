/* mask - not built yet: its issue will replace this stub. */
#include <stdio.h>

int
main(void)
{
	fprintf(stderr, "usage: mask ...\nmask: not implemented yet\n");
	return 2;
}
