/*
 * In-process load generator: N simulated clients against one gateway node
 * in this process, no daemons, no portal (the baseline for what
 * floe-gateway and floe-portal add; bench/loadgen.c is the real one).
 *
 *   bench_loadgen_inproc [--short] [--n N] [--duration-s S] [--rate-pps R] [--setup-timeout-s T]
 *
 * The gateway is a floe node (userspace device) in this process; its
 * device side echoes every packet back (source and destination swapped)
 * and counts it. The clients are real client nodes — each its own node,
 * connection actor, ICE agent and WireGuard session — in worker processes
 * forked before any thread exists (a client node costs ~20 fds, so one
 * process holds at most CLIENTS_PER_WORKER of them; the gateway process's
 * fds are then all the gateway's, and its RSS, fds and threads per
 * connection are read from /proc without the clients in them).
 * Signalling is the application's (floe_node_peer_*): text lines over one
 * socketpair per worker, carried by this process to the gateway node.
 *
 * The daemons are not in the loop (no floe-gateway, no floe-portal: the
 * portal's flow and grant steps are skipped), and one gateway process
 * holds at most ~4,900 connections (docs/perf.md "Scale"), so N is capped
 * at MAX_CONNS.
 *
 * Phases: set-up (all clients created, signalled, ESTABLISHED counted at
 * the clients), then traffic for --duration-s: every client sends R
 * packets/s of PKT_BYTES to the gateway, which echoes them (R = 0: none,
 * to measure established connections at rest); then
 * DRAIN_MS for echoes in flight, so loss counts only lost ones. Output, one
 * line, key=value with units in the key names (for scripts/bench):
 *
 *   loadgen_inproc n=... established=... setup_s=... setup_per_s=... time_to_all_connected_ms=...
 *     echo_pps=... echo_mbit_s=... client_rx_pps=... loss_pct=... gw_fds=... gw_fds_per_conn=...
 *     gw_threads_per_conn=... gw_rss_kib=... gw_rss_kib_per_conn=... gw_cpu_pct=... errors=...
 *
 * Exit 1 when any client failed to connect or a step failed; 0 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <floe/floe.h>

#include "bench/common.h"
#include "bench/procstat.h"

enum {
	MAX_CONNS = 4800,            /* one gateway process: 4 fds each under 20,000 */
	CLIENTS_PER_WORKER = 600,    /* ~20 fds per client node, and set-up spread over cores */
	MAX_WORKERS = (MAX_CONNS + CLIENTS_PER_WORKER - 1) / CLIENTS_PER_WORKER,
	DEFAULT_N = 200,
	SHORT_N = 20,
	DEFAULT_DURATION_S = 10,
	SHORT_DURATION_S = 2,
	DEFAULT_RATE_PPS = 1,
	SHORT_RATE_PPS = 10,
	MAX_RATE_PPS = 100,
	SEND_SLOTS = 10,             /* each send interval in 10 slices (see s_worker_send) */
	DEFAULT_SETUP_TIMEOUT_S = 120,
	ICE_FAILURE_TIMEOUT_MS = 60000,
	PKT_BYTES = 64,              /* IPv4 20 + UDP 8 + sequence and padding */
	LINE_BYTES = 1024,
	IO_BYTES = 65536,
	TICK_MS = 10,
	DRAIN_MS = 500,              /* after traffic stops: echoes still in flight */
	INFLIGHT_PER_WORKER = 64,    /* client set-ups in flight per worker */
	FAILURES_SHOWN = 3,          /* failure reasons printed per process */
	PROGRESS_MS = 5000,          /* a progress line on stderr during set-up */
};

static const char *const loopback[] = { "127.0.0.1" };
static const char GW_IP[] = "10.0.0.1";

/* Client i's tunnel address: 100.64.0.0/10, one /32 each. */
static void s_client_ip(size_t i, char *out, size_t cap)
{
	snprintf(out, cap, "100.%zu.%zu.%zu", 64 + ((i + 2) >> 16), ((i + 2) >> 8) & 0xff, (i + 2) & 0xff);
}

