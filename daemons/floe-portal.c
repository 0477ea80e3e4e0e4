/*
 * floe-portal: the signalling portal (docs/portal.md, docs/signalling.md).
 *
 *   floe-portal --config FILE
 *
 * A thin main around daemons/common/portal.c: one thread polls the portal's
 * ROUTER and a signalfd. SIGHUP reloads FILE (a bad new file is logged with
 * its FILE:LINE and the running configuration is kept); SIGTERM and SIGINT
 * exit cleanly. Logs are JSON lines on stderr (level from FLOE_LOG).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemons/common/portal.h"
#include "runtime/log.h"

#define LOG_TARGET "floe::portal"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: floe-portal --config FILE\n");
}

static void reload(floe_portal_t *portal, const char *path)
{
	char err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;
	int r;

	r = floe_portal_config_load(path, &cfg, err);
	if (r < 0) {
		floe_log(FLOE_LOG_ERROR, LOG_TARGET, "Reload failed; keeping the running configuration",
			 FLOE_F_STR("error", err));
		return;
	}
	r = floe_portal_reload(portal, &cfg, mono_ms());
	if (r < 0)
		floe_log(FLOE_LOG_ERROR, LOG_TARGET, "Reload failed; keeping the running configuration",
			 FLOE_F_STR("error", strerror(-r)));
	floe_portal_config_destroy(&cfg);
}

/* Reads the pending signals; returns false once asked to stop. */
static bool drain_signals(int sfd, floe_portal_t *portal, const char *path)
{
	struct signalfd_siginfo si;
	bool run = true;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			floe_log(FLOE_LOG_INFO, LOG_TARGET, "SIGHUP: reloading", FLOE_F_STR("path", path));
			reload(portal, path);
		} else {
			floe_log(FLOE_LOG_INFO, LOG_TARGET, "Stopping", FLOE_F_I64("signal", si.ssi_signo));
			run = false;
		}
	}
	return run;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;
	floe_portal_t *portal = NULL;
	const char *path = NULL;
	sigset_t mask;
	int sfd = -1, opt, rc = 1;
	bool run = true;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	floe_log_init();
	if (floe_portal_config_load(path, &cfg, err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* Signals become readable on an fd so the one poll sees them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "floe-portal: signalfd: %s\n", strerror(errno));
		goto out;
	}
	portal = floe_portal_new(&cfg, mono_ms());
	if (!portal) {
		fprintf(stderr, "floe-portal: cannot start on %s: %s\n", cfg->listen, strerror(errno));
		goto out;
	}
	while (run) {
		zmq_pollitem_t items[2] = { { .fd = sfd, .events = ZMQ_POLLIN } };
		uint64_t now = mono_ms(), deadline = floe_portal_next_deadline_ms(portal);
		long timeout = deadline > now ? (long)(deadline - now) : 0;

		floe_portal_pollitem(portal, &items[1]);
		if (zmq_poll(items, 2, timeout) < 0 && errno != EINTR) {
			floe_log(FLOE_LOG_ERROR, LOG_TARGET, "poll failed", FLOE_F_STR("error", strerror(errno)));
			goto out;
		}
		now = mono_ms();
		if (items[1].revents & ZMQ_POLLIN)
			floe_portal_handle(portal, now);
		if (now >= floe_portal_next_deadline_ms(portal))
			floe_portal_tick(portal, now);
		if (items[0].revents & ZMQ_POLLIN)
			run = drain_signals(sfd, portal, path);
	}
	rc = 0;
out:
	floe_portal_destroy(&portal);
	floe_portal_config_destroy(&cfg);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
