/* workers: K processes of a stand-in program (a bash script that says
 * ready, or fails, or sleeps), readiness, a worker killed and restarted after
 * its back-off, a worker that fails to start, and a clean stop. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemons/common/workers.h"

static char dir[] = "/tmp/h21-workers-XXXXXX";
static char exe[128];

/* argv: --config C --worker K [--ready-fd N]. Config "fail" exits at once;
 * "fail1" only as worker 1; else ready, then sleep. */
static const char script[] = "#!/bin/bash\n"
			     "[[ $2 == fail || ( $2 == fail1 && $4 == 1 ) ]] && exit 3\n"
			     "[[ $5 == --ready-fd ]] && { printf 1 >&\"$6\"; eval \"exec $6>&-\"; }\n"
			     "exec sleep 30\n";

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void setup(void)
{
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(exe, sizeof(exe), "%s/fake-gateway", dir);
	f = fopen(exe, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(script, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(exe, 0700), 0);
	/* SIGCHLD stays default: the test polls floe_workers_reap */
}

static void teardown(void)
{
	unlink(exe);
	rmdir(dir);
}

TestSuite(workers, .init = setup, .fini = teardown, .timeout = 30);

static bool alive(pid_t p)
{
	return p > 0 && kill(p, 0) == 0;
}

Test(workers, bad_arguments)
{
	cr_assert_null(floe_workers_new(exe, "c", 0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(floe_workers_new(NULL, "c", 1));
	cr_assert_null(floe_workers_new(exe, NULL, 1));
	cr_assert_eq(floe_workers_start(NULL, 0), -EINVAL);
	cr_assert_eq(floe_workers_reap(NULL, 0), -EINVAL);
	cr_assert_eq(floe_workers_pid(NULL, 0), 0);
	floe_workers_destroy(NULL);
}

Test(workers, start_kill_restart_stop)
{
	floe_workers_t *w = floe_workers_new(exe, "ok", 3);
	pid_t pids[3], old, fresh;
	uint64_t t0, due;
	int reaped = 0;

	cr_assert_not_null(w);
	cr_assert_eq(floe_workers_count(w), 3);
	cr_assert_eq(floe_workers_start(w, mono_ms()), 0);
	for (unsigned k = 0; k < 3; k++) {
		pids[k] = floe_workers_pid(w, k);
		cr_assert(alive(pids[k]), "worker %u", k);
		for (unsigned j = 0; j < k; j++)
			cr_assert_neq(pids[j], pids[k]);
	}
	cr_assert_eq(floe_workers_next_deadline_ms(w), UINT64_MAX, "all running");

	old = pids[1];
	cr_assert_eq(kill(old, SIGKILL), 0);
	t0 = mono_ms();
	while (!reaped && mono_ms() - t0 < 5000) {
		reaped = floe_workers_reap(w, mono_ms());
		usleep(10000);
	}
	cr_assert_eq(reaped, 1);
	cr_assert_eq(floe_workers_pid(w, 1), 0, "down");
	cr_assert(alive(pids[0]) && alive(pids[2]), "the others run on");
	due = floe_workers_next_deadline_ms(w);
	cr_assert(due >= t0 + FLOE_WORKERS_BACKOFF_MIN_MS && due <= mono_ms() + FLOE_WORKERS_BACKOFF_MIN_MS,
		  "restart due in the first back-off");
	cr_assert_eq(floe_workers_tick(w, due - 1), 0);
	cr_assert_eq(floe_workers_pid(w, 1), 0, "not before its back-off");
	cr_assert_eq(floe_workers_tick(w, due), 0);
	fresh = floe_workers_pid(w, 1);
	cr_assert(alive(fresh) && fresh != old, "restarted");
	cr_assert_eq(floe_workers_restarts(w), 1);

	/* dies again soon: the back-off doubles */
	cr_assert_eq(kill(fresh, SIGKILL), 0);
	reaped = 0;
	t0 = mono_ms();
	while (!reaped && mono_ms() - t0 < 5000) {
		reaped = floe_workers_reap(w, due + 100);
		usleep(10000);
	}
	cr_assert_eq(reaped, 1);
	cr_assert_eq(floe_workers_next_deadline_ms(w), due + 100 + 2 * FLOE_WORKERS_BACKOFF_MIN_MS);

	floe_workers_destroy(&w);
	cr_assert_null(w);
	for (unsigned k = 0; k < 3; k++)
		cr_assert_not(alive(pids[k]), "worker %u outlived destroy", k);
	floe_workers_destroy(&w);
}

Test(workers, a_worker_that_fails_to_start_fails_the_start)
{
	floe_workers_t *w = floe_workers_new(exe, "fail1", 3);
	pid_t p0;

	cr_assert_not_null(w);
	cr_assert_eq(floe_workers_start(w, mono_ms()), -ECHILD);
	p0 = floe_workers_pid(w, 0);
	cr_assert_eq(p0, 0, "the others were stopped");
	cr_assert_eq(floe_workers_pid(w, 2), 0);
	floe_workers_destroy(&w);

	w = floe_workers_new(exe, "fail", 1);
	cr_assert_eq(floe_workers_start(w, mono_ms()), -ECHILD);
	floe_workers_destroy(&w);
}
