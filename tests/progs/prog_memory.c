/* SPDX-License-Identifier: MIT */
/*
 * Memory layout and process attributes:
 *   private anonymous memory with a pattern; MAP_SHARED|MAP_ANONYMOUS;
 *   a memfd mapped shared twice (a store through one mapping is seen
 *   through the other, after the restore too), its fd closed, or kept
 *   open with memfd_fd=1 (then also read through the fd);
 *   a MAP_PRIVATE file mapping with a few pages modified: the others
 *   must show the file's current contents (pread), the modified ones
 *   ours; a PROT_NONE guard (access must still SIGSEGV); a read-only
 *   region (contents kept, a store must SIGSEGV); a 64 MiB reservation
 *   never touched (still mapped, nothing resident, zeros); a 32 MiB
 *   region written with zeros (still zeros);
 *   /proc/self/cmdline and the name set with PR_SET_NAME; umask; the
 *   working directory; RLIMIT_NOFILE and RLIMIT_CORE soft limits;
 *   a regular file fd at its offset, an O_APPEND fd, /dev/null at fd 50
 *   with FD_CLOEXEC, a directory fd at fd 51.
 *
 * Options: dir=PATH (required: a directory of the harness's; the program
 * chdirs there and creates data.bin, log.txt, append.txt), memfd_fd=1.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common.h"

#define PG		4096
#define ANON_LEN	(1 << 20)
#define SHARED_LEN	(256 << 10)
#define MEMFD_LEN	(64 << 10)
#define FILE_PAGES	16
#define GUARD_LEN	(4 * PG)
#define RO_LEN		(8 * PG)
#define RESERVE_LEN	(64 << 20)
#define ZERO_LEN	(32 << 20)
#define NAME		"memtest-ckpt"

static sigjmp_buf probe_env;
static volatile void *probe_addr;
static volatile int probe_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (!probe_addr)
		FAIL("unexpected SIGSEGV at %p", si->si_addr);
	if (si->si_addr != probe_addr)
		FAIL("SIGSEGV at %p, probing %p", si->si_addr, (void *)probe_addr);
	probe_code = si->si_code;
	siglongjmp(probe_env, 1);
}

/* 1 if the access faulted with SIGSEGV */
static int probe(volatile char *p, int write)
{
	probe_code = 0;
	probe_addr = p;
	if (sigsetjmp(probe_env, 1)) {
		probe_addr = NULL;
		return 1;
	}
	if (write)
		*p = 1;
	else
		(void)*p;
	probe_addr = NULL;
	return 0;
}

static uint32_t pat(uint32_t i, uint32_t seed)
{
	return (i * 2654435761u) ^ seed;
}

static void read_file(const char *path, char *buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	CHECK(fd >= 0, "open %s", path);
	n = read(fd, buf, *len - 1);
	CHECK(n >= 0, "read %s", path);
	close(fd);
	buf[n] = 0;
	*len = n;
}

