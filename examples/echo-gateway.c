/*
 * echo-gateway: a floe gateway whose resource is the application itself.
 *
 * It registers with a real floe-portal like floe-gateway does, but instead
 * of a TUN device it takes the userspace device: every packet a client
 * sends through the tunnel arrives here, and this program is the host at
 * the gateway's tunnel address (--address). It answers ICMP echo (ping)
 * and UDP echo (RFC 862, port 7); it counts and drops malformed packets
 * and ignores anything else. A stock floe-client reaches it when the
 * portal has a resource for that address and a grant, e.g.
 *
 *   [Resource echo]
 *   CIDR = 100.64.255.1/32
 *   [Gateway gw]
 *   PublicKey = ...
 *   Resources = echo
 *   TunnelIPv4 = 100.64.255.1
 *
 * so that `ping 100.64.255.1` on the client gets replies from here.
 *
 * Threads: the main thread watches the node's events (the portal's flows
 * coming and going) and the signals; a second thread owns the device, as
 * its one reader and its one writer (floe.h's rule for the userspace
 * device). They share only the stop flag and the counters below, atomics.
 *
 * Build: cc echo-gateway.c $(pkg-config --cflags --libs floe) -pthread -o echo-gateway
 * Run:   ./echo-gateway --key-file gw.key --portal tcp://203.0.113.1:7400 \
 *            --portal-key "$(cat portal.pub)" --address 100.64.255.1
 */
#define _DEFAULT_SOURCE 1 /* explicit_bzero */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <floe/floe.h>

#include "ippkt.h"

enum {
	DEFAULT_TIMEOUT_S = 300,
	MAX_TIMEOUT_S = 86400,
	POLL_SLICE_MS = 100,    /* how soon a stop is noticed */
	MAX_LOCAL_ADDRS = 4,
	KEY_FILE_BYTES = 128,   /* a base64 key and some whitespace */
	DEFAULT_STUN_PORT = 3478,
};

typedef struct {
	floe_node_t *node;
	uint8_t address[4];           /* ours, in the tunnel */
	atomic_bool stop;
	atomic_uint_fast64_t icmp_answered, udp_answered, bad, ignored, write_drops;
} gateway_t;

/* Set by SIGINT / SIGTERM: the only thing a signal handler may touch. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: example_echo_gateway --key-file FILE --portal ENDPOINT --portal-key KEY\n"
		"           --address IPV4 [--stun HOST:PORT] [--local-address IP]... [--timeout S]\n"
		"  A floe gateway with a userspace device that answers ICMP echo and UDP echo\n"
		"  (port 7) on its tunnel address IPV4. FILE holds the private key in base64\n"
		"  (floectl genkey); KEY is the portal's public key in base64. Runs until\n"
		"  SIGINT/SIGTERM or S seconds (default %d), then prints what it answered.\n",
		DEFAULT_TIMEOUT_S);
}

/* A private key from a file holding its base64 (as floectl genkey writes). */
static int read_key_file(const char *path, uint8_t key[FLOE_KEY_LEN])
{
	char text[KEY_FILE_BYTES];
	size_t n;
	FILE *f = fopen(path, "r");
	int rc;

	if (!f)
		return -errno;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	rc = floe_key_from_base64(key, text);
	explicit_bzero(text, sizeof(text));
	return rc;
}

/* "HOST:PORT" (numeric IPv4) into host (NUL-terminated in place) and port. */
static int split_host_port(char *arg, const char **host, uint16_t *port)
{
	char *colon = strrchr(arg, ':');
	long p = DEFAULT_STUN_PORT;

	if (colon) {
		*colon = 0;
		p = strtol(colon + 1, NULL, 10);
	}
	if (p < 1 || p > 65535)
		return -EINVAL;
	*host = arg;
	*port = (uint16_t)p;
	return 0;
}

/* The device thread: the echo service. */
static void *serve_device(void *arg)
{
	gateway_t *g = arg;
	uint8_t buf[IPPKT_MAX_BYTES], out[IPPKT_MAX_BYTES];
	struct pollfd pfd = { .fd = floe_node_device_fd(g->node), .events = POLLIN };

	while (!atomic_load(&g->stop)) {
		ssize_t len;

		if (poll(&pfd, 1, POLL_SLICE_MS) < 0 && errno != EINTR)
			break;
		/* Edge-like fd: drain to -EAGAIN before polling again. */
		while ((len = floe_node_device_read(g->node, buf, sizeof(buf), 0)) > 0) {
			ippkt_v4_t p;
			int n;

			if (ippkt_parse_v4(buf, (size_t)len, &p) != 0) {
				atomic_fetch_add(&g->bad, 1);
				continue;
			}
			n = ippkt_echo_answer(&p, g->address, out, sizeof(out));
			if (n <= 0) {
				atomic_fetch_add(&g->ignored, 1);
				continue;
			}
			if (floe_node_device_write(g->node, out, (size_t)n) != 0) {
				atomic_fetch_add(&g->write_drops, 1);
				continue;
			}
			atomic_fetch_add(p.proto == IPPKT_PROTO_ICMP ? &g->icmp_answered : &g->udp_answered, 1);
		}
	}
	return NULL;
}

