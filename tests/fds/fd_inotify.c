/* SPDX-License-Identifier: MIT */
/*
 * inotify 10 (O_NONBLOCK, 11 = dup) watches DIR (wd 1, IN_CREATE|IN_DELETE), DIR/file (wd 2,
 * IN_MODIFY), /dev/shm (wd 3, IN_CREATE, tmpfs) and, after descriptors 4-8 were used and
 * removed, DIR/sub (wd 9, IN_CREATE|IN_ONLYDIR). 12 is an inotify with no watches.
 */
#include "fdtest.h"

#include <stdint.h>
#include <sys/inotify.h>
#include <sys/stat.h>

static char dir[4096];

static int add(const char *sub, uint32_t mask)
{
	char path[4200];
	int wd;

	snprintf(path, sizeof(path), "%s%s", dir, sub);
	wd = inotify_add_watch(10, path, mask);
	CHECK(wd > 0, "inotify_add_watch %s: %s", path, strerror(errno));
	return wd;
}

static void touch(const char *sub)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s%s", dir, sub);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1, "write %s: %s", path, strerror(errno));
	close(fd);
}

/* The next event on 10 must be wd/mask/name. */
static void expect(int wd, uint32_t mask, const char *name)
{
	char buf[4096] __attribute__((aligned(8)));
	static char *pos, *end;
	struct inotify_event *ev;

	if (pos >= end) {
		ssize_t n = read(11, buf, sizeof(buf));

		CHECK(n > 0, "no event (want wd %d mask %#x %s): %s", wd, mask, name, strerror(errno));
		pos = buf;
		end = buf + n;
	}
	ev = (struct inotify_event *)pos;
	pos += sizeof(*ev) + ev->len;
	CHECK(ev->wd == wd && ev->mask == mask && !strcmp(ev->len ? ev->name : "", name),
	      "event wd %d mask %#x name %s, want wd %d mask %#x %s", ev->wd, ev->mask,
	      ev->len ? ev->name : "", wd, mask, name);
	if (pos >= end)
		pos = end = NULL;
}

int main(int argc, char **argv)
{
	char name[64], buf[4096];
	int wd;

	snprintf(dir, sizeof(dir), "%s", arg(argc, argv, 1, "/tmp"));
	mkdir(strcat(strcpy(buf, dir), "/sub"), 0700);
	at(inotify_init1(IN_NONBLOCK), 10);
	CHECK(add("", IN_CREATE | IN_DELETE) == 1, "wd 1");
	CHECK(add("/file", IN_MODIFY) == 2, "wd 2");
	CHECK(inotify_add_watch(10, "/dev/shm", IN_CREATE) == 3, "wd 3");
	for (int i = 4; i <= 8; i++) {
		wd = inotify_add_watch(10, "/", IN_ATTRIB);
		CHECK(wd == i && !inotify_rm_watch(10, wd), "wd %d", i);
	}
	CHECK(add("/sub", IN_CREATE | IN_ONLYDIR) == 9, "wd 9");
	while (read(10, buf, sizeof(buf)) > 0)	/* the IN_IGNORED of 4-8 */
		;
	CHECK(dup2(10, 11) == 11, "dup2");
	at(inotify_init1(IN_CLOEXEC), 12);
	wait_verify();
	check_flags(10, O_RDONLY | O_NONBLOCK, 0);
	check_flags(12, O_RDONLY, FD_CLOEXEC);
	CHECK(read(11, buf, sizeof(buf)) < 0 && errno == EAGAIN, "events queued after restore");
	snprintf(name, sizeof(name), "new-%d", (int)getppid());
	touch(strcat(strcpy(buf, "/"), name));
	expect(1, IN_CREATE, name);
	touch("/file");
	expect(2, IN_MODIFY, "");
	touch(strcat(strcpy(buf, "/sub/"), name));
	expect(9, IN_CREATE, name);
	snprintf(buf, sizeof(buf), "/dev/shm/%s", name);
	close(open(buf, O_CREAT | O_WRONLY, 0600));
	unlink(buf);
	expect(3, IN_CREATE, name);
	CHECK(!inotify_rm_watch(11, 2), "wd 2 not in 11");
	expect(2, IN_IGNORED, "");
	CHECK(inotify_add_watch(12, dir, IN_CREATE) == 1, "12 had watches");
	say("ok");
	return 0;
}
