#include "types.h"
#include "defs.h"

uint64 boothart;   // for the curious debugger

// The boot sequence. The order matters and mirrors xv6: in particular stvec
// is installed (trapinithart) only after paging is on (kvminithart), so a
// fault on the first instruction fetched through the new page table has no
// handler. That is the failure this firmware exists to reproduce.
void
main(uint64 hartid, uint64 dtb)
{
	(void)dtb;
	boothart = hartid;

	uartinit();               // output only, enough for printf
	printf("guest kernel is booting\n"); FIXTURE_BEFORE_KINIT()

	kinit();                  // page allocator
	kvminit();                // kernel page table
	kvminithart(); FAULT_BEFORE_STVEC()    // paging on (fault builds: fault.c)
	trapinit();
	trapinithart();           // stvec, timer
	consoleinit();            // console input
	userinit();               // first user process
	scheduler();              // never returns
}
