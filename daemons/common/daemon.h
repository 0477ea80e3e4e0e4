/*
 * The shared main of floe-gateway and floe-client:
 *
 *   floe-gateway --config FILE        floe-client --config FILE
 *
 * Loads FILE (daemons/common/nodeconf.h; a bad file prints its one-line
 * "FILE:LINE: message" and exits 1), starts the node, serves the control
 * socket (floectl show) from this thread's poll loop and, on a gateway with
 * [Metrics] Listen, Prometheus metrics over HTTP. Tells systemd READY=1 once
 * all of that is up (a no-op without systemd). SIGTERM and SIGINT stop it
 * cleanly (exit 0, keys wiped); SIGHUP is logged and ignored (policy lives
 * on the portal). Exit 2 for bad arguments.
 */
#ifndef FLOE_DAEMONS_DAEMON_H
#define FLOE_DAEMONS_DAEMON_H

#include <floe/floe.h>

enum floe_daemon_limits {
	FLOE_DAEMON_POLL_MS = 1000, /* nothing is deadline-driven here; signals and control wake us */
};

/* Runs the daemon for role; returns the process's exit status. */
int floe_daemon_main(int argc, char **argv, floe_role_t role);

#endif
