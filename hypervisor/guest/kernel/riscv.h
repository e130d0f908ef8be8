#ifndef RISCV_H
#define RISCV_H

// Supervisor CSRs and page-table bits, and tiny inline accessors. Only what
// this kernel uses: it must run in S-mode on OpenSBI and in VS-mode under a
// hypervisor, so it touches nothing machine-level.

#include "types.h"

// sstatus
#define SSTATUS_SIE   (1UL << 1)   // supervisor interrupt enable
#define SSTATUS_SPIE  (1UL << 5)   // SIE before the trap
#define SSTATUS_SPP   (1UL << 8)   // mode before the trap: 1 = S, 0 = U

// sie
#define SIE_STIE      (1UL << 5)   // supervisor timer interrupt

// scause
#define SCAUSE_INTR       (1UL << 63)
#define SCAUSE_S_TIMER    (SCAUSE_INTR | 5)
#define SCAUSE_ECALL_U    8

#define CSR_READ(csr) \
	static inline uint64 r_##csr(void) \
	{ uint64 x; asm volatile("csrr %0, " #csr : "=r"(x)); return x; }
#define CSR_WRITE(csr) \
	static inline void w_##csr(uint64 x) \
	{ asm volatile("csrw " #csr ", %0" : : "r"(x) : "memory"); }

CSR_READ(sstatus)  CSR_WRITE(sstatus)
CSR_READ(sie)      CSR_WRITE(sie)
CSR_READ(stvec)    CSR_WRITE(stvec)
CSR_READ(sepc)     CSR_WRITE(sepc)
CSR_READ(sscratch) CSR_WRITE(sscratch)
CSR_READ(satp)     CSR_WRITE(satp)
CSR_READ(scause)
CSR_READ(stval)
CSR_READ(time)     // rdtime: ticks at TIMEBASE_HZ

static inline void intr_on(void)  { w_sstatus(r_sstatus() | SSTATUS_SIE); }
static inline void intr_off(void) { w_sstatus(r_sstatus() & ~SSTATUS_SIE); }

static inline void wfi(void) { asm volatile("wfi" : : : "memory"); }

// Flush all TLB entries (we use no ASIDs).
static inline void sfence_vma(void) { asm volatile("sfence.vma zero, zero" : : : "memory"); }

// The frame pointer (s0): -fno-omit-frame-pointer keeps it valid.
static inline uint64 r_fp(void) { uint64 x; asm volatile("mv %0, s0" : "=r"(x)); return x; }

// Sv39 paging
#define PGSIZE        4096UL
#define PGSHIFT       12
#define PGROUNDUP(a)   (((uint64)(a) + PGSIZE - 1) & ~(PGSIZE - 1))
#define PGROUNDDOWN(a) ((uint64)(a) & ~(PGSIZE - 1))

#define SATP_SV39     (8UL << 60)
#define MAKE_SATP(pt) (SATP_SV39 | ((uint64)(pt) >> PGSHIFT))

#define PTE_V  (1UL << 0)
#define PTE_R  (1UL << 1)
#define PTE_W  (1UL << 2)
#define PTE_X  (1UL << 3)
#define PTE_U  (1UL << 4)
#define PTE_G  (1UL << 5)
#define PTE_A  (1UL << 6)
#define PTE_D  (1UL << 7)

#define PA2PTE(pa)    ((((uint64)(pa)) >> PGSHIFT) << 10)
#define PTE2PA(pte)   (((pte) >> 10) << PGSHIFT)
#define PTE_LEAF(pte) ((pte) & (PTE_R | PTE_W | PTE_X))

// The 9-bit page-table index of va at level 2 (root), 1 or 0 (leaf).
#define PX(level, va) ((((uint64)(va)) >> (PGSHIFT + 9 * (level))) & 0x1FF)

// One past the highest Sv39 address we use. Stopping one bit short of 2^39
// spares us the sign extension of the upper half.
#define MAXVA (1UL << 38)

#endif
