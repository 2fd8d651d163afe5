// SPDX-License-Identifier: GPL-2.0
/*
 * lg-qmp SOCKET [JSON-COMMAND]...
 * lg-qmp -c SOCKET LINE...
 *
 * A minimal QMP client for the test VM (busybox's nc has no unix sockets):
 * connects to QEMU's QMP unix socket, reads the greeting, negotiates
 * capabilities, then sends each command (one JSON object per argument, e.g.
 * '{"execute":"query-status"}') and prints its reply on a line of its own.
 * Asynchronous events are skipped.  Exit status 0 if every command got a
 * "return", 1 if one got an "error", 2 on a connection problem or timeout
 * (LG_QMP_TIMEOUT seconds per run, default 30).
 *
 *   lg-qmp /tmp/linux-guest/qmp.sock '{"execute":"query-status"}'
 *   lg-qmp /tmp/linux-guest/qmp.sock '{"execute":"quit"}'
 *
 * With -c, SOCKET is the guest's console (start-linux-guest's console.sock)
 * and each LINE is written to it as a line of console input: a command of
 * the guest's /init ("ps TAG"); its answer goes to console.log.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

static char buf[1 << 16];
static size_t len;

/* Reads one line (a QMP message) into buf; returns its length or -1. */
static ssize_t read_line(int fd)
{
	len = 0;
	for (;;) {
		ssize_t n;

		if (len + 1 >= sizeof(buf))
			return -1;
		n = read(fd, buf + len, 1);
		if (n <= 0)
			return -1;
		if (buf[len] == '\n') {
			/* QEMU ends its lines with \r\n. */
			if (len && buf[len - 1] == '\r')
				len--;
			buf[len] = 0;
			return len;
		}
		len++;
	}
}

/* The next message that is not an event. */
static ssize_t read_reply(int fd)
{
	for (;;) {
		if (read_line(fd) < 0)
			return -1;
		if (!strstr(buf, "\"event\""))
			return len;
	}
}

static int send_cmd(int fd, const char *cmd)
{
	size_t n = strlen(cmd);

	if (write(fd, cmd, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
		return -1;
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(2);
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *t = getenv("LG_QMP_TIMEOUT");
	bool console = argc > 1 && !strcmp(argv[1], "-c");
	int fd, i, rc = 0;

	if (console) {
		argv++;
		argc--;
	}
	if (argc < 2 || strlen(argv[1]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "usage: lg-qmp SOCKET [JSON-COMMAND]...\n"
				"       lg-qmp -c SOCKET LINE...\n");
		return 2;
	}
	alarm(t ? atoi(t) : 30);
	fd = connect_to(argv[1]);
	if (console) {
		for (i = 2; i < argc; i++)
			if (send_cmd(fd, argv[i]) < 0) {
				perror(argv[1]);
				return 2;
			}
		/* Closed at once, QEMU may drop what it has not read yet. */
		shutdown(fd, SHUT_WR);
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		return 0;
	}
	if (read_line(fd) < 0 || !strstr(buf, "\"QMP\"")) {
		fprintf(stderr, "lg-qmp: no QMP greeting\n");
		return 2;
	}
	if (send_cmd(fd, "{\"execute\":\"qmp_capabilities\"}") < 0 ||
	    read_reply(fd) < 0 || !strstr(buf, "\"return\"")) {
		fprintf(stderr, "lg-qmp: capabilities negotiation failed\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (send_cmd(fd, argv[i]) < 0 || read_reply(fd) < 0) {
			fprintf(stderr, "lg-qmp: no reply to %s\n", argv[i]);
			return 2;
		}
		printf("%s\n", buf);
		if (!strstr(buf, "\"return\""))
			rc = 1;
	}
	return rc;
}
