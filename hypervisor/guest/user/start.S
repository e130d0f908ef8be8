# User entry point: the kernel starts a program here with sp at the top of
# its stack. exit(main()).

	.section .text.start
	.globl	_start
_start:
	li	s0, 0		# fp = 0 ends backtraces
	call	main
	call	exit		# with main's return value in a0
1:	j	1b
