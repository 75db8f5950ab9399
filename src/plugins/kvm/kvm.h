/* SPDX-License-Identifier: MIT */
/*
 * The KVM plugin (docs/kvm.md): tracks /dev/kvm, VM and vCPU fds through
 * interposed libc calls, saves the VM and vCPU state at a checkpoint and
 * rebuilds it at the same fd numbers and kvm_run addresses at restart.
 *
 * All tables are static (no malloc in hooks or wrappers). The section in
 * the image is a sequence of records (struct kvm_rec + payload); restart
 * rebuilds everything from the records alone.
 */
#ifndef CKPT_KVM_H
#define CKPT_KVM_H

#include <linux/kvm.h>
#include "ckpt/plugin.h"
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifndef KVM_SET_USER_MEMORY_REGION2
struct kvm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif
#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD	(1u << 2)
#endif

#define KVM_PLUGIN_NAME		"kvm"
#define KVM_PLUGIN_VERSION	1

#define KVM_MAX_FDS		4096	/* fd numbers tracked */
#define KVM_MAX_SYS		8
#define KVM_MAX_VMS		4
#define KVM_MAX_VCPUS		64	/* in all VMs */
#define KVM_MAX_SLOTS		128	/* per VM */
#define KVM_MAX_SETUP		32	/* replayed setup ioctls per VM or vCPU */
#define KVM_MAX_IRQFDS		64
#define KVM_MAX_IOEVENTFDS	128
#define KVM_MAX_COALESCED	32
#define KVM_MAX_ROUTES		1024
#define KVM_SETUP_ARG_MAX	128
#define KVM_MSR_BITMAP_MAX	0x600	/* bytes per MSR filter range (the kernel's limit) */

#ifndef KVM_MSR_FILTER_MAX_RANGES
#define KVM_MSR_FILTER_MAX_RANGES 16
#endif

enum kvm_fd_kind { KFD_NONE, KFD_SYS, KFD_VM, KFD_VCPU };

/* An ioctl replayed as it was issued (VM or vCPU configuration). */
struct kvm_setup {
	uint64_t req;
	uint32_t by_ptr;	/* arg is a pointer to data[len]; else the value in val */
	uint32_t len;
	uint64_t val;
	uint8_t data[KVM_SETUP_ARG_MAX];
};

struct kvm_sys {
	int used;
	int fd;
	int fdflags;		/* FD_CLOEXEC */
	int oflags;		/* open flags */
};

struct kvm_vm {
	int used;
	int fd;
	int fdflags;
	int closed;		/* the VM fd was closed while vCPUs remain */
	uint64_t type;
	uint32_t irqchip, pit2, split_irqchip;
	int nr_slots;
	struct kvm_userspace_memory_region2 slots[KVM_MAX_SLOTS];
	int nr_setup;
	struct kvm_setup setup[KVM_MAX_SETUP];
	int nr_routes;		/* -1: never set */
	uint32_t route_flags;
	struct kvm_irq_routing_entry routes[KVM_MAX_ROUTES];
	int nr_irqfds;
	struct kvm_irqfd irqfds[KVM_MAX_IRQFDS];
	int nr_ioeventfds;
	struct kvm_ioeventfd ioeventfds[KVM_MAX_IOEVENTFDS];
	int nr_coalesced;
	struct kvm_coalesced_mmio_zone coalesced[KVM_MAX_COALESCED];
	int has_msr_filter;	/* KVM_X86_SET_MSR_FILTER: ranges, bitmaps copied */
	struct kvm_msr_filter msr_filter;
	uint8_t msr_bitmaps[KVM_MSR_FILTER_MAX_RANGES][KVM_MSR_BITMAP_MAX];
};

struct kvm_vcpu {
	int used;
	int fd;
	int fdflags;
	int closed;
	int vm;			/* index in kvm_vms */
	uint32_t id;
	uint32_t cpuid_set;
	void *run;		/* kvm_run mapping */
	size_t run_len;
	volatile int in_run;	/* the thread is between entry to and return of KVM_RUN */
	int nr_setup;
	struct kvm_setup setup[KVM_MAX_SETUP];
};

struct kvm_state {
	pthread_mutex_t lock;
	uint8_t kind[KVM_MAX_FDS];	/* enum kvm_fd_kind */
	int16_t index[KVM_MAX_FDS];	/* index in the table of that kind */
	struct kvm_sys sys[KVM_MAX_SYS];
	struct kvm_vm vms[KVM_MAX_VMS];
	struct kvm_vcpu vcpus[KVM_MAX_VCPUS];
	char error[200];		/* the first reason the next checkpoint must fail */
};

extern struct kvm_state kvm_st;

