// A small printf for the hypervisor's own messages: %d %u %x %p %s %c %%.
// One lock, so lines from the two harts do not interleave with each other.

#include <stdarg.h>
#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

static volatile int printf_lock;

static void putnum(uint64 x, int base, int neg, int width)
{
	char buf[24];
	int i = 0;
	do {
		buf[i++] = "0123456789abcdef"[x % base];
		x /= base;
	} while (x);
	while (i < width)
		buf[i++] = '0';
	if (neg)
		uart_putc('-');
	while (i > 0)
		uart_putc(buf[--i]);
}

void printf(const char *fmt, ...)
{
	va_list ap;

	while (__sync_lock_test_and_set(&printf_lock, 1))
		;
	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			uart_putc(*fmt);
			continue;
		}
		switch (*++fmt) {
		case 'd': {
			long d = va_arg(ap, int);
			putnum(d < 0 ? -d : d, 10, d < 0, 1);
			break;
		}
		case 'u': putnum(va_arg(ap, uint32), 10, 0, 1); break;
		case 'x': putnum(va_arg(ap, uint32), 16, 0, 1); break;
		case 'p':
			uart_putc('0');
			uart_putc('x');
			putnum(va_arg(ap, uint64), 16, 0, 1);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			while (s && *s)
				uart_putc(*s++);
			break;
		}
		case 'c': uart_putc(va_arg(ap, int)); break;
		case '%': uart_putc('%'); break;
		case 0: fmt--; break;               // lone % at the end
		default: uart_putc('%'); uart_putc(*fmt); break;
		}
	}
	va_end(ap);
	__sync_lock_release(&printf_lock);
}

void panic(const char *msg)
{
	printf("hypervisor: panic on hart %d: %s\n", (int)r_tp(), msg);
	park();
}