/* ---- line I/O over a socketpair ---------------------------------------- */

/*
 * Both ends write without blocking into an output buffer that their poll
 * loop flushes: two processes each blocked writing to the other, with
 * both socket buffers full, would otherwise deadlock.
 */
typedef struct {
	int fd;
	char in[IO_BYTES];
	size_t in_len;
	char *out;
	size_t out_len, out_cap;
	bool dead;                   /* the other process went away: output is dropped */
} chan_t;

/* Writes what the socket takes now. */
static void s_flush(chan_t *c)
{
	size_t off = 0;

	while (off < c->out_len) {
		ssize_t w = write(c->fd, c->out + off, c->out_len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			/* Its exit status tells why (reported at the end). */
			c->dead = true;
			off = c->out_len;
			break;
		}
		off += (size_t)w;
	}
	c->out_len -= off;
	memmove(c->out, c->out + off, c->out_len);
}

static void s_send_line(chan_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_send_line(chan_t *c, const char *fmt, ...)
{
	char line[LINE_BYTES + 64];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line) - 1)
		BENCH_DIE("signalling line too long");
	line[len++] = '\n';
	if (c->out_len + (size_t)len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap * 2 : IO_BYTES;
		char *grown;

		while (cap < c->out_len + (size_t)len)
			cap *= 2;
		grown = realloc(c->out, cap);
		if (!grown)
			BENCH_DIE("out of memory");
		c->out = grown;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, (size_t)len);
	c->out_len += (size_t)len;
	s_flush(c);
}

/* Reads what is there; calls fn for each complete line. false on EOF. */
static bool s_read_lines(chan_t *c, void (*fn)(void *, char *), void *arg)
{
	ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	char *start, *nl;

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (r <= 0)
		return false;
	c->in_len += (size_t)r;
	start = c->in;
	while ((nl = memchr(start, '\n', c->in_len - (size_t)(start - c->in)))) {
		*nl = '\0';
		fn(arg, start);
		start = nl + 1;
	}
	c->in_len -= (size_t)(start - c->in);
	memmove(c->in, start, c->in_len);
	if (c->in_len == sizeof(c->in))
		BENCH_DIE("signalling line longer than the buffer");
	return true;
}

/* The application's signalling, as lines: "<kind> <index> <rest>". */
static void s_forward_event(chan_t *c, size_t idx, const floe_event_t *ev)
{
	switch (ev->type) {
	case FLOE_EVENT_LOCAL_CREDENTIALS:
		s_send_line(c, "C %zu %s %s", idx, ev->ufrag, ev->pwd);
		break;
	case FLOE_EVENT_LOCAL_CANDIDATE:
		s_send_line(c, "K %zu %s", idx, ev->text);
		break;
	case FLOE_EVENT_GATHERING_DONE:
		s_send_line(c, "D %zu", idx);
		break;
	default:
		break;
	}
}

/* Hands a "C/K/D" line's content to node peer id. 0 or -errno. */
static int s_apply_signal(floe_node_t *node, uint64_t id, char kind, char *rest)
{
	char *pwd;

	switch (kind) {
	case 'C':
		pwd = strchr(rest, ' ');
		if (!pwd)
			return -EINVAL;
		*pwd++ = '\0';
		return floe_node_peer_remote_credentials(node, id, rest, pwd);
	case 'K':
		return floe_node_peer_remote_candidate(node, id, rest);
	case 'D':
		return floe_node_peer_remote_gathering_done(node, id);
	default:
		return -EINVAL;
	}
}

/* Splits "<kind> <index>[ <rest>]". */
static bool s_parse(char *line, char *kind, size_t *idx, char **rest)
{
	char *end;

	if (!line[0] || line[1] != ' ')
		return false;
	*kind = line[0];
	*idx = strtoul(line + 2, &end, 10);
	if (end == line + 2)
		return false;
	*rest = *end == ' ' ? end + 1 : end;
	return true;
}

