/* Batched UDP over loopback, dual-stack addressing, endpoint parsing. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "transport/net/udp.h"

enum { TEST_WAIT_MS = 2000, TEST_DGRAMS = 5 };

static struct sockaddr_storage loopback4(uint16_t port, socklen_t *len)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*s4);
	return ss;
}

/* Receives until `want` datagrams arrived or TEST_WAIT_MS passed. */
static int recv_all(floe_udp_t *u, floe_udp_dgram_t *d, int want)
{
	int got = 0;

	while (got < want) {
		struct pollfd p = { .fd = floe_udp_fd(u), .events = POLLIN };

		if (poll(&p, 1, TEST_WAIT_MS) <= 0)
			break;
		int r = floe_udp_recv_batch(u, d + got, (size_t)(want - got));
		cr_assert_geq(r, 0);
		got += r;
	}
	return got;
}

Test(udp, batch_round_trip_over_ipv4_loopback)
{
	int err = 0;
	floe_udp_t *a = floe_udp_new(0, &err), *b = floe_udp_new(0, &err);
	uint8_t out[TEST_DGRAMS][64], in[TEST_DGRAMS][64];
	floe_udp_dgram_t tx[TEST_DGRAMS], rx[TEST_DGRAMS];
	socklen_t len;
	struct sockaddr_storage to;

	cr_assert_not_null(a, "err %d", err);
	cr_assert_not_null(b, "err %d", err);
	cr_assert_neq(floe_udp_port(b), 0);
	to = loopback4(floe_udp_port(b), &len);
	for (int i = 0; i < TEST_DGRAMS; i++) {
		memset(out[i], 'a' + i, sizeof(out[i]));
		tx[i] = (floe_udp_dgram_t){ .buf = out[i], .cap = sizeof(out[i]),
					    .len = (size_t)(10 + i), .addr = to, .addr_len = len };
		rx[i] = (floe_udp_dgram_t){ .buf = in[i], .cap = sizeof(in[i]) };
	}
	cr_assert_eq(floe_udp_send_batch(a, tx, TEST_DGRAMS), TEST_DGRAMS);
	cr_assert_eq(recv_all(b, rx, TEST_DGRAMS), TEST_DGRAMS);
	for (int i = 0; i < TEST_DGRAMS; i++) {
		cr_expect_eq(rx[i].len, (size_t)(10 + i), "dgram %d", i);
		cr_expect_eq(in[i][0], 'a' + i, "order kept");
		/* The source is a's port on 127.0.0.1, whatever the family. */
		struct sockaddr_storage src = loopback4(floe_udp_port(a), &len);
		cr_expect(floe_udp_endpoint_equal(&rx[i].addr, &src));
		char s[FLOE_UDP_ENDPOINT_STR_MAX], want[FLOE_UDP_ENDPOINT_STR_MAX];
		floe_udp_endpoint_format(&rx[i].addr, s, sizeof(s));
		snprintf(want, sizeof(want), "127.0.0.1:%u", floe_udp_port(a));
		cr_expect_str_eq(s, want, "v4-mapped shown as IPv4");
	}
	/* Nothing more waiting: 0, not an error. */
	cr_expect_eq(floe_udp_recv_batch(b, rx, 1), 0);
	cr_expect_eq(floe_udp_recv_batch(b, rx, FLOE_UDP_BATCH_MAX + 1), -EINVAL);
	floe_udp_destroy(&a);
	floe_udp_destroy(&b);
	cr_expect_null(a);
	floe_udp_destroy(&b);
}

Test(udp, truncated_datagram_reports_zero_length)
{
	int err;
	floe_udp_t *a = floe_udp_new(0, &err), *b = floe_udp_new(0, &err);
	uint8_t big[100] = { 0 }, small[8];
	socklen_t len;
	struct sockaddr_storage to = loopback4(floe_udp_port(b), &len);
	floe_udp_dgram_t rx = { .buf = small, .cap = sizeof(small) };

	cr_assert_eq(floe_udp_send(a, big, sizeof(big), &to, len), 0);
	cr_assert_eq(recv_all(b, &rx, 1), 1);
	cr_expect_eq(rx.len, 0, "oversized datagram must be flagged, not passed on cut");
	floe_udp_destroy(&a);
	floe_udp_destroy(&b);
}

Test(udp, ipv6_loopback_when_available)
{
	int err;
	floe_udp_t *a = floe_udp_new(0, &err), *b = floe_udp_new(0, &err);
	struct sockaddr_storage to;
	socklen_t len;
	char ep[FLOE_UDP_ENDPOINT_STR_MAX];
	uint8_t in[16];
	floe_udp_dgram_t rx = { .buf = in, .cap = sizeof(in) };

	cr_assert_not_null(a);
	if (floe_udp_family(a) != AF_INET6)
		cr_skip_test("no IPv6 on this host: the socket fell back to IPv4");
	snprintf(ep, sizeof(ep), "[::1]:%u", floe_udp_port(b));
	cr_assert_eq(floe_udp_endpoint_parse(ep, &to, &len), 0);
	cr_assert_eq(floe_udp_send(a, "six", 3, &to, len), 0);
	cr_assert_eq(recv_all(b, &rx, 1), 1);
	cr_expect_eq(rx.len, 3);
	floe_udp_endpoint_format(&rx.addr, ep, sizeof(ep));
	cr_expect_eq(strncmp(ep, "[::1]:", 6), 0, "%s", ep);
	floe_udp_destroy(&a);
	floe_udp_destroy(&b);
}

struct ep_case {
	const char *in;
	int ret;
	const char *formatted;
};

