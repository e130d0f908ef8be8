// VMs: guest RAM, the G-stage (guest-physical -> host-physical) page table,
// and the first entry into VS-mode.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

// Sv39x4: a 41-bit guest-physical address; the root level has 2048 entries
// (16 KiB, 16 KiB aligned), the two levels below 512 each.
#define GSTAGE_ROOT_PTES 2048
#define PTES 512

static pte_t gstage_root[NVM][GSTAGE_ROOT_PTES] __attribute__((aligned(16384)));

// Lower-level tables, handed out by gstage_alloc. Each VM needs three: one
// level-1 table for the RAM gigabyte, a level-1 and a level-0 for the UART.
static pte_t gstage_tables[NVM * 4][PTES] __attribute__((aligned(4096)));
static int gstage_used;

static struct vcpu vcpus[MAXHART];

static pte_t *gstage_alloc(void)
{
	if (gstage_used == NVM * 4)
		panic("out of G-stage page tables");
	return gstage_tables[gstage_used++];   // bss: already zero
}

// Return the level-`level` PTE that maps gpa, creating the tables above it.
static pte_t *gstage_walk(pte_t *root, uint64 gpa, int level)
{
	pte_t *pte = &root[(gpa >> 30) & (GSTAGE_ROOT_PTES - 1)];
	for (int l = 2; l > level; l--) {
		if (!(*pte & PTE_V))
			*pte = PA2PTE(gstage_alloc()) | PTE_V;   // non-leaf: V only
		else if (*pte & (PTE_R | PTE_W | PTE_X))
			panic("G-stage: mapping inside a bigger page");
		pte_t *table = (pte_t *)PTE2PA(*pte);
		pte = &table[(gpa >> (12 + 9 * (l - 1))) & (PTES - 1)];
	}
	return pte;
}

// Map [gpa, gpa+size) to [hpa, ...): 2 MiB leaves where both sides allow,
// 4 KiB otherwise. Every leaf gets U (guest accesses are user accesses to the
// G-stage) and A and D, so the G-stage never needs hardware A/D updates.
static void gstage_map(pte_t *root, uint64 gpa, uint64 hpa, uint64 size, uint64 perm)
{
	const uint64 mega = 1UL << 21;
	uint64 end = gpa + size;
	while (gpa < end) {
		int level = 0;
		uint64 step = 4096;
		if ((gpa % mega) == 0 && (hpa % mega) == 0 && end - gpa >= mega) {
			level = 1;
			step = mega;
		}
		pte_t *pte = gstage_walk(root, gpa, level);
		if (*pte & PTE_V)
			panic("G-stage remap");
		*pte = PA2PTE(hpa) | perm | PTE_U | PTE_A | PTE_D | PTE_V;
		gpa += step;
		hpa += step;
	}
}

// Build VM `id`: its RAM, its G-stage table, and a copy of the guest image.
void vm_create(struct vm *vm, int id, uint64 console)
{
	vm->id = id;
	vm->ram = VM_RAM_HOST + id * VM_RAM_SIZE;
	vm->console = console;
	vm->gstage = gstage_root[id];
	vm->halted = 0;

	gstage_map(vm->gstage, GUEST_RAM, vm->ram, VM_RAM_SIZE, PTE_R | PTE_W | PTE_X);
	gstage_map(vm->gstage, GUEST_UART, console, 4096, PTE_R | PTE_W); FAULT_GSTAGE(vm) FIXTURE_GSTAGE(vm)

	// QEMU hands us zeroed RAM; the guest zeroes its own bss.
	uint64 len = guest_image_end - guest_image;
	if (len > VM_RAM_SIZE - (GUEST_ENTRY - GUEST_RAM))
		panic("guest image too big");
	memcpy((void *)(vm->ram + (GUEST_ENTRY - GUEST_RAM)), guest_image, len);

	printf("hypervisor: vm%d: ram %p, console %p, guest image %d bytes\n",
	       id, vm->ram, vm->console, (int)len);
}

