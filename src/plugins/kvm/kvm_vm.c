/* SPDX-License-Identifier: MIT */
/*
 * The system (/dev/kvm) and VM fds: which ioctls are known, and what of
 * them is recorded to rebuild the VM (memory slots, setup calls replayed
 * in order, GSI routing, irqfds, ioeventfds, coalesced MMIO zones).
 * An ioctl the plugin does not know is remembered: the next checkpoint
 * fails naming it. Called with kvm_st.lock held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm.h"
#include "../../interpose/real.h"

void kvm_refuse(const char *fmt, ...)
{
	va_list ap;

	if (kvm_st.error[0])
		return;		/* the first reason is the one reported */
	va_start(ap, fmt);
	vsnprintf(kvm_st.error, sizeof(kvm_st.error), fmt, ap);
	va_end(ap);
}

int kvm_fdflags(int fd)
{
	int f = fcntl(fd, F_GETFD);

	return f < 0 ? 0 : f;
}

void kvm_fd_set(int fd, int kind, int index)
{
	kvm_st.index[fd] = index;
	__atomic_store_n(&kvm_st.kind[fd], kind, __ATOMIC_RELEASE);
}

static int vm_has_vcpus(int vm)
{
	for (int i = 0; i < KVM_MAX_VCPUS; i++)
		if (kvm_st.vcpus[i].used && kvm_st.vcpus[i].vm == vm)
			return 1;
	return 0;
}

static void vm_free_if_unused(int vm)
{
	struct kvm_vm *v = &kvm_st.vms[vm];

	if (v->used && v->closed && !vm_has_vcpus(vm))
		memset(v, 0, sizeof(*v));
}

/* The fd is closed (or reused): drop what it was. */
void kvm_fd_forget(int fd)
{
	int kind, idx;

	if (fd < 0 || fd >= KVM_MAX_FDS || !(kind = kvm_st.kind[fd]))
		return;
	idx = kvm_st.index[fd];
	__atomic_store_n(&kvm_st.kind[fd], KFD_NONE, __ATOMIC_RELEASE);
	if (kind == KFD_SYS) {
		kvm_st.sys[idx].used = 0;
	} else if (kind == KFD_VM) {
		kvm_st.vms[idx].closed = 1;
		kvm_st.vms[idx].fd = -1;
		vm_free_if_unused(idx);
	} else {
		struct kvm_vcpu *v = &kvm_st.vcpus[idx];
		struct kvm_vm *vm = &kvm_st.vms[v->vm];

		if (!vm->closed) {
			/* the vCPU lives on in the VM: it cannot be rebuilt without an fd */
			v->closed = 1;
			v->fd = -1;
			return;
		}
		idx = v->vm;
		memset(v, 0, sizeof(*v));
		vm_free_if_unused(idx);
	}
}

void kvm_setup_add(struct kvm_setup *tab, int *nr, unsigned long req, void *arg, size_t len,
		   int by_ptr, const char *what)
{
	struct kvm_setup *s;

	if (*nr >= KVM_MAX_SETUP || len > KVM_SETUP_ARG_MAX) {
		kvm_refuse("too many setup ioctls on a %s fd", what);
		return;
	}
	s = &tab[(*nr)++];
	memset(s, 0, sizeof(*s));
	s->req = req;
	s->by_ptr = by_ptr;
	s->len = len;
	if (by_ptr)
		memcpy(s->data, arg, len);
	else
		s->val = (uint64_t)(uintptr_t)arg;
}

const char *kvm_ioctl_name(unsigned long req)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "ioctl %#lx (type %#x nr %#x size %u)", req,
		 (unsigned)_IOC_TYPE(req), (unsigned)_IOC_NR(req), (unsigned)_IOC_SIZE(req));
	return buf;
}

