// Calls down to OpenSBI, in M-mode, from the hypervisor.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

#define SBI_EXT_TIME  0x54494D45
#define SBI_EXT_HSM   0x48534D
#define SBI_EXT_SRST  0x53525354

struct sbiret sbi_call(uint64 eid, uint64 fid, uint64 arg0, uint64 arg1, uint64 arg2)
{
	register uint64 a0 asm("a0") = arg0;
	register uint64 a1 asm("a1") = arg1;
	register uint64 a2 asm("a2") = arg2;
	register uint64 a6 asm("a6") = fid;
	register uint64 a7 asm("a7") = eid;
	asm volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a2), "r"(a6), "r"(a7) : "memory");
	return (struct sbiret){ (long)a0, (long)a1 };
}

// Our S-mode timer interrupt fires once time >= when; ~0 means never.
void sbi_set_timer(uint64 when)
{
	sbi_call(SBI_EXT_TIME, 0, when, 0, 0);
}

// Start hart `hartid` at physical address `start` in S-mode, a0 = hartid.
long sbi_hart_start(uint64 hartid, uint64 start, uint64 opaque)
{ FIXTURE_HART_START(start)
	return sbi_call(SBI_EXT_HSM, 0, hartid, start, opaque).error;
}

// hart_get_status fails with SBI_ERR_INVALID_PARAM for a hart that is not there.
int sbi_hart_exists(uint64 hartid)
{
	return sbi_call(SBI_EXT_HSM, 2, hartid, 0, 0).error == 0;
}

void sbi_shutdown(void)
{
	sbi_call(SBI_EXT_SRST, 0, 0, 0, 0);    // type 0 = shutdown, reason 0
	panic("SBI system_reset returned");
}
