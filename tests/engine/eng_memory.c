/* SPDX-License-Identifier: MIT */
/*
 * Memory in the patterns the image engine treats differently, with its
 * contents checked on every tick: random data, pages written with
 * zeros, a reservation never touched, memory with MADV_HUGEPAGE, and a
 * region that keeps changing (a few pages per tick) so that incremental
 * images have something to store, and memory with MADV_WIPEONFORK, whose
 * data must be in the image (fork() empties it for the writer) and which
 * a fork() after the restore must still find empty.
 *
 * options: random=MiB zero=MiB reserve=MiB huge=MiB wipe=MiB ticks= tick_ms=
 * Prints "hugepages KB" (AnonHugePages of this process) after each
 * resume when huge memory is requested.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include "../progs/common.h"

struct area {
	uint8_t *p;
	size_t len;
	uint64_t sum;
};

static struct area rnd, zero, resv, huge, wipe;
static uint64_t *moving;	/* 1 MiB, one word per page changes each tick */

static uint8_t *map(size_t len, int thp)
{
	size_t extra = thp ? 2u << 20 : 0;
	uint8_t *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	CHECK(p != MAP_FAILED, "mmap %zu: %s", len, strerror(errno));
	if (thp) {
		p = (uint8_t *)(((uintptr_t)p + extra - 1) & ~(uintptr_t)(extra - 1));
		madvise(p, len, MADV_HUGEPAGE);
	}
	return p;
}

static void fill_random(struct area *a, uint64_t seed)
{
	for (size_t i = 0; i < a->len / 8; i++)
		((uint64_t *)a->p)[i] = rng_next(&seed);
	a->sum = fnv1a(a->p, a->len);
}

static long anon_huge_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "AnonHugePages:", 14))
			kb = strtol(line + 14, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static void check_all(int t)
{
	CHECK(fnv1a(rnd.p, rnd.len) == rnd.sum, "random memory changed");
	CHECK(!huge.len || fnv1a(huge.p, huge.len) == huge.sum, "huge-page memory changed");
	CHECK(!wipe.len || fnv1a(wipe.p, wipe.len) == wipe.sum, "MADV_WIPEONFORK memory changed");
	for (size_t i = 0; i < zero.len; i += 4096)
		CHECK(!zero.p[i] && !zero.p[i + 4095], "zero page %zu is not zero", i / 4096);
	for (size_t i = 0; i < resv.len; i += 1 << 20)
		CHECK(!resv.p[i], "reserved memory at %zu is not zero", i);
	for (size_t pg = 0; pg < 256; pg++)
		CHECK(moving[pg * 512] == (uint64_t)(t - 1), "moving page %zu holds %llu, not %d", pg,
		      (unsigned long long)moving[pg * 512], t - 1);
}

/* A child of ours must see the MADV_WIPEONFORK memory empty. */
static void check_wiped_in_child(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		for (size_t i = 0; i < wipe.len; i += 4096)
			if (wipe.p[i])
				_exit(1);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      !WEXITSTATUS(status), "MADV_WIPEONFORK memory is not wiped in a child any more");
}

int main(int argc, char **argv)
{
	common_init(argc, argv);
	rnd.len = opt_int("random", 8) << 20;
	zero.len = opt_int("zero", 8) << 20;
	resv.len = opt_int("reserve", 64) << 20;
	huge.len = opt_int("huge", 0) << 20;
	wipe.len = opt_int("wipe", 0) << 20;
	rnd.p = map(rnd.len, 0);
	zero.p = map(zero.len, 0);
	resv.p = map(resv.len, 0);
	huge.p = huge.len ? map(huge.len, 1) : NULL;
	moving = (uint64_t *)map(1 << 20, 0);
	fill_random(&rnd, 1);
	if (huge.len)
		fill_random(&huge, 2);
	if (wipe.len) {
		wipe.p = map(wipe.len, 0);
		CHECK(!madvise(wipe.p, wipe.len, MADV_WIPEONFORK), "MADV_WIPEONFORK");
		fill_random(&wipe, 3);
		check_wiped_in_child();
	}
	for (size_t i = 0; i < zero.len; i += 4096)
		zero.p[i] = 0;	/* touched, but zeros */
	out("ready\n");
	for (int t = 1; t <= g_ticks; t++) {
		g_tick = t;
		if (check_resumed() && huge.len)
			out("hugepages %ld\n", anon_huge_kb());
		if (g_resumes && wipe.len && t == g_last_tick + 1)
			check_wiped_in_child();
		check_all(t);
		for (size_t pg = 0; pg < 256; pg++)
			moving[pg * 512] = t;
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	out("done\n");
	return 0;
}
