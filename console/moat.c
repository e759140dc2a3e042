/*
 * moat: the console. An ncurses front end that speaks only the control
 * protocol, over a socket it opens (-s, $MOAT_SOCKET, the default) or a
 * descriptor the SSH front handed over (-F), whose role it cannot change.
 *   moat [-C] [-s SOCKET] [-F FD]
 * Console thread (the only one).
 */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "conn.h"
#include "ui.h"
#include "ui_text.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: moat [-C] [-s socket] [-F fd]\n"
	    "  -s socket  moatd's control socket (default $%s or %s)\n"
	    "  -F fd      use this connected descriptor (from the SSH front)\n"
	    "  -C         no colour (also when NO_COLOR is set)\n",
	    CTL_SOCKET_ENV, CTL_SOCKET_DEFAULT);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct conn	*c;
	const char	*path = NULL, *cs;
	char		*cause = NULL, *end;
	long		 fd = -1;
	bool		 colour = getenv("NO_COLOR") == NULL;
	int		 ch, rv;

	while ((ch = getopt(argc, argv, "CF:s:V")) != -1) {
		switch (ch) {
		case 'C':
			colour = false;
			break;
		case 'F':
			errno = 0;
			fd = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    fd < 0 || fd > INT_MAX) {
				fprintf(stderr, "moat: -F needs a descriptor "
				    "number: %s\n", optarg);
				return 2;
			}
			break;
		case 's':
			path = optarg;
			break;
		case 'V':
			printf("moat %s (protocol %d)\n", MOAT_VERSION,
			    PROTO_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (fd >= 0 && path != NULL) {
		fprintf(stderr, "moat: -s and -F exclude each other\n");
		return 2;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "moat: needs a terminal (moatctl is for "
		    "scripts)\n");
		return 2;
	}
	setlocale(LC_ALL, "");
	cs = nl_langinfo(CODESET);
	ui_text_set_utf8(cs != NULL && strcmp(cs, "UTF-8") == 0);

	if (fd >= 0)
		c = conn_new_fd((int)fd, ui_conn_hooks(), &cause);
	else
		c = conn_new_path(client_socket_path(path), ui_conn_hooks());
	if (c == NULL) {
		fprintf(stderr, "moat: %s\n", cause);
		free(cause);
		return 2;
	}
	rv = ui_run(c, colour);
	if (rv == 1)
		fprintf(stderr, "moat: the connection to moatd ended: %s\n",
		    conn_cause(c));
	conn_free(c);
	return rv;
}
