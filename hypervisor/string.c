// The two memory routines the hypervisor (and GCC itself) need.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

void *memset(void *dst, int c, uint64 n)
{
	uint8 *d = dst;
	while (n--)
		*d++ = c;
	return dst;
}

void *memcpy(void *dst, const void *src, uint64 n)
{
	uint8 *d = dst;
	const uint8 *s = src;
	if ((((uint64)d | (uint64)s) & 7) == 0) {   // the guest image: 8 bytes a time
		for (; n >= 8; n -= 8, d += 8, s += 8)
			*(uint64 *)d = *(const uint64 *)s;
	}
	while (n--)
		*d++ = *s++;
	return dst;
}
