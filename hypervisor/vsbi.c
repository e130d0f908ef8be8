// The SBI a guest sees: its ecalls (VS-mode ecall, scause 10) land here.
// Implemented: BASE, TIME, SRST. Everything else: SBI_ERR_NOT_SUPPORTED.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

#define SBI_EXT_BASE  0x10
#define SBI_EXT_TIME  0x54494D45
#define SBI_EXT_SRST  0x53525354

#define SBI_SUCCESS            0
#define SBI_ERR_NOT_SUPPORTED -2
#define SBI_ERR_INVALID_PARAM -3

#define SBI_SPEC_VERSION (2UL << 24)   // 2.0: major in bits 30:24
#define SBI_IMPL_ID      0x4856        // "HV": not a registered implementation
#define SBI_IMPL_VERSION 1

static int probe(uint64 eid)
{
	return eid == SBI_EXT_BASE || eid == SBI_EXT_TIME || eid == SBI_EXT_SRST;
}

void vsbi_call(struct vcpu *v)
{
	uint64 eid = v->regs[REG_A7], fid = v->regs[REG_A6];
	uint64 arg0 = v->regs[REG_A0];
	long error = SBI_SUCCESS, value = 0;

	switch (eid) {
	case SBI_EXT_BASE:
		switch (fid) {
		case 0: value = SBI_SPEC_VERSION; break;
		case 1: value = SBI_IMPL_ID; break;
		case 2: value = SBI_IMPL_VERSION; break;
		case 3: value = probe(arg0); break;
		case 4: case 5: case 6: value = 0; break;   // mvendorid, marchid, mimpid
		default: error = SBI_ERR_NOT_SUPPORTED;
		}
		break;
	case SBI_EXT_TIME:
		if (fid != 0) {
			error = SBI_ERR_NOT_SUPPORTED;
			break;
		}
		// set_timer(when): the previous tick is acknowledged, the
		// next one comes from our own timer (see vm_trap).
		csr_clear(CSR_HVIP, HVIP_VSTIP);
		sbi_set_timer(arg0);
		break;
	case SBI_EXT_SRST:
		if (fid != 0) {
			error = SBI_ERR_NOT_SUPPORTED;
		} else if (arg0 == 0) {
			vm_halt(v->vm);             // shutdown: this VM stops here
		} else if (arg0 == 1 || arg0 == 2) {
			error = SBI_ERR_NOT_SUPPORTED;   // cold/warm reboot
		} else {
			error = SBI_ERR_INVALID_PARAM;
		}
		break;
	default:
		error = SBI_ERR_NOT_SUPPORTED;
	}
	v->regs[REG_A0] = error;
	v->regs[REG_A1] = value;
}
