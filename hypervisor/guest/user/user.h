#ifndef USER_H
#define USER_H

// System calls (usys.S); see kernel/syscall.h for what they do.
int write(int fd, const void *buf, int n);
int read(int fd, void *buf, int n);
int spawn(const char *name);
void exit(int status) __attribute__((noreturn));
int wait(int *status);
int yield(void);
int sleep(int ticks);
long uptime(void);
int getpid(void);
int halt(void);

// ulib.c
unsigned long strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, unsigned long n);
void *memset(void *dst, int c, unsigned long n);
void *memcpy(void *dst, const void *src, unsigned long n);
void *memmove(void *dst, const void *src, unsigned long n);
void printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// The stress fixture build (../../README.md, "Fixture builds") adds a shell
// builtin, `stress SECONDS` (stress.c), through a hook written at the end of
// an existing line of sh.c; in the normal build it is empty.
#ifdef GUEST_FIXTURE_STRESS
void stress(const char *args);
#define FIXTURE_SH_BUILTINS(cmd, args) } else if (strcmp(cmd, "stress") == 0) { stress(args);
#else
#define FIXTURE_SH_BUILTINS(cmd, args)
#endif

#endif
