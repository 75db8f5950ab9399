/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint: pre_stop refuses what the plugin cannot rebuild; save
 * completes each vCPU's pending exit and serializes the VM and vCPU
 * state in the order the kernel needs it back (docs/kvm.md).
 * All application threads are stopped during save (the vCPU threads
 * outside KVM_RUN: a blocked KVM_RUN returned EINTR and is redone).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm.h"
#include "log.h"
#include "../../interpose/real.h"

#define MSR_IA32_TSC_DEADLINE	0x6e0

static int refuse_now(const char *fmt, const char *a, int b)
{
	ckpt_plugin_error(fmt, a, b);
	return -ENOTSUP;
}

/* Every KVM fd of the process must be one the plugin saw being created. */
static int check_fds(void)
{
	char buf[4096], link[64], path[64];
	int dfd = REAL(open)("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (dfd < 0)
		return 0;
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int fd = atoi(d->d_name);
			ssize_t l;

			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9' || fd == dfd)
				continue;
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			l = readlink(path, link, sizeof(link) - 1);
			if (l <= 0)
				continue;
			link[l] = 0;
			if (strcmp(link, "/dev/kvm") && strncmp(link, "anon_inode:kvm-", 15))
				continue;
			if (fd < KVM_MAX_FDS && kvm_st.kind[fd])
				continue;
			REAL(close)(dfd);
			return refuse_now("%s at fd %d was not created through open/ioctl (dup'ed "
					  "or inherited KVM fds are not supported)", link, fd);
		}
	}
	REAL(close)(dfd);
	return 0;
}

static int check_tables(void)
{
	if (kvm_st.error[0]) {
		ckpt_plugin_error("%s", kvm_st.error);
		return -ENOTSUP;
	}
	for (int i = 0; i < KVM_MAX_VMS; i++)
		if (kvm_st.vms[i].used && kvm_st.vms[i].closed)
			return refuse_now("%s (VM %d)", "a VM fd was closed while its vCPU fds stay open",
					  i);
	for (int i = 0; i < KVM_MAX_VCPUS; i++) {
		struct kvm_vcpu *v = &kvm_st.vcpus[i];

		if (!v->used)
			continue;
		if (v->closed)
			return refuse_now("%s %d was closed while its VM lives", "vCPU", v->id);
		if (v->run_len > sizeof(((struct kvm_scratch *)0)->run))
			return refuse_now("%s %d: kvm_run mapping too large", "vCPU", v->id);
	}
	return 0;
}

int kvm_pre_stop(void)
{
	int ret;

	pthread_mutex_lock(&kvm_st.lock);
	ret = check_tables();
	pthread_mutex_unlock(&kvm_st.lock);
	return ret ? ret : check_fds();
}

static int rec(struct ckpt_blob *out, uint32_t type, const void *p, size_t len)
{
	static const uint8_t zero[8];
	struct kvm_rec h = { .type = type, .len = (len + 7) & ~(size_t)7 };
	int ret = ckpt_blob_append(out, &h, sizeof(h));

	if (!ret && len)
		ret = ckpt_blob_append(out, p, len);
	if (!ret && h.len > len)
		ret = ckpt_blob_append(out, zero, h.len - len);
	return ret;
}

static int kio(int fd, unsigned long req, void *arg, const char *what, uint32_t id)
{
	if (REAL(ioctl)(fd, req, arg) < 0) {
		int e = errno;

		ckpt_plugin_error("vCPU/VM %u: %s failed: %s", id, what, strerror(e));
		return -e;
	}
	return 0;
}

/*
 * Finishes the exit the kernel is waiting on (the OUT or MMIO write the
 * VMM saw, or the IN whose data it has filled in) with one KVM_RUN that
 * has immediate_exit set: the kernel completes the operation and returns
 * EINTR without entering the guest. The kvm_run bytes are put back as
 * they were, so a VMM thread that was handling the exit sees nothing.
 */