/* kvm_vm.c, kvm_vcpu.c: called by the ioctl wrapper, lock held */
void kvm_refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records a setup ioctl for replay at restart; what names the fd in a refusal. */
void kvm_setup_add(struct kvm_setup *tab, int *nr, unsigned long req, void *arg, size_t len,
		   int by_ptr, const char *what);
int kvm_ioctl_sys(struct kvm_sys *s, int fd, unsigned long req, void *arg);
int kvm_ioctl_vm(struct kvm_vm *vm, int fd, unsigned long req, void *arg);
int kvm_ioctl_vcpu(struct kvm_vcpu *v, int fd, unsigned long req, void *arg);
const char *kvm_ioctl_name(unsigned long req);
void kvm_fd_forget(int fd);
void kvm_fd_set(int fd, int kind, int index);
int kvm_fdflags(int fd);

/* records of the section */
enum kvm_rec_type {
	KREC_SYS = 1,		/* struct kvm_sys */
	KREC_VM,		/* struct kvm_rec_vm */
	KREC_VM_SLOT,		/* struct kvm_userspace_memory_region2 */
	KREC_VM_SETUP,		/* struct kvm_setup */
	KREC_VM_ROUTING,	/* struct kvm_irq_routing + entries */
	KREC_VM_IRQFD,		/* struct kvm_irqfd */
	KREC_VM_IOEVENTFD,	/* struct kvm_ioeventfd */
	KREC_VM_COALESCED,	/* struct kvm_coalesced_mmio_zone */
	KREC_VM_STATE,		/* struct kvm_rec_vmstate */
	KREC_VCPU,		/* struct kvm_rec_vcpu */
	KREC_VCPU_SETUP,	/* struct kvm_setup */
	KREC_VCPU_CPUID,	/* struct kvm_cpuid2 + entries */
	KREC_VCPU_STATE,	/* struct kvm_rec_vcpustate */
	KREC_VCPU_XSAVE,	/* the XSAVE area (KVM_GET_XSAVE2 size) */
	KREC_VCPU_MSRS,		/* struct kvm_msrs + entries */
	KREC_VCPU_RUN,		/* the kvm_run mapping's bytes */
	KREC_VCPU_DONE,		/* no payload: put the vCPU's state now */
	KREC_VM_DONE,		/* no payload: KVM_SET_CLOCK now */
	KREC_VM_MSR_FILTER,	/* struct kvm_msr_filter (bitmap pointers meaningless),
				   then each range's bitmap, (nmsrs + 7) / 8 bytes */
};

struct kvm_rec {
	uint32_t type;
	uint32_t len;		/* payload bytes after this header */
};

struct kvm_rec_vm {
	int32_t fd, fdflags;
	uint64_t type;
	uint32_t irqchip, pit2;
};

struct kvm_rec_vmstate {
	uint32_t has_irqchip, has_pit2;
	struct kvm_clock_data clock;
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit2;
};

struct kvm_rec_vcpu {
	int32_t fd, fdflags;
	int32_t vm_fd;
	uint32_t id;
	uint64_t run_addr, run_len;
	uint32_t cpuid_set;
	uint32_t in_run;
};

#define KVS_SREGS2	1u
#define KVS_LAPIC	2u
#define KVS_XCRS	4u
#define KVS_DEBUGREGS	8u

struct kvm_rec_vcpustate {
	uint32_t flags;		/* KVS_* */
	uint32_t pad;
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_sregs2 sregs2;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dbg;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	uint32_t tsc_khz;
	uint32_t pad2;
};

/* scratch for ioctl buffers in save and restart (no malloc) */
struct kvm_scratch {
	uint8_t run[64 << 10];		/* a copy of a kvm_run mapping */
	uint8_t xsave[64 << 10];
	uint8_t cpuid[sizeof(struct kvm_cpuid2) + 1024 * sizeof(struct kvm_cpuid_entry2)];
	uint8_t msr_list[sizeof(struct kvm_msr_list) + 1024 * sizeof(uint32_t)];
	uint8_t msrs[sizeof(struct kvm_msrs) + 1024 * sizeof(struct kvm_msr_entry)];
	uint8_t msrs2[sizeof(struct kvm_msrs) + 1024 * sizeof(struct kvm_msr_entry)];
	uint8_t routing[sizeof(struct kvm_irq_routing) +
			KVM_MAX_ROUTES * sizeof(struct kvm_irq_routing_entry)];
	struct kvm_rec_vcpustate vs;
	struct kvm_rec_vmstate vms;
};

struct kvm_scratch *kvm_scratch_get(void);
void kvm_scratch_put(struct kvm_scratch *s);

/* kvm_save.c, kvm_restore.c: the hooks */
int kvm_pre_stop(void);
int kvm_save(struct ckpt_blob *out);
int kvm_restart(const void *data, size_t len, uint32_t version);

#endif
