# System call stubs: number in a7, arguments already in a0..a2, result in a0.
# Typed and sized, so that a debugger places a pc inside one (the ecall).

#include "kernel/syscall.h"

	.macro	syscall name, number
	.section .text.\name
	.globl	\name
	.type	\name, @function
\name:
	li	a7, \number
	ecall
	ret
	.size	\name, . - \name
	.endm

	syscall	write,  SYS_write
	syscall	read,   SYS_read
	syscall	spawn,  SYS_spawn
	syscall	exit,   SYS_exit
	syscall	wait,   SYS_wait
	syscall	yield,  SYS_yield
	syscall	sleep,  SYS_sleep
	syscall	uptime, SYS_uptime
	syscall	getpid, SYS_getpid
	syscall	halt,   SYS_halt