int main(int argc, char **argv)
{
	const char *dir;
	char cwd[4096], cmdline[4096], buf[4096], *data_file_page;
	size_t cmdline_len = sizeof(cmdline);
	uint32_t *anon, *shared, *mfa, *mfb;
	char *filemap, *guard, *ro, *reserve, *zero;
	int memfd, keep_memfd, datafd, logfd, appfd, nullfd, dirfd;
	struct stat dir_st;
	off_t log_off;
	long file_modified[2] = { 3, 7 };
	unsigned char vec[RESERVE_LEN / PG];
	struct sigaction sa;

	common_init(argc, argv);
	dir = opt_str("dir", NULL);
	keep_memfd = opt_int("memfd_fd", 0);
	CHECK(dir, "usage: prog_memory dir=PATH [memfd_fd=1]");
	CHECK(!chdir(dir), "chdir %s: %s", dir, strerror(errno));
	CHECK(getcwd(cwd, sizeof(cwd)), "getcwd");
	CHECK(!stat(".", &dir_st), "stat .");
	read_file("/proc/self/cmdline", cmdline, &cmdline_len);
	CHECK(!prctl(PR_SET_NAME, NAME, 0, 0, 0), "PR_SET_NAME");
	umask(027);
	CHECK(!setrlimit(RLIMIT_NOFILE, &(struct rlimit){ 200, 1024 }) ||
	      !setrlimit(RLIMIT_NOFILE, &(struct rlimit){ 200, RLIM_INFINITY }), "setrlimit");
	{
		struct rlimit rl;

		getrlimit(RLIMIT_CORE, &rl);
		rl.rlim_cur = 4096;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 4096)
			rl.rlim_cur = rl.rlim_max;
		CHECK(!setrlimit(RLIMIT_CORE, &rl), "setrlimit core");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);

	anon = mmap(NULL, ANON_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, SHARED_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(anon != MAP_FAILED && shared != MAP_FAILED, "mmap");
	for (uint32_t i = 0; i < ANON_LEN / 4; i++)
		anon[i] = pat(i, 0xa0a0);
	for (uint32_t i = 0; i < SHARED_LEN / 4; i++)
		shared[i] = pat(i, 0x5a5a);

	memfd = memfd_create("ckpttest", MFD_CLOEXEC);
	CHECK(memfd >= 0 && !ftruncate(memfd, MEMFD_LEN), "memfd");
	mfa = mmap(NULL, MEMFD_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	mfb = mmap(NULL, MEMFD_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CHECK(mfa != MAP_FAILED && mfb != MAP_FAILED, "mmap memfd");
	for (uint32_t i = 0; i < MEMFD_LEN / 4; i++)
		mfa[i] = pat(i, 0x3f3f);
	if (!keep_memfd)
		close(memfd);

	/* data.bin: page i is filled with 'A' + i */
	datafd = open("data.bin", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(datafd >= 0, "create data.bin");
	for (int i = 0; i < FILE_PAGES; i++) {
		memset(buf, 'A' + i, PG);
		CHECK(write(datafd, buf, PG) == PG, "write data.bin");
	}
	filemap = mmap(NULL, FILE_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, datafd, 0);
	CHECK(filemap != MAP_FAILED, "mmap data.bin");
	close(datafd);
	for (int k = 0; k < 2; k++)
		memset(filemap + file_modified[k] * PG, 'x' + k, PG);
	data_file_page = malloc(PG);

	guard = mmap(NULL, GUARD_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, RO_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reserve = mmap(NULL, RESERVE_LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	zero = mmap(NULL, ZERO_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(guard != MAP_FAILED && ro != MAP_FAILED && reserve != MAP_FAILED &&
	      zero != MAP_FAILED, "mmap");
	for (int i = 0; i < RO_LEN; i++)
		ro[i] = (char)(i * 7 + 1);
	CHECK(!mprotect(ro, RO_LEN, PROT_READ), "mprotect");
	memset(zero, 0, ZERO_LEN);

	logfd = open("log.txt", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	appfd = open("append.txt", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0640);
	nullfd = open("/dev/null", O_RDWR);
	dirfd = open(".", O_RDONLY | O_DIRECTORY);
	CHECK(logfd >= 0 && appfd >= 0 && nullfd >= 0 && dirfd >= 0, "open");
	CHECK(dup3(nullfd, 50, O_CLOEXEC) == 50 && dup2(dirfd, 51) == 51, "dup");
	close(nullfd);
	close(dirfd);
	memset(buf, '-', 1000);
	CHECK(write(logfd, buf, 1000) == 1000, "write log");
	log_off = 123;
	CHECK(lseek(logfd, log_off, SEEK_SET) == log_off, "lseek");
	out("ready\n");

	for (int t = 1; t <= g_ticks; t++) {
		int resumed, full;
		struct stat st;
		struct rlimit rl;
		char cur[4096], name[32];
		size_t len;

		g_tick = t;
		resumed = check_resumed();
		full = resumed || t == 1 || t == g_ticks || t % 8 == 0;
		/* private anonymous: one word changes per tick */
		if (full)
			for (uint32_t i = 0; i < ANON_LEN / 4; i++)
				CHECK(anon[i] == (i < (uint32_t)t && i ? ~pat(i, 0xa0a0) : pat(i, 0xa0a0)),
				      "private anon word %u", i);
		anon[t] = ~pat(t, 0xa0a0);
		/* shared anonymous */
		if (full)
			for (uint32_t i = 0; i < SHARED_LEN / 4; i++)
				CHECK(shared[i] == pat(i, 0x5a5a) + (i < (uint32_t)t && i ? 1 : 0),
				      "shared anon word %u is %#x", i, shared[i]);
		shared[t] = pat(t, 0x5a5a) + 1;
		/* memfd: two mappings of one file, and the fd */
		for (uint32_t i = 0; i < MEMFD_LEN / 4; i++) {
			uint32_t want = pat(i, 0x3f3f) ^ (i && i < (uint32_t)t ? 0xffff0000u : 0);

			CHECK(mfa[i] == want, "memfd mapping A word %u is %#x, want %#x", i, mfa[i], want);
			CHECK(mfb[i] == want, "memfd mapping B word %u is %#x, want %#x (not shared?)",
			      i, mfb[i], want);
		}
		mfa[t] ^= 0xffff0000u;
		CHECK(mfb[t] == mfa[t], "store through memfd mapping A not seen through B");
		if (keep_memfd) {
			uint32_t v;

			CHECK(pread(memfd, &v, 4, t * 4) == 4 && v == mfa[t],
			      "memfd fd does not show the mapping's contents");
			CHECK(!fstat(memfd, &st) && st.st_size == MEMFD_LEN, "memfd size");
		}
		/* file mapping: modified pages ours, the others the file's */
		datafd = open("data.bin", O_RDONLY | O_CLOEXEC);
		CHECK(datafd >= 0, "open data.bin");
		for (int p = 0; p < FILE_PAGES; p++) {
			int mod = -1;

			for (int k = 0; k < 2; k++)
				if (file_modified[k] == p)
					mod = k;
			CHECK(pread(datafd, data_file_page, PG, p * PG) == PG, "pread data.bin");
			if (mod >= 0) {
				for (int j = 0; j < PG; j++)
					CHECK(filemap[p * PG + j] == 'x' + mod,
					      "modified page %d of the private file mapping lost", p);
				CHECK(data_file_page[0] == 'A' + p, "data.bin changed on disk");
			} else {
				CHECK(!memcmp(filemap + p * PG, data_file_page, PG),
				      "unmodified page %d of the private file mapping differs from the "
				      "file ('%c' vs '%c')", p, filemap[p * PG], data_file_page[0]);
			}
		}
		close(datafd);
		/* guard and read-only */
		if (full || t % 4 == 0) {
			CHECK(probe(guard + PG, 0), "PROT_NONE guard page is readable");
			CHECK(probe_code == SEGV_ACCERR, "guard fault code %d", probe_code);
			CHECK(probe(ro + 3 * PG, 1), "read-only region is writable");
			CHECK(probe_code == SEGV_ACCERR, "read-only fault code %d", probe_code);
		}
		for (int i = 0; i < RO_LEN; i += 61)
			CHECK(ro[i] == (char)(i * 7 + 1), "read-only region byte %d", i);
		/* untouched reservation: mapped, nothing resident */
		CHECK(!mincore(reserve, RESERVE_LEN, vec), "64 MiB reservation not mapped: %s",
		      strerror(errno));
		for (size_t i = 0; i < RESERVE_LEN / PG; i++)
			CHECK(!(vec[i] & 1), "page %zu of the untouched reservation is resident", i);
		if (full)
			for (size_t i = 0; i < ZERO_LEN; i += 8)
				CHECK(!*(uint64_t *)(zero + i), "zero region byte %zu", i);
		/* process attributes */
		len = sizeof(cur);
		read_file("/proc/self/cmdline", cur, &len);
		CHECK(len == cmdline_len && !memcmp(cur, cmdline, len), "/proc/self/cmdline changed");
		len = sizeof(cur);
		read_file("/proc/self/comm", cur, &len);
		CHECK(!strcmp(cur, NAME "\n"), "/proc/self/comm is '%s'", cur);
		CHECK(!prctl(PR_GET_NAME, name, 0, 0, 0) && !strcmp(name, NAME), "PR_GET_NAME");
		{
			mode_t m = umask(0);

			umask(m);
			CHECK(m == 027, "umask %03o", (unsigned)m);
		}
		CHECK(getcwd(cur, sizeof(cur)) && !strcmp(cur, cwd), "cwd '%s', want '%s'", cur, cwd);
		CHECK(!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur == 200, "RLIMIT_NOFILE soft %llu",
		      (unsigned long long)rl.rlim_cur);
		CHECK(!getrlimit(RLIMIT_CORE, &rl) && (rl.rlim_cur == 4096 || rl.rlim_cur == rl.rlim_max),
		      "RLIMIT_CORE soft %llu", (unsigned long long)rl.rlim_cur);
		/* file descriptors */
		CHECK(lseek(logfd, 0, SEEK_CUR) == log_off, "log.txt offset %lld, want %lld",
		      (long long)lseek(logfd, 0, SEEK_CUR), (long long)log_off);
		len = snprintf(cur, sizeof(cur), "t=%04d\n", t);
		CHECK(write(logfd, cur, len) == (ssize_t)len, "write log.txt");
		log_off += len;
		CHECK((fcntl(logfd, F_GETFL) & O_ACCMODE) == O_RDWR, "log.txt mode");
		CHECK(fcntl(logfd, F_GETFD) == FD_CLOEXEC, "log.txt FD_CLOEXEC lost");
		CHECK(fcntl(appfd, F_GETFL) & O_APPEND, "append.txt lost O_APPEND");
		CHECK(fcntl(appfd, F_GETFD) == 0, "append.txt got FD_CLOEXEC");
		CHECK(write(appfd, cur, len) == (ssize_t)len, "write append.txt");
		CHECK(!fstat(appfd, &st) && lseek(appfd, 0, SEEK_CUR) == st.st_size,
		      "O_APPEND write did not go to the end");
		CHECK(!fstat(50, &st) && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3),
		      "fd 50 is not /dev/null");
		CHECK(fcntl(50, F_GETFD) == FD_CLOEXEC, "fd 50 lost FD_CLOEXEC");
		CHECK(write(50, "x", 1) == 1, "write /dev/null");
		CHECK(!fstat(51, &st) && S_ISDIR(st.st_mode) && st.st_ino == dir_st.st_ino,
		      "fd 51 is not the directory");
		{
			int f = openat(51, "data.bin", O_RDONLY | O_CLOEXEC);

			CHECK(f >= 0, "openat(51, data.bin)");
			close(f);
		}
		tick_out(t);
		sleep_ms(g_tick_ms);
	}
	/* finally touch the reservation: it reads as zeros */
	for (size_t i = 0; i < RESERVE_LEN; i += 1 << 20)
		CHECK(!reserve[i], "reservation byte %zu", i);
	out("done\n");
	return 0;
}
