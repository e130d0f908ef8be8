// sh: a very small shell with builtins only.
//   echo ARGS   print ARGS and a newline
//   halt        power off (SBI system reset)
//   uptime      timer ticks since boot (100 per second)
//   exit        leave the shell (init starts a new one)

#include "user.h"

static int
isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char *
skipspace(char *s)
{
	while (*s && isspace(*s))
		s++;
	return s;
}

int
main(void)
{
	static char line[128];

	for (;;) {
		printf("$ ");
		int n = read(0, line, sizeof(line) - 1);
		if (n <= 0)
			continue;
		line[n] = '\0';
		while (n > 0 && isspace(line[n - 1]))   // trailing blanks and '\n'
			line[--n] = '\0';

		// split into the command and the rest of the line
		char *cmd = skipspace(line);
		char *args = cmd;
		while (*args && !isspace(*args))
			args++;
		if (*args)
			*args++ = '\0';
		args = skipspace(args);

		if (*cmd == '\0')
			continue;
		if (strcmp(cmd, "echo") == 0) {
			printf("%s\n", args);
		} else if (strcmp(cmd, "halt") == 0) {
			halt();
			printf("sh: halt failed\n");
		} else if (strcmp(cmd, "uptime") == 0) {
			printf("%ld\n", uptime());
		} else if (strcmp(cmd, "exit") == 0) {
			exit(0); FIXTURE_SH_BUILTINS(cmd, args)
		} else {
			printf("sh: %s: unknown command (builtins: echo, halt, uptime, exit)\n", cmd);
		}
	}
}
