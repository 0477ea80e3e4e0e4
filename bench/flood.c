/*
 * Handshake flood generator: MAC1-valid WireGuard initiations (the
 * attacker knows the responder's public key, as anyone who can see a
 * config or a portal answer does) with a fresh random ephemeral key,
 * sender index and ciphertext each, MAC2 zero, sent at a fixed rate with
 * sendmmsg for a bounded time. Cookie replies coming back are counted.
 *
 * Usage: bench_flood --target HOST:PORT --public-key BASE64
 *                    [--rate PER_S] [--duration-s S] [--source HOST:PORT]
 * --source sends from that address and port even when it is not this
 * host's (IP_TRANSPARENT, root): an attacker on the path who forges a
 * legitimate peer's 5-tuple, so that the datagrams pass ICE's check of
 * the source (libnice delivers only datagrams from a remote candidate).
 * Cookie replies then go to the forged address, not here.
 * SIGTERM / SIGINT stop it early (the line below is still printed).
 *
 * Without --target (as scripts/bench runs it: no arguments or --short)
 * it measures the generator itself: as fast as it can for 3 s (1 s with
 * --short) at a socket of its own on 127.0.0.1 under a random key; exit 0.
 *
 * Prints one line:  flood: sent=N seconds=T sent_per_s=R target_per_s=X
 *                   send_errors=E cookie_replies=C
 * Exit 0 when at least 90% of the target rate went out, 1 otherwise
 * (the machine could not keep up: the figure is then not the one asked
 * for), 2 on bad arguments.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "runtime/clock.h"
#include "transport/net/udp.h"
#include "transport/wg/cookie.h"
#include "transport/wg/key.h"
#include "transport/wg/messages.h"
#include "transport/wg/wg.h"

enum {
	BATCH = 64,                    /* datagrams per sendmmsg */
	DEFAULT_RATE_PER_S = 50000,
	DEFAULT_DURATION_S = 10,
	MAX_DURATION_S = 600,
	MAX_RATE_PER_S = 10000000,
	PACE_SLEEP_US = 200,           /* when ahead of schedule */
	RX_BYTES = 128,                /* a cookie reply is 64 */
	MIN_RATE_PERCENT = 90,
	SELF_FULL_S = 3,
	SELF_SHORT_S = 1,
};

/* SIGTERM / SIGINT end the run early; the summary is still printed. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * FLOE_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Random everything after the header; then the MAC1 that makes it worth a responder's time. */
static void make_initiation(uint8_t msg[FLOE_WG_MSG_INITIATION_LEN], const uint8_t mac1_key[FLOE_WG_HASH_LEN])
{
	floe_wg_header_put(msg, FLOE_WG_MSG_INITIATION);
	randombytes_buf(msg + FLOE_WG_INIT_OFF_SENDER, FLOE_WG_INIT_OFF_MAC1 - FLOE_WG_INIT_OFF_SENDER);
	floe_wg_cookie_add_mac1(msg, FLOE_WG_MSG_INITIATION_LEN, mac1_key);
	memset(msg + FLOE_WG_INIT_OFF_MAC2, 0, FLOE_WG_MAC_LEN);
}

/* Non-blocking drain; returns the cookie replies among what was waiting. */
static uint64_t drain_replies(int fd)
{
	static uint8_t bufs[BATCH][RX_BYTES];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	uint64_t n = 0;
	int r;

	do {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ bufs[i], RX_BYTES };
			m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		r = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < r; i++)
			if (m[i].msg_len == FLOE_WG_MSG_COOKIE_REPLY_LEN && bufs[i][0] == FLOE_WG_MSG_COOKIE_REPLY)
				n++;
	} while (r == BATCH);
	return n;
}

/* A socket on 127.0.0.1 that nobody reads: the kernel drops what overflows it. */
static int self_sink(struct sockaddr_storage *to, socklen_t *to_len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)to;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(to, 0, sizeof(*to));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*to_len = sizeof(*sin);
	if (fd < 0 || bind(fd, (struct sockaddr *)sin, *to_len) != 0 ||
	    getsockname(fd, (struct sockaddr *)sin, to_len) != 0) {
		perror("bench_flood: loopback socket");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_flood --target HOST:PORT --public-key BASE64 [--rate PER_S] [--duration-s S]"
		   " [--source HOST:PORT]\n");
}

/* Binds fd to a forged source: IP_TRANSPARENT lets a socket use an
 * address that is not local (CAP_NET_ADMIN). */
