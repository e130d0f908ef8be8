# The user programs, embedded whole: stripped ELF files built from user/ into
# the build directory, which the build passes to the assembler (-I).

	.section .rodata.progs, "a"

	.balign	8
	.globl	prog_init_start, prog_init_end
prog_init_start:
	.incbin	"init.stripped"
prog_init_end:

	.balign	8
	.globl	prog_sh_start, prog_sh_end
prog_sh_start:
	.incbin	"sh.stripped"
prog_sh_end:
