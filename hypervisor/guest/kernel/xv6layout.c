// The xv6-layout fixture build (guest.mk: guest-xv6layout.elf; ../../README.md,
// "Fixture builds"): the kernel alone on QEMU under OpenSBI, several harts,
// 128 MiB, with xv6-riscv's boot shape and link layout. This file replaces
// main.c there.
//
// As in xv6-riscv: the boot hart runs kinit, which frees all of RAM a page at
// a time with a junk-filling memset in kfree (defs.h: FIXTURE_KFREE_FILL),
// then kvminit and kvminithart; the other harts spin in main until the boot
// hart sets `started`, then run kvminithart themselves. The link
// (kernel-xv6layout.ld) puts kinit, kfree, memset, main, kvminit and
// kvminithart on one 4 KiB page, as xv6-riscv's Makefile order does: a
// breakpoint on kvminithart makes that whole loop run one instruction at a
// time. kvminit's helpers (kvmmap, mappages, walk) lie further on, as in
// xv6-riscv's vm.c. The build checks the page with nm.
//
// Under OpenSBI only the boot hart enters the kernel; it starts the others
// with SBI HSM hart_start before kinit, so that they spin in main while the
// loop runs, as xv6's harts do from reset. After kvminithart they check in
// and park; the boot hart waits for them before the scheduler.

#include "types.h"
#include "riscv.h"
#include "defs.h"

#define MAXHARTS     8
#define HARTSTACK    4096
#define SBI_EXT_HSM  0x48534D   // "HSM"

uint64 boothart;                   // for the curious debugger
volatile int started;              // the boot hart's go for the others
static volatile int boot_claimed;  // the first hart in is the boot hart
static int others;                 // harts the boot hart started
static volatile int others_paged;  // of those, the ones past kvminithart

// secondary_entry's stacks, one per hart id.
__attribute__((aligned(16))) char hart_stacks[MAXHARTS][HARTSTACK];

void secondary_entry(void);   // xv6layout-entry.S: stack, then main

// SBI HSM hart_start: `hart` begins at `addr` in S-mode with a0 = its id.
static long
sbi_hart_start(uint64 hart, uint64 addr)
{
	register uint64 a0 asm("a0") = hart;
	register uint64 a1 asm("a1") = addr;
	register uint64 a2 asm("a2") = 0;
	register uint64 a6 asm("a6") = 0;
	register uint64 a7 asm("a7") = SBI_EXT_HSM;

	asm volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a2), "r"(a6), "r"(a7) : "memory");
	return (long)a0;
}

// Every hart id but ours; ids the machine does not have just fail.
NOINLINE static void
start_other_harts(uint64 self)
{
	for (uint64 h = 0; h < MAXHARTS; h++)
		if (h != self && sbi_hart_start(h, (uint64)secondary_entry) == 0)
			others++;
}

void
main(uint64 hartid, uint64 dtb)
{
	(void)dtb;
	if (!boot_claimed) {
		boot_claimed = 1;
		boothart = hartid;
		uartinit();
		printf("guest kernel is booting\n");
		__sync_synchronize();
		start_other_harts(hartid);

		kinit();          // frees all of RAM: the hot loop
		kvminit();
		kvminithart();
		trapinit();
		trapinithart();
		consoleinit();
		userinit();
		__sync_synchronize();
		started = 1;
		// Unlike xv6, wait for the others to pass kvminithart before the
		// shell's prompt: the boot's last milestone then comes after every
		// hart's stop there, however slowly the host runs the others.
		while (others_paged < others)
			;
		scheduler();
	}
	while (started == 0)
		;
	__sync_synchronize();
	kvminithart();
	__sync_fetch_and_add(&others_paged, 1);
	for (;;)
		asm volatile("wfi");
}
