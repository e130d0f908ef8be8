// Per-hart H-extension set-up: what the guest handles itself (delegation),
// what it may read (counters), and henvcfg.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

void hart_init(void)
{
	// Exceptions the guest handles itself go straight to VS-mode. Not
	// delegated, so they come to us: ecall from VS (our SBI), guest-page
	// faults and virtual-instruction exceptions.
	csr_write(CSR_HEDELEG,
		  (1UL << EXC_INST_MISALIGNED) | (1UL << EXC_INST_ACCESS) |
		  (1UL << EXC_ILLEGAL_INST) | (1UL << EXC_BREAKPOINT) |
		  (1UL << EXC_LOAD_MISALIGNED) | (1UL << EXC_LOAD_ACCESS) |
		  (1UL << EXC_STORE_MISALIGNED) | (1UL << EXC_STORE_ACCESS) |
		  (1UL << EXC_ECALL_U) |
		  (1UL << EXC_INST_PAGE_FAULT) | (1UL << EXC_LOAD_PAGE_FAULT) |
		  (1UL << EXC_STORE_PAGE_FAULT)); FAULT_HEDELEG()

	// VS software, timer and external interrupts are the guest's own
	// (it sees them as S-mode ones). We raise the timer through hvip.VSTIP.
	csr_write(CSR_HIDELEG, (1UL << IRQ_VS_SOFT) | (1UL << IRQ_VS_TIMER) |
		  (1UL << IRQ_VS_EXT)); FIXTURE_HIDELEG()
	csr_write(CSR_HVIP, 0);
	csr_write(CSR_HIE, 0);
	csr_write(CSR_HGEIE, 0);

	// The guest reads `time` directly: no trap, no offset.
	csr_write(CSR_HCOUNTEREN, ~0UL); FIXTURE_COUNTEREN()
	csr_write(CSR_HTIMEDELTA, 0); HENVCFG_WRITE_SKIPPED()

	// henvcfg: OR, do not overwrite, so bits the reset value already has
	// stay (QEMU 8.x resets henvcfg with ADUE set; 9.0 and later reset it
	// to 0). ADUE lets hardware set A/D in the guest's own page tables;
	// without it an xv6-style guest, whose PTEs have A = D = 0, takes a
	// page fault right after it writes satp (on QEMU >= 9.0).
	// hypervisor-noadue.elf is built with HV_HENVCFG_ADUE=0 to show that.
	csr_set(CSR_HENVCFG, HENVCFG_STCE | (HV_HENVCFG_ADUE ? HENVCFG_ADUE : 0));

	// If Sstc is on, bit 63 (STCE) sticks and the guest's timer is also
	// vstimecmp >= time. Park vstimecmp at the far future so the guest's
	// timer is hvip.VSTIP alone, as the SBI TIME emulation wants.
	uint64 henvcfg = csr_read(CSR_HENVCFG);
	if (henvcfg & HENVCFG_STCE)
		csr_write(CSR_VSTIMECMP, ~0UL);

	// Our own timer interrupt (the real one behind the guest's set_timer).
	// It is taken while a guest runs, whatever sstatus.SIE says.
	csr_write(CSR_SIE, SIE_STIE); HENVCFG_WRITTEN_AGAIN()
	sbi_set_timer(~0UL);

	printf("hypervisor: hart %d: henvcfg %p\n", (int)r_tp(), henvcfg); FIXTURE_HART_READY()
}
