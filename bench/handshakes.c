/*
 * Legitimate handshakes for the flood test: N WireGuard initiators built
 * from floe's engine, each with its own key and its own source address (a
 * real client population: the per-source limiter must not lump them
 * together), all starting at once against one responder. Each follows the
 * protocol as WireGuard does: initiation, a cookie reply under load is
 * stored, the retry after REKEY_TIMEOUT carries MAC2. Cheaper than N
 * floe-wg processes with N TUN devices, and it times each handshake.
 *
 * Usage: bench_handshakes --target HOST:PORT --public-key BASE64
 *                         --keys FILE --src-base IPV4 [--timeout-s S]
 *   FILE      N private keys, base64, one per line (N <= 1024)
 *   IPV4      client i sends from IPV4 + i (the addresses must exist)
 *
 * Prints: handshakes: n=N completed=C within_s=S max_s=M p50_s=P cookies=K
 * Exit 0 when every handshake completed within the timeout, 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "runtime/clock.h"
#include "transport/net/udp.h"
#include "transport/wg/key.h"
#include "transport/wg/wg.h"

enum {
	MAX_CLIENTS = 1024,
	DEFAULT_TIMEOUT_S = 10,
	MAX_TIMEOUT_S = 300,
	BUF_BYTES = 2048,
	POLL_MAX_MS = 10,
	LINE_MAX_BYTES = 256,
};

typedef struct {
	int fd;
	floe_wg_device_t *dev;
	floe_wg_peer_t *peer;
	uint64_t done_ns;      /* 0 until the handshake completed */
} client_t;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * FLOE_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Reads the keys and makes one client each, bound to src_base + i. Returns the count or -1. */
static int setup_clients(client_t *c, const char *keys_path, struct in_addr src_base,
			 const uint8_t server_pub[FLOE_KEY_LEN])
{
	char line[LINE_MAX_BYTES];
	uint8_t priv[FLOE_KEY_LEN];
	int n = 0;
	FILE *f = fopen(keys_path, "r");

	if (!f) {
		perror("bench_handshakes: --keys");
		return -1;
	}
	while (n < MAX_CLIENTS && fgets(line, sizeof(line), f)) {
		floe_wg_peer_config_t pc = { 0 };
		struct sockaddr_in sin = { .sin_family = AF_INET };

		if (floe_key_from_base64(priv, line) != 0) {
			fprintf(stderr, "bench_handshakes: --keys: line %d is not a key\n", n + 1);
			goto fail;
		}
		c[n].dev = floe_wg_device_new(priv);
		sodium_memzero(priv, sizeof(priv));
		memcpy(pc.public_key, server_pub, FLOE_KEY_LEN);
		c[n].peer = c[n].dev ? floe_wg_peer_new(c[n].dev, &pc) : NULL;
		c[n].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		sin.sin_addr.s_addr = htonl(ntohl(src_base.s_addr) + (uint32_t)n);
		if (!c[n].peer || c[n].fd < 0 || bind(c[n].fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
			fprintf(stderr, "bench_handshakes: client %d: %s\n", n, strerror(errno));
			n++;
			goto fail;
		}
		n++;
	}
	fclose(f);
	return n;
fail:
	fclose(f);
	for (int i = 0; i < n; i++) {
		floe_wg_peer_destroy(&c[i].peer);
		floe_wg_device_destroy(&c[i].dev);
		if (c[i].fd >= 0)
			close(c[i].fd);
	}
	return -1;
}

static void send_to(const client_t *c, const uint8_t *buf, ssize_t len,
		    const struct sockaddr_storage *to, socklen_t to_len)
{
	/* Lost datagrams are the protocol's to recover (retries): not fatal here. */
	if (len > 0)
		(void)sendto(c->fd, buf, (size_t)len, 0, (const struct sockaddr *)to, to_len);
}

static void on_readable(client_t *c, const struct sockaddr_storage *to, socklen_t to_len)
{
	uint8_t in[BUF_BYTES], out[BUF_BYTES];
	struct sockaddr_storage from;
	socklen_t from_len = sizeof(from);
	floe_wg_out_t kind;
	ssize_t n, r;

	while ((n = recvfrom(c->fd, in, sizeof(in), 0, (struct sockaddr *)&from, &from_len)) > 0) {
		uint64_t now = mono_ns();

		r = floe_wg_peer_receive(c->peer, now, &from, from_len, in, (size_t)n, out, sizeof(out), &kind);
		if (r > 0 && kind == FLOE_WG_OUT_NETWORK)
			send_to(c, out, r, to, to_len);
		if ((floe_wg_peer_take_events(c->peer) & FLOE_WG_EV_HANDSHAKE_COMPLETE) && !c->done_ns)
			c->done_ns = now;   /* monotonic: never 0 */
		from_len = sizeof(from);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "public-key", required_argument, NULL, 'k' },
		{ "keys", required_argument, NULL, 'f' },
		{ "src-base", required_argument, NULL, 's' },
		{ "timeout-s", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	static client_t c[MAX_CLIENTS];
	static struct pollfd pfd[MAX_CLIENTS];
	static uint64_t took[MAX_CLIENTS];
	const char *target = NULL, *key_b64 = NULL, *keys_path = NULL, *src = NULL;
	long timeout_s = DEFAULT_TIMEOUT_S;
	uint8_t server_pub[FLOE_KEY_LEN], buf[BUF_BYTES];
	struct sockaddr_storage to;
	socklen_t to_len = 0;
	struct in_addr src_base;
	uint64_t start, deadline, cookies = 0;
	int n, done = 0, opt, ret = 1;

	/* scripts/bench runs every bench_* alone: this one needs a responder. */
	if (argc == 1 || (argc == 2 && strcmp(argv[1], "--short") == 0)) {
		printf("needs a responder: run by tests/system/flood_test.sh\n");
		return 77;
	}
	while ((opt = getopt_long(argc, argv, "t:k:f:s:T:", opts, NULL)) != -1) {
		switch (opt) {
		case 't': target = optarg; break;
		case 'k': key_b64 = optarg; break;
		case 'f': keys_path = optarg; break;
		case 's': src = optarg; break;
		case 'T': timeout_s = strtol(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (!target || !key_b64 || !keys_path || !src || timeout_s <= 0 || timeout_s > MAX_TIMEOUT_S ||
	    sodium_init() < 0 || floe_key_from_base64(server_pub, key_b64) != 0 ||
	    floe_udp_endpoint_parse(target, &to, &to_len) != 0 || inet_pton(AF_INET, src, &src_base) != 1)
		goto usage;
	n = setup_clients(c, keys_path, src_base, server_pub);
	if (n <= 0)
		return 2;

	start = mono_ns();
	deadline = start + (uint64_t)timeout_s * FLOE_NS_PER_S;
	for (int i = 0; i < n; i++) {
		pfd[i] = (struct pollfd){ .fd = c[i].fd, .events = POLLIN };
		send_to(&c[i], buf, floe_wg_peer_initiate(c[i].peer, start, buf, sizeof(buf)), &to, to_len);
	}
	while (done < n && mono_ns() < deadline) {
		uint64_t now;

		if (poll(pfd, (nfds_t)n, POLL_MAX_MS) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++)
			if (pfd[i].revents & POLLIN)
				on_readable(&c[i], &to, to_len);
		now = mono_ns();
		done = 0;
		for (int i = 0; i < n; i++) {
			ssize_t r;
			int guard = 0;

			/* Retries and the confirming keepalive come from the timers. */
			while (guard++ < 4 && floe_wg_peer_next_deadline_ns(c[i].peer) <= now &&
			       (r = floe_wg_peer_tick(c[i].peer, now, buf, sizeof(buf))) > 0)
				send_to(&c[i], buf, r, &to, to_len);
			done += c[i].done_ns != 0;
		}
	}
	for (int i = 0; i < n; i++) {
		floe_wg_peer_stats_t st;

		floe_wg_peer_stats(c[i].peer, &st);
		cookies += st.cookie_replies_received;
		took[i] = c[i].done_ns ? c[i].done_ns - start : UINT64_MAX;
	}
	qsort(took, (size_t)n, sizeof(took[0]), cmp_u64);
	printf("handshakes: n=%d completed=%d within_s=%ld max_s=%.2f p50_s=%.2f cookies=%llu\n", n, done,
	       timeout_s, took[n - 1] == UINT64_MAX ? -1.0 : (double)took[n - 1] / 1e9,
	       took[n / 2] == UINT64_MAX ? -1.0 : (double)took[n / 2] / 1e9, (unsigned long long)cookies);
	ret = done == n ? 0 : 1;
	for (int i = 0; i < n; i++) {
		floe_wg_peer_destroy(&c[i].peer);
		floe_wg_device_destroy(&c[i].dev);
		close(c[i].fd);
	}
	return ret;
usage:
	fprintf(stderr, "usage: bench_handshakes --target HOST:PORT --public-key BASE64 --keys FILE "
			"--src-base IPV4 [--timeout-s S]\n");
	return 2;
}
