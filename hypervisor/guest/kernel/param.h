#ifndef PARAM_H
#define PARAM_H

#define NPROC        8            // process table size
#define KSTACKSIZE   8192         // per-process kernel stack
#define NAMELEN      16           // process and program names, with the NUL

// QEMU virt's timebase is 10 MHz, and so is the time CSR our hypervisor
// passes through. We do not parse the device tree for timebase-frequency.
#define TIMEBASE_HZ  10000000UL
#define HZ           100          // timer ticks per second: a 10 ms time slice

#endif
