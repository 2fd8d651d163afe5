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

static void vt_cli_child(void *argv)
{
	char **v = argv;
	int argc = 0;

	while (v[argc])
		argc++;
	exit(vmiop_cli_main(argc, v));
}

/* Runs the CLI with @args; returns its exit code and its stdout+stderr. */
static int cli(char *out, size_t size, const char *const *args)
{
	char *argv[16];
	int status, argc = 0;

	argv[argc++] = "vmiop";
	while (*args && argc < 15)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	status = vt_capture(out, size, vt_cli_child, argv);
	ASSERT_TRUE(WIFEXITED(status));
	return WEXITSTATUS(status);
}

#define CLI(out, ...) cli(out, sizeof(out), (const char *const[]){ __VA_ARGS__, NULL })

#endif
