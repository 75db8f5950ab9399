/* SPDX-License-Identifier: MIT */
#ifndef CKPT_REAL_H
#define CKPT_REAL_H

#include <dlfcn.h>

/* libckpt is built with hidden visibility: what it interposes must be exported */
#define CKPT_EXPORT __attribute__((visibility("default")))

/*
 * The libc function a wrapper stands in front of. Resolved on first use;
 * dlsym does not allocate for RTLD_NEXT lookups of libc symbols.
 */
#define REAL(name) ({							\
	static __typeof__(&name) real_##name;				\
	if (!real_##name)						\
		real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name); \
	real_##name;							\
})

#endif
