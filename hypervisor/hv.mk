# Hypervisor build rules (included by hypervisor/Makefile). Placeholder until the hypervisor lands.