static int bind_source(int fd, int family, const char *source)
{
	struct sockaddr_storage from;
	socklen_t from_len = 0;
	int one = 1;
	int level = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int name = family == AF_INET6 ? IPV6_TRANSPARENT : IP_TRANSPARENT;

	if (floe_udp_endpoint_parse(source, &from, &from_len) != 0 || from.ss_family != family) {
		fprintf(stderr, "bench_flood: --source: '%s' is not HOST:PORT of the target's family\n", source);
		return -EINVAL;
	}
	if (setsockopt(fd, level, name, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&from, from_len) != 0) {
		fprintf(stderr, "bench_flood: --source %s: %s (needs root)\n", source, strerror(errno));
		return -errno;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "public-key", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration-s", required_argument, NULL, 'd' },
		{ "source", required_argument, NULL, 'S' },
		{ "short", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static uint8_t msgs[BATCH][FLOE_WG_MSG_INITIATION_LEN];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage to;
	socklen_t to_len = 0;
	uint8_t pub[FLOE_KEY_LEN], mac1_key[FLOE_WG_HASH_LEN];
	const char *target = NULL, *key_b64 = NULL, *source = NULL;
	long rate = DEFAULT_RATE_PER_S, duration_s = DEFAULT_DURATION_S;
	uint64_t sent = 0, errors = 0, replies = 0, start, end, now;
	double secs, per_s;
	int opt, fd, sink = -1;
	bool self_test = false, is_short = false;

	while ((opt = getopt_long(argc, argv, "t:k:r:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 't': target = optarg; break;
		case 'k': key_b64 = optarg; break;
		case 'r': rate = strtol(optarg, NULL, 10); break;
		case 'd': duration_s = strtol(optarg, NULL, 10); break;
		case 'S': source = optarg; break;
		case 's': is_short = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!target && !key_b64 && sodium_init() >= 0) {
		sink = self_sink(&to, &to_len);
		if (sink < 0)
			return 2;
		self_test = true;
		rate = MAX_RATE_PER_S;
		duration_s = is_short ? SELF_SHORT_S : SELF_FULL_S;
		randombytes_buf(pub, sizeof(pub));
		target = "self";
	}
	if ((!self_test && (!target || !key_b64)) || rate <= 0 || rate > MAX_RATE_PER_S ||
	    duration_s <= 0 || duration_s > MAX_DURATION_S) {
		usage(stderr);
		return 2;
	}
	if (!self_test && (sodium_init() < 0 || floe_key_from_base64(pub, key_b64) != 0)) {
		fprintf(stderr, "bench_flood: --public-key: not a 44-char base64 key\n");
		return 2;
	}
	if (!self_test && floe_udp_endpoint_parse(target, &to, &to_len) != 0) {
		fprintf(stderr, "bench_flood: --target: '%s' is not HOST:PORT\n", target);
		return 2;
	}
	floe_wg_cookie_mac1_key(mac1_key, pub);
	fd = socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("bench_flood: socket");
		return 2;
	}
	if (source && !self_test && bind_source(fd, to.ss_family, source) != 0) {
		close(fd);
		return 2;
	}
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ msgs[i], FLOE_WG_MSG_INITIATION_LEN };
		mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &to, .msg_namelen = to_len,
						       .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}

	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	start = now = mono_ns();
	end = start + (uint64_t)duration_s * FLOE_NS_PER_S;
	while (now < end && !stop_requested) {
		/* Where the schedule says we should be by now. */
		uint64_t due = (uint64_t)((double)(now - start) * (double)rate / 1e9);
		int n, r;

		if (sent + errors >= due) {
			replies += drain_replies(fd);
			usleep(PACE_SLEEP_US);
			now = mono_ns();
			continue;
		}
		n = due - sent - errors > BATCH ? BATCH : (int)(due - sent - errors);
		for (int i = 0; i < n; i++)
			make_initiation(msgs[i], mac1_key);
		r = sendmmsg(fd, mm, (unsigned)n, 0);
		if (r < 0) {
			/* ENOBUFS / ECONNREFUSED (an ICMP from a closed port): counted, go on. */
			errors += (uint64_t)n;
		} else {
			sent += (uint64_t)r;
			errors += (uint64_t)(n - r);
		}
		now = mono_ns();
	}
	replies += drain_replies(fd);
	close(fd);
	if (sink >= 0)
		close(sink);
	secs = (double)(now - start) / 1e9;
	per_s = (double)sent / secs;
	printf("flood: sent=%llu seconds=%.2f sent_per_s=%.0f target_per_s=%ld send_errors=%llu cookie_replies=%llu\n",
	       (unsigned long long)sent, secs, per_s, rate, (unsigned long long)errors,
	       (unsigned long long)replies);
	if (self_test)
		return 0;
	return per_s * 100 >= (double)rate * MIN_RATE_PERCENT ? 0 : 1;
}
