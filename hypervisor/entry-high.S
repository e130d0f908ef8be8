# Entry of the high-linked fixture build (hypervisor-highboot.elf, flag
# HV_FIXTURE_HIGHBOOT), in place of entry.S. hv-high.ld links the image at
# HV_BASE + HV_HIGH_OFFSET; OpenSBI and HSM hart_start enter it at its load
# address, HV_BASE, in HS-mode with satp = Bare.
#
# Every hart turns its MMU on the way many hypervisors linked high do: stvec
# gets the high virtual address of the instruction right after the satp
# write, satp gets a table that maps only the high image, and the next fetch
# (at its low address) faults: an instruction page fault (cause 12) from HS
# to HS whose "handler" is the rest of the boot. It never returns with sret;
# scause, sepc and stval keep that trap until the next one into HS.
#
# _start:     OpenSBI jumps here on the boot hart with a0 = hartid, a1 = dtb.
# _secondary: SBI HSM hart_start sends the other harts here, a0 = hartid.

#include "memlayout.h"

#define SATP_SV39       (8 << 60)
# Leaf flags: V R W X, A D (no hardware A/D updates needed), G.
#define LEAF_RWX        0xef
#define LEAF_RW         0xe7
# A 1 GiB leaf mapping physical address pa.
#define GIGA(pa, flags) (((pa) >> 12) << 10 | (flags))
# Root index of a virtual address (Sv39: bits 38..30).
#define VPN2(va)        (((va) >> 30) & 511)

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
	# Still at the load address: la gives physical addresses here.
	la	t0, trampoline_pt
	srli	t0, t0, 12
	li	t1, SATP_SV39
	or	t0, t0, t1		# t0: satp for the jump (high image only)
	la	t2, kernel_pt
	srli	t2, t2, 12
	or	t2, t2, t1		# t2: satp for the rest (high image and identity)
	la	t1, high
	li	t3, HV_HIGH_OFFSET
	add	t1, t1, t3
	csrw	stvec, t1		# the jump's target: `high`, linked address
	sfence.vma
	csrw	satp, t0
	# The fetch at the next (low) address faults: cause 12, to stvec.
.balign 4
high:
	csrw	satp, t2		# now the identity map too: devices, VM RAM
	sfence.vma
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

# The page tables, 1 GiB leaves only. trampoline_pt maps the high image
# alone, so that the first fetch after the satp write faults; kernel_pt adds
# the identity map of the devices (0..1 GiB) and of RAM (2..3 GiB), where the
# hypervisor reads and writes physical addresses (VM RAM, G-stage tables).
.section .data.pagetables
.balign 4096
trampoline_pt:
	.fill	VPN2(HV_BASE + HV_HIGH_OFFSET), 8, 0
	.quad	GIGA(0x80000000, LEAF_RWX)
	.fill	511 - VPN2(HV_BASE + HV_HIGH_OFFSET), 8, 0
.balign 4096
kernel_pt:
	.quad	GIGA(0x00000000, LEAF_RW)
	.quad	0
	.quad	GIGA(0x80000000, LEAF_RWX)
	.fill	VPN2(HV_BASE + HV_HIGH_OFFSET) - 3, 8, 0
	.quad	GIGA(0x80000000, LEAF_RWX)
	.fill	511 - VPN2(HV_BASE + HV_HIGH_OFFSET), 8, 0

.section .bss.stacks
.balign 16
.globl stacks
stacks:
	.space STACKSIZE * MAXHART
