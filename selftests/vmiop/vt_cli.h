/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vmiop command-line tool in a test: tools/vmiop.c linked in with its
 * main() renamed (the Makefile's cli-tool.o), run in a child per command.
 */
#ifndef VT_CLI_H
#define VT_CLI_H

#include <sys/wait.h>
#include "vmiop_test.h"

int vmiop_cli_main(int argc, char **argv);

/* Runs the CLI with @args; returns its exit code and its stdout+stderr. */
static int cli(char *out, size_t size, const char *const *args)
{
	char *argv[16];
	int pipefd[2], status, argc = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	argv[argc++] = "vmiop";
	while (*args && argc < 15)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	ASSERT_EQ(pipe(pipefd), 0);
	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		exit(vmiop_cli_main(argc, argv));
	}
	close(pipefd[1]);
	while (got < size - 1 && (n = read(pipefd[0], out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pipefd[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	return WEXITSTATUS(status);
}

#define CLI(out, ...) cli(out, sizeof(out), (const char *const[]){ __VA_ARGS__, NULL })

#endif
