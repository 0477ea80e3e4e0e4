/*
 * pair: a floe client and a floe gateway in one process, talking WireGuard
 * over ICE on 127.0.0.1. No root, no TUN, no portal:
 *
 *   - both nodes use the userspace device, so this program is the network
 *     on both sides: it writes ICMP echo requests into the client's device
 *     and answers them from the gateway's device (the gateway's "resource"
 *     is this program, at the gateway's tunnel address 10.99.0.2);
 *   - there is no portal, so the program carries each node's ICE
 *     credentials and candidates (events) to the other node (calls). In one
 *     process that is a function call; custom-signalling.c does the same
 *     through a pipe between two processes.
 *
 * It sends --count pings one at a time, measures each round trip from the
 * client's device write to the reply's read, prints min / p50 / p99 / max,
 * and exits 0 only if every reply came back intact.
 *
 * Build: cc pair.c $(pkg-config --cflags --libs floe) -o pair
 * Run:   ./pair --count 300        (FLOE_LOG=info shows floe's own log)
 */
#define _DEFAULT_SOURCE 1 /* explicit_bzero */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <floe/floe.h>

#include "ippkt.h"

enum {
	DEFAULT_COUNT = 300,
	MAX_COUNT = 100000,
	DEFAULT_TIMEOUT_S = 60,
	MAX_TIMEOUT_S = 600,       /* floe's ICE failure timeout tops out at 600 s */
	PAYLOAD_BYTES = 56,        /* as ping(8) sends */
	REPLY_WAIT_MS = 2000,      /* a reply later than this counts as lost */
	POLL_SLICE_MS = 100,
	PING_IDENT = 0xf10e,
	CL = 0,                    /* index of the client in the arrays below */
	GW = 1,
};

/* Tunnel addresses: the client is 10.99.0.1, the gateway 10.99.0.2. Each
 * node allows its peer exactly the peer's address (WireGuard AllowedIPs). */
static const uint8_t tunnel_ip[2][4] = { [CL] = { 10, 99, 0, 1 }, [GW] = { 10, 99, 0, 2 } };
static const char *const peer_allowed[2] = { [CL] = "10.99.0.2/32", [GW] = "10.99.0.1/32" };
/* ICE gathers on loopback only: no STUN, no TURN, nothing leaves the host. */
static const char *const loopback[] = { "127.0.0.1" };

typedef struct {
	floe_node_t *node[2];
	uint64_t id[2];          /* each node's connection to the other */
	bool established[2];
	bool broken;             /* a connection failed or closed */
	floe_path_t path;        /* the client's selected path, for the summary */
} pair_t;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: example_pair [--count N] [--timeout S] [--verbose] [--help]\n"
		     "  A floe client and gateway in one process (userspace devices, ICE on\n"
		     "  127.0.0.1, no root): N pings (default %d) through the tunnel, one at a\n"
		     "  time; prints round-trip min/p50/p99/max; exit 0 only if all came back.\n"
		     "  --timeout S bounds the whole run (default %d s). --verbose prints each.\n",
		DEFAULT_COUNT, DEFAULT_TIMEOUT_S);
}