static floe_node_t *s_node(floe_role_t role, const uint8_t sec[FLOE_KEY_LEN])
{
	char err[FLOE_NODE_ERR_BYTES];
	floe_node_config_t cfg = {
		.role = role,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = ICE_FAILURE_TIMEOUT_MS,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	floe_node_t *n;

	memcpy(cfg.private_key, sec, FLOE_KEY_LEN);
	n = floe_node_new(&cfg, err, sizeof(err));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	if (!n)
		BENCH_DIE("floe_node_new: %s", err);
	return n;
}

/* ---- a worker: the clients ---------------------------------------------- */

typedef struct {
	chan_t chan;
	size_t first, count;
	floe_node_t **nodes;
	uint64_t *ids;
	uint32_t rate_pps;
	bool traffic, quit;
	size_t created, settled;     /* clients started; established or failed */
	size_t failed_shown;
	uint64_t tx, rx, tx_drops;
} worker_t;

static void s_worker_line(void *arg, char *line)
{
	worker_t *w = arg;
	char kind, *rest;
	size_t i;

	if (line[0] == 'T') {
		w->traffic = true;
		return;
	}
	if (line[0] == 'H') {
		w->traffic = false;
		return;
	}
	if (line[0] == 'Q') {
		w->quit = true;
		return;
	}
	if (!s_parse(line, &kind, &i, &rest) || i < w->first || i >= w->first + w->count)
		BENCH_DIE("worker: bad line from the gateway side: %.40s", line);
	/* A refusal (a candidate after nomination) is the connection's business. */
	(void)s_apply_signal(w->nodes[i - w->first], w->ids[i - w->first], kind, rest);
}

static void s_worker_events(worker_t *w, size_t k)
{
	floe_event_t ev;

	while (floe_node_event_next(w->nodes[k], &ev) == 0) {
		if (ev.type == FLOE_EVENT_FAILED && w->failed_shown++ < FAILURES_SHOWN)
			fprintf(stderr, "bench_loadgen_inproc: client %zu failed: %s\n", w->first + k, ev.text);
		if (ev.type == FLOE_EVENT_ESTABLISHED || ev.type == FLOE_EVENT_FAILED) {
			s_send_line(&w->chan, "%c %zu", ev.type == FLOE_EVENT_FAILED ? 'F' : 'E', w->first + k);
			w->settled++;
		}
		else
			s_forward_event(&w->chan, w->first + k, &ev);
	}
	sodium_memzero(&ev, sizeof(ev));
}

/* One slot's clients send a packet each: slot s of SEND_SLOTS holds the
 * clients k with k % SEND_SLOTS == s, so a worker's packets are spread
 * over the interval instead of arriving at the gateway in one burst. */
static void s_worker_send(worker_t *w, size_t slot)
{
	uint8_t pkt[PKT_BYTES] = { 0x45, 0, 0, PKT_BYTES, [8] = 64, [9] = 17 };
	char ip[32];

	inet_pton(AF_INET, GW_IP, pkt + 16);
	for (size_t k = slot; k < w->created; k += SEND_SLOTS) {
		s_client_ip(w->first + k, ip, sizeof(ip));
		inet_pton(AF_INET, ip, pkt + 12);
		memcpy(pkt + 28, &w->tx, sizeof(w->tx));
		if (floe_node_device_write(w->nodes[k], pkt, sizeof(pkt)) == 0)
			w->tx++;
		else
			w->tx_drops++;
	}
}

/* One more client: its node, its peer (the gateway), its key to the gateway side. */
static void s_worker_add(worker_t *w, const uint8_t gw_pub[FLOE_KEY_LEN])
{
	static const char *const gw_allowed[] = { "10.0.0.1/32" };
	floe_peer_config_t peer = { .allowed_ips = gw_allowed, .n_allowed_ips = 1 };
	uint8_t sec[FLOE_KEY_LEN], pub[FLOE_KEY_LEN];
	char b64[FLOE_KEY_B64_LEN + 1];
	size_t k = w->created++;

	floe_key_generate(sec);
	if (floe_key_public(pub, sec) != 0)
		BENCH_DIE("worker: floe_key_public");
	w->nodes[k] = s_node(FLOE_ROLE_CLIENT, sec);
	sodium_memzero(sec, sizeof(sec));
	floe_key_to_base64(b64, pub);
	/* The gateway must know the client before its signalling arrives. */
	s_send_line(&w->chan, "P %zu %s", w->first + k, b64);
	memcpy(peer.public_key, gw_pub, FLOE_KEY_LEN);
	if (floe_node_peer_add(w->nodes[k], &peer, &w->ids[k]) != 0)
		BENCH_DIE("worker: floe_node_peer_add");
	s_worker_events(w, k);
}

static int s_worker(int fd, size_t first, size_t count, const uint8_t gw_pub[FLOE_KEY_LEN], uint32_t rate_pps)
{
	worker_t w = { .chan = { .fd = fd }, .first = first, .count = count, .rate_pps = rate_pps };
	struct pollfd *pfd = calloc(1 + 2 * count, sizeof(*pfd));
	uint64_t next_send = 0;
	size_t slot = 0;
	uint8_t buf[FLOE_NODE_MAX_PACKET_BYTES];

	w.nodes = calloc(count, sizeof(*w.nodes));
	w.ids = calloc(count, sizeof(*w.ids));
	if (!pfd || !w.nodes || !w.ids)
		BENCH_DIE("worker: out of memory");
	for (size_t i = 0; i < 1 + 2 * count; i++)
		pfd[i].fd = -1; /* clients not created yet: poll skips them */
	floe_log_set_level(FLOE_LOG_ERROR);
	while (!w.quit) {
		uint64_t now = bench_now_ms();
		int timeout = -1;

		/* A bounded number of set-ups in flight: thousands of ICE
		 * checklists at once on two cores would time each other out. */
		while (w.created < count && w.created - w.settled < INFLIGHT_PER_WORKER)
			s_worker_add(&w, gw_pub);
		pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN | (w.chan.out_len ? POLLOUT : 0) };
		for (size_t k = 0; k < w.created; k++) {
			pfd[1 + k] = (struct pollfd){ .fd = floe_node_event_fd(w.nodes[k]), .events = POLLIN };
			pfd[1 + count + k] = (struct pollfd){ .fd = floe_node_device_fd(w.nodes[k]), .events = POLLIN };
		}
		if (w.traffic) {
			if (!next_send)
				next_send = now;
			timeout = next_send > now ? (int)(next_send - now) : 0;
		}
		if (poll(pfd, 1 + 2 * count, timeout) < 0 && errno != EINTR)
			BENCH_DIE("worker: poll: %s", strerror(errno));
		if (pfd[0].revents & POLLOUT)
			s_flush(&w.chan);
		if ((pfd[0].revents & (POLLIN | POLLHUP)) && !s_read_lines(&w.chan, s_worker_line, &w))
			break;
		for (size_t k = 0; k < w.created; k++) {
			if (pfd[1 + k].revents & POLLIN)
				s_worker_events(&w, k);
			if (pfd[1 + count + k].revents & POLLIN)
				while (floe_node_device_read(w.nodes[k], buf, sizeof(buf), 0) > 0)
					w.rx++;
		}
		if (w.traffic && !next_send)
			next_send = bench_now_ms(); /* traffic just began */
		if (w.traffic && bench_now_ms() >= next_send) {
			s_worker_send(&w, slot);
			slot = (slot + 1) % SEND_SLOTS;
			next_send += 1000u / w.rate_pps / SEND_SLOTS;
		}
	}
	s_send_line(&w.chan, "S %zu %llu %llu %llu", first, (unsigned long long)w.tx,
		    (unsigned long long)w.rx, (unsigned long long)w.tx_drops);
	/* The stats line must get out: wait for the socket now. */
	fcntl(fd, F_SETFL, 0);
	s_flush(&w.chan);
	free(w.chan.out);
	for (size_t k = 0; k < w.created; k++)
		floe_node_destroy(&w.nodes[k]);
	free(w.nodes);
	free(w.ids);
	free(pfd);
	return 0;
}

