/* SPDX-License-Identifier: MIT */
/*
 * Restart, in the restored process with every application thread held:
 * rebuilds /dev/kvm, VM and vCPU fds at their old numbers and each
 * kvm_run mapping at its old address, replays the configuration and puts
 * the saved state back in the order the kernel requires:
 *   VM: create, memory slots (before CREATE_IRQCHIP: much cheaper), setup
 *   calls in their order (TSS, identity map, caps, irqchip, PIT2...),
 *   routing, irqfds, ioeventfds, coalesced zones, irqchip and PIT state;
 *   vCPU: create, mmap kvm_run, setup calls, CPUID2 (before anything
 *   else), MP_STATE, REGS, SREGS2, XSAVE, XCRS, DEBUGREGS, LAPIC, MSRs
 *   (TSC deadline last), VCPU_EVENTS (+NMI/SIPI valid flags);
 *   then KVM_SET_CLOCK for the VM.
 * Guest RAM is ordinary memory the core has restored already.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm.h"
#include "log.h"
#include "../../interpose/real.h"

#define MSR_IA32_TSC_DEADLINE	0x6e0

struct rst {
	struct kvm_scratch *s;
	int sys_fd;			/* a /dev/kvm fd for KVM_CREATE_VM */
	struct kvm_vm *vm;
	struct kvm_clock_data clock;
	int has_clock;
	struct kvm_vcpu *v;
	const struct kvm_rec_vcpu *vr;
	const struct kvm_rec_vcpustate *vs;
	const void *xsave;
	size_t xsave_len;
	const struct kvm_msrs *msrs;
	const void *run;
	size_t run_len;
};

static int fail(int err, const char *what, unsigned id)
{
	pr_err("kvm restart: %s (%u): %s", what, id, strerror(err));
	return -err;
}

