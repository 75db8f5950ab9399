/* SPDX-License-Identifier: MIT */
/*
 * The libc calls the KVM plugin stands in front of: open of /dev/kvm,
 * ioctl on the system, VM and vCPU fds, mmap of a vCPU's kvm_run area,
 * munmap and close. Anything that is not KVM goes straight to libc.
 */
#undef _FILE_OFFSET_BITS	/* open and open64 are both defined here */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm.h"
#include "../../interpose/real.h"

#define EXPORT __attribute__((visibility("default")))

struct kvm_state kvm_st = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int is_kvm_path(const char *path)
{
	return path && !strcmp(path, "/dev/kvm");
}

static void note_open(int fd, int oflags)
{
	if (fd < 0 || fd >= KVM_MAX_FDS)
		return;
	pthread_mutex_lock(&kvm_st.lock);
	kvm_fd_forget(fd);
	for (int i = 0; i < KVM_MAX_SYS; i++) {
		struct kvm_sys *s = &kvm_st.sys[i];

		if (s->used)
			continue;
		s->used = 1;
		s->fd = fd;
		s->oflags = oflags;
		kvm_fd_set(fd, KFD_SYS, i);
		pthread_mutex_unlock(&kvm_st.lock);
		return;
	}
	kvm_refuse("more than %d /dev/kvm fds", KVM_MAX_SYS);
	pthread_mutex_unlock(&kvm_st.lock);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = REAL(open)(path, flags, mode_arg(flags, ap));
	va_end(ap);
	if (fd >= 0 && is_kvm_path(path))
		note_open(fd, flags);
	return fd;
}

EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = REAL(open64)(path, flags, mode_arg(flags, ap));
	va_end(ap);
	if (fd >= 0 && is_kvm_path(path))
		note_open(fd, flags);
	return fd;
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = REAL(openat)(dirfd, path, flags, mode_arg(flags, ap));
	va_end(ap);
	if (fd >= 0 && is_kvm_path(path))
		note_open(fd, flags);
	return fd;
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = REAL(openat64)(dirfd, path, flags, mode_arg(flags, ap));
	va_end(ap);
	if (fd >= 0 && is_kvm_path(path))
		note_open(fd, flags);
	return fd;
}

/* _FORTIFY_SOURCE builds call these for open without a mode */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);

EXPORT int __open_2(const char *path, int flags)
{
	int fd = REAL(__open_2)(path, flags);

	if (fd >= 0 && is_kvm_path(path))
		note_open(fd, flags);
	return fd;
}

EXPORT int __open64_2(const char *path, int flags)
{
	int fd = REAL(__open64_2)(path, flags);

	if (fd >= 0 && is_kvm_path(path))
		note_open(fd, flags);
	return fd;
}

static int kvm_run_ioctl(struct kvm_vcpu *v, int fd)
{
	int ret;

	v->in_run = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ret = REAL(ioctl)(fd, KVM_RUN, 0);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	v->in_run = 0;
	return ret;
}

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int kind, idx, ret;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	/* the kernel's cmd is an unsigned int; QEMU passes an int, sign-extended */
	req = (unsigned int)req;
	if (fd < 0 || fd >= KVM_MAX_FDS || !(kind = __atomic_load_n(&kvm_st.kind[fd],
								      __ATOMIC_ACQUIRE)))
		return REAL(ioctl)(fd, req, arg);
	idx = kvm_st.index[fd];
	if (kind == KFD_VCPU && req == KVM_RUN)
		return kvm_run_ioctl(&kvm_st.vcpus[idx], fd);
	pthread_mutex_lock(&kvm_st.lock);
	switch (kind) {
	case KFD_SYS:
		ret = kvm_ioctl_sys(&kvm_st.sys[idx], fd, req, arg);
		break;
	case KFD_VM:
		ret = kvm_ioctl_vm(&kvm_st.vms[idx], fd, req, arg);
		break;
	default:
		ret = kvm_ioctl_vcpu(&kvm_st.vcpus[idx], fd, req, arg);
		break;
	}
	pthread_mutex_unlock(&kvm_st.lock);
	return ret;
}

static void note_mmap(void *p, size_t len, int flags, int fd, off_t off)
{
	struct kvm_vcpu *v;

	if (p == MAP_FAILED || fd < 0 || fd >= KVM_MAX_FDS || kvm_st.kind[fd] != KFD_VCPU)
		return;
	pthread_mutex_lock(&kvm_st.lock);
	v = &kvm_st.vcpus[kvm_st.index[fd]];
	if (off != 0)
		kvm_refuse("vCPU %u: mmap at offset %#lx of its fd (dirty ring?) is not supported",
			   v->id, (unsigned long)off);
	else if (!(flags & MAP_SHARED))
		kvm_refuse("vCPU %u: private mmap of its fd", v->id);
	else if (v->run)
		kvm_refuse("vCPU %u: kvm_run mapped twice", v->id);
	else {
		v->run = p;
		v->run_len = len;
	}
	pthread_mutex_unlock(&kvm_st.lock);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = REAL(mmap)(addr, len, prot, flags, fd, off);

	if (fd >= 0 && fd < KVM_MAX_FDS && kvm_st.kind[fd])
		note_mmap(p, len, flags, fd, off);
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = REAL(mmap64)(addr, len, prot, flags, fd, off);

	if (fd >= 0 && fd < KVM_MAX_FDS && kvm_st.kind[fd])
		note_mmap(p, len, flags, fd, off);
	return p;
}

EXPORT int munmap(void *addr, size_t len)
{
	int ret = REAL(munmap)(addr, len);

	if (!ret) {
		for (int i = 0; i < KVM_MAX_VCPUS; i++) {
			struct kvm_vcpu *v = &kvm_st.vcpus[i];
			char *r = v->run, *a = addr;

			if (v->used && r && a < r + v->run_len && r < a + len)
				v->run = NULL;	/* unmapped: not rebuilt */
		}
	}
	return ret;
}

EXPORT int close(int fd)
{
	if (fd >= 0 && fd < KVM_MAX_FDS && kvm_st.kind[fd]) {
		pthread_mutex_lock(&kvm_st.lock);
		kvm_fd_forget(fd);
		pthread_mutex_unlock(&kvm_st.lock);
	}
	return REAL(close)(fd);
}
