/*
 * bench_loadgen's daemon side (included by bench/loadgen.c only; a header
 * because every bench/<name>.c is a program of its own): the portal's and
 * the gateway's configurations and keys, starting and stopping them, the
 * gateway's cost over its process tree, and its own view (floectl show).
 * Failures of the bench's own steps end it (DIE): it is a measurement.
 */
#ifndef FLOE_BENCH_LOADGEN_DAEMONS_H
#define FLOE_BENCH_LOADGEN_DAEMONS_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <floe/floe.h>

#include "bench/common.h"
#include "bench/procstat.h"

enum {
	DAEMON_STOP_TIMEOUT_MS = 60000, /* 10,000 connections take a while to close */
	LOG_TAIL_LINES = 5,
	PATH_BYTES = 512,
	TREE_MAX_PROCS = 256,           /* the gateway's parent and workers (at most 64) */
	VIEW_TRIES = 5,                 /* a worker's show, on a saturated machine */
	VIEW_RETRY_MS = 500,
};

/* The gateway's counters the generator reports (where packets went missing). */
static const char *const gw_counters[] = { "mailbox_drops", "dropped_not_nominated", "acl_drops",
					   "decrypt_errors", "handshakes_completed" };
enum { N_GW_COUNTERS = sizeof(gw_counters) / sizeof(gw_counters[0]) };

typedef struct {
	long connected;              /* connected or idle; -1: a worker never answered */
	long long counters[N_GW_COUNTERS];
} gw_view_t;

static const char PORTAL_EP[] = "tcp://127.0.0.1:7400";
static const char RESOURCE_IP[] = "10.99.0.1";
static const char GATEWAY_TUN_IP[] = "100.64.0.1";

/* Client i's tunnel address: 100.64.0.2 upwards (the gateway is .0.1). */
static uint32_t s_client_ip(size_t i)
{
	return htonl((100u << 24 | 64u << 16) + 2u + (uint32_t)i);
}

typedef struct {
	long procs, fds, threads, rss_kib;
	long long cpu_ticks;
} tree_t;