int kvm_ioctl_sys(struct kvm_sys *s, int fd, unsigned long req, void *arg)
{
	int ret = REAL(ioctl)(fd, req, arg);

	switch (req) {
	case KVM_CREATE_VM:
		if (ret < 0)
			return ret;
		if (ret >= KVM_MAX_FDS) {
			kvm_refuse("VM fd %d is above %d", ret, KVM_MAX_FDS);
			return ret;
		}
		if ((uintptr_t)arg != 0)
			kvm_refuse("VM type %lu is not supported (only the default type 0)",
				   (unsigned long)(uintptr_t)arg);
		kvm_fd_forget(ret);
		for (int i = 0; i < KVM_MAX_VMS; i++) {
			struct kvm_vm *vm = &kvm_st.vms[i];

			if (vm->used)
				continue;
			memset(vm, 0, sizeof(*vm));
			vm->used = 1;
			vm->fd = ret;
			vm->type = (uintptr_t)arg;
			vm->nr_routes = -1;
			kvm_fd_set(ret, KFD_VM, i);
			return ret;
		}
		kvm_refuse("more than %d VMs", KVM_MAX_VMS);
		return ret;
	case KVM_GET_API_VERSION:
	case KVM_CHECK_EXTENSION:
	case KVM_GET_VCPU_MMAP_SIZE:
	case KVM_GET_SUPPORTED_CPUID:
	case KVM_GET_EMULATED_CPUID:
	case KVM_GET_MSR_INDEX_LIST:
	case KVM_GET_MSR_FEATURE_INDEX_LIST:
	case KVM_GET_MSRS:
	case KVM_X86_GET_MCE_CAP_SUPPORTED:
#ifdef KVM_GET_SUPPORTED_HV_CPUID
	case KVM_GET_SUPPORTED_HV_CPUID:
#endif
	case KVM_GET_DEVICE_ATTR:
	case KVM_HAS_DEVICE_ATTR:
		return ret;
	default:
		kvm_refuse("unknown %s on /dev/kvm fd %d", kvm_ioctl_name(req), fd);
		(void)s;
		return ret;
	}
}

static void slot_set(struct kvm_vm *vm, const struct kvm_userspace_memory_region2 *r)
{
	int i;

	for (i = 0; i < vm->nr_slots; i++)
		if (vm->slots[i].slot == r->slot)
			break;
	if (!r->memory_size) {	/* deletes the slot */
		if (i < vm->nr_slots)
			vm->slots[i] = vm->slots[--vm->nr_slots];
		return;
	}
	if (r->flags & KVM_MEM_GUEST_MEMFD) {
		kvm_refuse("memory slot %u uses guest_memfd, not supported", r->slot);
		return;
	}
	if (i == vm->nr_slots) {
		if (vm->nr_slots >= KVM_MAX_SLOTS) {
			kvm_refuse("more than %d memory slots", KVM_MAX_SLOTS);
			return;
		}
		vm->nr_slots++;
	}
	vm->slots[i] = *r;
}

static void irqfd_set(struct kvm_vm *vm, const struct kvm_irqfd *f)
{
	for (int i = 0; i < vm->nr_irqfds; i++) {
		if (vm->irqfds[i].fd == f->fd && vm->irqfds[i].gsi == f->gsi) {
			vm->irqfds[i] = vm->irqfds[--vm->nr_irqfds];
			break;
		}
	}
	if (f->flags & KVM_IRQFD_FLAG_DEASSIGN)
		return;
	if (vm->nr_irqfds >= KVM_MAX_IRQFDS) {
		kvm_refuse("more than %d irqfds", KVM_MAX_IRQFDS);
		return;
	}
	vm->irqfds[vm->nr_irqfds++] = *f;
}

static int ioeventfd_same(const struct kvm_ioeventfd *a, const struct kvm_ioeventfd *b)
{
	uint32_t keep = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH |
			KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY;

	return a->addr == b->addr && a->len == b->len && a->fd == b->fd &&
	       (a->flags & keep) == (b->flags & keep) &&
	       (!(a->flags & KVM_IOEVENTFD_FLAG_DATAMATCH) || a->datamatch == b->datamatch);
}

