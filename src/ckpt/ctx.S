/* SPDX-License-Identifier: MIT */
/*
 * int ckpt_ctx_save(struct ckpt_jmp *ctx)
 *
 * Saves the callee-saved registers, the stack pointer after return and
 * the return address, like setjmp. It returns 0. ckpt-restore resumes a
 * restored thread by loading these registers and jumping to rip with
 * eax = 1, so the call appears to return a second time.
 * Offsets follow struct ckpt_jmp in include/ckpt/image.h.
 */
	.text
	.globl	ckpt_ctx_save
	.hidden	ckpt_ctx_save
	.type	ckpt_ctx_save, @function
ckpt_ctx_save:
	movq	%rbx, 0(%rdi)
	movq	%rbp, 8(%rdi)
	movq	%r12, 16(%rdi)
	movq	%r13, 24(%rdi)
	movq	%r14, 32(%rdi)
	movq	%r15, 40(%rdi)
	leaq	8(%rsp), %rdx
	movq	%rdx, 48(%rdi)
	movq	(%rsp), %rdx
	movq	%rdx, 56(%rdi)
	stmxcsr	64(%rdi)
	fnstcw	68(%rdi)
	xorl	%eax, %eax
	ret
	.size	ckpt_ctx_save, .-ckpt_ctx_save
	.section .note.GNU-stack,"",@progbits
