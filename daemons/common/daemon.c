/*
 * floe-gateway / floe-client main: see daemon.h.
 */
#include "daemons/common/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <floe/floe.h>

#include "daemons/common/control.h"
#include "daemons/common/malloc_tune.h"
#include "daemons/common/metrics.h"
#include "daemons/common/nodeconf.h"
#include "daemons/common/shard.h"
#include "runtime/log.h"
#include "transport/net/udp.h"

#define LOG_TARGET "floe::daemon"

/* Room for connections that appear between counting and copying. */
enum { SNAPSHOT_SLACK_CONNS = 64 };

typedef struct {
	floe_role_t role;
	floe_node_t *node;
	uint8_t public_key[FLOE_KEY_LEN];
} daemon_t;

static floe_control_path_t path_type(floe_path_type_t t)
{
	switch (t) {
	case FLOE_PATH_HOST:
		return FLOE_CONTROL_PATH_HOST;
	case FLOE_PATH_SRFLX:
		return FLOE_CONTROL_PATH_SRFLX;
	case FLOE_PATH_PRFLX:
		return FLOE_CONTROL_PATH_PRFLX;
	case FLOE_PATH_RELAY:
		return FLOE_CONTROL_PATH_RELAY;
	}
	return FLOE_CONTROL_PATH_NONE;
}

static void convert(const floe_conn_info_t *in, floe_control_conn_t *out, uint64_t now_s)
{
	socklen_t len;

	snprintf(out->cid, sizeof(out->cid), "%s", in->cid);
	snprintf(out->client_id, sizeof(out->client_id), "%s", in->client_id);
	out->has_peer_key = in->peer_public_key[0] &&
			    floe_key_from_base64(out->peer_public_key, in->peer_public_key) == 0;
	out->has_tunnel_v4 = in->tunnel_ipv4[0] && inet_pton(AF_INET, in->tunnel_ipv4, out->tunnel_v4) == 1;
	out->has_tunnel_v6 = in->tunnel_ipv6[0] && inet_pton(AF_INET6, in->tunnel_ipv6, out->tunnel_v6) == 1;
	/* floe_conn_state_t and floe_control_state_t list the same states in order. */
	out->state = (unsigned)in->state <= (unsigned)FLOE_CONTROL_STATE_CLOSED ? (floe_control_state_t)in->state
										: FLOE_CONTROL_STATE_FAILED;
	if (in->has_path) {
		out->path = path_type(in->path.local_type);
		out->remote_path = path_type(in->path.remote_type);
		if (in->path.relay_reason != FLOE_RELAY_REASON_NONE)
			snprintf(out->relay_reason, sizeof(out->relay_reason), "%s",
				 floe_relay_reason_name(in->path.relay_reason));
		if (floe_udp_endpoint_parse(in->path.local_addr, &out->local, &len) != 0)
			memset(&out->local, 0, sizeof(out->local));
		if (floe_udp_endpoint_parse(in->path.remote_addr, &out->remote, &len) != 0)
			memset(&out->remote, 0, sizeof(out->remote));
	}
	out->last_handshake_s_ago = in->last_handshake_unix_s && now_s >= in->last_handshake_unix_s
					    ? (int64_t)(now_s - in->last_handshake_unix_s)
					    : -1;
	out->counters = in->counters;
}

/* floe_control_snapshot_fn: the control socket's thread or libmicrohttpd's. */
static int snapshot(void *user, floe_control_snapshot_t *snap)
{
	daemon_t *d = user;
	floe_conn_info_t *infos = NULL;
	floe_counters_snapshot_t totals;
	size_t cap, n = 0, connected = 0;
	uint64_t now_s = (uint64_t)time(NULL);
	int r;

	snprintf(snap->role, sizeof(snap->role), "%s", d->role == FLOE_ROLE_GATEWAY ? "gateway" : "client");
	snap->has_public_key = true;
	memcpy(snap->public_key, d->public_key, sizeof(snap->public_key));
	cap = floe_node_connections(d->node, &connected) + SNAPSHOT_SLACK_CONNS;
	if (cap > FLOE_NODE_MAX_CONNS)
		cap = FLOE_NODE_MAX_CONNS;
	infos = calloc(cap, sizeof(*infos));
	if (!infos)
		return -ENOMEM;
	r = floe_node_show(d->node, infos, cap, &n, &totals);
	if (r < 0)
		goto out;
	/* The renderers add the connections to snap->node for totals: give
	 * them the part of the totals that no live connection holds. */
	snap->node = totals;
	for (size_t i = 0; i < n; i++) {
		floe_control_conn_t *c = floe_control_snapshot_add(snap);

		if (!c) {
			r = -ENOMEM;
			goto out;
		}
		convert(&infos[i], c, now_s);
		for (size_t k = 0; k < FLOE_COUNTER_COUNT; k++)
			snap->node.v[k] -= snap->node.v[k] >= c->counters.v[k] ? c->counters.v[k] : snap->node.v[k];
	}
out:
	free(infos);
	return r;
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out, "usage: %s --config FILE\n", prog);
}

