// Fault injection for the guest-*.elf fault builds (guest.mk; ../../README.md,
// "Fault builds"). main() calls the one built in right after kvminithart()
// and before trapinithart(): paging is on and stvec is still 0, so the trap
// has no handler. The hart jumps to pc 0, which is not mapped either, takes
// an instruction page fault there (scause 0xc) and loops on it. guest.elf
// does not link this file.

#include "types.h"
#include "memlayout.h"
#include "defs.h"

#ifdef GUEST_FAULT_NOSTVEC
// A load from PHYSTOP, the first byte past the RAM the kernel page table
// maps: load page fault, scause 0xd, stval 0x81000000. In asm, so that the
// load stays ahead of the epilogue and ra and fp still describe this frame
// when it faults (a C load may be scheduled after they are restored).
NOINLINE void
fault_unmapped_load(void)
{
	uint64 v;

	printf("guest: fault build: load from %p before stvec is set\n", (void *)PHYSTOP);
	asm volatile("lbu %0, 0(%1)" : "=r"(v) : "r"(PHYSTOP) : "memory");
	(void)v;
}
#endif

#ifdef GUEST_FAULT_ILLEGAL
// The canonical 32-bit unimplemented instruction, `unimp` = csrrw zero,
// cycle, zero (0xc0001073): a write to a read-only CSR, illegal on every
// hart. Illegal instruction, scause 0x2, stval 0xc0001073.
NOINLINE void
fault_illegal_insn(void)
{
	printf("guest: fault build: illegal instruction before stvec is set\n");
	asm volatile(".option push\n\t.option norvc\n\tunimp\n\t.option pop");
}
#endif