static void ioeventfd_set(struct kvm_vm *vm, const struct kvm_ioeventfd *e)
{
	if (e->flags & KVM_IOEVENTFD_FLAG_DEASSIGN) {
		for (int i = 0; i < vm->nr_ioeventfds; i++) {
			if (ioeventfd_same(&vm->ioeventfds[i], e)) {
				vm->ioeventfds[i] = vm->ioeventfds[--vm->nr_ioeventfds];
				return;
			}
		}
		return;
	}
	if (vm->nr_ioeventfds >= KVM_MAX_IOEVENTFDS) {
		kvm_refuse("more than %d ioeventfds", KVM_MAX_IOEVENTFDS);
		return;
	}
	vm->ioeventfds[vm->nr_ioeventfds++] = *e;
}

static void coalesced_set(struct kvm_vm *vm, const struct kvm_coalesced_mmio_zone *z, int add)
{
	for (int i = 0; i < vm->nr_coalesced; i++) {
		if (vm->coalesced[i].addr == z->addr && vm->coalesced[i].size == z->size &&
		    vm->coalesced[i].pio == z->pio) {
			vm->coalesced[i] = vm->coalesced[--vm->nr_coalesced];
			break;
		}
	}
	if (!add)
		return;
	if (vm->nr_coalesced >= KVM_MAX_COALESCED) {
		kvm_refuse("more than %d coalesced MMIO zones", KVM_MAX_COALESCED);
		return;
	}
	vm->coalesced[vm->nr_coalesced++] = *z;
}

static size_t msr_bitmap_len(const struct kvm_msr_filter_range *r)
{
	return ((size_t)r->nmsrs + 7) / 8;
}

/* KVM_X86_SET_MSR_FILTER: the ranges and a copy of each bitmap. */
static void msr_filter_set(struct kvm_vm *vm, const struct kvm_msr_filter *f)
{
	int any = 0;

	for (int i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
		const struct kvm_msr_filter_range *r = &f->ranges[i];

		if (!r->flags)
			continue;
		if (msr_bitmap_len(r) > KVM_MSR_BITMAP_MAX) {
			kvm_refuse("MSR filter range of %u MSRs", r->nmsrs);
			return;
		}
		memcpy(vm->msr_bitmaps[i], r->bitmap, msr_bitmap_len(r));
		any = 1;
	}
	vm->msr_filter = *f;
	/* no range and default allow: the same as no filter */
	vm->has_msr_filter = any || (f->flags & KVM_MSR_FILTER_DEFAULT_DENY);
}

static int create_vcpu(struct kvm_vm *vm, int ret, unsigned long id)
{
	if (ret >= KVM_MAX_FDS) {
		kvm_refuse("vCPU fd %d is above %d", ret, KVM_MAX_FDS);
		return ret;
	}
	kvm_fd_forget(ret);
	for (int i = 0; i < KVM_MAX_VCPUS; i++) {
		struct kvm_vcpu *v = &kvm_st.vcpus[i];

		if (v->used)
			continue;
		memset(v, 0, sizeof(*v));
		v->used = 1;
		v->fd = ret;
		v->vm = vm - kvm_st.vms;
		v->id = id;
		kvm_fd_set(ret, KFD_VCPU, i);
		return ret;
	}
	kvm_refuse("more than %d vCPUs", KVM_MAX_VCPUS);
	return ret;
}

