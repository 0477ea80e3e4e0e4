/*
 * TUN device and its netlink configuration, in a private network namespace
 * (so nothing leaks into the host): create, set MTU/address/route, read the
 * configuration back with ip -j, then push a packet through the kernel in
 * both directions. Needs root; skips without it.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/net/netlink.h"
#include "transport/net/tun.h"

enum { TEST_WAIT_MS = 2000, TEST_MTU = 1380, TEST_PORT = 40999 };
#define TUN_NAME "fwgt0"

/* Every test runs in its own process (Criterion forks): a fresh namespace
 * there vanishes with the process, interfaces and all. */
static void enter_private_netns(void)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0)
		cr_skip_test("needs root and /dev/net/tun: TUN and netlink configuration");
	if (unshare(CLONE_NEWNET) != 0)
		cr_skip_test("needs root: unshare(CLONE_NEWNET) failed (%s)", strerror(errno));
	cr_assert_eq(floe_netlink_link_set((int)if_nametoindex("lo"), true, 0), 0);
}

/* Runs a command, returns its stdout (truncated to cap). */
static void run(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	cr_assert_not_null(p, "%s", cmd);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	pclose(p);
}

static floe_tun_t *configured_tun(void)
{
	int err = 0;
	floe_tun_t *t = floe_tun_new(TUN_NAME, &err);
	floe_cidr_t addr, route;

	cr_assert_not_null(t, "floe_tun_new: %s", strerror(-err));
	cr_assert_str_eq(floe_tun_name(t), TUN_NAME);
	cr_assert_gt(floe_tun_ifindex(t), 0);
	cr_assert_eq(floe_cidr_parse("10.77.0.1/24", &addr), 0);
	cr_assert_eq(floe_cidr_parse("10.78.0.0/16", &route), 0);
	cr_assert_eq(floe_tun_add_address(t, &addr), 0);
	cr_assert_eq(floe_tun_add_address(t, &addr), -EEXIST, "second add reports EEXIST");
	cr_assert_eq(floe_tun_set_up(t, TEST_MTU), 0);
	cr_assert_eq(floe_tun_add_route(t, &route), 0);
	return t;
}

enum { UDP_PONG_BYTES = 20 + 8 + 4 };

/* An IPv4/UDP packet "pong" from 10.78.0.5:0x1234 to dst:TEST_PORT. */
static void udp_pong(uint8_t pkt[UDP_PONG_BYTES], const struct in_addr *dst)
{
	uint32_t sum = 0;

	memset(pkt, 0, UDP_PONG_BYTES);
	pkt[0] = 0x45, pkt[3] = UDP_PONG_BYTES, pkt[6] = 0x40, pkt[8] = 64, pkt[9] = IPPROTO_UDP;
	inet_pton(AF_INET, "10.78.0.5", pkt + 12);
	memcpy(pkt + 16, dst, 4);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	pkt[10] = (uint8_t)(~sum >> 8);
	pkt[11] = (uint8_t)~sum;
	pkt[20] = 0x12, pkt[21] = 0x34;             /* source port */
	pkt[22] = TEST_PORT >> 8, pkt[23] = TEST_PORT & 0xff;
	pkt[25] = 12;                               /* UDP length; checksum 0 = none */
	memcpy(pkt + 28, "pong", 4);
}

Test(tun, netlink_configuration_reads_back)
{
	char out[8192];
	floe_tun_t *t;
	floe_cidr_t a6;

	enter_private_netns();
	t = configured_tun();
	cr_assert_eq(floe_cidr_parse("fd77::1/64", &a6), 0);
	cr_assert_eq(floe_tun_add_address(t, &a6), 0);

	run("ip -j addr show dev " TUN_NAME, out, sizeof(out));
	cr_expect_not_null(strstr(out, "\"mtu\":1380"), "%s", out);
	cr_expect_not_null(strstr(out, "\"local\":\"10.77.0.1\",\"prefixlen\":24"), "%s", out);
	cr_expect_not_null(strstr(out, "\"local\":\"fd77::1\",\"prefixlen\":64"), "%s", out);
	cr_expect_not_null(strstr(out, "\"UP\""), "%s", out);
	run("ip -j route show dev " TUN_NAME, out, sizeof(out));
	cr_expect_not_null(strstr(out, "\"dst\":\"10.78.0.0/16\""), "%s", out);

	cr_expect_eq(floe_netlink_link_set(floe_tun_ifindex(t), true, 100), -EINVAL, "MTU too small");
	cr_expect_eq(floe_netlink_route_add(0, &a6), -EINVAL);
	floe_tun_destroy(&t);
	cr_expect_null(t);
	floe_tun_destroy(&t);
	cr_expect_eq(if_nametoindex(TUN_NAME), 0, "closing the fd removes the interface");
}

