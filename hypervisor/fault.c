// Fault injection: what each fault build does differently (README.md, "Fault
// builds"; hv.mk builds them). Exactly one flag per build; the normal builds
// do not link this file and their hooks (defs.h) are empty.
//
//   HV_FAULT_NODELEG      hedeleg leaves out ecall from U-mode (cause 8), on
//                         every hart, so each guest's first system call comes
//                         to us instead of to the guest's own trap handler.
//   HV_FAULT_GSTAGE_HOLE  one 4 KiB page of VM0's RAM is missing from its
//                         G-stage table: the guest's first access to it is a
//                         guest-page fault (cause 20, 21 or 23) into HS-mode.
//   HV_FAULT_MMIO_HOLE    VM0's console page (guest-physical GUEST_UART) is
//                         missing from VM0's G-stage table: its first UART
//                         access is a guest-page fault outside its RAM.
//
// Every one of them ends in vm_trap()'s "unexpected trap from guest" report,
// after which that hart is parked.
//
// The G-stage faults hit VM0 only, and VM1 boots as usual. Our report goes
// to the virt UART, which VM0's guest also writes to directly: a report about
// VM1 can land in the middle of VM0's output, character by character (seen
// on QEMU 7.2 with VM1's console unmapped: VM0's boot line came out mangled).
// A report about VM0 cannot, because VM0 is stopped while we print it.
// nodeleg has to hit every hart, or VM1's delegated system calls (logged by
// QEMU with the same cause and pc) would be taken for the fault; there the
// fault comes milliseconds after each guest's last line of its own.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

// The G-stage hole: the last page of guest RAM. The guest's kinit() puts
// every free page on its free list, this one last (so it takes the fault
// there, with a store), and its kalloc() would hand it out first, as the root
// of the kernel page table.
#define FAULT_HOLE_GPA  (GUEST_RAM + VM_RAM_SIZE - 4096)

// The VM whose G-stage has the hole (see above for why VM0).
#define FAULT_VM        0

void fault_announce(void)
{
#if defined(HV_FAULT_NODELEG)
	printf("hypervisor: fault build: ecall from U-mode (cause %d) not delegated\n",
	       EXC_ECALL_U);
#elif defined(HV_FAULT_GSTAGE_HOLE)
	printf("hypervisor: fault build: vm%d's guest-physical page %p not mapped in the G-stage\n",
	       FAULT_VM, FAULT_HOLE_GPA);
#elif defined(HV_FAULT_MMIO_HOLE)
	printf("hypervisor: fault build: vm%d's console page %p not mapped in the G-stage\n",
	       FAULT_VM, GUEST_UART);
#endif
}

void fault_hedeleg(void)
{
#ifdef HV_FAULT_NODELEG
	csr_clear(CSR_HEDELEG, 1UL << EXC_ECALL_U);
#endif
}

#if defined(HV_FAULT_GSTAGE_HOLE) || defined(HV_FAULT_MMIO_HOLE)
// A level-0 table for splitting the 2 MiB page around the hole.
static pte_t split_table[512] __attribute__((aligned(4096)));

// Take the 4 KiB page at gpa out of vm's G-stage. A 2 MiB leaf around it is
// first split into 512 4 KiB leaves with the same flags, so that every other
// page keeps its translation and permissions. The hart has not used this
// table yet (vm_start fences it), so no hfence is needed here.
static void gstage_unmap_page(struct vm *vm, uint64 gpa)
{
	int level = -1;
	pte_t *pte = gstage_leaf(vm, gpa, &level);   // vm.c's walker

	if (pte == 0)
		panic("fault build: the page to unmap is not mapped");
	if (level == 1) {
		pte_t *table = split_table;
		uint64 base = PTE2PA(*pte);
		uint64 flags = *pte & 0x3ff;
		for (int i = 0; i < 512; i++)
			table[i] = PA2PTE(base + i * 4096UL) | flags;
		*pte = PA2PTE(table) | PTE_V;   // non-leaf: V only
		pte = gstage_leaf(vm, gpa, &level);   // now in the new table
	}
	*pte = 0;
}
#endif

void fault_gstage(struct vm *vm)
{
#if defined(HV_FAULT_GSTAGE_HOLE)
	if (vm->id == FAULT_VM)
		gstage_unmap_page(vm, FAULT_HOLE_GPA);
#elif defined(HV_FAULT_MMIO_HOLE)
	if (vm->id == FAULT_VM)
		gstage_unmap_page(vm, GUEST_UART);
#else
	(void)vm;
#endif
}