int kvm_ioctl_vm(struct kvm_vm *vm, int fd, unsigned long req, void *arg)
{
	int ret = REAL(ioctl)(fd, req, arg);

	switch (req) {
	case KVM_CREATE_VCPU:
		return ret < 0 ? ret : create_vcpu(vm, ret, (uintptr_t)arg);
	case KVM_SET_USER_MEMORY_REGION:
		if (!ret) {
			const struct kvm_userspace_memory_region *r = arg;
			struct kvm_userspace_memory_region2 r2 = {
				.slot = r->slot, .flags = r->flags,
				.guest_phys_addr = r->guest_phys_addr,
				.memory_size = r->memory_size,
				.userspace_addr = r->userspace_addr,
			};
			slot_set(vm, &r2);
		}
		return ret;
	case KVM_SET_USER_MEMORY_REGION2:
		if (!ret)
			slot_set(vm, arg);
		return ret;
	case KVM_SET_TSS_ADDR:
	case KVM_SET_BOOT_CPU_ID:
	case KVM_SET_TSC_KHZ:
		if (!ret)
			kvm_setup_add(vm->setup, &vm->nr_setup, req, arg, 0, 0, "VM");
		return ret;
	case KVM_SET_IDENTITY_MAP_ADDR:
		if (!ret)
			kvm_setup_add(vm->setup, &vm->nr_setup, req, arg, sizeof(uint64_t), 1, "VM");
		return ret;
	case KVM_CREATE_IRQCHIP:
		if (!ret) {
			vm->irqchip = 1;
			kvm_setup_add(vm->setup, &vm->nr_setup, req, arg, 0, 0, "VM");
		}
		return ret;
	case KVM_CREATE_PIT2:
		if (!ret) {
			vm->pit2 = 1;
			kvm_setup_add(vm->setup, &vm->nr_setup, req, arg, sizeof(struct kvm_pit_config),
				  1, "VM");
		}
		return ret;
	case KVM_ENABLE_CAP:
		if (!ret) {
			const struct kvm_enable_cap *c = arg;

			if (c->cap == KVM_CAP_SPLIT_IRQCHIP)
				vm->split_irqchip = 1;
#ifdef KVM_CAP_DIRTY_LOG_RING
			if (c->cap == KVM_CAP_DIRTY_LOG_RING)
				kvm_refuse("the dirty ring (KVM_CAP_DIRTY_LOG_RING) is not supported");
#endif
			kvm_setup_add(vm->setup, &vm->nr_setup, req, arg, sizeof(*c), 1, "VM");
		}
		return ret;
	case KVM_SET_GSI_ROUTING:
		if (!ret) {
			const struct kvm_irq_routing *r = arg;

			if (r->nr > KVM_MAX_ROUTES) {
				kvm_refuse("GSI routing with %u entries (at most %d)", r->nr,
					   KVM_MAX_ROUTES);
				return ret;
			}
			vm->nr_routes = r->nr;
			vm->route_flags = r->flags;
			memcpy(vm->routes, r->entries, r->nr * sizeof(r->entries[0]));
		}
		return ret;
	case KVM_IRQFD:
		if (!ret)
			irqfd_set(vm, arg);
		return ret;
	case KVM_IOEVENTFD:
		if (!ret)
			ioeventfd_set(vm, arg);
		return ret;
	case KVM_X86_SET_MSR_FILTER:
		if (!ret)
			msr_filter_set(vm, arg);
		return ret;
	case KVM_REGISTER_COALESCED_MMIO:
	case KVM_UNREGISTER_COALESCED_MMIO:
		if (!ret)
			coalesced_set(vm, arg, req == KVM_REGISTER_COALESCED_MMIO);
		return ret;
	/* queries and state the checkpoint reads back itself */
	case KVM_CHECK_EXTENSION:
	case KVM_GET_CLOCK:
	case KVM_SET_CLOCK:
	case KVM_IRQ_LINE:
	case KVM_IRQ_LINE_STATUS:
	case KVM_SIGNAL_MSI:
	case KVM_GET_IRQCHIP:
	case KVM_SET_IRQCHIP:
	case KVM_GET_PIT2:
	case KVM_SET_PIT2:
	case KVM_GET_DIRTY_LOG:
	case KVM_CLEAR_DIRTY_LOG:
	case KVM_GET_TSC_KHZ:
	case KVM_GET_DEVICE_ATTR:
	case KVM_HAS_DEVICE_ATTR:
		return ret;
	case KVM_REINJECT_CONTROL:
		if (!ret)
			kvm_setup_add(vm->setup, &vm->nr_setup, req, arg,
				  sizeof(struct kvm_reinject_control), 1, "VM");
		return ret;
	default:
		kvm_refuse("unknown %s on VM fd %d", kvm_ioctl_name(req), fd);
		return ret;
	}
}
