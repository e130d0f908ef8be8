// Polled output on the virt machine's 16550 (OpenSBI has set it up already).
// Only the hypervisor's own messages use this; VM0 drives the same UART.

#include "memlayout.h"
#include "riscv.h"
#include "defs.h"

#define UART_THR 0          // transmit holding register
#define UART_LSR 5          // line status
#define LSR_THRE (1 << 5)   // THR empty: room for a byte

void uart_putc(int c)
{
	if (c == '\n')
		uart_putc('\r');
	while (!(REG8(UART0 + UART_LSR) & LSR_THRE))
		;
	REG8(UART0 + UART_THR) = c;
}
