# Trap entry and guest entry. No H instructions here: this is plain rv64.
#
# While a guest runs, sscratch holds its struct vcpu (see defs.h); while the
# hypervisor itself runs, sscratch is 0. Interrupts are off in HS (sstatus.SIE
# = 0), so a trap with sscratch == 0 is a hypervisor bug: hs_trap reports it.

#include "memlayout.h"

#define VCPU_HV_SP  (32 * 8)
#define VCPU_HARTID (33 * 8)

.section .text
.globl trapvec
.balign 4
trapvec:
	csrrw	sp, sscratch, sp	# sp = vcpu, sscratch = guest sp
	beqz	sp, from_hs

	sd	x1, 1*8(sp)
	sd	x3, 3*8(sp)
	sd	x4, 4*8(sp)
	sd	x5, 5*8(sp)
	sd	x6, 6*8(sp)
	sd	x7, 7*8(sp)
	sd	x8, 8*8(sp)
	sd	x9, 9*8(sp)
	sd	x10, 10*8(sp)
	sd	x11, 11*8(sp)
	sd	x12, 12*8(sp)
	sd	x13, 13*8(sp)
	sd	x14, 14*8(sp)
	sd	x15, 15*8(sp)
	sd	x16, 16*8(sp)
	sd	x17, 17*8(sp)
	sd	x18, 18*8(sp)
	sd	x19, 19*8(sp)
	sd	x20, 20*8(sp)
	sd	x21, 21*8(sp)
	sd	x22, 22*8(sp)
	sd	x23, 23*8(sp)
	sd	x24, 24*8(sp)
	sd	x25, 25*8(sp)
	sd	x26, 26*8(sp)
	sd	x27, 27*8(sp)
	sd	x28, 28*8(sp)
	sd	x29, 29*8(sp)
	sd	x30, 30*8(sp)
	sd	x31, 31*8(sp)
	csrrw	t0, sscratch, zero	# guest sp; we are the hypervisor now
	sd	t0, 2*8(sp)

	mv	a0, sp
	ld	tp, VCPU_HARTID(a0)
	ld	sp, VCPU_HV_SP(a0)	# a fresh, empty hypervisor stack
	mv	fp, zero
	call	vm_trap			# does not return: ends in vm_run

from_hs:
	csrrw	sp, sscratch, sp	# undo the swap: sp back, sscratch = 0
	addi	sp, sp, -16
	andi	sp, sp, -16
	call	hs_trap			# reports and parks the hart

# void vm_run(struct vcpu *v): load the guest's registers and sret into it.
# sepc, hstatus.SPV and sstatus.SPP already say where and in which mode.
.globl vm_run
vm_run:
	csrw	sscratch, a0
	ld	x1, 1*8(a0)
	ld	x2, 2*8(a0)
	ld	x3, 3*8(a0)
	ld	x4, 4*8(a0)
	ld	x5, 5*8(a0)
	ld	x6, 6*8(a0)
	ld	x7, 7*8(a0)
	ld	x8, 8*8(a0)
	ld	x9, 9*8(a0)
	ld	x11, 11*8(a0)
	ld	x12, 12*8(a0)
	ld	x13, 13*8(a0)
	ld	x14, 14*8(a0)
	ld	x15, 15*8(a0)
	ld	x16, 16*8(a0)
	ld	x17, 17*8(a0)
	ld	x18, 18*8(a0)
	ld	x19, 19*8(a0)
	ld	x20, 20*8(a0)
	ld	x21, 21*8(a0)
	ld	x22, 22*8(a0)
	ld	x23, 23*8(a0)
	ld	x24, 24*8(a0)
	ld	x25, 25*8(a0)
	ld	x26, 26*8(a0)
	ld	x27, 27*8(a0)
	ld	x28, 28*8(a0)
	ld	x29, 29*8(a0)
	ld	x30, 30*8(a0)
	ld	x31, 31*8(a0)
	ld	x10, 10*8(a0)		# a0 last
	sret
