# The spintrap fixture build (guest.mk: guest-spintrap.elf; ../../README.md,
# "Fixture builds"): a trap vector that handles nothing and spins where it
# is, silently, with interrupts off (a trap clears sstatus.SIE). What a
# minimal kernel's "unexpected trap" path does. trapinithart() installs it
# in place of kernelvec; guest.elf does not link this file.

	.section .text
	.globl	spinvec
	.type	spinvec, @function
	.balign	4			# stvec direct mode: low bits 0
spinvec:
	.option	push
	.option	norvc
	j	spinvec
	.option	pop
	.size	spinvec, . - spinvec
