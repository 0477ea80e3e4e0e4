/*
 * The sharded gateway's worker processes: see workers.h.
 */
#include "daemons/common/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"

#define LOG_TARGET "floe::workers"

enum {
	INT_STR_BYTES = 16,
};

typedef enum {
	WORKER_DOWN = 0,   /* not running; restart at restart_at_ms */
	WORKER_STARTING,   /* running, ready pipe open (start only) */
	WORKER_RUNNING,
} worker_state_t;

typedef struct {
	worker_state_t state;
	pid_t pid;
	int ready_fd;            /* read end while STARTING, else -1 */
	uint64_t started_ms;
	uint64_t restart_at_ms;
	uint64_t backoff_ms;     /* the next restart's delay */
} worker_t;

struct floe_workers {
	char *exe;
	char *config;
	unsigned n;
	worker_t *w;
	uint64_t restarts;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

floe_workers_t *floe_workers_new(const char *exe, const char *config, unsigned n)
{
	floe_workers_t *self;

	if (!exe || !config || n == 0) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->exe = strdup(exe);
	self->config = strdup(config);
	self->w = calloc(n, sizeof(*self->w));
	if (!self->exe || !self->config || !self->w) {
		floe_workers_destroy(&self);
		errno = ENOMEM;
		return NULL;
	}
	self->n = n;
	for (unsigned k = 0; k < n; k++) {
		self->w[k].ready_fd = -1;
		self->w[k].backoff_ms = FLOE_WORKERS_BACKOFF_MIN_MS;
	}
	return self;
}

/*
 * fork + exec of worker k; with_ready: a pipe whose write end the worker
 * gets as --ready-fd. Everything the child needs is built before fork.
 */
static int spawn(floe_workers_t *self, unsigned k, bool with_ready, uint64_t now_ms)
{
	worker_t *w = &self->w[k];
	char idx[INT_STR_BYTES], fdstr[INT_STR_BYTES];
	char *argv[] = { self->exe, "--config", self->config, "--worker", idx, NULL, NULL, NULL };
	int pfd[2] = { -1, -1 };
	pid_t parent = getpid(), pid;
	sigset_t none;

	snprintf(idx, sizeof(idx), "%u", k);
	if (with_ready) {
		if (pipe2(pfd, O_CLOEXEC) < 0)
			return -errno;
		snprintf(fdstr, sizeof(fdstr), "%d", pfd[1]);
		argv[5] = "--ready-fd";
		argv[6] = fdstr;
	}
	sigemptyset(&none);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		if (with_ready) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -e;
	}
	if (pid == 0) {
		/* Child: async-signal-safe calls only until exec. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(127);
		if (with_ready && fcntl(pfd[1], F_SETFD, 0) < 0)
			_exit(127);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(self->exe, argv);
		_exit(127);
	}
	if (with_ready) {
		close(pfd[1]);
		w->ready_fd = pfd[0];
	}
	w->pid = pid;
	w->started_ms = now_ms;
	w->state = with_ready ? WORKER_STARTING : WORKER_RUNNING;
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Worker started", FLOE_F_U64("worker", k), FLOE_F_I64("pid", pid));
	return 0;
}

static void close_ready(worker_t *w)
{
	if (w->ready_fd >= 0)
		close(w->ready_fd);
	w->ready_fd = -1;
}

/* Waits for every STARTING worker's byte (or EOF) until the deadline. */
static int wait_ready(floe_workers_t *self, uint64_t deadline_ms)
{
	struct pollfd *pfd = calloc(self->n, sizeof(*pfd));
	int r = 0;

	if (!pfd)
		return -ENOMEM;
	for (;;) {
		unsigned waiting = 0;
		uint64_t now = mono_ms();

		for (unsigned k = 0; k < self->n; k++) {
			pfd[k] = (struct pollfd){ .fd = self->w[k].ready_fd, .events = POLLIN };
			waiting += self->w[k].state == WORKER_STARTING;
		}
		if (!waiting)
			break;
		if (now >= deadline_ms) {
			r = -ETIMEDOUT;
			break;
		}
		if (poll(pfd, self->n, (int)(deadline_ms - now)) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		for (unsigned k = 0; k < self->n; k++) {
			worker_t *w = &self->w[k];
			char b;
			ssize_t got;

			if (w->state != WORKER_STARTING || !(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			got = read(w->ready_fd, &b, 1);
			if (got < 0 && errno == EINTR)
				continue;
			close_ready(w);
			if (got != 1) {
				floe_log(FLOE_LOG_ERROR, LOG_TARGET, "Worker failed to start", FLOE_F_U64("worker", k));
				r = -ECHILD;
				goto out;
			}
			w->state = WORKER_RUNNING;
		}
	}
out:
	free(pfd);
	return r;
}

/* SIGTERM to every running worker, wait up to the bound, then SIGKILL. */
static void stop_all(floe_workers_t *self)
{
	uint64_t deadline = mono_ms() + FLOE_WORKERS_STOP_TIMEOUT_MS;
	bool killed = false;

	for (unsigned k = 0; k < self->n; k++) {
		close_ready(&self->w[k]);
		if (self->w[k].pid > 0)
			kill(self->w[k].pid, SIGTERM);
	}
	for (;;) {
		unsigned left = 0;

		for (unsigned k = 0; k < self->n; k++) {
			worker_t *w = &self->w[k];

			if (w->pid <= 0)
				continue;
			pid_t got = waitpid(w->pid, NULL, WNOHANG);

			/* ECHILD: already collected (by floe_workers_reap) */
			if (got == w->pid || (got < 0 && errno == ECHILD)) {
				w->pid = 0;
				w->state = WORKER_DOWN;
				continue;
			}
			left++;
		}
		if (!left)
			return;
		if (!killed && mono_ms() >= deadline) {
			floe_log(FLOE_LOG_WARNING, LOG_TARGET, "Workers did not stop in time: SIGKILL",
				 FLOE_F_U64("left", left));
			for (unsigned k = 0; k < self->n; k++) {
				if (self->w[k].pid > 0)
					kill(self->w[k].pid, SIGKILL);
			}
			killed = true;
		}
		usleep(FLOE_WORKERS_STOP_POLL_MS * 1000);
	}
}

void floe_workers_destroy(floe_workers_t **self_p)
{
	floe_workers_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	if (self->w)
		stop_all(self);
	free(self->w);
	free(self->exe);
	free(self->config);
	free(self);
	*self_p = NULL;
}

int floe_workers_start(floe_workers_t *self, uint64_t now_ms)
{
	int r = 0;

	if (!self)
		return -EINVAL;
	for (unsigned k = 0; k < self->n && r == 0; k++)
		r = spawn(self, k, true, now_ms);
	if (r == 0)
		r = wait_ready(self, mono_ms() + FLOE_WORKERS_READY_TIMEOUT_MS);
	if (r < 0)
		stop_all(self);
	return r;
}

int floe_workers_reap(floe_workers_t *self, uint64_t now_ms)
{
	int n = 0, status;
	pid_t pid;

	if (!self)
		return -EINVAL;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (unsigned k = 0; k < self->n; k++) {
			worker_t *w = &self->w[k];

			if (w->pid != pid)
				continue;
			close_ready(w);
			/* A worker that ran a while earned a quick restart. */
			if (now_ms - w->started_ms >= FLOE_WORKERS_STABLE_MS)
				w->backoff_ms = FLOE_WORKERS_BACKOFF_MIN_MS;
			w->pid = 0;
			w->state = WORKER_DOWN;
			w->restart_at_ms = now_ms + w->backoff_ms;
			floe_log(FLOE_LOG_WARNING, LOG_TARGET, "Worker exited, restarting", FLOE_F_U64("worker", k),
				 FLOE_F_I64("pid", pid),
				 FLOE_F_I64(WIFSIGNALED(status) ? "signal" : "status",
					    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)),
				 FLOE_F_U64("in_ms", w->backoff_ms));
			w->backoff_ms *= 2;
			if (w->backoff_ms > FLOE_WORKERS_BACKOFF_MAX_MS)
				w->backoff_ms = FLOE_WORKERS_BACKOFF_MAX_MS;
			n++;
		}
	}
	return n;
}

int floe_workers_tick(floe_workers_t *self, uint64_t now_ms)
{
	int r = 0;

	if (!self)
		return -EINVAL;
	for (unsigned k = 0; k < self->n; k++) {
		worker_t *w = &self->w[k];
		int e;

		if (w->state != WORKER_DOWN || now_ms < w->restart_at_ms)
			continue;
		e = spawn(self, k, false, now_ms);
		if (e < 0) {
			r = e;
			w->restart_at_ms = now_ms + w->backoff_ms;
			floe_log(FLOE_LOG_ERROR, LOG_TARGET, "Cannot restart worker", FLOE_F_U64("worker", k),
				 FLOE_F_STR("error", strerror(-e)));
			continue;
		}
		self->restarts++;
	}
	return r;
}

uint64_t floe_workers_next_deadline_ms(const floe_workers_t *self)
{
	uint64_t next = UINT64_MAX;

	for (unsigned k = 0; self && k < self->n; k++) {
		if (self->w[k].state == WORKER_DOWN && self->w[k].restart_at_ms < next)
			next = self->w[k].restart_at_ms;
	}
	return next;
}

unsigned floe_workers_count(const floe_workers_t *self)
{
	return self ? self->n : 0;
}

pid_t floe_workers_pid(const floe_workers_t *self, unsigned k)
{
	return self && k < self->n ? self->w[k].pid : 0;
}

uint64_t floe_workers_restarts(const floe_workers_t *self)
{
	return self ? self->restarts : 0;
}