Test(tun, routed_packet_is_read_and_written_packet_is_delivered)
{
	floe_tun_t *t;
	static uint8_t bufs[FLOE_TUN_BATCH_MAX][2048];
	floe_tun_pkt_t pkts[FLOE_TUN_BATCH_MAX];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct pollfd p;
	int s, n;

	enter_private_netns();
	/* A link that is down receives nothing: an empty read is 0, not an error. */
	int err;
	floe_tun_t *idle = floe_tun_new("fwgt1", &err);
	cr_assert_not_null(idle);
	pkts[0] = (floe_tun_pkt_t){ .buf = bufs[0], .cap = sizeof(bufs[0]) };
	cr_expect_eq(floe_tun_read_batch(idle, pkts, 1), 0, "EAGAIN reads as an empty batch");
	floe_tun_destroy(&idle);

	t = configured_tun();
	cr_expect_eq(floe_tun_read_batch(t, pkts, 0), 0, "nothing asked, nothing read");

	/* Host -> TUN: a datagram to 10.78.0.5 follows the route into the TUN. */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(s, 0);
	inet_pton(AF_INET, "10.78.0.5", &to.sin_addr);
	cr_assert_eq(sendto(s, "hello", 5, 0, (struct sockaddr *)&to, sizeof(to)), 5);
	/* The kernel may also send its own IPv6 packets (MLD, router
	 * solicitations) into a fresh link: look for ours among them. */
	uint8_t *ours = NULL;
	size_t ours_len = 0;
	for (int round = 0; !ours && round < 10; round++) {
		p = (struct pollfd){ .fd = floe_tun_fd(t), .events = POLLIN };
		cr_assert_eq(poll(&p, 1, TEST_WAIT_MS), 1, "no packet came out of the TUN");
		for (int i = 0; i < FLOE_TUN_BATCH_MAX; i++)
			pkts[i] = (floe_tun_pkt_t){ .buf = bufs[i], .cap = sizeof(bufs[i]) };
		n = floe_tun_read_batch(t, pkts, FLOE_TUN_BATCH_MAX);
		cr_assert_gt(n, 0);
		for (int i = 0; i < n; i++)
			if (pkts[i].buf[0] >> 4 == 4) {
				ours = pkts[i].buf;
				ours_len = pkts[i].len;
			}
	}
	cr_assert_not_null(ours, "the routed IPv4 datagram never came out");
	cr_expect_eq(ours_len, 20 + 8 + 5, "IPv4 + UDP + payload, no PI header");
	cr_expect_eq(ours[0], 0x45);
	cr_expect_eq(ours[9], IPPROTO_UDP);
	cr_expect_eq(memcmp(ours + 16, &to.sin_addr, 4), 0, "destination 10.78.0.5");
	cr_expect_eq(memcmp(ours + 28, "hello", 5), 0);
	close(s);

	/* TUN -> host: a UDP packet from 10.78.0.5 to 10.77.0.1:TEST_PORT. */
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons(TEST_PORT) };
	inet_pton(AF_INET, "10.77.0.1", &local.sin_addr);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&local, sizeof(local)), 0);
	uint8_t pkt[UDP_PONG_BYTES];
	udp_pong(pkt, &local.sin_addr);
	cr_assert_eq(floe_tun_write(t, pkt, sizeof(pkt)), 0);
	p = (struct pollfd){ .fd = s, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, TEST_WAIT_MS), 1, "written packet never reached the socket");
	char got[8];
	cr_expect_eq(recv(s, got, sizeof(got), 0), 4);
	cr_expect_eq(memcmp(got, "pong", 4), 0);
	close(s);
	floe_tun_destroy(&t);
}

Test(tun, bad_name_is_refused)
{
	int err = 0;

	cr_expect_null(floe_tun_new("fwg-a-name-far-too-long", &err));
	cr_expect_eq(err, -EINVAL);
}

/* With FLOE_TUN_F_OFFLOAD every read starts with a virtio-net header that
 * floe_offload_split understands, and floe_tun_write adds one itself. */
