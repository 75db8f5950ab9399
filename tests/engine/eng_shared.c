/* SPDX-License-Identifier: MIT */
/*
 * Shared memory must be in the image as it was when the threads stopped.
 * A sweeper thread writes pass number v+1 over a MAP_SHARED buffer
 * (anonymous, or a memfd with mem=memfd), word by word, forever, and
 * checks that each word it overwrites still holds v. At any moment the
 * buffer is v+1 below the sweeper's position p and v from p on; each
 * tick also pauses the sweeper and checks the whole buffer. An image
 * whose shared memory was saved later than the threads (fork does not
 * copy MAP_SHARED) fails right after a restore: words beyond p already
 * hold v+1; one that lost it fails too: they hold 0.
 *
 * options: mem=anon|memfd  mib=N  ticks=  tick_ms=
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "../progs/common.h"

static uint64_t *buf;
static size_t words;
static volatile uint64_t pass, pos;
static atomic_int hold, held;

static void *sweeper(void *arg)
{
	for (;;) {
		for (pos = 0; pos < words; pos++) {
			if (atomic_load(&hold)) {
				atomic_store(&held, 1);
				while (atomic_load(&hold))
					;
				atomic_store(&held, 0);
			}
			CHECK(buf[pos] == pass, "sweeper: word %llu holds %llu, not %llu",
			      (unsigned long long)pos, (unsigned long long)buf[pos],
			      (unsigned long long)pass);
			buf[pos] = pass + 1;
		}
		pass++;
	}
	return arg;
}

static void check(void)
{
	uint64_t v, p;

	atomic_store(&hold, 1);
	while (!atomic_load(&held))
		;
	v = pass;
	p = pos;
	for (size_t i = 0; i < words; i++) {
		uint64_t want = i < p ? v + 1 : v;

		CHECK(buf[i] == want, "shared word %zu is %llu, sweeper at %llu in pass %llu", i,
		      (unsigned long long)buf[i], (unsigned long long)p, (unsigned long long)v);
	}
	atomic_store(&hold, 0);
}

int main(int argc, char **argv)
{
	size_t bytes;
	pthread_t t;
	int fd = -1;

	common_init(argc, argv);
	bytes = opt_int("mib", 4) << 20;
	words = bytes / 8;
	if (!strcmp(opt_str("mem", "anon"), "memfd")) {
		fd = memfd_create("eng-shared", 0);
		CHECK(fd >= 0 && !ftruncate(fd, bytes), "memfd: %s", strerror(errno));
	}
	buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		   MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	CHECK(buf != MAP_FAILED, "mmap: %s", strerror(errno));
	pthread_create(&t, NULL, sweeper, NULL);
	out("ready\n");
	for (int i = 1; i <= g_ticks; i++) {
		g_tick = i;
		check_resumed();
		check();
		tick_out(i);
		sleep_ms(g_tick_ms);
	}
	out("done\n");
	return 0;
}
