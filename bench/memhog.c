/* SPDX-License-Identifier: MIT */
/*
 * The benchmark's subject: holds SIZE MiB of memory in a given pattern
 * and measures, itself, what a checkpoint costs it.
 *
 * usage: memhog SIZE_MIB random|zero|half|reserve [thp] [stay]
 *
 * A ticker thread wakes every 0.1 ms and keeps the largest gap between
 * two wake-ups (the application's pause, plus up to a tick). Commands on stdin:
 *   gap       print "gap_at_ns T" (when it ended) and "gap_us N", reset
 *   around T D  print "around_us N": the largest gap overlapping
 *             [T, T + D] (CLOCK_REALTIME ns), the checkpoint's own window
 *   fork      print "fork_us N": the time fork() takes in this process
 *   dirty P   write one byte into P percent of the pages
 *   touch     read every page; print "touched_ns T" (CLOCK_MONOTONIC)
 * After a restart the ticker prints "resumed_ns T" at its first tick.
 * With "stay" it keeps running after the end of its input.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *mem;
static size_t size;
static volatile uint64_t max_gap, max_gap_at;

/* gaps over 0.3 ms, in CLOCK_REALTIME, to find the one that holds a checkpoint */
#define NGAPS 4096
static struct { uint64_t start, end; } gaps[NGAPS];
static volatile unsigned nr_gaps;

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void *ticker(void *arg)
{
	uint64_t last = now_ns(), last_real = real_ns();

	for (;;) {
		struct timespec nap = { 0, 100000 };	/* tick every ~0.1 ms, leave the CPU */
		uint64_t t, gap;

		nanosleep(&nap, NULL);
		t = now_ns();
		gap = t - last;

		if (gap > max_gap) {
			max_gap = gap;
			max_gap_at = t;
		}
		if (gap > 300000) {
			uint64_t r = real_ns();

			gaps[nr_gaps % NGAPS].start = last_real;
			gaps[nr_gaps % NGAPS].end = r;
			nr_gaps++;
		}
		last_real = real_ns();
		if (gap > 200000000ull) {	/* 200 ms: we were restored */
			printf("resumed_ns %llu\n", (unsigned long long)t);
			fflush(stdout);
		}
		last = t;
	}
	return arg;
}

static void fill(const char *pattern)
{
	uint64_t x = 88172645463325252ull, *p = (uint64_t *)mem;
	size_t words = size / 8;

	if (!strcmp(pattern, "reserve"))
		return;
	if (!strcmp(pattern, "zero")) {
		for (size_t i = 0; i < size; i += 4096)
			mem[i] = 0;	/* touched, all zeros */
		return;
	}
	for (size_t i = 0; i < words; i++) {
		if (!strcmp(pattern, "half") && i >= words / 2) {
			if (!(i % 512))
				p[i] = 0;
			continue;
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

static uint64_t fork_us(void)
{
	uint64_t t = now_ns();
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	t = now_ns() - t;
	waitpid(pid, NULL, 0);
	return t / 1000;
}

int main(int argc, char **argv)
{
	char line[128];
	pthread_t t;

	if (argc < 3)
		return 2;
	size = strtoull(argv[1], NULL, 10) << 20;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	for (int i = 3; i < argc; i++)
		if (!strcmp(argv[i], "thp"))
			madvise(mem, size, MADV_HUGEPAGE);
	fill(argv[2]);
	pthread_create(&t, NULL, ticker, NULL);
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "gap", 3)) {
			printf("gap_at_ns %llu\ngap_us %llu\n", (unsigned long long)max_gap_at,
			       (unsigned long long)(max_gap / 1000));
			max_gap = 0;
		} else if (!strncmp(line, "around", 6)) {
			char *end;
			uint64_t from = strtoull(line + 7, &end, 10), found = 0;
			uint64_t to = from + strtoull(end, NULL, 10);

			/* the largest gap that overlaps [from, to] */
			for (unsigned i = 0; i < nr_gaps && i < NGAPS; i++)
				if (gaps[i].start <= to && from <= gaps[i].end &&
				    gaps[i].end - gaps[i].start > found)
					found = gaps[i].end - gaps[i].start;
			printf("around_us %llu\n", (unsigned long long)(found / 1000));
		} else if (!strncmp(line, "fork", 4)) {
			printf("fork_us %llu\n", (unsigned long long)fork_us());
		} else if (!strncmp(line, "dirty", 5)) {
			size_t pages = size / 4096, step = 100 / (atoi(line + 6) ?: 1);

			for (size_t i = 0; i < pages; i += step)
				mem[i * 4096] ^= 1;
			printf("dirtied\n");
		} else if (!strncmp(line, "touch", 5)) {
			uint64_t s = 0;

			for (size_t i = 0; i < size; i += 4096)
				s += mem[i];
			sink = s;
			printf("touched_ns %llu\n", (unsigned long long)now_ns());
		}
		fflush(stdout);
	}
	for (int i = 3; i < argc; i++)
		while (!strcmp(argv[i], "stay"))
			pause();
	return 0;
}
