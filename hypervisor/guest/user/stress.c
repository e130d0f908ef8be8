// `stress SECONDS`, a shell builtin of the stress fixture build (guest.mk,
// ../../README.md "Fixture builds"): for that many seconds of guest time
// (timer ticks, not the host's clock) it makes system calls, takes page
// faults on a lazily grown heap (sbrk, kernel/fixture.c) and computes long
// enough to be preempted by the timer, then prints "stress: done". Memory
// stays bounded: every round gives its pages back.

#include "user.h"
#include "kernel/syscall.h"

#define HZ       100            // timer ticks per second (kernel/param.h)
#define PAGES    16             // pages touched per round: 16 faults
#define PAGESIZE 4096

static char *
sbrk(long n)
{
	register long a0 asm("a0") = n;
	register long a7 asm("a7") = SYS_sbrk;

	asm volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
	return (char *)a0;
}

static long
atol(const char *s)
{
	long n = 0;

	while (*s >= '0' && *s <= '9')
		n = n * 10 + (*s++ - '0');
	return *s == '\0' ? n : -1;
}

// One round: grow the heap, touch every new page (one fault each), check
// what was written, shrink it again. 0 on success.
static int
round_of_faults(long round)
{
	char *heap = sbrk(PAGES * PAGESIZE);

	if (heap == (char *)-1)
		return -1;
	for (int i = 0; i < PAGES; i++)
		heap[i * PAGESIZE + (round % PAGESIZE)] = (char)(round + i);
	for (int i = 0; i < PAGES; i++)
		if (heap[i * PAGESIZE + (round % PAGESIZE)] != (char)(round + i))
			return -1;
	if (sbrk(-(long)PAGES * PAGESIZE) == (char *)-1)
		return -1;
	return 0;
}

void
stress(const char *args)
{
	long secs = atol(args);
	volatile unsigned long sink = 0;

	if (secs <= 0) {
		printf("usage: stress SECONDS\n");
		return;
	}
	long start = uptime();
	long end = start + secs * HZ;
	long rounds = 0, calls = 0;
	while (uptime() < end) {
		if (round_of_faults(rounds) < 0) {
			printf("stress: sbrk or the heap failed in round %ld\n", rounds);
			return;
		}
		getpid();
		calls += 4;               // sbrk, sbrk, getpid, uptime
		// About a timer tick of computing: the timer preempts it.
		for (int i = 0; i < 200000; i++)
			sink += i;
		rounds++;
	}
	printf("stress: %ld rounds, %ld page faults, %ld system calls in %ld ticks\n",
	       rounds, rounds * PAGES, calls, uptime() - start);
	printf("stress: done\n");
}
