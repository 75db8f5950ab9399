/* SPDX-License-Identifier: MIT */
/* Raw x86-64 system calls for the freestanding restorer: return -errno on failure. */
#ifndef CKPT_RST_SYSCALL_H
#define CKPT_RST_SYSCALL_H

static inline long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sys1(n, a)		sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b)		sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c)	sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d)	sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e)	sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

#define NR_read		0
#define NR_write	1
#define NR_close	3
#define NR_mmap		9
#define NR_mprotect	10
#define NR_munmap	11
#define NR_pread64	17
#define NR_mremap	25
#define NR_madvise	28
#define NR_exit_group	231
#define NR_prctl	157
#define NR_arch_prctl	158
#define NR_clone3	435

#endif