/* ---- the gateway side ------------------------------------------------- */

typedef struct {
	floe_node_t *gw;
	chan_t chan[MAX_WORKERS];
	pid_t pid[MAX_WORKERS];
	bool open[MAX_WORKERS];
	size_t workers, n;
	uint64_t *id_of;              /* client index -> gateway peer id (0: none yet) */
	/* gateway peer id -> client index: open addressing, ids are never 0 */
	uint64_t *slot_id;
	size_t *slot_idx, slots;
	size_t established, failed, stats_in, errors;
	uint64_t t0_ms, first_est_ms, last_est_ms;
	uint64_t echoed, echo_bytes, echo_drops, tx, rx, tx_drops;
} gw_t;

static void s_map_put(gw_t *g, uint64_t id, size_t idx)
{
	size_t h = (size_t)(id * 0x9e3779b97f4a7c15ull) & (g->slots - 1);

	while (g->slot_id[h])
		h = (h + 1) & (g->slots - 1);
	g->slot_id[h] = id;
	g->slot_idx[h] = idx;
}

static bool s_map_get(gw_t *g, uint64_t id, size_t *idx)
{
	size_t h = (size_t)(id * 0x9e3779b97f4a7c15ull) & (g->slots - 1);

	while (g->slot_id[h]) {
		if (g->slot_id[h] == id) {
			*idx = g->slot_idx[h];
			return true;
		}
		h = (h + 1) & (g->slots - 1);
	}
	return false;
}

