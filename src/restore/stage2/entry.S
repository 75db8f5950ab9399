/* SPDX-License-Identifier: MIT */
/* Entry and register-level helpers of the restorer blob. */

	.section .text.entry,"ax",@progbits
	.globl	rst_entry
	.hidden	rst_entry
/* void rst_entry(struct rst_args *args, uint64_t stack_top): must be first in the blob */
rst_entry:
	movq	%rsi, %rsp
	andq	$-16, %rsp
	call	rst_main
	ud2

	.text
/*
 * long rst_clone_thread(struct clone_args *ca, size_t size, const struct ckpt_jmp *ctx)
 * clone3; the child jumps straight to ctx (r8 survives the system call).
 */
	.globl	rst_clone_thread
	.hidden	rst_clone_thread
rst_clone_thread:
	movq	%rdx, %r8
	movl	$435, %eax
	syscall
	testq	%rax, %rax
	jnz	1f
	movq	%r8, %rdi
	jmp	rst_jump
1:	ret

/* void rst_jump(const struct ckpt_jmp *ctx): resume a saved context, returning 1 there. */
	.globl	rst_jump
	.hidden	rst_jump
rst_jump:
	movq	0(%rdi), %rbx
	movq	8(%rdi), %rbp
	movq	16(%rdi), %r12
	movq	24(%rdi), %r13
	movq	32(%rdi), %r14
	movq	40(%rdi), %r15
	ldmxcsr	64(%rdi)
	fldcw	68(%rdi)
	movq	48(%rdi), %rsp
	movl	$1, %eax
	jmpq	*56(%rdi)

	.section .note.GNU-stack,"",@progbits
