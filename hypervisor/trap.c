// Traps into HS-mode. From a guest: its SBI calls and our timer interrupt;
// anything else is unexpected and is reported, never silently spun on.

#include <stddef.h>
#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

_Static_assert(offsetof(struct vcpu, hv_sp) == VCPU_HV_SP, "trapvec.S layout");
_Static_assert(offsetof(struct vcpu, hartid) == VCPU_HARTID, "trapvec.S layout");

// Stop this hart for good: interrupts off, wfi forever.
void park(void)
{
	csr_clear(CSR_SSTATUS, SSTATUS_SIE); FIXTURE_PARK()
	csr_write(CSR_SIE, 0);
	for (;;)
		wfi();
}

static void dump(const char *what, struct vcpu *v)
{
	if (v)
		printf("hypervisor: %s on hart %d, vm%d\n", what, (int)r_tp(), v->vm->id);
	else
		printf("hypervisor: %s on hart %d\n", what, (int)r_tp());
	printf("hypervisor:   scause %p sepc %p stval %p\n",
	       csr_read(CSR_SCAUSE), csr_read(CSR_SEPC), csr_read(CSR_STVAL));
	printf("hypervisor:   htval %p htinst %p hstatus %p\n",
	       csr_read(CSR_HTVAL), csr_read(CSR_HTINST), csr_read(CSR_HSTATUS));
	uint64 scause = csr_read(CSR_SCAUSE);
	if (scause == EXC_INST_GUEST_PF || scause == EXC_LOAD_GUEST_PF ||
	    scause == EXC_STORE_GUEST_PF)   // htval is the guest-physical address >> 2
		printf("hypervisor:   guest-physical address %p\n",
		       (csr_read(CSR_HTVAL) << 2) | (csr_read(CSR_STVAL) & 3));
	if (v)
		printf("hypervisor:   guest vsatp %p vstvec %p vscause %p vsepc %p\n",
		       csr_read(CSR_VSATP), csr_read(CSR_VSTVEC),
		       csr_read(CSR_VSCAUSE), csr_read(CSR_VSEPC));
}

// A trap from the guest running on this hart; its registers are in v.
void vm_trap(struct vcpu *v)
{
	uint64 scause = csr_read(CSR_SCAUSE);

	if (scause == (SCAUSE_INTR | IRQ_S_TIMER)) {
		// The guest's set_timer deadline: hand it a VS timer interrupt,
		// and silence the real timer until the guest sets a new one.
		csr_set(CSR_HVIP, HVIP_VSTIP);
		sbi_set_timer(~0UL); FIXTURE_TICK()
	} else if (scause == EXC_ECALL_VS) {
		csr_write(CSR_SEPC, csr_read(CSR_SEPC) + 4);
		vsbi_call(v); FIXTURE_TRAP(v)
	} else {
		dump("unexpected trap from guest", v);
		printf("hypervisor: hart %d parked\n", (int)v->hartid);
		park();
	}
	vm_run(v);
}

// A trap taken in HS-mode itself: a hypervisor bug.
void hs_trap(void)
{
	dump("unexpected trap in hypervisor", 0);
	printf("hypervisor: hart %d parked\n", (int)r_tp());
	park();
}
