// Boot: the boot hart sets up every VM, starts the other harts, and then
// every hart (boot or not) runs the VM with its own number.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

struct vm vms[NVM];
int nvm;                        // VMs set up; written before other harts start
static int harts_ready;         // harts done with hart_init
static int boot_claimed;        // 1 once a hart has taken the boot path
static int booted;              // 1 once the boot hart's set-up is published

extern char _secondary[];

void main(uint64 hartid, int boot)
{
	// One hart sets up the VMs. OpenSBI enters _start on its boot hart
	// only, but a firmware can send another hart there too (an HSM start
	// that hands out the kernel's entry address): seen once under load,
	// both harts booted and the second found VM0 mapped ("G-stage remap").
	// A hart that finds the boot path taken runs as a secondary.
	if (boot && __atomic_exchange_n(&boot_claimed, 1, __ATOMIC_ACQ_REL))
		boot = 0;

	if (boot) {
		printf("hypervisor: booting, henvcfg.ADUE %s\n",
		       HV_HENVCFG_ADUE ? "on" : "off"); FAULT_ANNOUNCE() FIXTURE_ANNOUNCE() FIXTURE_BOOT_CLAIMED(hartid)

		// One VM per hart, up to NVM; VM i needs hart i.
		nvm = 0;
		while (nvm < NVM && sbi_hart_exists(nvm))
			nvm++;
		if (nvm == 0)
			panic("hart 0 does not exist");

		// VM0's console is the virt 16550; VM1's is a pci-serial.
		uint64 consoles[NVM] = { UART0, 0 }; FIXTURE_VMS()
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
		__atomic_store_n(&booted, 1, __ATOMIC_RELEASE);
		for (int i = 0; i < nvm; i++) {
			if (i == (int)hartid)
				continue;
			long err = sbi_hart_start(i, (uint64)_secondary, 0);
			// Already running: it came in at _start and runs as a
			// secondary (above); it counts itself ready.
			if (err == SBI_ERR_ALREADY_AVAILABLE)
				continue;
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

	// A hart started through _secondary comes after the set-up; one that
	// came in at _start may come before it, or during it.
	while (!__atomic_load_n(&booted, __ATOMIC_ACQUIRE))
		;

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
