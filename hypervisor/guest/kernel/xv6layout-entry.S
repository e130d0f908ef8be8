# The xv6-layout fixture's entry for the harts the boot hart starts with SBI
# HSM hart_start (xv6layout.c): a0 = hart id. .bss is already clear; each
# hart takes its own stack from hart_stacks and joins main, which makes it
# wait for `started`.

#define HARTSTACK 4096

	.section .text
	.globl secondary_entry
secondary_entry:
	addi	t0, a0, 1
	li	t1, HARTSTACK
	mul	t0, t0, t1
	la	sp, hart_stacks
	add	sp, sp, t0
	li	s0, 0			# fp = 0 ends backtraces here
	li	a1, 0
	call	main
1:	wfi
	j	1b