/* Reads the pending signals; false once asked to stop. */
static bool drain_signals(int sfd)
{
	struct signalfd_siginfo si;
	bool run = true;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			floe_log(FLOE_LOG_INFO, LOG_TARGET, "SIGHUP ignored: policy is the portal's");
		} else {
			floe_log(FLOE_LOG_INFO, LOG_TARGET, "Stopping", FLOE_F_I64("signal", si.ssi_signo));
			run = false;
		}
	}
	return run;
}

int floe_daemon_main(int argc, char **argv, floe_role_t role)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		/* internal: a sharded gateway's parent starts its workers so (shard.h) */
		{ "worker", required_argument, NULL, 'w' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *prog = role == FLOE_ROLE_GATEWAY ? "floe-gateway" : "floe-client";
	char err[FLOE_NODECONF_ERR_MAX];
	floe_nodeconf_t *conf = NULL;
	floe_control_t *control = NULL;
	floe_metrics_t *metrics = NULL;
	daemon_t d = { .role = role };
	const char *path = NULL;
	sigset_t mask;
	int sfd = -1, opt, r, rc = 1, worker = -1, ready_fd = -1;
	bool run = true;

	/* Before any thread: one arena per core, not eight (malloc_tune.h). */
	(void)floe_malloc_tune();
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout, prog);
			return 0;
		case 'w':
		case 'r': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (role != FLOE_ROLE_GATEWAY || *end || end == optarg || v < 0 || v > INT32_MAX) {
				usage(stderr, prog);
				return 2;
			}
			*(opt == 'w' ? &worker : &ready_fd) = (int)v;
			break;
		}
		default:
			usage(stderr, prog);
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr, prog);
		return 2;
	}
	floe_log_init();
	if (worker >= 0)
		floe_shard_worker_log((unsigned)worker);
	conf = floe_nodeconf_load(path, role, err, sizeof(err));
	if (!conf) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (floe_key_public(d.public_key, conf->node.private_key) != 0) {
		fprintf(stderr, "%s: PrivateKey: not usable\n", path);
		goto out;
	}
	if (worker >= 0 && (r = floe_shard_worker_conf(conf, (unsigned)worker)) < 0) {
		fprintf(stderr, "%s: --worker %d with Workers = %u: %s\n", path, worker, conf->workers, strerror(-r));
		goto out;
	}
	if (worker < 0 && conf->workers > 1) {
		/* The parent runs no node: its workers do (shard.h). */
		sodium_memzero(conf->node.private_key, sizeof(conf->node.private_key));
		rc = floe_shard_parent_main(prog, path, conf, d.public_key);
		goto out;
	}
	/* Signals become readable on an fd so the one poll sees them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
		goto out;
	}
	d.node = floe_node_new(&conf->node, err, sizeof(err));
	/* The node holds its own copy of the key now. */
	sodium_memzero(conf->node.private_key, sizeof(conf->node.private_key));
	if (!d.node) {
		fprintf(stderr, "%s: cannot start: %s\n", prog, err);
		goto out;
	}
	control = floe_control_new(conf->control_socket[0] ? conf->control_socket : NULL, prog, snapshot,
				   &d, &r);
	if (!control) {
		fprintf(stderr, "%s: control socket: %s\n", prog, strerror(-r));
		goto out;
	}
	if (conf->has_metrics) {
		metrics = floe_metrics_new(conf->metrics_host, conf->metrics_port, snapshot, &d, &r);
		if (!metrics) {
			fprintf(stderr, "%s: metrics on %s:%u: %s\n", prog, conf->metrics_host,
				conf->metrics_port, strerror(-r));
			goto out;
		}
	}
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Started", FLOE_F_STR("role", prog),
		 FLOE_F_STR("interface", conf->tun_name), FLOE_F_STR("control", floe_control_path(control)));
	if (ready_fd >= 0) {
		/* a worker: its parent tells systemd once all are up */
		if (write(ready_fd, "1", 1) != 1)
			floe_log(FLOE_LOG_WARNING, LOG_TARGET, "Cannot tell the parent", FLOE_F_STR("error", strerror(errno)));
		close(ready_fd);
	} else if (worker < 0) {
		sd_notify(0, "READY=1");
	}
	while (run) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = floe_control_fd(control), .events = POLLIN },
		};

		if (poll(pfd, 2, FLOE_DAEMON_POLL_MS) < 0 && errno != EINTR) {
			floe_log(FLOE_LOG_ERROR, LOG_TARGET, "poll failed", FLOE_F_STR("error", strerror(errno)));
			goto out;
		}
		if (pfd[1].revents & POLLIN)
			floe_control_handle(control);
		if (pfd[0].revents & POLLIN)
			run = drain_signals(sfd);
	}
	if (worker < 0)
		sd_notify(0, "STOPPING=1");
	rc = 0;
out:
	floe_metrics_destroy(&metrics);
	floe_control_destroy(&control);
	floe_node_destroy(&d.node);
	floe_nodeconf_destroy(&conf);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
