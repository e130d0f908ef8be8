// Calls into the SBI: OpenSBI standalone, the hypervisor under it. Only the
// TIME and SRST extensions, nothing legacy.

#include "types.h"
#include "defs.h"

#define SBI_EXT_TIME  0x54494D45   // "TIME"
#define SBI_EXT_SRST  0x53525354   // "SRST"

#define SRST_SHUTDOWN      0
#define SRST_NO_REASON     0

struct sbiret {
	long error;
	long value;
};

static struct sbiret
sbi_call(uint64 eid, uint64 fid, uint64 arg0, uint64 arg1)
{
	register uint64 a0 asm("a0") = arg0;
	register uint64 a1 asm("a1") = arg1;
	register uint64 a6 asm("a6") = fid;
	register uint64 a7 asm("a7") = eid;

	asm volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a6), "r"(a7) : "memory");
	return (struct sbiret){ .error = (long)a0, .value = (long)a1 };
}

// Raise the supervisor timer interrupt once time >= stime; clears it until then.
void
sbi_set_timer(uint64 stime)
{
	sbi_call(SBI_EXT_TIME, 0, stime, 0);
}

// Returns only on failure, with the SBI error code.
long
sbi_shutdown(void)
{
	return sbi_call(SBI_EXT_SRST, 0, SRST_SHUTDOWN, SRST_NO_REASON).error;
}
