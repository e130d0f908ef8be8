# The first instruction of the image, at KERNBASE (0x80200000). OpenSBI, or
# the hypervisor in VS-mode, jumps here in S-mode with a0 = hart id and
# a1 = device-tree pointer, paging off and interrupts disabled. stvec is left
# as we found it until trapinithart(): 0 under the hypervisor, this entry under OpenSBI.

#define BOOTSTACKSIZE 16384

	.section .text.entry
	.globl _entry
_entry:
	# .bss is not part of guest.bin: clear it before any C runs. Only t
	# registers here, so a0/a1 reach main() intact.
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:
	la	sp, bootstack + BOOTSTACKSIZE
	li	s0, 0			# fp = 0 ends backtraces here
	call	main
3:	wfi				# main never returns
	j	3b

	.section .bss.bootstack, "aw", @nobits
	.balign	16
	.globl	bootstack
bootstack:
	.space	BOOTSTACKSIZE
