/* SPDX-License-Identifier: MIT
 * Boot sector for the QEMU acceptance tests: prints "tick N\n" on COM1
 * (0x3f8), N = 1, 2, 3..., about 9 times a second: it halts twice between
 * ticks and is woken by the BIOS's 18.2 Hz timer interrupt (PIT IRQ0), so
 * its speed does not depend on the CPU's. The counter lives in RAM (0x500).
 * Built with: as --32 guest.S -o guest.o && ld -m elf_i386 -Ttext 0x7c00
 *             --oformat binary guest.o -o guest.img
 */
	.code16
	.text
	.globl _start
_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x7c00, %sp
	ljmp	$0, $1f
1:	movl	$0, 0x500
	sti
next:
	incl	0x500
	mov	$msg, %si
2:	lodsb
	test	%al, %al
	jz	3f
	call	putc
	jmp	2b
3:	movl	0x500, %eax
	xor	%cx, %cx
	mov	$10, %ebx
4:	xor	%edx, %edx
	divl	%ebx
	push	%dx
	inc	%cx
	test	%eax, %eax
	jnz	4b
5:	pop	%ax
	add	$'0', %al
	call	putc
	loop	5b
	mov	$'\n', %al
	call	putc
	mov	$2, %cx
6:	sti
	hlt
	loop	6b
	jmp	next

/* al -> COM1, waiting until the transmitter holding register is empty */
putc:
	push	%ax
	mov	$0x3fd, %dx
7:	in	%dx, %al
	test	$0x20, %al
	jz	7b
	pop	%ax
	mov	$0x3f8, %dx
	out	%al, %dx
	ret

msg:	.asciz	"tick "

	.org	510
	.byte	0x55, 0xaa
