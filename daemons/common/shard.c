/*
 * The sharded gateway's parent and the workers' configuration: see shard.h.
 */
#include "daemons/common/shard.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "daemons/common/control.h"
#include "daemons/common/metrics.h"
#include "daemons/common/shard_show.h"
#include "daemons/common/workers.h"
#include "runtime/log.h"

#define LOG_TARGET "floe::shard"

enum {
	PARENT_POLL_MS = 1000, /* signals and control wake us; restarts have deadlines */
};

/* Every worker fits the snapshot's workers_up bits and the portal's links. */
_Static_assert((int)FLOE_NODE_MAX_WORKERS <= (int)FLOE_CONTROL_MAX_WORKERS, "workers_up too small");

int floe_shard_tun_name(const char *base, unsigned k, char *out, size_t cap)
{
	size_t stem = base ? strlen(base) : 0;
	int n;

	if (!base || !out)
		return -EINVAL;
	while (stem > 0 && isdigit((unsigned char)base[stem - 1]))
		stem--;
	n = snprintf(out, cap, "%.*s%u", (int)stem, base, k);
	if (n < 0 || (size_t)n >= cap || n > FLOE_NODECONF_IFNAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int floe_shard_control_path(const floe_nodeconf_t *conf, int worker, char *out, size_t cap)
{
	int n;

	if (!conf || !out)
		return -EINVAL;
	if (conf->control_socket[0])
		n = snprintf(out, cap, "%s", conf->control_socket);
	else
		n = snprintf(out, cap, "%s/floe-gateway.sock", FLOE_CONTROL_DEFAULT_DIR);
	if (n >= 0 && (size_t)n < cap && worker >= 0)
		n += snprintf(out + n, cap - (size_t)n, ".w%d", worker);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= FLOE_CONTROL_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int floe_shard_worker_conf(floe_nodeconf_t *conf, unsigned k)
{
	char name[FLOE_NODECONF_IFNAME_MAX + 1], path[FLOE_CONTROL_PATH_MAX];
	int r;

	/* Workers = 1 is the one-process gateway: no worker to be */
	if (!conf || conf->workers < 2 || k >= conf->workers)
		return -EINVAL;
	if ((r = floe_shard_tun_name(conf->tun_name, k, name, sizeof(name))) < 0 ||
	    (r = floe_shard_control_path(conf, (int)k, path, sizeof(path))) < 0)
		return r;
	memcpy(conf->tun_name, name, sizeof(name));
	memcpy(conf->control_socket, path, sizeof(path));
	conf->has_metrics = false;
	conf->node.worker = k;
	conf->node.workers = conf->workers;
	if (k > 0)
		conf->node.n_tun_routes = 0;
	return 0;
}

/* ------------------------------------------------------------------ */
/* A worker's log lines                                                */

enum {
	WORKER_FIELD_MAX_BYTES = 24, /* ,"worker":NN */
};

/*
 * floe_log_sink_fn: the line with "worker":k before its closing brace,
 * then one write(2) to stderr like the default sink. Runs under the
 * logger's lock, so the static buffer is the lock's.
 */
static void worker_sink(void *user, const char *line, size_t len)
{
	static char buf[FLOE_LOG_LINE_MAX_BYTES + WORKER_FIELD_MAX_BYTES];
	unsigned k = (unsigned)(uintptr_t)user;
	size_t n = 0;
	int extra;

	/* every line ends "}\n"; anything else passes as it is */
	if (len >= 2 && len <= FLOE_LOG_LINE_MAX_BYTES && line[len - 2] == '}' && line[len - 1] == '\n') {
		memcpy(buf, line, len - 2);
		extra = snprintf(buf + len - 2, WORKER_FIELD_MAX_BYTES, ",\"worker\":%u}\n", k);
		if (extra > 0 && extra < WORKER_FIELD_MAX_BYTES) {
			line = buf;
			len = len - 2 + (size_t)extra;
		}
	}
	while (n < len) {
		ssize_t w = write(STDERR_FILENO, line + n, len - n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a logger has nowhere to report it */
		n += (size_t)w;
	}
}

void floe_shard_worker_log(unsigned k)
{
	floe_log_set_sink(worker_sink, (void *)(uintptr_t)k);
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */

typedef struct {
	uint8_t public_key[FLOE_CONTROL_KEY_LEN];
	unsigned n;
	char paths[FLOE_NODE_MAX_WORKERS][FLOE_CONTROL_PATH_MAX];
	const char *path_ptrs[FLOE_NODE_MAX_WORKERS];
} parent_t;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* floe_control_snapshot_fn: the control socket's thread or libmicrohttpd's;
 * parent_t is read-only after start. */
static int parent_snapshot(void *user, floe_control_snapshot_t *snap)
{
	const parent_t *p = user;
	unsigned answered = 0;

	snprintf(snap->role, sizeof(snap->role), "gateway");
	snap->has_public_key = true;
	memcpy(snap->public_key, p->public_key, sizeof(snap->public_key));
	return floe_shard_show(snap, p->path_ptrs, p->n, &answered);
}

/* Drains the signalfd; false once asked to stop. *child: SIGCHLD seen. */
static bool parent_signals(int sfd, bool *child)
{
	struct signalfd_siginfo si;
	bool run = true;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			*child = true;
		} else if (si.ssi_signo == SIGHUP) {
			floe_log(FLOE_LOG_INFO, LOG_TARGET, "SIGHUP ignored: policy is the portal's");
		} else {
			floe_log(FLOE_LOG_INFO, LOG_TARGET, "Stopping workers", FLOE_F_I64("signal", si.ssi_signo));
			run = false;
		}
	}
	return run;
}

/* Until the next restart is due, at most PARENT_POLL_MS. */
static int poll_timeout(const floe_workers_t *w)
{
	uint64_t next = floe_workers_next_deadline_ms(w), now = mono_ms();

	if (next <= now)
		return 0;
	return next - now > PARENT_POLL_MS ? PARENT_POLL_MS : (int)(next - now);
}

int floe_shard_parent_main(const char *prog, const char *config_path, const floe_nodeconf_t *conf,
			   const uint8_t public_key[FLOE_CONTROL_KEY_LEN])
{
	char own[FLOE_CONTROL_PATH_MAX], exe[PATH_MAX];
	floe_control_t *control = NULL;
	floe_metrics_t *metrics = NULL;
	floe_workers_t *workers = NULL;
	parent_t *p = calloc(1, sizeof(*p));
	sigset_t mask;
	ssize_t n;
	int sfd = -1, r, rc = 1;
	bool run = true;

	if (!p) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	p->n = conf->workers;
	memcpy(p->public_key, public_key, sizeof(p->public_key));
	for (unsigned k = 0; k < p->n; k++) {
		if (floe_shard_control_path(conf, (int)k, p->paths[k], sizeof(p->paths[k])) < 0 ||
		    floe_shard_tun_name(conf->tun_name, k, exe, sizeof(exe)) < 0) {
			fprintf(stderr, "%s: Workers = %u: TUN name '%s' or control socket too long for worker %u\n",
				config_path, p->n, conf->tun_name, k);
			goto out;
		}
		p->path_ptrs[k] = p->paths[k];
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0 || floe_shard_control_path(conf, -1, own, sizeof(own)) < 0) {
		fprintf(stderr, "%s: cannot find its own program or control path\n", prog);
		goto out;
	}
	exe[n] = '\0';
	/* SIGCHLD too: a dead worker wakes the one poll. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
		goto out;
	}
	/* First: with no Socket configured (NULL) it creates the default
	 * directory, which the workers' sockets share; the path is then the
	 * same as own. */
	control = floe_control_new(conf->control_socket[0] ? own : NULL, prog, parent_snapshot, p, &r);
	if (!control) {
		fprintf(stderr, "%s: control socket: %s\n", prog, strerror(-r));
		goto out;
	}
	workers = floe_workers_new(exe, config_path, p->n);
	if (!workers) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		goto out;
	}
	r = floe_workers_start(workers, mono_ms());
	if (r < 0) {
		fprintf(stderr, "%s: workers did not start: %s\n", prog, strerror(-r));
		goto out;
	}
	if (conf->has_metrics) {
		metrics = floe_metrics_new(conf->metrics_host, conf->metrics_port, parent_snapshot, p, &r);
		if (!metrics) {
			fprintf(stderr, "%s: metrics on %s:%u: %s\n", prog, conf->metrics_host, conf->metrics_port,
				strerror(-r));
			goto out;
		}
	}
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Started", FLOE_F_STR("role", prog), FLOE_F_U64("workers", p->n),
		 FLOE_F_STR("control", floe_control_path(control)));
	sd_notify(0, "READY=1");
	while (run) {
		struct pollfd pfd[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = floe_control_fd(control), .events = POLLIN },
		};
		bool child = false;

		if (poll(pfd, 2, poll_timeout(workers)) < 0 && errno != EINTR) {
			floe_log(FLOE_LOG_ERROR, LOG_TARGET, "poll failed", FLOE_F_STR("error", strerror(errno)));
			goto out;
		}
		if (pfd[0].revents & POLLIN)
			run = parent_signals(sfd, &child);
		if (child)
			floe_workers_reap(workers, mono_ms());
		if (run)
			floe_workers_tick(workers, mono_ms());
		if (run && (pfd[1].revents & POLLIN))
			floe_control_handle(control);
	}
	sd_notify(0, "STOPPING=1");
	rc = 0;
out:
	floe_metrics_destroy(&metrics);
	/* workers first: they answer show until they are gone */
	floe_workers_destroy(&workers);
	floe_control_destroy(&control);
	if (sfd >= 0)
		close(sfd);
	free(p);
	return rc;
}
