// The console: output to the UART, and line-buffered input that behaves
// like a simple tty. Input is polled (on each timer tick, and by read),
// echoed as it is typed, editable with backspace, and handed to readers a
// line at a time.

#include "types.h"
#include "param.h"
#include "riscv.h"
#include "proc.h"
#include "defs.h"

#define INPUT_BUF 128
#define BACKSPACE 0x08
#define DELETE    0x7f

static struct {
	char buf[INPUT_BUF];
	uint r;        // next byte for read()
	uint w;        // end of the lines committed to readers
	uint e;        // end of the line being edited
	int lastcr;    // the previous byte was '\r': ignore a following '\n'
	int ready;     // consoleinit() has run
} cons;

NOINLINE void
consoleinit(void)
{
	memset(&cons, 0, sizeof(cons));
	cons.ready = 1;
}

static void
consoleintr(int c)
{
	int cr = c == '\r';

	if (c == '\n' && cons.lastcr) {   // "\r\n" is one end of line
		cons.lastcr = 0;
		return;
	}
	cons.lastcr = cr;

	switch (c) {
	case BACKSPACE:
	case DELETE:
		if (cons.e != cons.w) {
			cons.e--;
			uartputc('\b');
			uartputc(' ');
			uartputc('\b');
		}
		break;
	default:
		if (c == 0 || cons.e - cons.r >= INPUT_BUF)
			break;    // full: drop it
		if (cr)
			c = '\n';
		cons.buf[cons.e++ % INPUT_BUF] = c;
		uartputc(c);  // echo
		if (c == '\n' || cons.e - cons.r == INPUT_BUF) {
			cons.w = cons.e;
			wakeup(&cons.r);
		}
		break;
	}
}

// Drain the UART's receive FIFO into the line buffer.
void
consolepoll(void)
{
	int c;

	if (!cons.ready)
		return;
	while ((c = uartgetc()) >= 0)
		consoleintr(c);
}

// read(0, dst, n): up to n bytes of committed input, stopping after a
// '\n'. Sleeps until at least one line is complete.
int
consoleread(uint64 dst, int n)
{
	struct proc *p = myproc();
	int got = 0;

	while (got < n) {
		consolepoll();
		if (cons.r == cons.w) {
			if (got > 0)
				break;
			sleep(&cons.r);
			continue;
		}
		char c = cons.buf[cons.r++ % INPUT_BUF];
		if (copyout(p->pagetable, dst + got, &c, 1) < 0)
			return got > 0 ? got : -1;
		got++;
		if (c == '\n')
			break;
	}
	return got;
}

int
consolewrite(uint64 src, int n)
{
	struct proc *p = myproc();
	char chunk[64];
	int done = 0;

	while (done < n) {
		int m = n - done < (int)sizeof(chunk) ? n - done : (int)sizeof(chunk);
		if (copyin(p->pagetable, chunk, src + done, m) < 0)
			return done > 0 ? done : -1;
		for (int i = 0; i < m; i++)
			uartputc(chunk[i]);
		done += m;
	}
	return done;
}
