# Trap entry and exit.
#
# kernelvec: traps taken in S-mode (the timer while the scheduler idles, or a
#            kernel bug). Saves registers on the current stack.
# uservec:   traps from U-mode. sscratch holds &proc->tf; the user page table
#            stays in satp, since it maps the kernel too.
# userret:   back to U-mode from a trapframe.

#include "proc.h"

	.section .text
	.globl	kernelvec
	.balign	4			# stvec direct mode: low bits 0
kernelvec:
	# 256 bytes of registers (xN at N*8; sp (x2) is implied by the frame),
	# then a 16-byte frame record: fp-16 = old fp, fp-8 = "return address"
	# (the trapped pc), so backtraces cross the trap.
	addi	sp, sp, -272
	.irp	n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, (\n * 8)(sp)
	.endr
	csrr	t0, sepc
	sd	t0, 264(sp)
	sd	s0, 256(sp)
	addi	s0, sp, 272
	call	kerneltrap
	.irp	n, 1,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, (\n * 8)(sp)
	.endr
	addi	sp, sp, 272
	sret

	.globl	uservec
	.balign	4
uservec:
	csrrw	a0, sscratch, a0	# a0 = trapframe, sscratch = user a0
	.irp	n, 1,2,3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	sd	x\n, ((\n - 1) * 8)(a0)
	.endr
	csrr	t0, sscratch
	sd	t0, ((10 - 1) * 8)(a0)	# user a0
	ld	sp, TF_KSP(a0)
	li	s0, 0			# fp = 0: backtraces stop at the user boundary
	call	usertrap		# does not return; ends in userret

	# userret(tf): a0 = trapframe; sepc, sstatus and stvec are already set.
	.globl	userret
userret:
	.irp	n, 1,2,3,4,5,6,7,8,9,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	ld	x\n, ((\n - 1) * 8)(a0)
	.endr
	ld	a0, ((10 - 1) * 8)(a0)
	sret
