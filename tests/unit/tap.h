/* tap.h - a tiny TAP producer for C unit tests run by prove. */
#ifndef TAP_H
#define TAP_H
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_fail;

#define ok(cond, ...) do {						\
	int ok_c_ = !!(cond);						\
	printf("%sok %d - ", ok_c_ ? "" : "not ", ++tap_n);		\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	if (!ok_c_) {							\
		tap_fail++;						\
		printf("#   failed at %s:%d\n", __FILE__, __LINE__);	\
	}								\
} while (0)

#define done_testing() do {						\
	printf("1..%d\n", tap_n);					\
	fflush(stdout);							\
	return tap_fail ? 1 : 0;					\
} while (0)

#endif
