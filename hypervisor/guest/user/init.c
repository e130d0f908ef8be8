// init: the first user process. Starts the shell and reaps orphans; if the
// shell ever exits, starts another.

#include "user.h"

// For this long after starting the shell, init computes without making a
// single blocking call: the shell still gets to print its prompt only
// because the timer preempts init. Every boot exercises preemption.
#define BUSY_TICKS 100   // 1 s

int
main(void)
{
	printf("init: starting sh\n");
	int sh = spawn("sh");
	if (sh < 0)
		printf("init: cannot start sh\n");

	long until = uptime() + BUSY_TICKS;
	volatile unsigned long spins = 0;
	while (uptime() < until)
		spins++;

	for (;;) {
		int pid = wait(0);
		if (pid < 0) {              // no children at all
			sleep(100);
			continue;
		}
		if (pid == sh) {
			printf("init: sh exited, restarting it\n");
			sh = spawn("sh");
		}
	}
}
