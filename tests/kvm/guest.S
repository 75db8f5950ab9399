/* SPDX-License-Identifier: MIT */
/*
 * Real-mode guest code for minivmm.c, copied to guest address 0x1000
 * (CS = DS = SS = 0). Counters live in guest RAM: vCPU 0 at 0x500 (port
 * 0xe9), vCPU 1 at 0x504 (port 0xea). The PIT divisor is at 0x510.
 */
	.section .rodata
	.globl guest_start, guest_end, guest_cpu0, guest_cpu1, guest_irq, guest_irq0
	.code16
guest_start:
guest_cpu0:			/* count, OUT, forever */
	mov	$0xe9, %dx
1:	incl	0x500
	movl	0x500, %eax
	outl	%eax, %dx
	jmp	1b

guest_cpu1:
	mov	$0xea, %dx
1:	incl	0x504
	movl	0x504, %eax
	outl	%eax, %dx
	jmp	1b

guest_irq:			/* PIC at vector 8, PIT channel 0 periodic, HLT until IRQ0 */
	cli
	mov	$0x11, %al
	out	%al, $0x20
	mov	$0x08, %al
	out	%al, $0x21
	mov	$0x04, %al
	out	%al, $0x21
	mov	$0x01, %al
	out	%al, $0x21
	mov	$0xfe, %al
	out	%al, $0x21
	mov	$0x34, %al
	out	%al, $0x43
	movw	0x510, %ax
	out	%al, $0x40
	mov	%ah, %al
	out	%al, $0x40
2:	sti
	hlt
	jmp	2b

guest_irq0:			/* IRQ0: count, OUT, EOI */
	push	%eax
	push	%dx
	incl	0x500
	movl	0x500, %eax
	mov	$0xe9, %dx
	outl	%eax, %dx
	mov	$0x20, %al
	out	%al, $0x20
	pop	%dx
	pop	%eax
	iret
guest_end:
	.code64
	.section .note.GNU-stack, "", @progbits