/* Moves a new fd onto the number the process knew it by. */
static int move_fd(int fd, int target, int fdflags)
{
	if (fd < 0)
		return -errno;
	if (fd != target) {
		if (fcntl(target, F_GETFD) >= 0) {
			REAL(close)(fd);
			pr_err("kvm restart: fd %d is already in use", target);
			return -EBUSY;
		}
		if (dup3(fd, target, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
			int e = errno;

			REAL(close)(fd);
			return -e;
		}
		REAL(close)(fd);
	} else if (fcntl(fd, F_SETFD, fdflags & FD_CLOEXEC) < 0) {
		return -errno;
	}
	return target;
}

static int kio(int fd, unsigned long req, const void *arg, const char *what, unsigned id)
{
	if (REAL(ioctl)(fd, req, arg) < 0)
		return fail(errno, what, id);
	return 0;
}

static int replay(int fd, const struct kvm_setup *s, unsigned id)
{
	const void *arg = s->by_ptr ? (const void *)s->data : (const void *)(uintptr_t)s->val;

	if (s->req == KVM_SET_SIGNAL_MASK && !s->by_ptr)
		arg = NULL;
	if (REAL(ioctl)(fd, s->req, arg) < 0)
		return fail(errno, kvm_ioctl_name(s->req), id);
	return 0;
}

static int rst_sys(struct rst *r, const struct kvm_sys *rs)
{
	int fd = REAL(open)("/dev/kvm", (rs->oflags & O_ACCMODE) | O_CLOEXEC);
	int i;

	fd = move_fd(fd, rs->fd, rs->fdflags);
	if (fd < 0)
		return fail(-fd, "/dev/kvm", rs->fd);
	for (i = 0; i < KVM_MAX_SYS && kvm_st.sys[i].used; i++)
		;
	if (i == KVM_MAX_SYS)
		return -ENOSPC;
	kvm_st.sys[i] = *rs;
	kvm_fd_set(fd, KFD_SYS, i);
	if (r->sys_fd < 0)
		r->sys_fd = fd;
	return 0;
}

static int rst_vm(struct rst *r, const struct kvm_rec_vm *rv)
{
	int sfd = r->sys_fd, own = sfd < 0, fd, i;

	if (own)
		sfd = REAL(open)("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (sfd < 0)
		return fail(errno, "open /dev/kvm", 0);
	fd = REAL(ioctl)(sfd, KVM_CREATE_VM, (unsigned long)rv->type);
	if (own)
		REAL(close)(sfd);
	fd = move_fd(fd, rv->fd, rv->fdflags);
	if (fd < 0)
		return fail(-fd, "KVM_CREATE_VM", rv->fd);
	for (i = 0; i < KVM_MAX_VMS && kvm_st.vms[i].used; i++)
		;
	if (i == KVM_MAX_VMS)
		return -ENOSPC;
	r->vm = &kvm_st.vms[i];
	memset(r->vm, 0, sizeof(*r->vm));
	r->vm->used = 1;
	r->vm->fd = fd;
	r->vm->type = rv->type;
	r->vm->nr_routes = -1;
	kvm_fd_set(fd, KFD_VM, i);
	return 0;
}

static int rst_slot(struct rst *r, const struct kvm_userspace_memory_region2 *m)
{
	struct kvm_userspace_memory_region r1 = {
		.slot = m->slot, .flags = m->flags, .guest_phys_addr = m->guest_phys_addr,
		.memory_size = m->memory_size, .userspace_addr = m->userspace_addr,
	};
	int ret = kio(r->vm->fd, KVM_SET_USER_MEMORY_REGION, &r1, "KVM_SET_USER_MEMORY_REGION",
		      m->slot);

	if (!ret && r->vm->nr_slots < KVM_MAX_SLOTS)
		r->vm->slots[r->vm->nr_slots++] = *m;
	return ret;
}

static int rst_vm_setup(struct rst *r, const struct kvm_setup *s)
{
	int ret = replay(r->vm->fd, s, 0);

	if (ret)
		return ret;
	if (s->req == KVM_CREATE_IRQCHIP)
		r->vm->irqchip = 1;
	if (s->req == KVM_CREATE_PIT2)
		r->vm->pit2 = 1;
	if (s->req == KVM_ENABLE_CAP &&
	    ((const struct kvm_enable_cap *)s->data)->cap == KVM_CAP_SPLIT_IRQCHIP)
		r->vm->split_irqchip = 1;
	if (r->vm->nr_setup < KVM_MAX_SETUP)
		r->vm->setup[r->vm->nr_setup++] = *s;
	return 0;
}

static int rst_vmstate(struct rst *r, const struct kvm_rec_vmstate *st)
{
	int fd = r->vm->fd, ret = 0;

	r->clock = st->clock;
	r->has_clock = 1;
	if (st->has_irqchip &&
	    ((ret = kio(fd, KVM_SET_IRQCHIP, &st->pic_master, "KVM_SET_IRQCHIP master", 0)) ||
	     (ret = kio(fd, KVM_SET_IRQCHIP, &st->pic_slave, "KVM_SET_IRQCHIP slave", 0)) ||
	     (ret = kio(fd, KVM_SET_IRQCHIP, &st->ioapic, "KVM_SET_IRQCHIP ioapic", 0))))
		return ret;
	if (st->has_pit2)
		ret = kio(fd, KVM_SET_PIT2, &st->pit2, "KVM_SET_PIT2", 0);
	return ret;
}

static int rst_vcpu(struct rst *r, const struct kvm_rec_vcpu *vr)
{
	int fd = REAL(ioctl)(r->vm->fd, KVM_CREATE_VCPU, (unsigned long)vr->id), i;
	struct kvm_vcpu *v;

	fd = move_fd(fd, vr->fd, vr->fdflags);
	if (fd < 0)
		return fail(-fd, "KVM_CREATE_VCPU", vr->id);
	for (i = 0; i < KVM_MAX_VCPUS && kvm_st.vcpus[i].used; i++)
		;
	if (i == KVM_MAX_VCPUS)
		return -ENOSPC;
	v = &kvm_st.vcpus[i];
	memset(v, 0, sizeof(*v));
	v->used = 1;
	v->fd = fd;
	v->vm = r->vm - kvm_st.vms;
	v->id = vr->id;
	v->cpuid_set = vr->cpuid_set;
	v->in_run = vr->in_run;
	if (vr->run_len) {
		void *p = REAL(mmap)((void *)(uintptr_t)vr->run_addr, vr->run_len,
				     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);

		if (p != (void *)(uintptr_t)vr->run_addr) {
			int e = p == MAP_FAILED ? errno : EEXIST;

			if (p != MAP_FAILED)
				REAL(munmap)(p, vr->run_len);
			return fail(e, "mmap of kvm_run at its old address", vr->id);
		}
		v->run = p;
		v->run_len = vr->run_len;
	}
	kvm_fd_set(fd, KFD_VCPU, i);
	r->v = v;
	r->vr = vr;
	r->vs = NULL;
	r->xsave = NULL;
	r->msrs = NULL;
	r->run = NULL;
	return 0;
}

static int rst_vcpu_setup(struct rst *r, const struct kvm_setup *s)
{
	int ret = replay(r->v->fd, s, r->v->id);

	if (!ret && r->v->nr_setup < KVM_MAX_SETUP)
		r->v->setup[r->v->nr_setup++] = *s;
	return ret;
}

/* SET_MSRS returns how many it set: skip one that fails and go on. */
static int put_msrs(struct rst *r)
{
	struct kvm_vcpu *v = r->v;
	struct kvm_msrs *m = (void *)r->s->msrs, *b = (void *)r->s->msrs2;
	uint32_t n = 0, dl = 0;
	int have_dl = 0;

	if (!r->msrs)
		return 0;
	for (uint32_t i = 0; i < r->msrs->nmsrs; i++) {
		if (r->msrs->entries[i].index == MSR_IA32_TSC_DEADLINE) {
			have_dl = 1;
			dl = i;
			continue;
		}
		m->entries[n++] = r->msrs->entries[i];
	}
	if (have_dl)
		m->entries[n++] = r->msrs->entries[dl];	/* after the TSC and the LAPIC */
	for (uint32_t i = 0; i < n;) {
		uint32_t k = n - i;
		int got;

		memset(b, 0, sizeof(*b));
		b->nmsrs = k;
		memcpy(b->entries, &m->entries[i], k * sizeof(b->entries[0]));
		got = REAL(ioctl)(v->fd, KVM_SET_MSRS, b);
		if (got < 0)
			return fail(errno, "KVM_SET_MSRS", v->id);
		if ((uint32_t)got < k) {
			const struct kvm_msr_entry *e = &m->entries[i + got];

			if (e->data)
				pr_warn("kvm restart: vCPU %u: MSR %#x = %#llx could not be set", v->id,
					e->index, (unsigned long long)e->data);
		}
		i += got + 1;
	}
	return 0;
}

static int vcpu_done(struct rst *r)
{
	const struct kvm_rec_vcpustate *st = r->vs;
	struct kvm_vcpu *v = r->v;
	struct kvm_vcpu_events ev;
	int fd, ret;

	if (!v || !st)
		return -EINVAL;
	fd = v->fd;
	if (r->run && r->run_len == v->run_len)
		memcpy(v->run, r->run, r->run_len);
	if ((ret = kio(fd, KVM_SET_MP_STATE, &st->mp, "KVM_SET_MP_STATE", v->id)) ||
	    (ret = kio(fd, KVM_SET_REGS, &st->regs, "KVM_SET_REGS", v->id)))
		return ret;
	if (st->flags & KVS_SREGS2)
		ret = kio(fd, KVM_SET_SREGS2, &st->sregs2, "KVM_SET_SREGS2", v->id);
	else
		ret = kio(fd, KVM_SET_SREGS, &st->sregs, "KVM_SET_SREGS", v->id);
	if (ret)
		return ret;
	if (r->xsave) {
		memcpy(r->s->xsave, r->xsave, r->xsave_len);
		if ((ret = kio(fd, KVM_SET_XSAVE, r->s->xsave, "KVM_SET_XSAVE", v->id)))
			return ret;
	}
	if ((st->flags & KVS_XCRS) &&
	    (ret = kio(fd, KVM_SET_XCRS, &st->xcrs, "KVM_SET_XCRS", v->id)))
		return ret;
	if ((st->flags & KVS_DEBUGREGS) &&
	    (ret = kio(fd, KVM_SET_DEBUGREGS, &st->dbg, "KVM_SET_DEBUGREGS", v->id)))
		return ret;
	if ((st->flags & KVS_LAPIC) &&
	    (ret = kio(fd, KVM_SET_LAPIC, &st->lapic, "KVM_SET_LAPIC", v->id)))
		return ret;
	if ((ret = put_msrs(r)))
		return ret;
	/* SET with GET's flags drops a pending NMI and the SIPI vector */
	ev = st->events;
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if ((ret = kio(fd, KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS", v->id)))
		return ret;
	r->v = NULL;
	r->vs = NULL;
	return 0;
}

static int vm_done(struct rst *r)
{
	if (!r->vm)
		return -EINVAL;
	if (r->has_clock) {
		struct kvm_clock_data c = r->clock;
		int ret;

		/* with REALTIME the kernel adds the time that passed since the save */
		c.flags &= KVM_CLOCK_REALTIME;
		c.pad0 = 0;
		memset(c.pad, 0, sizeof(c.pad));
		ret = kio(r->vm->fd, KVM_SET_CLOCK, &c, "KVM_SET_CLOCK", 0);
		if (ret && (c.flags & KVM_CLOCK_REALTIME)) {
			c.flags = 0;
			ret = kio(r->vm->fd, KVM_SET_CLOCK, &c, "KVM_SET_CLOCK", 0);
		}
		if (ret)
			return ret;
	}
	r->vm = NULL;
	r->has_clock = 0;
	return 0;
}

/* The filter with its bitmaps from the record; after the setup calls (ENABLE_CAP). */
static int rst_msr_filter(struct rst *r, const uint8_t *p, size_t len)
{
	struct kvm_msr_filter f;
	size_t off = sizeof(f);

	if (len < sizeof(f))
		return -EINVAL;
	memcpy(&f, p, sizeof(f));
	for (int i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
		struct kvm_msr_filter_range *rg = &f.ranges[i];
		size_t n = ((size_t)rg->nmsrs + 7) / 8;

		if (!rg->flags) {
			rg->bitmap = NULL;
			continue;
		}
		if (n > KVM_MSR_BITMAP_MAX || n > len - off)
			return -EINVAL;
		memcpy(r->vm->msr_bitmaps[i], p + off, n);
		rg->bitmap = r->vm->msr_bitmaps[i];
		off += n;
	}
	if (kio(r->vm->fd, KVM_X86_SET_MSR_FILTER, &f, "KVM_X86_SET_MSR_FILTER", 0))
		return -errno;
	r->vm->msr_filter = f;
	r->vm->has_msr_filter = 1;
	return 0;
}

static int one(struct rst *r, uint32_t type, const void *p, size_t len)
{
	if (((type >= KREC_VM_SLOT && type <= KREC_VCPU) || type == KREC_VM_DONE) && !r->vm)
		return -EINVAL;
	if (type >= KREC_VCPU_SETUP && type <= KREC_VCPU_DONE && !r->v)
		return -EINVAL;
	if (type == KREC_VM_MSR_FILTER)
		return r->vm ? rst_msr_filter(r, p, len) : -EINVAL;
	switch (type) {
	case KREC_SYS:
		return len < sizeof(struct kvm_sys) ? -EINVAL : rst_sys(r, p);
	case KREC_VM:
		return len < sizeof(struct kvm_rec_vm) ? -EINVAL : rst_vm(r, p);
	case KREC_VM_SLOT:
		return rst_slot(r, p);
	case KREC_VM_SETUP:
		return rst_vm_setup(r, p);
	case KREC_VM_ROUTING: {
		const struct kvm_irq_routing *rt = p;
		int ret = kio(r->vm->fd, KVM_SET_GSI_ROUTING, rt, "KVM_SET_GSI_ROUTING", rt->nr);

		if (!ret && rt->nr <= KVM_MAX_ROUTES) {
			r->vm->nr_routes = rt->nr;
			r->vm->route_flags = rt->flags;
			memcpy(r->vm->routes, rt->entries, rt->nr * sizeof(rt->entries[0]));
		}
		return ret;
	}
	case KREC_VM_IRQFD: {
		const struct kvm_irqfd *f = p;

		if (fcntl(f->fd, F_GETFD) < 0 ||
		    ((f->flags & KVM_IRQFD_FLAG_RESAMPLE) && fcntl(f->resamplefd, F_GETFD) < 0))
			return fail(EBADF, "irqfd's eventfd is not in the restored process", f->fd);
		if (kio(r->vm->fd, KVM_IRQFD, f, "KVM_IRQFD", f->gsi))
			return -errno;
		r->vm->irqfds[r->vm->nr_irqfds++] = *f;
		return 0;
	}
	case KREC_VM_IOEVENTFD: {
		const struct kvm_ioeventfd *e = p;

		if (fcntl(e->fd, F_GETFD) < 0)
			return fail(EBADF, "ioeventfd's eventfd is not in the restored process", e->fd);
		if (kio(r->vm->fd, KVM_IOEVENTFD, e, "KVM_IOEVENTFD", e->fd))
			return -errno;
		r->vm->ioeventfds[r->vm->nr_ioeventfds++] = *e;
		return 0;
	}
	case KREC_VM_COALESCED: {
		const struct kvm_coalesced_mmio_zone *z = p;

		if (kio(r->vm->fd, KVM_REGISTER_COALESCED_MMIO, z, "KVM_REGISTER_COALESCED_MMIO", 0))
			return -errno;
		r->vm->coalesced[r->vm->nr_coalesced++] = *z;
		return 0;
	}
	case KREC_VM_STATE:
		return len < sizeof(struct kvm_rec_vmstate) ? -EINVAL : rst_vmstate(r, p);
	case KREC_VCPU:
		return len < sizeof(struct kvm_rec_vcpu) ? -EINVAL : rst_vcpu(r, p);
	case KREC_VCPU_SETUP:
		return rst_vcpu_setup(r, p);
	case KREC_VCPU_CPUID:
		return kio(r->v->fd, KVM_SET_CPUID2, p, "KVM_SET_CPUID2", r->v->id);
	case KREC_VCPU_STATE:
		r->vs = p;
		return 0;
	case KREC_VCPU_XSAVE:
		if (len > sizeof(r->s->xsave))
			return -EINVAL;
		r->xsave = p;
		r->xsave_len = len;
		return 0;
	case KREC_VCPU_MSRS:
		r->msrs = p;
		return 0;
	case KREC_VCPU_RUN:
		r->run = p;
		r->run_len = len;
		return 0;
	case KREC_VCPU_DONE:
		return vcpu_done(r);
	case KREC_VM_DONE:
		return vm_done(r);
	default:
		pr_err("kvm restart: unknown record %u", type);
		return -EINVAL;
	}
}

int kvm_restart(const void *data, size_t len, uint32_t version)
{
	const uint8_t *p = data, *end = p + len;
	struct rst r = { .sys_fd = -1 };
	int ret = 0;

	if (version != KVM_PLUGIN_VERSION) {
		pr_err("kvm restart: section version %u, this libckpt has %u", version,
		       KVM_PLUGIN_VERSION);
		return -EINVAL;
	}
	if (!len)
		return 0;
	/* the tables are rebuilt from the image alone */
	memset(kvm_st.kind, 0, sizeof(kvm_st.kind));
	memset(kvm_st.sys, 0, sizeof(kvm_st.sys));
	memset(kvm_st.vms, 0, sizeof(kvm_st.vms));
	memset(kvm_st.vcpus, 0, sizeof(kvm_st.vcpus));
	kvm_st.error[0] = 0;
	r.s = kvm_scratch_get();
	if (!r.s)
		return -ENOMEM;
	while (!ret && p + sizeof(struct kvm_rec) <= end) {
		const struct kvm_rec *h = (const void *)p;

		p += sizeof(*h);
		if (h->len > (size_t)(end - p)) {
			ret = -EINVAL;
			break;
		}
		ret = one(&r, h->type, p, h->len);
		p += h->len;
	}
	if (!ret && (r.v || r.vm))
		ret = -EINVAL;	/* truncated section */
	kvm_scratch_put(r.s);
	if (ret)
		pr_err("kvm restart failed: %s", strerror(-ret));
	return ret;
}
