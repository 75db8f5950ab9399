/* SPDX-License-Identifier: MIT */
/*
 * vCPU fds: the ioctls the plugin knows. Register state (regs, sregs,
 * FPU, MSRs, LAPIC, events...) is read back at the checkpoint, so the
 * setters pass through; configuration that cannot be read back is kept
 * and replayed (signal mask, MCE setup, TSC frequency, enabled caps...).
 * KVM_RUN does not come here (the wrapper's fast path). Lock held.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm.h"
#include "../../interpose/real.h"

static void vsetup(struct kvm_vcpu *v, unsigned long req, void *arg, size_t len, int by_ptr)
{
	struct kvm_setup *s;

	/* one entry per request: the last setting wins (ENABLE_CAP: one per cap) */
	for (int i = 0; i < v->nr_setup; i++) {
		s = &v->setup[i];
		if (s->req != req)
			continue;
		if (req == KVM_ENABLE_CAP &&
		    ((const struct kvm_enable_cap *)s->data)->cap != ((struct kvm_enable_cap *)arg)->cap)
			continue;
		memmove(s, s + 1, (v->nr_setup - i - 1) * sizeof(*s));
		v->nr_setup--;
		break;
	}
	kvm_setup_add(v->setup, &v->nr_setup, req, arg, len, by_ptr, "vCPU");
}

int kvm_ioctl_vcpu(struct kvm_vcpu *v, int fd, unsigned long req, void *arg)
{
	int ret = REAL(ioctl)(fd, req, arg);

	switch (req) {
	case KVM_SET_CPUID2:
	case KVM_SET_CPUID:
		if (!ret)
			v->cpuid_set = 1;
		if (req == KVM_SET_CPUID && !ret)
			kvm_refuse("vCPU %u: KVM_SET_CPUID (v1) is not supported, use SET_CPUID2",
				   v->id);
		return ret;
	case KVM_SET_SIGNAL_MASK:
		if (!ret) {
			const struct kvm_signal_mask *m = arg;

			if (!m) {
				vsetup(v, req, NULL, 0, 0);
			} else if (m->len > KVM_SETUP_ARG_MAX - sizeof(*m)) {
				kvm_refuse("vCPU %u: signal mask of %u bytes", v->id, m->len);
			} else {
				vsetup(v, req, arg, sizeof(*m) + m->len, 1);
			}
		}
		return ret;
	case KVM_TPR_ACCESS_REPORTING:
		if (!ret)
			vsetup(v, req, arg, sizeof(struct kvm_tpr_access_ctl), 1);
		return ret;
	case KVM_SET_VAPIC_ADDR:
		if (!ret)
			vsetup(v, req, arg, sizeof(struct kvm_vapic_addr), 1);
		return ret;
	case KVM_X86_SETUP_MCE:
		if (!ret)
			vsetup(v, req, arg, sizeof(uint64_t), 1);
		return ret;
	case KVM_SET_TSC_KHZ:
		if (!ret)
			vsetup(v, req, arg, 0, 0);
		return ret;
	case KVM_SET_GUEST_DEBUG:
		if (!ret)
			vsetup(v, req, arg, sizeof(struct kvm_guest_debug), 1);
		return ret;
	case KVM_ENABLE_CAP:
		if (!ret)
			vsetup(v, req, arg, sizeof(struct kvm_enable_cap), 1);
		return ret;
	/* state read back at the checkpoint, queries, event injection */
	case KVM_GET_REGS:
	case KVM_SET_REGS:
	case KVM_GET_SREGS:
	case KVM_SET_SREGS:
	case KVM_GET_SREGS2:
	case KVM_SET_SREGS2:
	case KVM_GET_FPU:
	case KVM_SET_FPU:
	case KVM_GET_XSAVE:
	case KVM_GET_XSAVE2:
	case KVM_SET_XSAVE:
	case KVM_GET_XCRS:
	case KVM_SET_XCRS:
	case KVM_GET_MSRS:
	case KVM_SET_MSRS:
	case KVM_GET_LAPIC:
	case KVM_SET_LAPIC:
	case KVM_GET_VCPU_EVENTS:
	case KVM_SET_VCPU_EVENTS:
	case KVM_GET_MP_STATE:
	case KVM_SET_MP_STATE:
	case KVM_GET_DEBUGREGS:
	case KVM_SET_DEBUGREGS:
	case KVM_GET_CPUID2:
	case KVM_GET_TSC_KHZ:
	case KVM_INTERRUPT:
	case KVM_NMI:
	case KVM_SMI:
	case KVM_X86_SET_MCE:
	case KVM_TRANSLATE:
	case KVM_CHECK_EXTENSION:
	case KVM_KVMCLOCK_CTRL:
	case KVM_GET_SUPPORTED_HV_CPUID:
	case KVM_GET_NESTED_STATE:
	case KVM_GET_DEVICE_ATTR:
	case KVM_HAS_DEVICE_ATTR:
	case KVM_SET_DEVICE_ATTR:	/* vCPU attrs: the TSC offset, read back with GET */
		return ret;
	default:
		kvm_refuse("unknown %s on vCPU %u fd %d", kvm_ioctl_name(req), v->id, fd);
		return ret;
	}
}
