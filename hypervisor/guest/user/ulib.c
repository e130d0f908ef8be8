// A tiny C library for user programs.

#include <stdarg.h>
#include "user.h"

unsigned long
strlen(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

int
strncmp(const char *a, const char *b, unsigned long n)
{
	for (; n > 0; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (*a == '\0')
			break;
	}
	return 0;
}

int
strcmp(const char *a, const char *b)
{
	return strncmp(a, b, (unsigned long)-1);
}

void *
memset(void *dst, int c, unsigned long n)
{
	unsigned char *d = dst;

	while (n-- > 0)
		*d++ = c;
	return dst;
}

void *
memmove(void *dst, const void *src, unsigned long n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (s < d && s + n > d) {
		while (n-- > 0)
			d[n] = s[n];
	} else {
		while (n-- > 0)
			*d++ = *s++;
	}
	return dst;
}

void *
memcpy(void *dst, const void *src, unsigned long n)
{
	return memmove(dst, src, n);
}

// printf builds the whole message and writes it with one system call, so
// a line from one process is never cut by another's.
struct outbuf {
	char buf[256];
	int n;
};

static void
out(struct outbuf *o, char c)
{
	if (o->n == sizeof(o->buf)) {
		write(1, o->buf, o->n);
		o->n = 0;
	}
	o->buf[o->n++] = c;
}

static void
outnum(struct outbuf *o, unsigned long x, int base, int negative)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = "0123456789abcdef"[x % base];
		x /= base;
	} while (x != 0);
	if (negative)
		out(o, '-');
	while (--i >= 0)
		out(o, tmp[i]);
}

// %d %u %x %s %c %%, with an optional l on d, u and x.
void
printf(const char *fmt, ...)
{
	struct outbuf o = { .n = 0 };
	va_list ap;

	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			out(&o, *f);
			continue;
		}
		int lng = 0;
		while (*++f == 'l')
			lng = 1;
		switch (*f) {
		case 'd': {
			long v = lng ? va_arg(ap, long) : va_arg(ap, int);
			outnum(&o, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, v < 0);
			break;
		}
		case 'u':
			outnum(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, 0);
			break;
		case 'x':
			outnum(&o, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, 0);
			break;
		case 's':
			for (const char *s = va_arg(ap, const char *); s && *s; s++)
				out(&o, *s);
			break;
		case 'c':
			out(&o, va_arg(ap, int));
			break;
		case '\0':
			f--;
			break;
		default:
			out(&o, '%');
			out(&o, *f);
			break;
		}
	}
	va_end(ap);
	if (o.n > 0)
		write(1, o.buf, o.n);
}