/* A node on loopback with a userspace device and no portal. */
static floe_node_t *node_new(floe_role_t role, const uint8_t key[FLOE_KEY_LEN], uint32_t fail_ms)
{
	floe_node_config_t cfg = {
		.role = role,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = fail_ms,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	char err[FLOE_NODE_ERR_BYTES];
	floe_node_t *node;

	memcpy(cfg.private_key, key, FLOE_KEY_LEN);
	node = floe_node_new(&cfg, err, sizeof(err));
	/* floe_node_new copied the key; our copy goes now, on every path. */
	explicit_bzero(cfg.private_key, sizeof(cfg.private_key));
	if (!node)
		fprintf(stderr, "pair: floe_node_new (%s): %s\n", floe_role_name(role), err);
	return node;
}

/*
 * Both nodes, each with the other as its one peer. The keys are made here
 * and wiped before returning: the nodes keep their own copies.
 */
static int pair_start(pair_t *p, uint32_t fail_ms)
{
	uint8_t key[2][FLOE_KEY_LEN], pub[2][FLOE_KEY_LEN];
	int rc = -1;

	for (int side = CL; side <= GW; side++) {
		floe_key_generate(key[side]);
		if (floe_key_public(pub[side], key[side]) != 0)
			goto out;
	}
	p->node[CL] = node_new(FLOE_ROLE_CLIENT, key[CL], fail_ms);
	p->node[GW] = node_new(FLOE_ROLE_GATEWAY, key[GW], fail_ms);
	if (!p->node[CL] || !p->node[GW])
		goto out;
	for (int side = CL; side <= GW; side++) {
		floe_peer_config_t peer = {
			.allowed_ips = &peer_allowed[side],
			.n_allowed_ips = 1,
		};
		int err;

		memcpy(peer.public_key, pub[1 - side], FLOE_KEY_LEN);
		err = floe_node_peer_add(p->node[side], &peer, &p->id[side]);
		if (err < 0) {
			fprintf(stderr, "pair: floe_node_peer_add: %s\n", strerror(-err));
			goto out;
		}
	}
	rc = 0;
out:
	explicit_bzero(key, sizeof(key));
	return rc;
}

/*
 * Takes every queued event of one node. Signalling events go straight to
 * the other node: this is all a portal would do for the pair.
 */
static void pair_events(pair_t *p, int side)
{
	floe_node_t *other = p->node[1 - side];
	uint64_t other_id = p->id[1 - side];
	const char *who = side == CL ? "client" : "gateway";
	floe_event_t ev;
	int rc = 0;

	while (floe_node_event_next(p->node[side], &ev) == 0) {
		switch (ev.type) {
		case FLOE_EVENT_LOCAL_CREDENTIALS:
			rc = floe_node_peer_remote_credentials(other, other_id, ev.ufrag, ev.pwd);
			break;
		case FLOE_EVENT_LOCAL_CANDIDATE:
			rc = floe_node_peer_remote_candidate(other, other_id, ev.text);
			break;
		case FLOE_EVENT_GATHERING_DONE:
			rc = floe_node_peer_remote_gathering_done(other, other_id);
			break;
		case FLOE_EVENT_PATH:
			if (side == CL)
				p->path = ev.path;
			break;
		case FLOE_EVENT_ESTABLISHED:
			p->established[side] = true;
			break;
		case FLOE_EVENT_FAILED:
		case FLOE_EVENT_CLOSED:
			fprintf(stderr, "pair: %s connection %s: %s\n", who,
				ev.type == FLOE_EVENT_FAILED ? "failed" : "closed", ev.text);
			p->broken = true;
			break;
		default:
			break;
		}
		if (rc < 0) {
			fprintf(stderr, "pair: handing the %s's signalling over: %s\n", who, strerror(-rc));
			p->broken = true;
			rc = 0;
		}
	}
	/* The pwd authenticates ICE checks: do not leave it on the stack. */
	explicit_bzero(&ev, sizeof(ev));
}

/*
 * Waits up to wait_ms on both nodes' event fds and device fds, then serves
 * whatever is ready. The gateway's device is the echo service; the client's
 * device yields replies, of which the one for seq is checked and noted in
 * *got. Returns -1 once the tunnel broke.
 */
static int pair_poll(pair_t *p, int wait_ms, uint16_t seq, const uint8_t *payload, bool *got,
		     uint64_t *bad_packets)
{
	struct pollfd pfd[4] = {
		{ .fd = floe_node_event_fd(p->node[CL]), .events = POLLIN },
		{ .fd = floe_node_event_fd(p->node[GW]), .events = POLLIN },
		{ .fd = floe_node_device_fd(p->node[CL]), .events = POLLIN },
		{ .fd = floe_node_device_fd(p->node[GW]), .events = POLLIN },
	};
	uint8_t buf[IPPKT_MAX_BYTES], reply[IPPKT_MAX_BYTES];
	ssize_t len;

	if (poll(pfd, 4, wait_ms) < 0 && errno != EINTR)
		return -1;
	pair_events(p, CL);
	pair_events(p, GW);
	/* The device fds are edge-like: read until -EAGAIN every time. */
	while ((len = floe_node_device_read(p->node[GW], buf, sizeof(buf), 0)) > 0) {
		ippkt_v4_t req;
		int n;

		if (ippkt_parse_v4(buf, (size_t)len, &req) != 0) {
			(*bad_packets)++;
			continue;
		}
		n = ippkt_echo_answer(&req, tunnel_ip[GW], reply, sizeof(reply));
		if (n > 0)
			(void)floe_node_device_write(p->node[GW], reply, (size_t)n); /* a drop is counted by floe */
	}
	while ((len = floe_node_device_read(p->node[CL], buf, sizeof(buf), 0)) > 0) {
		ippkt_v4_t r;

		if (ippkt_parse_v4(buf, (size_t)len, &r) != 0 || r.proto != IPPKT_PROTO_ICMP) {
			(*bad_packets)++;
			continue;
		}
		if (r.l4[0] == IPPKT_ICMP_ECHO_REPLY && ippkt_get16(r.l4 + 4) == PING_IDENT &&
		    ippkt_get16(r.l4 + 6) == seq && memcmp(r.src, tunnel_ip[GW], 4) == 0 &&
		    r.l4_len == IPPKT_ICMP_HDR_BYTES + PAYLOAD_BYTES &&
		    memcmp(r.l4 + IPPKT_ICMP_HDR_BYTES, payload, PAYLOAD_BYTES) == 0)
			*got = true;
		/* Anything else is a late reply to a packet already counted lost. */
	}
	return p->broken ? -1 : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned pct)
{
	size_t rank = (n * pct + 99) / 100;

	return sorted[rank ? rank - 1 : 0];
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long count = DEFAULT_COUNT, timeout_s = DEFAULT_TIMEOUT_S;
	bool verbose = false;
	pair_t p = { 0 };
	uint8_t payload[PAYLOAD_BYTES], pkt[IPPKT_MAX_BYTES];
	uint64_t *rtt = NULL, start, deadline, bad_packets = 0;
	size_t back = 0;
	int opt, rc = 1;

	while ((opt = getopt_long(argc, argv, "c:t:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			count = strtol(optarg, NULL, 10);
			break;
		case 't':
			timeout_s = strtol(optarg, NULL, 10);
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || count < 1 || count > MAX_COUNT || timeout_s < 1 || timeout_s > MAX_TIMEOUT_S) {
		usage(stderr);
		return 2;
	}
	/* floe logs JSON lines to stderr; keep them to warnings unless the
	 * user asked for more with FLOE_LOG. */
	if (!getenv("FLOE_LOG"))
		floe_log_set_level(FLOE_LOG_WARNING);
	rtt = calloc((size_t)count, sizeof(*rtt));
	if (!rtt)
		goto out;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;

	start = now_us();
	deadline = start + (uint64_t)timeout_s * 1000000u;
	/* ICE gives up when the whole run would: the time bound holds either way. */
	if (pair_start(&p, (uint32_t)timeout_s * 1000u) != 0)
		goto out;

	/* 1. Signalling: until both sides report the first handshake done. */
	while (!(p.established[CL] && p.established[GW])) {
		bool no_ping_yet = false;

		if (now_us() >= deadline) {
			fprintf(stderr, "pair: not connected within %ld s\n", timeout_s);
			goto out;
		}
		if (pair_poll(&p, POLL_SLICE_MS, 0, payload, &no_ping_yet, &bad_packets) < 0)
			goto out;
	}
	printf("connected in %" PRIu64 " ms over %s %s -> %s %s\n", (now_us() - start) / 1000,
	       floe_path_type_name(p.path.local_type), p.path.local_addr, floe_path_type_name(p.path.remote_type),
	       p.path.remote_addr);

	/* 2. Pings, one at a time, each waited for up to REPLY_WAIT_MS. */
	for (long i = 0; i < count && now_us() < deadline; i++) {
		uint16_t seq = (uint16_t)i;
		uint64_t sent, limit;
		bool got = false;
		int n = ippkt_icmp_echo(pkt, sizeof(pkt), tunnel_ip[CL], tunnel_ip[GW], IPPKT_ICMP_ECHO_REQUEST,
					PING_IDENT, seq, payload, sizeof(payload));

		sent = now_us();
		if (n < 0 || floe_node_device_write(p.node[CL], pkt, (size_t)n) != 0) {
			fprintf(stderr, "pair: packet %ld: device write refused\n", i);
			continue;
		}
		limit = sent + REPLY_WAIT_MS * 1000u;
		while (!got && now_us() < limit && now_us() < deadline) {
			if (pair_poll(&p, POLL_SLICE_MS, seq, payload, &got, &bad_packets) < 0)
				goto out;
		}
		if (!got) {
			fprintf(stderr, "pair: packet %ld: no reply\n", i);
			continue;
		}
		rtt[back++] = now_us() - sent;
		if (verbose)
			printf("seq=%ld rtt=%" PRIu64 " us\n", i, rtt[back - 1]);
	}

	/* 3. The summary. */
	printf("%zu/%ld packets came back", back, count);
	if (back) {
		qsort(rtt, back, sizeof(*rtt), cmp_u64);
		printf("; rtt us: min %" PRIu64 " p50 %" PRIu64 " p99 %" PRIu64 " max %" PRIu64, rtt[0],
		       percentile(rtt, back, 50), percentile(rtt, back, 99), rtt[back - 1]);
	}
	printf("\n");
	if (bad_packets)
		fprintf(stderr, "pair: %" PRIu64 " malformed packets dropped\n", bad_packets);
	rc = back == (size_t)count ? 0 : 1;
out:
	floe_node_destroy(&p.node[CL]);
	floe_node_destroy(&p.node[GW]);
	free(rtt);
	return rc;
}