static int complete_exit(struct kvm_vcpu *v, struct kvm_scratch *s)
{
	struct kvm_run *run = v->run;
	int input, ret;

	if (!run)
		return 0;
	memcpy(s->run, run, v->run_len);
	input = (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_IN) ||
		(run->exit_reason == KVM_EXIT_MMIO && !run->mmio.is_write) ||
		run->exit_reason == KVM_EXIT_X86_RDMSR;
	if (input && !v->in_run) {
		/* the VMM has not filled in the data yet: the restored vCPU redoes the read */
		pr_debug("kvm: vCPU %u stopped while the VMM handles an input exit", v->id);
		return 0;
	}
	run->immediate_exit = 1;
	ret = REAL(ioctl)(v->fd, KVM_RUN, 0);
	if (ret == 0) {
		uint32_t why = run->exit_reason;

		memcpy(run, s->run, v->run_len);
		ckpt_plugin_error("vCPU %u: completing its pending exit made a new exit (%u); "
				  "retry the checkpoint", v->id, why);
		return -EAGAIN;
	}
	if (errno != EINTR) {
		int e = errno;

		memcpy(run, s->run, v->run_len);
		ckpt_plugin_error("vCPU %u: KVM_RUN with immediate_exit: %s", v->id, strerror(e));
		return -e;
	}
	memcpy(run, s->run, v->run_len);
	return 0;
}

static int sys_fd(void)
{
	for (int i = 0; i < KVM_MAX_SYS; i++)
		if (kvm_st.sys[i].used)
			return kvm_st.sys[i].fd;
	return -1;
}

