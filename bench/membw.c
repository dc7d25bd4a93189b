/*
 * membw - the memory read bandwidth that bounds token generation: N
 * threads sum disjoint halves of a buffer far larger than the caches; the
 * best of several passes, in GB/s (10^9 bytes a second).
 *
 *   membw [threads] [MiB]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t *buf;
static size_t words;
static int nthr;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *
sum(void *arg)
{
	size_t t = (size_t)(intptr_t)arg, lo = words / nthr * t,
	    hi = words / nthr * (t + 1);
	uint64_t s[8] = {0};

	for (size_t i = lo; i + 8 <= hi; i += 8)
		for (int j = 0; j < 8; j++)
			s[j] += buf[i + j];
	for (int j = 1; j < 8; j++)
		s[0] += s[j];
	return (void *)(uintptr_t)s[0];
}

int
main(int argc, char **argv)
{
	pthread_t th[256];
	double best = 0;
	size_t mib;

	nthr = argc > 1 ? atoi(argv[1]) : 2;
	mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
	if (nthr < 1 || nthr > 256 || mib < 64)
		return fprintf(stderr, "usage: membw [threads] [MiB >= 64]\n"), 2;
	words = mib << 17;
	if ((buf = aligned_alloc(64, words * 8)) == NULL)
		return perror("membw"), 1;
	memset(buf, 1, words * 8);
	for (int r = 0; r < 7; r++) {
		double t = now();
		for (int i = 0; i < nthr; i++)
			pthread_create(&th[i], NULL, sum, (void *)(intptr_t)i);
		for (int i = 0; i < nthr; i++)
			pthread_join(th[i], NULL);
		t = now() - t;
		if (words * 8 / t > best)
			best = words * 8 / t;
	}
	printf("%.1f\n", best / 1e9);
	return 0;
}