/* The node's events: on a portal node, the flows of clients. */
static void print_events(gateway_t *g)
{
	floe_event_t ev;

	while (floe_node_event_next(g->node, &ev) == 0) {
		switch (ev.type) {
		case FLOE_EVENT_PATH:
			printf("flow %s: path %s %s -> %s %s\n", ev.cid, floe_path_type_name(ev.path.local_type),
			       ev.path.local_addr, floe_path_type_name(ev.path.remote_type), ev.path.remote_addr);
			break;
		case FLOE_EVENT_ESTABLISHED:
			printf("flow %s: established\n", ev.cid);
			break;
		case FLOE_EVENT_FAILED:
			printf("flow %s: failed: %s\n", ev.cid, ev.text);
			break;
		case FLOE_EVENT_CLOSED:
			printf("flow %s: closed: %s\n", ev.cid, ev.text);
			break;
		default:
			break; /* the LOCAL_* events are for portal-less nodes */
		}
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "portal", required_argument, NULL, 'p' },
		{ "portal-key", required_argument, NULL, 'P' },
		{ "address", required_argument, NULL, 'a' },
		{ "stun", required_argument, NULL, 's' },
		{ "local-address", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_file = NULL, *portal_key = NULL, *address = NULL, *local[MAX_LOCAL_ADDRS];
	floe_node_config_t cfg = { .role = FLOE_ROLE_GATEWAY, .device = FLOE_NODE_DEVICE_USERSPACE };
	gateway_t *g = calloc(1, sizeof(*g));
	struct sigaction sa = { .sa_handler = on_signal };
	char err[FLOE_NODE_ERR_BYTES];
	long timeout_s = DEFAULT_TIMEOUT_S;
	struct timespec start, now;
	floe_counters_snapshot_t totals;
	pthread_t device_thread;
	bool thread_started = false, ready = false, bad_usage = false;
	int opt, rc = 1;

	if (!g)
		return 1;
	while ((opt = getopt_long(argc, argv, "k:p:P:a:s:l:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			key_file = optarg;
			break;
		case 'p':
			cfg.portal_endpoint = optarg;
			break;
		case 'P':
			portal_key = optarg;
			break;
		case 'a':
			address = optarg;
			break;
		case 's':
			bad_usage |= split_host_port(optarg, &cfg.stun_host, &cfg.stun_port) != 0;
			break;
		case 'l':
			if (cfg.n_local_addrs < MAX_LOCAL_ADDRS)
				local[cfg.n_local_addrs++] = optarg;
			else
				bad_usage = true;
			break;
		case 't':
			timeout_s = strtol(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			free(g);
			return 0;
		default:
			bad_usage = true;
			break;
		}
	}
	if (bad_usage || optind != argc || !key_file || !cfg.portal_endpoint || !portal_key || !address ||
	    timeout_s < 1 || timeout_s > MAX_TIMEOUT_S) {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (inet_pton(AF_INET, address, g->address) != 1) {
		fprintf(stderr, "echo-gateway: --address %s: not an IPv4 address\n", address);
		goto out;
	}
	if (floe_key_from_base64(cfg.portal_public_key, portal_key) != 0) {
		fprintf(stderr, "echo-gateway: --portal-key: not a base64 key\n");
		goto out;
	}
	if (read_key_file(key_file, cfg.private_key) != 0) {
		fprintf(stderr, "echo-gateway: %s: no base64 private key in it\n", key_file);
		goto out;
	}
	cfg.local_addrs = cfg.n_local_addrs ? local : NULL;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	g->node = floe_node_new(&cfg, err, sizeof(err));
	/* The node has its own copy now. */
	explicit_bzero(cfg.private_key, sizeof(cfg.private_key));
	if (!g->node) {
		fprintf(stderr, "echo-gateway: %s\n", err);
		goto out;
	}
	if (pthread_create(&device_thread, NULL, serve_device, g) != 0) {
		fprintf(stderr, "echo-gateway: cannot start the device thread\n");
		goto out;
	}
	thread_started = true;

	clock_gettime(CLOCK_MONOTONIC, &start);
	now = start;
	while (!stop_signal && now.tv_sec - start.tv_sec < timeout_s) {
		struct pollfd pfd = { .fd = floe_node_event_fd(g->node), .events = POLLIN };

		poll(&pfd, 1, POLL_SLICE_MS); /* EINTR from a signal: the loop checks */
		print_events(g);
		/* The portal session connects in the background; say when it is up. */
		if (ready != floe_node_portal_connected(g->node)) {
			ready = !ready;
			printf("%s\n", ready ? "ready: the portal welcomed this gateway" : "portal connection lost");
			fflush(stdout);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	}
	rc = 0;
out:
	if (thread_started) {
		atomic_store(&g->stop, true);
		pthread_join(device_thread, NULL);
	}
	if (g->node && floe_node_counters(g->node, &totals) == 0)
		printf("answered icmp %" PRIu64 " udp %" PRIu64 "; dropped malformed %" PRIu64 ", ignored %" PRIu64
		       ", full queue %" PRIu64 "; floe acl_drops %" PRIu64 "\n",
		       (uint64_t)g->icmp_answered, (uint64_t)g->udp_answered, (uint64_t)g->bad, (uint64_t)g->ignored,
		       (uint64_t)g->write_drops, totals.v[FLOE_COUNTER_ACL_DROPS]);
	floe_node_destroy(&g->node);
	explicit_bzero(&cfg, sizeof(cfg));
	free(g);
	return rc;
}