static void s_gw_events(gw_t *g);

static void s_gw_line(void *arg, char *line)
{
	gw_t *g = arg;
	char kind, *rest, cidr[40], ip[32];
	size_t i;

	if (line[0] == 'S') {
		unsigned long long tx, rx, drops;

		if (sscanf(line, "S %zu %llu %llu %llu", &i, &tx, &rx, &drops) != 4)
			BENCH_DIE("bad stats line");
		g->tx += tx, g->rx += rx, g->tx_drops += drops;
		g->stats_in++;
		return;
	}
	if (!s_parse(line, &kind, &i, &rest) || i >= g->n)
		BENCH_DIE("bad line from a worker: %.40s", line);
	if (kind == 'P') {
		const char *ips[1] = { cidr };
		floe_peer_config_t peer = { .allowed_ips = ips, .n_allowed_ips = 1 };

		s_client_ip(i, ip, sizeof(ip));
		snprintf(cidr, sizeof(cidr), "%s/32", ip);
		if (floe_key_from_base64(peer.public_key, rest) != 0 ||
		    floe_node_peer_add(g->gw, &peer, &g->id_of[i]) != 0)
			BENCH_DIE("gateway: floe_node_peer_add for client %zu", i);
		s_map_put(g, g->id_of[i], i);
	} else if (kind == 'E') {
		g->last_est_ms = bench_now_ms();
		if (!g->established++)
			g->first_est_ms = g->last_est_ms;
	} else if (kind == 'F') {
		g->failed++;
	} else if (g->id_of[i]) {
		(void)s_apply_signal(g->gw, g->id_of[i], kind, rest);
	} else {
		g->errors++;
	}
	/* The node's event queue is bounded (FLOE_NODE_EVENT_QUEUE_MAX):
	 * take its events between lines, not only when poll says so. */
	s_gw_events(g);
}

