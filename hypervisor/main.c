// Boot: the boot hart sets up every VM, starts the other harts, and then
// every hart (boot or not) runs the VM with its own number.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

struct vm vms[NVM];
int nvm;                        // VMs set up; written before other harts start
static int harts_ready;         // harts done with hart_init

extern char _secondary[];

void main(uint64 hartid, int boot)
{
	if (boot) {
		printf("hypervisor: booting, henvcfg.ADUE %s\n",
		       HV_HENVCFG_ADUE ? "on" : "off"); FAULT_ANNOUNCE() FIXTURE_ANNOUNCE()

		// One VM per hart, up to NVM; VM i needs hart i.
		nvm = 0;
		while (nvm < NVM && sbi_hart_exists(nvm))
			nvm++;
		if (nvm == 0)
			panic("hart 0 does not exist");

		// VM0's console is the virt 16550; VM1's is a pci-serial.
		uint64 consoles[NVM] = { UART0, 0 };
		if (nvm > 1) {
			consoles[1] = pci_serial_init();
			if (consoles[1] == 0) {
				printf("hypervisor: no pci-serial found, running VM0 only\n");
				nvm = 1;
			}
		}
		for (int i = 0; i < nvm; i++)
			vm_create(&vms[i], i, consoles[i]);
		printf("hypervisor: boot hart %d, %d VM%s\n", (int)hartid, nvm,
		       nvm > 1 ? "s" : "");

		// Everything above must be visible before the other harts run.
		__sync_synchronize(); FIXTURE_BEFORE_HART_START()
		for (int i = 0; i < nvm; i++) {
			if (i == (int)hartid)
				continue;
			long err = sbi_hart_start(i, (uint64)_secondary, 0);
			if (err) {
				// Its VM never runs: count it as halted and as
				// ready, so neither shutdown nor start-up waits for it.
				printf("hypervisor: hart_start(%d) failed: %d, vm%d not started\n",
				       i, (int)err, i);
				vms[i].halted = 1;
				__atomic_fetch_add(&harts_ready, 1, __ATOMIC_SEQ_CST);
			}
		}
	}

	if (hartid >= (uint64)nvm)
		park();                 // e.g. the boot hart was hart 2 of -smp 3

	hart_init();

	// Wait for every hart's set-up messages before any guest starts
	// printing on the shared console.
	__atomic_fetch_add(&harts_ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&harts_ready, __ATOMIC_SEQ_CST) < nvm)
		;
	vm_start(&vms[hartid]);
}
