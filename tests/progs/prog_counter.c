/* SPDX-License-Identifier: MIT */
/*
 * Single thread: a counter in a global, a heap buffer with a checksum,
 * small malloc'd blocks, a stack array, brk growth (sbrk) with contents,
 * and optionally big random data.
 *
 * Options: ticks=N tick_ms=N heap_kb=N (default 1024)
 *          data_mb=N      random data allocated at start
 *          grow_at=T grow_mb=N   allocate N MiB of random data at tick T
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "common.h"

#define NSMALL		64
#define NBRK		64
#define STACK_WORDS	4096

static volatile uint64_t g_counter;		/* the global counter */
static uint64_t g_counter_shadow;		/* 3 * counter + 7 */

struct blob {
	uint64_t *p;
	size_t words;
	uint64_t seed, sum;
};

static uint64_t sum_words(const uint64_t *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull + i;
	return h;
}

static void blob_fill(struct blob *b, size_t bytes, uint64_t seed, int use_mmap)
{
	uint64_t s = seed;

	b->words = bytes / 8;
	b->seed = seed;
	if (use_mmap) {
		b->p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(b->p != MAP_FAILED, "mmap of %zu bytes", bytes);
	} else {
		b->p = malloc(bytes);
		CHECK(b->p, "malloc of %zu bytes", bytes);
	}
	for (size_t i = 0; i < b->words; i++)
		b->p[i] = rng_next(&s);
	b->sum = sum_words(b->p, b->words);
}

/* Regenerates the data from the seed: catches any page that changed. */
static void blob_verify_full(const struct blob *b, const char *what)
{
	uint64_t s = b->seed;

	for (size_t i = 0; i < b->words; i++) {
		uint64_t want = rng_next(&s);

		CHECK(b->p[i] == want, "%s: word %zu is %#llx, want %#llx", what, i,
		      (unsigned long long)b->p[i], (unsigned long long)want);
	}
}

int main(int argc, char **argv)
{
	uint64_t stack_arr[STACK_WORDS];
	struct { char *p; size_t len; int fill; } brks[NBRK];
	struct { unsigned char *p; size_t len; } small[NSMALL];
	struct blob heap, data = { 0 }, grown = { 0 };
	int nbrk = 0, grow_at, heap_kb;
	long data_mb, grow_mb;

	common_init(argc, argv);
	heap_kb = opt_int("heap_kb", 1024);
	data_mb = opt_int("data_mb", 0);
	grow_at = opt_int("grow_at", 0);
	grow_mb = opt_int("grow_mb", 0);

	for (int i = 0; i < STACK_WORDS; i++)
		stack_arr[i] = 0x5151515100000000ull | (uint64_t)i;
	for (int i = 0; i < NSMALL; i++) {
		small[i].len = 16 + i * 37;
		small[i].p = malloc(small[i].len);
		CHECK(small[i].p, "malloc");
		memset(small[i].p, 0xa0 + (i & 0x1f), small[i].len);
	}
	blob_fill(&heap, (size_t)heap_kb << 10, 12345, 0);
	if (data_mb)
		blob_fill(&data, (size_t)data_mb << 20, 777, 1);
	out("ready\n");

	for (int t = 1; t <= g_ticks; t++) {
		int resumed;

		g_tick = t;
		resumed = check_resumed();
		/* the global counter */
		CHECK(g_counter == (uint64_t)(t - 1), "counter is %llu, want %d",
		      (unsigned long long)g_counter, t - 1);
		CHECK(g_counter_shadow == g_counter * 3 + 7 || t == 1, "counter shadow mismatch");
		/* heap buffer: checksum of everything, then change one word */
		CHECK(sum_words(heap.p, heap.words) == heap.sum, "heap checksum mismatch");
		heap.p[(t * 7919) % heap.words] ^= 0xdeadbeefull * t;
		heap.sum = sum_words(heap.p, heap.words);
		for (int i = 0; i < NSMALL; i++)
			for (size_t j = 0; j < small[i].len; j++)
				CHECK(small[i].p[j] == (unsigned char)(0xa0 + (i & 0x1f)),
				      "small block %d byte %zu", i, j);
		/* stack array */
		for (int i = 0; i < STACK_WORDS; i++) {
			uint64_t want = (i < t - 1) ? (0xa5a5000000000000ull | ((uint64_t)i << 16) | (uint64_t)i)
						: (0x5151515100000000ull | (uint64_t)i);

			CHECK(stack_arr[i] == want, "stack word %d is %#llx", i,
			      (unsigned long long)stack_arr[i]);
		}
		if (t - 1 < STACK_WORDS)
			stack_arr[t - 1] = 0xa5a5000000000000ull | ((uint64_t)(t - 1) << 16) |
					   (uint64_t)(t - 1);
		/* brk: the kernel's break is where libc thinks it is; chunks kept contents */
		CHECK((uintptr_t)syscall(SYS_brk, 0) == (uintptr_t)sbrk(0),
		      "kernel brk %#lx differs from libc's %p", (long)syscall(SYS_brk, 0), sbrk(0));
		for (int i = 0; i < nbrk; i++)
			for (size_t j = 0; j < brks[i].len; j++)
				CHECK(brks[i].p[j] == (char)brks[i].fill, "brk chunk %d byte %zu", i, j);
		if (t % 2 == 0 && nbrk < NBRK) {
			size_t len = 4096 + t * 100;
			char *p = sbrk(len);

			CHECK(p != (void *)-1, "sbrk(%zu): %s", len, strerror(errno));
			brks[nbrk].p = p;
			brks[nbrk].len = len;
			brks[nbrk].fill = 0x30 + t;
			memset(p, brks[nbrk].fill, len);
			nbrk++;
		}
		if (resumed || t == g_ticks) {
			if (data.p)
				blob_verify_full(&data, "data");
			if (grown.p)
				blob_verify_full(&grown, "grown data");
		}
		if (grow_at && t == grow_at && grow_mb)
			blob_fill(&grown, (size_t)grow_mb << 20, 999, 1);
		g_counter++;
		g_counter_shadow = g_counter * 3 + 7;
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	CHECK(g_counter == (uint64_t)g_ticks, "final counter %llu", (unsigned long long)g_counter);
	out("done\n");
	return 0;
}