/* MSRs: the kernel's list, each readable one (GET_MSRS returns a count). */
static int save_msrs(struct ckpt_blob *out, struct kvm_vcpu *v, struct kvm_scratch *s)
{
	struct kvm_msr_list *list = (void *)s->msr_list;
	struct kvm_msrs *all = (void *)s->msrs, *batch = (void *)s->msrs2;
	int sfd = sys_fd(), own = 0;
	uint32_t n = 0;

	if (sfd < 0) {
		sfd = REAL(open)("/dev/kvm", O_RDWR | O_CLOEXEC);
		own = 1;
	}
	list->nmsrs = 1024;
	if (sfd < 0 || REAL(ioctl)(sfd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		int e = errno;

		if (own && sfd >= 0)
			REAL(close)(sfd);
		ckpt_plugin_error("KVM_GET_MSR_INDEX_LIST: %s", strerror(e));
		return -e;
	}
	if (own)
		REAL(close)(sfd);
	for (uint32_t i = 0; i < list->nmsrs;) {
		uint32_t k = list->nmsrs - i;
		int got;

		memset(batch, 0, sizeof(*batch) + k * sizeof(batch->entries[0]));
		batch->nmsrs = k;
		for (uint32_t j = 0; j < k; j++)
			batch->entries[j].index = list->indices[i + j];
		got = REAL(ioctl)(v->fd, KVM_GET_MSRS, batch);
		if (got < 0) {
			ckpt_plugin_error("vCPU %u: KVM_GET_MSRS: %s", v->id, strerror(errno));
			return -errno;
		}
		for (int j = 0; j < got; j++)
			all->entries[n++] = batch->entries[j];
		if ((uint32_t)got < k)
			pr_debug("kvm: vCPU %u: MSR %#x is not readable, not saved", v->id,
				 list->indices[i + got]);
		i += got + 1;	/* skips the one that failed */
	}
	all->nmsrs = n;
	all->pad = 0;
	return rec(out, KREC_VCPU_MSRS, all, sizeof(*all) + n * sizeof(all->entries[0]));
}

static int save_vcpu(struct ckpt_blob *out, struct kvm_vm *vm, struct kvm_vcpu *v,
		     struct kvm_scratch *s)
{
	struct kvm_rec_vcpustate *st = &s->vs;
	struct kvm_rec_vcpu r = {
		.fd = v->fd, .fdflags = kvm_fdflags(v->fd), .vm_fd = vm->fd, .id = v->id,
		.run_addr = (uintptr_t)v->run, .run_len = v->run ? v->run_len : 0,
		.cpuid_set = v->cpuid_set, .in_run = v->in_run,
	};
	int fd = v->fd, ret, xsize;

	ret = rec(out, KREC_VCPU, &r, sizeof(r));
	for (int i = 0; !ret && i < v->nr_setup; i++)
		ret = rec(out, KREC_VCPU_SETUP, &v->setup[i], sizeof(v->setup[i]));
	if (ret)
		return ret;
	if (v->cpuid_set) {
		struct kvm_cpuid2 *c = (void *)s->cpuid;

		c->nent = 1024;
		if ((ret = kio(fd, KVM_GET_CPUID2, c, "KVM_GET_CPUID2", v->id)))
			return ret;
		if ((ret = rec(out, KREC_VCPU_CPUID, c,
			       sizeof(*c) + c->nent * sizeof(c->entries[0]))))
			return ret;
	}
	memset(st, 0, sizeof(*st));
	/* MP_STATE first: it may change CS and RIP (pending INIT/SIPI) */
	if ((ret = kio(fd, KVM_GET_MP_STATE, &st->mp, "KVM_GET_MP_STATE", v->id)) ||
	    (ret = kio(fd, KVM_GET_REGS, &st->regs, "KVM_GET_REGS", v->id)))
		return ret;
	if (REAL(ioctl)(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0) {
		st->flags |= KVS_SREGS2;
		ret = kio(fd, KVM_GET_SREGS2, &st->sregs2, "KVM_GET_SREGS2", v->id);
	} else {
		ret = kio(fd, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS", v->id);
	}
	if (ret)
		return ret;
	xsize = REAL(ioctl)(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (xsize < (int)sizeof(struct kvm_xsave))
		xsize = sizeof(struct kvm_xsave);
	if (xsize > (int)sizeof(s->xsave)) {
		ckpt_plugin_error("vCPU %u: XSAVE area of %d bytes", v->id, xsize);
		return -E2BIG;
	}
	memset(s->xsave, 0, xsize);
	if ((ret = kio(fd, xsize > (int)sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
		       s->xsave, "KVM_GET_XSAVE2", v->id)))
		return ret;
	if (REAL(ioctl)(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
		st->flags |= KVS_XCRS;
		if ((ret = kio(fd, KVM_GET_XCRS, &st->xcrs, "KVM_GET_XCRS", v->id)))
			return ret;
	}
	if (REAL(ioctl)(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_DEBUGREGS) > 0) {
		st->flags |= KVS_DEBUGREGS;
		if ((ret = kio(fd, KVM_GET_DEBUGREGS, &st->dbg, "KVM_GET_DEBUGREGS", v->id)))
			return ret;
	}
	if (vm->irqchip || vm->split_irqchip) {
		st->flags |= KVS_LAPIC;
		if ((ret = kio(fd, KVM_GET_LAPIC, &st->lapic, "KVM_GET_LAPIC", v->id)))
			return ret;
	}
	ret = REAL(ioctl)(fd, KVM_GET_TSC_KHZ, 0);
	st->tsc_khz = ret > 0 ? ret : 0;
	if ((ret = save_msrs(out, v, s)))
		return ret;
	/* events last */
	if ((ret = kio(fd, KVM_GET_VCPU_EVENTS, &st->events, "KVM_GET_VCPU_EVENTS", v->id)))
		return ret;
	if ((ret = rec(out, KREC_VCPU_STATE, st, sizeof(*st))) ||
	    (ret = rec(out, KREC_VCPU_XSAVE, s->xsave, xsize)))
		return ret;
	if (v->run && (ret = rec(out, KREC_VCPU_RUN, v->run, v->run_len)))
		return ret;
	return rec(out, KREC_VCPU_DONE, NULL, 0);
}

static int save_vm(struct ckpt_blob *out, struct kvm_vm *vm, struct kvm_scratch *s)
{
	int vmi = vm - kvm_st.vms, ret;
	struct kvm_rec_vm r = {
		.fd = vm->fd, .fdflags = kvm_fdflags(vm->fd), .type = vm->type,
		.irqchip = vm->irqchip, .pit2 = vm->pit2,
	};
	struct kvm_rec_vmstate *st = &s->vms;

	/* first every vCPU's pending exit, then the state of all */
	for (int i = 0; i < KVM_MAX_VCPUS; i++) {
		struct kvm_vcpu *v = &kvm_st.vcpus[i];

		if (v->used && v->vm == vmi && (ret = complete_exit(v, s)))
			return ret;
	}
	ret = rec(out, KREC_VM, &r, sizeof(r));
	for (int i = 0; !ret && i < vm->nr_slots; i++)
		ret = rec(out, KREC_VM_SLOT, &vm->slots[i], sizeof(vm->slots[i]));
	for (int i = 0; !ret && i < vm->nr_setup; i++)
		ret = rec(out, KREC_VM_SETUP, &vm->setup[i], sizeof(vm->setup[i]));
	if (!ret && vm->nr_routes >= 0) {
		struct kvm_irq_routing *rt = (void *)s->routing;

		rt->nr = vm->nr_routes;
		rt->flags = vm->route_flags;
		memcpy(rt->entries, vm->routes, vm->nr_routes * sizeof(rt->entries[0]));
		ret = rec(out, KREC_VM_ROUTING, rt,
			  sizeof(*rt) + vm->nr_routes * sizeof(rt->entries[0]));
	}
	for (int i = 0; !ret && i < vm->nr_irqfds; i++)
		ret = rec(out, KREC_VM_IRQFD, &vm->irqfds[i], sizeof(vm->irqfds[i]));
	for (int i = 0; !ret && i < vm->nr_ioeventfds; i++)
		ret = rec(out, KREC_VM_IOEVENTFD, &vm->ioeventfds[i], sizeof(vm->ioeventfds[i]));
	for (int i = 0; !ret && i < vm->nr_coalesced; i++)
		ret = rec(out, KREC_VM_COALESCED, &vm->coalesced[i], sizeof(vm->coalesced[i]));
	if (!ret && vm->has_msr_filter) {
		/* the filter, then each range's bitmap, in one record */
		uint8_t *p = s->run;
		size_t len = sizeof(vm->msr_filter);

		memcpy(p, &vm->msr_filter, len);
		for (int i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
			const struct kvm_msr_filter_range *r = &vm->msr_filter.ranges[i];
			size_t n = ((size_t)r->nmsrs + 7) / 8;

			if (!r->flags)
				continue;
			memcpy(p + len, vm->msr_bitmaps[i], n);
			len += n;
		}
		ret = rec(out, KREC_VM_MSR_FILTER, p, len);
	}
	if (ret)
		return ret;

	memset(st, 0, sizeof(*st));
	if ((ret = kio(vm->fd, KVM_GET_CLOCK, &st->clock, "KVM_GET_CLOCK", vmi)))
		return ret;
	if (vm->irqchip) {
		st->has_irqchip = 1;
		st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
		st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
		st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
		if ((ret = kio(vm->fd, KVM_GET_IRQCHIP, &st->pic_master, "KVM_GET_IRQCHIP", vmi)) ||
		    (ret = kio(vm->fd, KVM_GET_IRQCHIP, &st->pic_slave, "KVM_GET_IRQCHIP", vmi)) ||
		    (ret = kio(vm->fd, KVM_GET_IRQCHIP, &st->ioapic, "KVM_GET_IRQCHIP", vmi)))
			return ret;
	}
	if (vm->pit2) {
		st->has_pit2 = 1;
		if ((ret = kio(vm->fd, KVM_GET_PIT2, &st->pit2, "KVM_GET_PIT2", vmi)))
			return ret;
	}
	if ((ret = rec(out, KREC_VM_STATE, st, sizeof(*st))))
		return ret;
	for (int i = 0; i < KVM_MAX_VCPUS; i++) {
		struct kvm_vcpu *v = &kvm_st.vcpus[i];

		if (v->used && v->vm == vmi && (ret = save_vcpu(out, vm, v, s)))
			return ret;
	}
	return rec(out, KREC_VM_DONE, NULL, 0);
}

int kvm_save(struct ckpt_blob *out)
{
	struct kvm_scratch *s;
	int ret = 0, any = 0;

	if (pthread_mutex_trylock(&kvm_st.lock)) {
		ckpt_plugin_error("a thread was stopped while changing the KVM configuration; retry");
		return -EAGAIN;
	}
	if ((ret = check_tables()))
		goto out;
	for (int i = 0; i < KVM_MAX_SYS; i++)
		any |= kvm_st.sys[i].used;
	for (int i = 0; i < KVM_MAX_VMS; i++)
		any |= kvm_st.vms[i].used;
	if (!any)
		goto out;	/* no KVM in this process: an empty section */
	s = kvm_scratch_get();
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	for (int i = 0; !ret && i < KVM_MAX_SYS; i++) {
		struct kvm_sys *sy = &kvm_st.sys[i];

		if (!sy->used)
			continue;
		sy->fdflags = kvm_fdflags(sy->fd);
		ret = rec(out, KREC_SYS, sy, sizeof(*sy));
	}
	for (int i = 0; !ret && i < KVM_MAX_VMS; i++)
		if (kvm_st.vms[i].used)
			ret = save_vm(out, &kvm_st.vms[i], s);
	kvm_scratch_put(s);
out:
	pthread_mutex_unlock(&kvm_st.lock);
	return ret;
}