Test(tun, offload_reads_carry_a_vnet_header_and_writes_deliver)
{
	int err = 0;
	floe_tun_t *t;
	static uint8_t frame[70000];
	floe_tun_pkt_t pkt = { .buf = frame, .cap = sizeof(frame) };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	floe_cidr_t addr, route;
	struct pollfd p;
	int s;

	enter_private_netns();
	t = floe_tun_new_flags("fwgt2", FLOE_TUN_F_OFFLOAD, &err);
	cr_assert_not_null(t, "floe_tun_new_flags: %s", strerror(-err));
	cr_expect(floe_tun_offload(t));
	cr_assert_eq(floe_cidr_parse("10.77.0.1/24", &addr), 0);
	cr_assert_eq(floe_cidr_parse("10.78.0.0/16", &route), 0);
	cr_assert_eq(floe_tun_add_address(t, &addr), 0);
	cr_assert_eq(floe_tun_set_up(t, TEST_MTU), 0);
	cr_assert_eq(floe_tun_add_route(t, &route), 0);

	s = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(s, 0);
	inet_pton(AF_INET, "10.78.0.5", &to.sin_addr);
	cr_assert_eq(sendto(s, "hello", 5, 0, (struct sockaddr *)&to, sizeof(to)), 5);
	close(s);
	bool found = false;
	for (int round = 0; !found && round < 10; round++) {
		p = (struct pollfd){ .fd = floe_tun_fd(t), .events = POLLIN };
		cr_assert_eq(poll(&p, 1, TEST_WAIT_MS), 1, "no packet came out of the TUN");
		pkt.cap = sizeof(frame);
		cr_assert_eq(floe_tun_read_batch(t, &pkt, 1), 1);
		const uint8_t *ip = frame + FLOE_TUN_VNET_HDR_BYTES;
		if (pkt.len == FLOE_TUN_VNET_HDR_BYTES + 33 && ip[0] == 0x45) {
			found = true;
			cr_expect_eq(frame[1], 0, "a small datagram is not GSO");
			cr_expect_eq(memcmp(ip + 28, "hello", 5), 0);
		}
	}
	cr_expect(found, "the routed IPv4 datagram never came out behind a vnet header");

	/* TUN -> host through the header-adding write. */
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons(TEST_PORT) };
	inet_pton(AF_INET, "10.77.0.1", &local.sin_addr);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&local, sizeof(local)), 0);
	uint8_t w[UDP_PONG_BYTES];
	udp_pong(w, &local.sin_addr);
	cr_assert_eq(floe_tun_write(t, w, sizeof(w)), 0);
	p = (struct pollfd){ .fd = s, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, TEST_WAIT_MS), 1, "written packet never reached the socket");
	char got[8];
	cr_expect_eq(recv(s, got, sizeof(got), 0), 4);
	cr_expect_eq(memcmp(got, "pong", 4), 0);
	close(s);
	floe_tun_destroy(&t);
	cr_expect_eq(floe_tun_offload(t), false, "NULL has no offload");
}

/* A sharded gateway's per-client host routes: set creates or moves the
 * route to this TUN (NLM_F_REPLACE), del removes it only from this TUN. */
Test(tun, host_route_set_moves_and_del_removes)
{
	char out[8192];
	floe_tun_t *a, *b;
	floe_cidr_t h4, h6;
	int err = 0;

	enter_private_netns();
	a = configured_tun();
	b = floe_tun_new("fwgt1", &err);
	cr_assert_not_null(b, "floe_tun_new: %s", strerror(-err));
	cr_assert_eq(floe_tun_set_up(b, TEST_MTU), 0);
	cr_assert_eq(floe_cidr_parse("100.64.0.7/32", &h4), 0);
	cr_assert_eq(floe_cidr_parse("fd00::7/128", &h6), 0);

	cr_assert_eq(floe_tun_set_host_route(a, &h4, true), 0);
	cr_assert_eq(floe_tun_set_host_route(a, &h4, true), 0, "again: no EEXIST");
	cr_assert_eq(floe_tun_set_host_route(a, &h6, true), 0);
	run("ip route show 100.64.0.7/32", out, sizeof(out));
	cr_assert_not_null(strstr(out, "dev " TUN_NAME), "%s", out);
	run("ip -6 route show fd00::7/128", out, sizeof(out));
	cr_assert_not_null(strstr(out, "dev " TUN_NAME), "%s", out);
	/* the client moved to the other worker: its route follows */
	cr_assert_eq(floe_tun_set_host_route(b, &h4, true), 0);
	run("ip route show 100.64.0.7/32", out, sizeof(out));
	cr_assert_not_null(strstr(out, "dev fwgt1"), "%s", out);
	cr_assert_null(strstr(out, "dev " TUN_NAME), "one route: %s", out);
	/* the old worker's late removal does not take the new one's route */
	cr_assert_eq(floe_tun_set_host_route(a, &h4, false), -ESRCH);
	run("ip route show 100.64.0.7/32", out, sizeof(out));
	cr_assert_not_null(strstr(out, "dev fwgt1"), "%s", out);
	cr_assert_eq(floe_tun_set_host_route(b, &h4, false), 0);
	cr_assert_eq(floe_tun_set_host_route(a, &h6, false), 0);
	run("ip route show 100.64.0.7/32; ip -6 route show fd00::7/128", out, sizeof(out));
	cr_assert_str_eq(out, "");
	cr_assert_eq(floe_tun_set_host_route(b, &h4, false), -ESRCH, "gone");
	cr_assert_eq(floe_tun_set_host_route(NULL, &h4, true), -EINVAL);
	floe_tun_destroy(&b);
	floe_tun_destroy(&a);
}