/* /proc/<pid>/stat: ppid (field 4) and utime + stime (14, 15). */
static bool s_stat(int pid, int *ppid, long long *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, stt;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = '\0';
	/* The command may hold spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", ppid, &ut, &stt) != 3)
		return false;
	*ticks = (long long)(ut + stt);
	return true;
}

/* The gateway's cost: its process and every descendant (its workers). */
static tree_t s_tree(int root)
{
	tree_t t = { 0 };
	int pids[TREE_MAX_PROCS], n = 0;
	DIR *d;
	struct dirent *de;

	pids[n++] = root;
	/* Children appear after their parent in a breadth-first pass. */
	for (int i = 0; i < n; i++) {
		d = opendir("/proc");
		if (!d)
			break;
		while ((de = readdir(d)) && n < (int)(sizeof(pids) / sizeof(pids[0]))) {
			int pid = atoi(de->d_name), ppid;
			long long ticks;

			if (pid > 0 && s_stat(pid, &ppid, &ticks) && ppid == pids[i])
				pids[n++] = pid;
		}
		closedir(d);
	}
	for (int i = 0; i < n; i++) {
		int ppid;
		long long ticks;

		if (!s_stat(pids[i], &ppid, &ticks))
			continue;
		t.procs++;
		t.fds += floe_procstat_fds(pids[i]);
		t.threads += floe_procstat_threads(pids[i]);
		t.rss_kib += floe_procstat_rss_kib(pids[i]);
		t.cpu_ticks += ticks;
	}
	return t;
}

static pid_t s_spawn(const char *bin_dir, const char *prog, const char *dir)
{
	char exe[PATH_BYTES], conf[PATH_BYTES], log[PATH_BYTES];
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/%s", bin_dir, prog);
	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, prog);
	snprintf(log, sizeof(log), "%s/%s.log", dir, prog);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		BENCH_DIE("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		/* The daemon must not outlive the generator (timeout, kill). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		setenv("FLOE_LOG", getenv("FLOE_LOG") ? getenv("FLOE_LOG") : "warning", 1);
		execl(exe, prog, "--config", conf, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* SIGTERM, then SIGKILL after DAEMON_STOP_TIMEOUT_MS. Its exit status. */
static int s_stop(pid_t pid)
{
	uint64_t deadline = bench_now_ms() + DAEMON_STOP_TIMEOUT_MS;
	int st = 0;

	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (bench_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(20000);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void s_tail(const char *dir, const char *name)
{
	char path[PATH_BYTES], lines[LOG_TAIL_LINES][512], buf[512];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.log", dir, name);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(buf, sizeof(buf), f))
		snprintf(lines[n++ % LOG_TAIL_LINES], sizeof(lines[0]), "%s", buf);
	fclose(f);
	for (size_t i = n > LOG_TAIL_LINES ? n - LOG_TAIL_LINES : 0; i < n; i++)
		fprintf(stderr, "bench_loadgen: %s: %s", name, lines[i % LOG_TAIL_LINES]);
}

static void s_write_key(const char *dir, const char *name, const uint8_t key[FLOE_KEY_LEN])
{
	char path[PATH_BYTES], b64[FLOE_KEY_B64_LEN + 1];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	floe_key_to_base64(b64, key);
	f = fopen(path, "wxe");
	if (!f || fprintf(f, "%s\n", b64) < 0 || fclose(f) != 0)
		BENCH_DIE("cannot write %s", path);
	sodium_memzero(b64, sizeof(b64));
}

static FILE *s_conf(const char *dir, const char *name)
{
	char path[PATH_BYTES];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	f = fopen(path, "wxe");
	if (!f)
		BENCH_DIE("cannot write %s: %s", path, strerror(errno));
	return f;
}

static void s_closeconf(FILE *f)
{
	if (ferror(f) || fclose(f) != 0)
		BENCH_DIE("cannot write a configuration file");
}

static void s_write_confs(const char *dir, size_t n, const uint8_t *client_keys, const uint8_t gw_pub[FLOE_KEY_LEN],
			  const uint8_t portal_pub[FLOE_KEY_LEN], unsigned gw_workers)
{
	char b64[FLOE_KEY_B64_LEN + 1], ip[INET_ADDRSTRLEN];
	uint8_t pub[FLOE_KEY_LEN];
	FILE *f = s_conf(dir, "floe-portal");

	floe_key_to_base64(b64, gw_pub);
	fprintf(f, "[Portal]\nListenAddress = %s\nPrivateKeyFile = %s/portal.key\n\n", PORTAL_EP, dir);
	fprintf(f, "[Resource echo]\nCIDR = %s/32\n\n", RESOURCE_IP);
	fprintf(f, "[Gateway gw]\nPublicKey = %s\nResources = echo\nTunnelIPv4 = %s\n\n", b64, GATEWAY_TUN_IP);
	for (size_t i = 0; i < n; i++) {
		uint32_t a = s_client_ip(i);

		if (floe_key_public(pub, client_keys + i * FLOE_KEY_LEN) != 0)
			BENCH_DIE("floe_key_public");
		floe_key_to_base64(b64, pub);
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		fprintf(f, "[Client c%zu]\nPublicKey = %s\nTunnelIPv4 = %s\n\n", i, b64, ip);
		fprintf(f, "[Grant g%zu]\nClient = c%zu\nResource = echo\n\n", i, i);
	}
	s_closeconf(f);

	f = s_conf(dir, "floe-gateway");
	floe_key_to_base64(b64, portal_pub);
	fprintf(f, "[Interface]\nPrivateKeyFile = %s/gateway.key\nName = floelg0\nAddress = %s/32\n"
		   "Route = 100.64.0.0/10\n\n", dir, GATEWAY_TUN_IP);
	fprintf(f, "[Portal]\nEndpoint = %s\nPublicKey = %s\n\n", PORTAL_EP, b64);
	fprintf(f, "[ICE]\nLocalAddress = 127.0.0.1\n\n[Control]\nSocket = %s/gateway.sock\n", dir);
	/* Only when asked: a gateway without sharding knows no [Gateway]. */
	if (gw_workers > 1)
		fprintf(f, "\n[Gateway]\nWorkers = %u\n", gw_workers);
	s_closeconf(f);
}

/* The namespace's loopback up and the resource's address on it. */
static void s_netns(void)
{
	char cmd[256];

	if (unshare(CLONE_NEWNET) != 0)
		BENCH_DIE("unshare(CLONE_NEWNET): %s", strerror(errno));
	snprintf(cmd, sizeof(cmd), "ip link set lo up && ip addr add %s/32 dev lo", RESOURCE_IP);
	if (system(cmd) != 0)
		BENCH_DIE("'%s' failed", cmd);
}

/* A command's output (malloc'd, NUL-terminated) when it exits 0; else NULL. */
static char *s_run(const char *cmd)
{
	FILE *p = popen(cmd, "re");
	size_t len = 0, cap = 65536, r;
	char *out = malloc(cap), *grown;

	if (!p || !out)
		goto fail;
	while ((r = fread(out + len, 1, cap - 1 - len, p)) > 0) {
		len += r;
		if (cap - 1 - len == 0) {
			grown = realloc(out, cap * 2);
			if (!grown)
				goto fail;
			out = grown, cap *= 2;
		}
	}
	out[len] = '\0';
	if (pclose(p) != 0) {
		free(out);
		return NULL;
	}
	return out;
fail:
	if (p)
		pclose(p);
	free(out);
	return NULL;
}

static bool s_portal_listening(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(7400) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* floectl show --json from a control socket (dir/sock), or NULL. */
static char *s_gateway_show(const char *bin_dir, const char *dir, const char *sock)
{
	char cmd[3 * PATH_BYTES];

	snprintf(cmd, sizeof(cmd), "'%s/floectl' show --json --socket '%s/%s' 2>/dev/null", bin_dir, dir, sock);
	return s_run(cmd);
}

/* Connections shown as connected or idle (connected, no data for a
 * while: what most are between two packets at a low rate); -1 without a
 * document. */
static long s_show_connected(const char *show)
{
	const char *p;
	long n = 0;

	if (!show)
		return -1;
	for (p = show; (p = strstr(p, "\"state\"")); ) {
		p += strlen("\"state\"");
		p += strspn(p, ": ");
		n += !strncmp(p, "\"connected\"", strlen("\"connected\"")) ||
		     !strncmp(p, "\"idle\"", strlen("\"idle\""));
	}
	return n;
}

/* A counter of the gateway's totals; -1 when absent. */
static long long s_show_total(const char *show, const char *counter)
{
	char key[64];
	const char *p = show ? strstr(show, "\"totals\"") : NULL;

	snprintf(key, sizeof(key), "\"%s\"", counter);
	p = p ? strstr(p, key) : NULL;
	if (!p)
		return -1;
	p += strlen(key);
	p += strspn(p, ": ");
	return atoll(p);
}

/*
 * The gateway's own view, summed over its workers' control sockets
 * (<Socket>.wK) one at a time, each tried VIEW_TRIES times: the parent's
 * fan-out leaves out a worker that does not answer within the control
 * socket's 1 s, which workers of 3,333 connections on a saturated machine
 * did (the 10,000 run's first count was 181). One process: its socket.
 */
static gw_view_t s_gateway_view(const char *bin_dir, const char *dir, unsigned workers)
{
	gw_view_t v = { 0 };
	char sock[64];

	for (unsigned k = 0; k < workers; k++) {
		char *show = NULL;

		if (workers > 1)
			snprintf(sock, sizeof(sock), "gateway.sock.w%u", k);
		else
			snprintf(sock, sizeof(sock), "gateway.sock");
		for (int t = 0; t < VIEW_TRIES && !show; t++) {
			if (t)
				usleep(VIEW_RETRY_MS * 1000);
			show = s_gateway_show(bin_dir, dir, sock);
		}
		if (!show) {
			fprintf(stderr, "bench_loadgen: %s did not answer show\n", sock);
			v.connected = -1;
			continue;
		}
		if (v.connected >= 0)
			v.connected += s_show_connected(show);
		for (size_t i = 0; i < N_GW_COUNTERS; i++) {
			long long c = s_show_total(show, gw_counters[i]);

			/* Absent in one worker: unknown in all (-1). */
			v.counters[i] = c < 0 || v.counters[i] < 0 ? -1 : v.counters[i] + c;
		}
		free(show);
	}
	return v;
}

#endif
