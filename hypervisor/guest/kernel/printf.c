// Kernel printf to the UART, and panic.
// Formats: %d %u %x %p %s %c %%, with an optional l (or ll) on d, u and x.

#include <stdarg.h>
#include "types.h"
#include "riscv.h"
#include "memlayout.h"
#include "defs.h"

static const char digits[] = "0123456789abcdef";

static void
putc(int c)
{
	uartputc(c);
}

static void
printnum(uint64 x, int base, int negative)
{
	char buf[24];
	int i = 0;

	do {
		buf[i++] = digits[x % base];
		x /= base;
	} while (x != 0);
	if (negative)
		buf[i++] = '-';
	while (--i >= 0)
		putc(buf[i]);
}

void
printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			putc(*f);
			continue;
		}
		int lng = 0;
		while (*++f == 'l')
			lng = 1;
		switch (*f) {
		case 'd': {
			long v = lng ? va_arg(ap, long) : va_arg(ap, int);
			printnum(v < 0 ? -(uint64)v : (uint64)v, 10, v < 0);
			break;
		}
		case 'u':
			printnum(lng ? va_arg(ap, uint64) : va_arg(ap, uint), 10, 0);
			break;
		case 'x':
			printnum(lng ? va_arg(ap, uint64) : va_arg(ap, uint), 16, 0);
			break;
		case 'p':
			putc('0');
			putc('x');
			printnum((uint64)va_arg(ap, void *), 16, 0);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			for (s = s ? s : "(null)"; *s; s++)
				putc(*s);
			break;
		}
		case 'c':
			putc(va_arg(ap, int));
			break;
		case '%':
			putc('%');
			break;
		case '\0':
			f--;      // trailing '%': let the loop end
			break;
		default:      // unknown: print it as written
			putc('%');
			putc(*f);
			break;
		}
	}
	va_end(ap);
}

// Return addresses up the frame-pointer chain (kernel frames only).
static void
backtrace(void)
{
	uint64 fp = r_fp();

	printf("backtrace:\n");
	for (int depth = 0; depth < 32; depth++) {
		if (fp < KERNBASE + 16 || fp > PHYSTOP || fp % 8)
			break;
		uint64 ra = *(uint64 *)(fp - 8);
		if (ra == 0)
			break;
		printf("  %p\n", (void *)ra);
		fp = *(uint64 *)(fp - 16);
	}
}

void
panic(const char *msg)
{
	intr_off();
	printf("panic: %s\n", msg);
	backtrace();
	for (;;)
		wfi();
}
