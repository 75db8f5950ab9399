/* SPDX-License-Identifier: MIT */
/* The KVM plugin's registration, the paths it owns, and its scratch memory. */
#include <string.h>
#include <sys/mman.h>

#include "kvm.h"

/* /proc/self/fd links and /proc/self/maps names of KVM objects */
static int kvm_owns_path(const char *path)
{
	return !strcmp(path, "/dev/kvm") || !strcmp(path, "anon_inode:kvm-vm") ||
	       !strncmp(path, "anon_inode:kvm-vcpu:", 20);
}

struct kvm_scratch *kvm_scratch_get(void)
{
	void *p = mmap(NULL, sizeof(struct kvm_scratch), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void kvm_scratch_put(struct kvm_scratch *s)
{
	if (s)
		munmap(s, sizeof(*s));
}

static const struct ckpt_plugin kvm_plugin = {
	.name = KVM_PLUGIN_NAME,
	.version = KVM_PLUGIN_VERSION,
	.pre_stop = kvm_pre_stop,
	.save = kvm_save,
	.restart = kvm_restart,
	.owns_path = kvm_owns_path,
};

__attribute__((constructor)) static void kvm_plugin_init(void)
{
	ckpt_plugin_register(&kvm_plugin);
}