static void s_gw_events(gw_t *g)
{
	floe_event_t ev;
	size_t i;

	while (floe_node_event_next(g->gw, &ev) == 0) {
		if (!s_map_get(g, ev.conn_id, &i))
			continue;
		if (ev.type == FLOE_EVENT_FAILED && g->errors++ < FAILURES_SHOWN)
			fprintf(stderr, "bench_loadgen_inproc: gateway connection of client %zu failed: %s\n", i, ev.text);
		else
			s_forward_event(&g->chan[i / CLIENTS_PER_WORKER], i, &ev);
	}
	sodium_memzero(&ev, sizeof(ev));
}

/* The resource behind the gateway: echo every packet to its sender. */
static void s_gw_echo(gw_t *g)
{
	uint8_t pkt[FLOE_NODE_MAX_PACKET_BYTES], a[4];
	ssize_t len;

	while ((len = floe_node_device_read(g->gw, pkt, sizeof(pkt), 0)) > 0) {
		if (len < 20)
			continue;
		/* Swapping the addresses keeps the IPv4 checksum valid. */
		memcpy(a, pkt + 12, 4);
		memcpy(pkt + 12, pkt + 16, 4);
		memcpy(pkt + 16, a, 4);
		if (floe_node_device_write(g->gw, pkt, (size_t)len) == 0) {
			g->echoed++;
			g->echo_bytes += (uint64_t)len;
		} else {
			g->echo_drops++;
		}
	}
}

/* One round of the gateway's loop, waiting at most timeout_ms. */
static void s_gw_pump(gw_t *g, int timeout_ms)
{
	struct pollfd pfd[2 + MAX_WORKERS];
	size_t np = 0;

	pfd[np++] = (struct pollfd){ .fd = floe_node_event_fd(g->gw), .events = POLLIN };
	pfd[np++] = (struct pollfd){ .fd = floe_node_device_fd(g->gw), .events = POLLIN };
	for (size_t w = 0; w < g->workers; w++)
		pfd[np++] = (struct pollfd){ .fd = g->open[w] ? g->chan[w].fd : -1,
					     .events = POLLIN | (g->chan[w].out_len ? POLLOUT : 0) };
	if (poll(pfd, np, timeout_ms) < 0 && errno != EINTR)
		BENCH_DIE("poll: %s", strerror(errno));
	if (pfd[0].revents & POLLIN)
		s_gw_events(g);
	if (pfd[1].revents & POLLIN)
		s_gw_echo(g);
	for (size_t w = 0; w < g->workers; w++) {
		if (pfd[2 + w].revents & POLLOUT)
			s_flush(&g->chan[w]);
		if ((pfd[2 + w].revents & (POLLIN | POLLHUP)) && !s_read_lines(&g->chan[w], s_gw_line, g))
			g->open[w] = false;
	}
}

static void s_broadcast(gw_t *g, const char *line)
{
	for (size_t w = 0; w < g->workers; w++)
		if (g->open[w])
			s_send_line(&g->chan[w], "%s", line);
}

static void s_usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--short] [--n N (1..%d)] [--duration-s S] [--rate-pps R (0..100)] [--setup-timeout-s T]\n",
		argv0, MAX_CONNS);
	exit(2);
}

static unsigned long s_arg(int argc, char **argv, int *i, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	if (*i + 1 >= argc)
		s_usage(argv[0]);
	v = strtoul(argv[++*i], &end, 10);
	if (*end || v < lo || v > hi)
		s_usage(argv[0]);
	return v;
}