// Enter VM `vm` on this hart for the first time, in VS-mode at GUEST_ENTRY
// with a0 = 0 (its virtual hart id) and a1 = 0 (no device tree).
void vm_start(struct vm *vm)
{
	uint64 hartid = r_tp();
	struct vcpu *v = &vcpus[hartid];
	extern char stacks[];

	memset(v, 0, sizeof(*v));
	v->hv_sp = (uint64)stacks + (hartid + 1) * STACKSIZE;
	v->hartid = hartid;
	v->vm = vm;

	// G-stage: Sv39x4, VMID = VM number + 1, then drop stale translations.
	csr_write(CSR_HGATP, HGATP_MODE_SV39X4 | ((uint64)(vm->id + 1) << HGATP_VMID_SHIFT) |
		  ((uint64)vm->gstage >> 12)); FIXTURE_HGATP(vm)
	hfence_gvma_all();
	fence_i();                      // the guest image was just copied in

	// The guest's S-mode state starts clean: no paging, no trap vector,
	// interrupts off. UXL is read-only on QEMU; keep what is there.
	csr_write(CSR_VSSTATUS, csr_read(CSR_VSSTATUS) & SSTATUS_UXL);
	csr_write(CSR_VSATP, 0);
	csr_write(CSR_VSTVEC, 0);
	csr_write(CSR_VSSCRATCH, 0);
	csr_write(CSR_VSEPC, 0);
	csr_write(CSR_VSIE, 0);

	// sret goes to V=1 (hstatus.SPV) at S privilege (sstatus.SPP): VS-mode.
	// VTW/VTSR/VTVM stay 0: the guest's wfi, sret and satp work natively.
	csr_clear(CSR_HSTATUS, HSTATUS_VTW | HSTATUS_VTSR | HSTATUS_VTVM);
	csr_set(CSR_HSTATUS, HSTATUS_SPV | HSTATUS_SPVP);
	csr_set(CSR_SSTATUS, SSTATUS_SPP);
	csr_clear(CSR_SSTATUS, SSTATUS_SPIE | SSTATUS_SIE);
	csr_write(CSR_SEPC, GUEST_ENTRY);

	vm_run(v);                      // a0 = a1 = 0: v->regs is all zeroes
}

// The guest asked to shut down: stop this VM for good. When it was the last
// one running, power the machine off so QEMU exits by itself.
void vm_halt(struct vm *vm)
{
	printf("hypervisor: vm%d halted\n", vm->id);
	// Sequentially consistent store then loads: if two VMs halt at once,
	// at least one of them sees both halted.
	__atomic_store_n(&vm->halted, 1, __ATOMIC_SEQ_CST);
	int running = 0;
	for (int i = 0; i < nvm; i++)
		if (!__atomic_load_n(&vms[i].halted, __ATOMIC_SEQ_CST))
			running++;
	if (running == 0) {
		printf("hypervisor: all VMs halted, shutting down\n");
		sbi_shutdown();
	}
	sbi_set_timer(~0UL);
	park();
}

#ifdef HV_GSTAGE_LOOKUP
// For the fault and fixture builds, which change a finished G-stage table
// (defs.h): the leaf PTE that maps gpa in vm's G-stage through the walker
// above, and its level (1: 2 MiB, 0: 4 KiB); 0 when gpa is not mapped. Only
// for the ranges vm_create maps, where the walk finds every table in place
// (elsewhere it would add tables). Kept last in this file, so that the
// other builds compile the code above exactly as before.
pte_t *gstage_leaf(struct vm *vm, uint64 gpa, int *level)
{
	pte_t *pte = gstage_walk(vm->gstage, gpa, 1);
	*level = 1;
	if (!(*pte & PTE_V))
		return 0;
	if (*pte & (PTE_R | PTE_W | PTE_X))
		return pte;
	pte = gstage_walk(vm->gstage, gpa, 0);
	*level = 0;
	return (*pte & PTE_V) ? pte : 0;
}
#endif