Test(udp, endpoint_parse_table)
{
	static const struct ep_case cases[] = {
		{ "192.0.2.1:51820", 0, "192.0.2.1:51820" },
		{ "[2001:db8::1]:443", 0, "[2001:db8::1]:443" },
		{ "localhost:9", 0, NULL },
		{ "192.0.2.1", -EINVAL, NULL },
		{ "192.0.2.1:", -EINVAL, NULL },
		{ "192.0.2.1:0", -EINVAL, NULL },
		{ "192.0.2.1:65536", -EINVAL, NULL },
		{ "192.0.2.1:12ab", -EINVAL, NULL },
		{ "192.0.2.1:-1", -EINVAL, NULL },
		{ "2001:db8::1:443", -EINVAL, NULL },
		{ "[2001:db8::1:443", -EINVAL, NULL },
		{ "[2001:db8::1]443", -EINVAL, NULL },
		{ "[192.0.2.1]:443", -EINVAL, NULL },
		{ "[]:1", -EINVAL, NULL },
		{ ":51820", -EINVAL, NULL },
		{ "", -EINVAL, NULL },
	};
	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		char buf[FLOE_UDP_ENDPOINT_STR_MAX];
		int r = floe_udp_endpoint_parse(cases[i].in, &ss, &len);

		cr_expect_eq(r, cases[i].ret, "case %zu '%s': %d", i, cases[i].in, r);
		if (r || !cases[i].formatted)
			continue;
		floe_udp_endpoint_format(&ss, buf, sizeof(buf));
		cr_expect_str_eq(buf, cases[i].formatted, "case %zu", i);
	}
}

/* UDP GSO: runs of equal-size datagrams to one address leave as one send;
 * the receivers must still see every datagram, whole, in order, from the
 * right sender, and a run must end at a new address, a longer datagram or
 * a shorter one. */
enum { GSO_DGRAMS = FLOE_UDP_BATCH_MAX, GSO_BIG_BYTES = 1452, GSO_CAP_BYTES = 2048 };

Test(udp, gso_runs_arrive_as_separate_datagrams)
{
	int err = 0;
	floe_udp_t *a = floe_udp_new(0, &err), *b = floe_udp_new(0, &err), *c = floe_udp_new(0, &err);
	static uint8_t out[GSO_DGRAMS][GSO_CAP_BYTES], in[GSO_DGRAMS][GSO_CAP_BYTES];
	floe_udp_dgram_t tx[GSO_DGRAMS], rx[GSO_DGRAMS];
	struct sockaddr_storage to_b, to_c;
	socklen_t lb, lc;
	/* Per datagram: receiver (0 = b, 1 = c) and length. Runs: 12 x 1452
	 * to b ended by a shorter one, 6 to c, a longer one after a shorter
	 * one to b (cannot join), then 8 x 100 to b. */
	int dst[GSO_DGRAMS];
	size_t lens[GSO_DGRAMS];
	int want_b = 0, want_c = 0;

	cr_assert(a && b && c, "err %d", err);
	to_b = loopback4(floe_udp_port(b), &lb);
	to_c = loopback4(floe_udp_port(c), &lc);
	for (int i = 0; i < GSO_DGRAMS; i++) {
		if (i < 12) {
			dst[i] = 0, lens[i] = GSO_BIG_BYTES;
		} else if (i == 12) {
			dst[i] = 0, lens[i] = 700;
		} else if (i < 19) {
			dst[i] = 1, lens[i] = GSO_BIG_BYTES;
		} else if (i == 19) {
			dst[i] = 0, lens[i] = 50;
		} else if (i == 20) {
			dst[i] = 0, lens[i] = 900;
		} else {
			dst[i] = 0, lens[i] = 100;
		}
		/* Every byte names its datagram and position. */
		for (size_t k = 0; k < lens[i]; k++)
			out[i][k] = (uint8_t)(i * 7 + k);
		tx[i] = (floe_udp_dgram_t){ .buf = out[i], .cap = GSO_CAP_BYTES, .len = lens[i],
					    .addr = dst[i] ? to_c : to_b, .addr_len = dst[i] ? lc : lb };
		rx[i] = (floe_udp_dgram_t){ .buf = in[i], .cap = GSO_CAP_BYTES };
		if (dst[i])
			want_c++;
		else
			want_b++;
	}
	int sent = 0;
	for (int tries = 0; sent < GSO_DGRAMS && tries < 100; tries++) {
		int r = floe_udp_send_batch(a, tx + sent, (size_t)(GSO_DGRAMS - sent));

		cr_assert_gt(r, 0, "send_batch: %d", r);
		sent += r;
	}
	cr_assert_eq(sent, GSO_DGRAMS);
	cr_assert_eq(recv_all(b, rx, want_b), want_b);
	cr_assert_eq(recv_all(c, rx + want_b, want_c), want_c);
	int ib = 0, ic = want_b;
	for (int i = 0; i < GSO_DGRAMS; i++) {
		int j = dst[i] ? ic++ : ib++;

		cr_assert_eq(rx[j].len, lens[i], "datagram %d arrived with %zu bytes, sent %zu", i,
			     rx[j].len, lens[i]);
		for (size_t k = 0; k < lens[i]; k++)
			cr_assert_eq(in[j][k], (uint8_t)(i * 7 + k), "datagram %d byte %zu", i, k);
		struct sockaddr_storage src = loopback4(floe_udp_port(a), &lb);
		cr_expect(floe_udp_endpoint_equal(&rx[j].addr, &src));
	}
	/* Nothing extra: a GSO send cut wrongly would leave more pieces. */
	cr_expect_eq(floe_udp_recv_batch(b, rx, 1), 0);
	cr_expect_eq(floe_udp_recv_batch(c, rx, 1), 0);
	floe_udp_destroy(&a);
	floe_udp_destroy(&b);
	floe_udp_destroy(&c);
}
