#ifndef MEMLAYOUT_H
#define MEMLAYOUT_H

// Guest-physical layout; the same standalone and under the hypervisor.
//
//   0x10000000  UART0: a 16550 with byte-wide registers, used polled.
//   0x80000000  start of RAM. Standalone, QEMU's -bios default puts OpenSBI at
//               0x80000000..0x80200000 (PMP-protected); under our hypervisor
//               nothing is there. Either way this kernel never touches it.
//   0x80200000  KERNBASE: _entry, text, rodata, data, bss. OpenSBI jumps to an
//               S-mode payload here, and the hypervisor loads guest.bin here.
//   end         first free page, handed to kalloc ...
//   0x81000000  ... up to PHYSTOP: the guest is given 16 MiB of RAM.
//
// Virtual layout (Sv39). The kernel maps UART0 and KERNBASE..PHYSTOP one to
// one. Every process page table shares the kernel's top-level entries for
// those two gigabytes (kernel PTEs have no PTE_U, so user code cannot touch
// them) and keeps the user program in the gigabyte between them:
//
//   0x40000000  USERBASE: the program's ELF segments
//   ...         (a guard page below the stack is left unmapped)
//   0x7fffe000  user stack (USTACKSIZE), growing down from
//   0x80000000  USTACKTOP
//
// With the kernel in every page table no trampoline page is needed: a trap
// from user mode lands directly in kernel code that is already mapped.

#define UART0       0x10000000UL
#define KERNBASE    0x80200000UL
#ifdef GUEST_FIXTURE_XV6LAYOUT
#define PHYSTOP     0x88000000UL   // the xv6-layout fixture: 128 MiB, as xv6-riscv
#else
#define PHYSTOP     0x81000000UL
#endif

#define USERBASE    0x40000000UL
#define USTACKTOP   0x80000000UL
#define USTACKSIZE  (2 * 4096UL)
#define USERLIMIT   (USTACKTOP - USTACKSIZE - 4096)  // ELF segments end below this

#endif
