# Guest kernel build rules (included by hypervisor/Makefile). Placeholder until the guest lands.