int main(int argc, char **argv)
{
	gw_t g = { 0 };
	size_t n = DEFAULT_N;
	unsigned long duration_s = DEFAULT_DURATION_S, rate = DEFAULT_RATE_PPS;
	unsigned long setup_timeout_s = DEFAULT_SETUP_TIMEOUT_S;
	uint8_t gw_sec[FLOE_KEY_LEN], gw_pub[FLOE_KEY_LEN];
	long base_fds, base_thr, base_rss, fds, thr, rss;
	uint64_t deadline, setup_ms, echo0, bytes0, t_traffic;
	long long cpu0, wk0;
	double secs, dn;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--short")) {
			n = SHORT_N, duration_s = SHORT_DURATION_S, rate = SHORT_RATE_PPS;
		} else if (!strcmp(argv[i], "--n")) {
			n = s_arg(argc, argv, &i, 1, MAX_CONNS);
		} else if (!strcmp(argv[i], "--duration-s")) {
			duration_s = s_arg(argc, argv, &i, 1, 3600);
		} else if (!strcmp(argv[i], "--rate-pps")) {
			rate = s_arg(argc, argv, &i, 0, MAX_RATE_PPS);
		} else if (!strcmp(argv[i], "--setup-timeout-s")) {
			setup_timeout_s = s_arg(argc, argv, &i, 1, 3600);
		} else {
			s_usage(argv[0]);
		}
	}
	if (sodium_init() < 0)
		BENCH_DIE("sodium_init");
	signal(SIGPIPE, SIG_IGN);
	floe_key_generate(gw_sec);
	if (floe_key_public(gw_pub, gw_sec) != 0)
		BENCH_DIE("floe_key_public");
	g.n = n;
	g.workers = (n + CLIENTS_PER_WORKER - 1) / CLIENTS_PER_WORKER;
	/* Workers first: fork before this process has a thread. */
	for (size_t w = 0; w < g.workers; w++) {
		int sv[2];
		size_t first = w * CLIENTS_PER_WORKER;
		size_t count = n - first < CLIENTS_PER_WORKER ? n - first : CLIENTS_PER_WORKER;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0)
			BENCH_DIE("socketpair: %s", strerror(errno));
		fflush(NULL);
		g.pid[w] = fork();
		if (g.pid[w] < 0)
			BENCH_DIE("fork: %s", strerror(errno));
		if (g.pid[w] == 0) {
			for (size_t v = 0; v < w; v++)
				close(g.chan[v].fd);
			close(sv[0]);
			sodium_memzero(gw_sec, sizeof(gw_sec));
			_exit(s_worker(sv[1], first, count, gw_pub, (uint32_t)rate));
		}
		close(sv[1]);
		g.chan[w].fd = sv[0];
		g.open[w] = true;
	}
	floe_log_set_level(FLOE_LOG_ERROR);
	for (g.slots = 1; g.slots < 2 * n; g.slots <<= 1)
		;
	g.id_of = calloc(n, sizeof(*g.id_of));
	g.slot_id = calloc(g.slots, sizeof(*g.slot_id));
	g.slot_idx = calloc(g.slots, sizeof(*g.slot_idx));
	if (!g.id_of || !g.slot_id || !g.slot_idx)
		BENCH_DIE("out of memory");
	g.gw = s_node(FLOE_ROLE_GATEWAY, gw_sec);
	sodium_memzero(gw_sec, sizeof(gw_sec));
	base_fds = floe_procstat_fds(0);
	base_thr = floe_procstat_threads(0);
	base_rss = floe_procstat_rss_kib(0);

	/* Set-up: every client connects (or fails, or time runs out). */
	g.t0_ms = bench_now_ms();
	deadline = g.t0_ms + setup_timeout_s * 1000u;
	for (uint64_t report = g.t0_ms + PROGRESS_MS; g.established + g.failed < n && bench_now_ms() < deadline;) {
		s_gw_pump(&g, TICK_MS * 10);
		if (bench_now_ms() >= report) {
			fprintf(stderr, "bench_loadgen_inproc: %.0f s: %zu established, %zu failed of %zu\n",
				(double)(bench_now_ms() - g.t0_ms) / 1000.0, g.established, g.failed, n);
			report += PROGRESS_MS;
		}
	}
	setup_ms = (g.established ? g.last_est_ms : bench_now_ms()) - g.t0_ms;
	fds = floe_procstat_fds(0);
	thr = floe_procstat_threads(0);
	rss = floe_procstat_rss_kib(0);

	/* Traffic: every client R packets/s, echoed by the gateway side. */
	/* Rate 0: the phase measures established connections at rest. */
	if (rate)
		s_broadcast(&g, "T");
	echo0 = g.echoed, bytes0 = g.echo_bytes;
	cpu0 = floe_procstat_cpu_us();
	wk0 = floe_procstat_wakeups();
	t_traffic = bench_now_ms();
	while (bench_now_ms() - t_traffic < duration_s * 1000u)
		s_gw_pump(&g, TICK_MS);
	secs = (double)(bench_now_ms() - t_traffic) / 1000.0;
	echo0 = g.echoed - echo0, bytes0 = g.echo_bytes - bytes0;
	cpu0 = floe_procstat_cpu_us() - cpu0;
	wk0 = floe_procstat_wakeups() - wk0;

	/* Stop sending, let what is in flight come back, then collect. */
	s_broadcast(&g, "H");
	t_traffic = bench_now_ms();
	while (bench_now_ms() - t_traffic < DRAIN_MS)
		s_gw_pump(&g, TICK_MS);
	s_broadcast(&g, "Q");
	deadline = bench_now_ms() + setup_timeout_s * 1000u;
	while (g.stats_in < g.workers && bench_now_ms() < deadline) {
		bool any = false;

		s_gw_pump(&g, TICK_MS * 10);
		for (size_t w = 0; w < g.workers; w++)
			any |= g.open[w];
		if (!any)
			break;
	}
	for (size_t w = 0; w < g.workers; w++) {
		int st = 0;

		if (g.open[w])
			close(g.chan[w].fd);
		free(g.chan[w].out);
		if (waitpid(g.pid[w], &st, 0) != g.pid[w] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			g.errors++;
			fprintf(stderr, "bench_loadgen_inproc: worker %zu: %s %d\n", w,
				WIFSIGNALED(st) ? "killed by signal" : "exit status",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		}
	}
	dn = (double)n;
	printf("loadgen_inproc n=%zu workers=%zu established=%zu failed=%zu setup_s=%.3f setup_per_s=%.1f "
	       "time_to_all_connected_ms=%llu duration_s=%.1f rate_pps_per_conn=%lu "
	       "echo_pps=%.0f echo_mbit_s=%.3f client_tx=%llu client_rx=%llu client_tx_drops=%llu "
	       "loss_pct=%.2f gw_fds=%ld gw_fds_per_conn=%.2f gw_threads=%ld gw_threads_per_conn=%.2f "
	       "gw_rss_kib=%ld gw_rss_kib_per_conn=%.1f gw_cpu_pct=%.1f gw_wakeups_per_conn_per_s=%.2f "
	       "echo_drops=%llu gw_event_drops=%llu "
	       "errors=%zu\n",
	       n, g.workers, g.established, g.failed, (double)setup_ms / 1000.0,
	       setup_ms ? (double)g.established * 1000.0 / (double)setup_ms : 0.0,
	       (unsigned long long)(g.established == n ? setup_ms : 0), secs, rate,
	       (double)echo0 / secs, (double)bytes0 * 8.0 / secs / 1e6, (unsigned long long)g.tx,
	       (unsigned long long)g.rx, (unsigned long long)g.tx_drops,
	       g.tx ? 100.0 * (double)(g.tx - (g.rx < g.tx ? g.rx : g.tx)) / (double)g.tx : 0.0, fds,
	       (double)(fds - base_fds) / dn, thr, (double)(thr - base_thr) / dn, rss,
	       (double)(rss - base_rss) / dn, (double)cpu0 / 10000.0 / secs, (double)wk0 / dn / secs,
	       (unsigned long long)g.echo_drops, (unsigned long long)floe_node_event_drops(g.gw), g.errors);
	floe_node_destroy(&g.gw);
	free(g.id_of);
	free(g.slot_id);
	free(g.slot_idx);
	return g.established == n && g.errors == 0 && g.failed == 0 ? 0 : 1;
}
