// The hotpage fixture build (guest.mk: guest-hotpage.elf; ../../README.md,
// "Fixture builds"): before kinit, the kernel scrubs its free RAM, one page
// at a time, through small helpers, SCRUB_PASSES times over. guest.mk links
// this file right after vm.o, so the helpers share kvminithart's 4 KiB page
// (the build checks it with nm), as a real kernel's allocator and memset
// often share the page of the function a debugger breaks on. QEMU translates
// every instruction on a page holding a breakpoint one at a time, so a
// breakpoint on kvminithart makes this loop, and the boot, slow.
// The timer ticks through the scrub (stvec and the tick set up early, as
// xv6's machine-mode timer ticks from start()), so that QEMU's interrupt log
// samples where the harts spend their time: the harness's hot-page warning
// reads it. main() sets the trap vector and the tick up again later, as usual.
// guest.elf does not link this file; its hook (defs.h) is empty there.

#include "types.h"
#include "riscv.h"
#include "memlayout.h"
#include "defs.h"

#define SCRUB_PASSES 4

extern char end[];

// One 64-byte line, a byte at a time, as a simple kernel's memset does.
NOINLINE static void
scrub_line(volatile uint8 *p)
{
	for (int i = 0; i < 64; i++)
		p[i] = 0;
}

NOINLINE static void
scrub_page(uint64 pa)
{
	for (uint64 off = 0; off < PGSIZE; off += 64)
		scrub_line((volatile uint8 *)(pa + off));
}

NOINLINE void
fixture_scrub_ram(void)
{
	uint64 first = PGROUNDUP(end), pages = 0;

	trapinit();
	trapinithart();
	intr_on();
	for (int pass = 0; pass < SCRUB_PASSES; pass++)
		for (uint64 pa = first; pa + PGSIZE <= PHYSTOP; pa += PGSIZE, pages++)
			scrub_page(pa);
	intr_off();
	printf("hotpage: scrubbed %d MiB\n", (int)(pages * PGSIZE >> 20));
}
