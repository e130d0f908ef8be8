#ifndef SYSCALL_H
#define SYSCALL_H

// System call numbers, passed in a7; arguments in a0..a2; result in a0.
// Shared with user/usys.S, so: #defines only.

#define SYS_write    1   // write(fd 1|2, buf, n) -> n
#define SYS_read     2   // read(fd 0, buf, n) -> bytes, up to and incl. '\n'
#define SYS_spawn    3   // spawn(name) -> pid of a new child running program name
#define SYS_exit     4   // exit(status), does not return
#define SYS_wait     5   // wait(&status or 0) -> pid of an exited child, -1 if none
#define SYS_yield    6   // yield() -> 0
#define SYS_sleep    7   // sleep(ticks) -> 0
#define SYS_uptime   8   // uptime() -> ticks since boot
#define SYS_getpid   9   // getpid() -> pid
#define SYS_halt     10  // halt(): SBI system reset (shutdown); returns -1 on failure

// Only in the stress fixture build (guest-stress.elf, kernel/fixture.c):
#define SYS_sbrk     11  // sbrk(n) -> old break; pages appear on first touch

#endif
