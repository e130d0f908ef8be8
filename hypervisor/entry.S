# Hypervisor entry points, in HS-mode with satp = 0 (Bare).
#
# _start:     OpenSBI jumps here on the boot hart with a0 = hartid, a1 = dtb.
# _secondary: SBI HSM hart_start sends the other harts here, a0 = hartid.
# Both give the hart its own stack and tp = hartid, then call
# main(hartid, boot) in C.

#include "memlayout.h"

.section .text.entry
.globl _start
_start:
	li	a1, 1			# boot = 1
	j	common

.globl _secondary
_secondary:
	li	a1, 0			# boot = 0

common:
	csrw	sie, zero		# no interrupts until the hart is set up
	csrw	sscratch, zero		# 0 = "trapped from HS", see trapvec.S
	la	t0, trapvec
	csrw	stvec, t0
	li	t0, MAXHART
	bgeu	a0, t0, 2f		# a hart we have no stack for: park it
	mv	tp, a0
	# sp = stacks + (hartid + 1) * STACKSIZE
	la	sp, stacks
	li	t0, STACKSIZE
	addi	t1, a0, 1
	mul	t1, t1, t0
	add	sp, sp, t1
	mv	fp, zero		# end of the frame-pointer chain
	call	main
2:
	wfi
	j	2b

.section .bss.stacks
.balign 16
.globl stacks
stacks:
	.space STACKSIZE * MAXHART
