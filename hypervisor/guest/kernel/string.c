// The few C library routines the kernel uses (GCC may also call memset,
// memcpy and memmove on its own for struct copies and initialisation).

#include "types.h"
#include "defs.h"

void *
memset(void *dst, int c, uint64 n)
{
	uint8 *d = dst;

	while (n-- > 0)
		*d++ = c;
	return dst;
}

void *
memmove(void *dst, const void *src, uint64 n)
{
	uint8 *d = dst;
	const uint8 *s = src;

	if (s < d && s + n > d) {   // overlapping, copy backwards
		while (n-- > 0)
			d[n] = s[n];
	} else {
		while (n-- > 0)
			*d++ = *s++;
	}
	return dst;
}

void *
memcpy(void *dst, const void *src, uint64 n)
{
	return memmove(dst, src, n);
}

int
memcmp(const void *a, const void *b, uint64 n)
{
	const uint8 *x = a, *y = b;

	for (; n > 0; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

uint64
strlen(const char *s)
{
	uint64 n = 0;

	while (s[n])
		n++;
	return n;
}

int
strncmp(const char *a, const char *b, uint64 n)
{
	for (; n > 0; n--, a++, b++) {
		if (*a != *b)
			return (uint8)*a - (uint8)*b;
		if (*a == '\0')
			break;
	}
	return 0;
}

// Like strncpy, but always NUL-terminated.
void
safestrcpy(char *dst, const char *src, uint64 size)
{
	if (size == 0)
		return;
	while (--size > 0 && *src)
		*dst++ = *src++;
	*dst = '\0';
}
