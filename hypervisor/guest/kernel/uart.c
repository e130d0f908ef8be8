// The 16550 UART at UART0, polled. Byte-wide registers, plain loads and
// stores only: under the hypervisor this page is a real 16550 passed through
// (for one VM a PCI serial card), not an emulation that forgives anything.

#include "types.h"
#include "memlayout.h"
#include "defs.h"

#define RBR  0   // receive buffer (read)
#define THR  0   // transmit holding (write)
#define IER  1   // interrupt enable: always 0 here
#define FCR  2   // FIFO control (write)
#define LCR  3   // line control
#define LSR  5   // line status

#define LCR_8N1     0x03        // 8 data bits, no parity, 1 stop bit, DLAB off
#define FCR_FIFO    0x07        // enable FIFOs, clear receive and transmit FIFO
#define LSR_DR      (1 << 0)    // a received byte is waiting
#define LSR_THRE    (1 << 5)    // room to transmit

static inline uint8
reg_read(int r)
{
	return *(volatile uint8 *)(UART0 + r);
}

static inline void
reg_write(int r, uint8 v)
{
	*(volatile uint8 *)(UART0 + r) = v;
}

// The baud rate is left as the firmware set it.
void
uartinit(void)
{
	reg_write(LCR, LCR_8N1);    // first, so that IER is IER and not DLM
	reg_write(IER, 0);          // polled: no UART interrupts
	reg_write(FCR, FCR_FIFO);
}

void
uartputc(int c)
{
	while ((reg_read(LSR) & LSR_THRE) == 0)
		;
	reg_write(THR, c);
}

// A received byte, or -1 if there is none.
int
uartgetc(void)
{
	if (reg_read(LSR) & LSR_DR)
		return reg_read(RBR);
	return -1;
}
