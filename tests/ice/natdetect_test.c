#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "transport/ice/natdetect.h"

static struct sockaddr_storage ep(const char *ip, int port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		cr_assert_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

static void see(floe_ice_nat_t *n, floe_ice_nat_side_t side, floe_ice_cand_type_t t, const char *ip,
		int port, const char *bip, int bport)
{
	struct sockaddr_storage a = ep(ip, port), b;

	if (bip)
		b = ep(bip, bport);
	cr_assert_eq(floe_ice_nat_observe(n, side, t, (struct sockaddr *)&a, bip ? (struct sockaddr *)&b : NULL), 0);
}

Test(natdetect, srflx_and_prflx_of_one_socket_differ_is_symmetric)
{
	floe_ice_nat_t n;

	floe_ice_nat_reset(&n);
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_HOST, "10.0.0.2", 5000, NULL, 0);
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, "198.51.100.1", 40001, "10.0.0.2", 5000);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL));
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_PRFLX, "198.51.100.1", 40002, "10.0.0.2", 5000);
	cr_assert(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL));
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_REMOTE), "sides are separate");
}

Test(natdetect, endpoint_independent_mapping_is_not_symmetric)
{
	floe_ice_nat_t n;

	floe_ice_nat_reset(&n);
	/* Same mapping from two servers and from the peer: EIM. */
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, "198.51.100.1", 40001, "10.0.0.2", 5000);
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, "198.51.100.1", 40001, "10.0.0.2", 5000);
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_PRFLX, "198.51.100.1", 40001, "10.0.0.2", 5000);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL));
	/* Two sockets, two ports: a port per socket, not per destination. */
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, "198.51.100.1", 40009, "10.0.0.3", 5000);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL));
	/* Different public IPs (two NATs / multihomed): nothing proven. */
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_PRFLX, "203.0.113.7", 40077, "10.0.0.2", 5000);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL));
	/* Relay candidates never count. */
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_RELAY, "198.51.100.1", 50000, "10.0.0.2", 5000);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL));
}

Test(natdetect, remote_prflx_without_base_needs_a_single_socket)
{
	floe_ice_nat_t n;

	floe_ice_nat_reset(&n);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_HOST, "10.1.0.2", 6000, NULL, 0);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_HOST, "10.2.0.2", 6000, NULL, 0);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_SRFLX, "198.51.100.9", 41000, "10.1.0.2", 6000);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_PRFLX, "198.51.100.9", 41500, NULL, 0);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_REMOTE),
		      "two IPv4 sockets: the prflx may belong to the other one");

	floe_ice_nat_reset(&n);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_HOST, "10.1.0.2", 6000, NULL, 0);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_HOST, "fd00::2", 6000, NULL, 0);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_SRFLX, "198.51.100.9", 41000, "10.1.0.2", 6000);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_PRFLX, "198.51.100.9", 41500, NULL, 0);
	cr_assert(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_REMOTE), "one IPv4 socket");
}

Test(natdetect, ipv6_and_duplicates)
{
	floe_ice_nat_t n;

	floe_ice_nat_reset(&n);
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, "2001:db8::1", 7000, "fd00::5", 7000);
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, "2001:db8::1", 7000, "fd00::5", 7000);
	cr_assert_eq(n.side[FLOE_ICE_NAT_LOCAL].n_refl, 1, "a re-announced candidate is kept once");
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL));
	see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, "2001:db8::1", 7001, "fd00::5", 7000);
	cr_assert(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL));
}

Test(natdetect, bounded_and_bad_input)
{
	floe_ice_nat_t n;
	struct sockaddr_storage a = ep("198.51.100.1", 1), bad;

	floe_ice_nat_reset(&n);
	memset(&bad, 0, sizeof(bad));
	cr_assert_eq(floe_ice_nat_observe(NULL, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, (struct sockaddr *)&a, NULL), -EINVAL);
	cr_assert_eq(floe_ice_nat_observe(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, NULL, NULL), -EINVAL);
	cr_assert_eq(floe_ice_nat_observe(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, (struct sockaddr *)&bad, NULL), -EINVAL);
	cr_assert_eq(floe_ice_nat_observe(&n, (floe_ice_nat_side_t)7, FLOE_ICE_CAND_SRFLX, (struct sockaddr *)&a, NULL), -EINVAL);
	cr_assert_not(floe_ice_nat_symmetric(NULL, FLOE_ICE_NAT_LOCAL));
	for (int i = 0; i < FLOE_ICE_NAT_MAX_REFLEXIVE + 5; i++)
		see(&n, FLOE_ICE_NAT_LOCAL, FLOE_ICE_CAND_SRFLX, "198.51.100.1", 1000 + i, "10.0.0.1", 1000 + i);
	cr_assert_eq(n.side[FLOE_ICE_NAT_LOCAL].n_refl, FLOE_ICE_NAT_MAX_REFLEXIVE);
	cr_assert_eq(n.side[FLOE_ICE_NAT_LOCAL].ignored, 5);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_LOCAL), "one port per socket");
}

/* A peer with two sockets (a LAN and a second interface), both mapped by
 * the same NAT: a prflx matching neither mapping shows an endpoint-
 * dependent NAT; one matching either is just that socket's mapping. */
Test(natdetect, remote_prflx_against_every_socket_mapping)
{
	floe_ice_nat_t n;

	floe_ice_nat_reset(&n);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_HOST, "10.1.0.2", 6000, NULL, 0);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_HOST, "10.3.0.1", 6001, NULL, 0);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_SRFLX, "198.51.100.9", 41000, "10.1.0.2", 6000);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_PRFLX, "198.51.100.9", 41777, NULL, 0);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_REMOTE),
		      "the second socket's mapping is unknown: the prflx may be it");
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_SRFLX, "198.51.100.9", 41001, "10.3.0.1", 6001);
	cr_assert(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_REMOTE), "matches neither socket's mapping");

	floe_ice_nat_reset(&n);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_HOST, "10.1.0.2", 6000, NULL, 0);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_HOST, "10.3.0.1", 6001, NULL, 0);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_SRFLX, "198.51.100.9", 41000, "10.1.0.2", 6000);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_SRFLX, "198.51.100.9", 41001, "10.3.0.1", 6001);
	see(&n, FLOE_ICE_NAT_REMOTE, FLOE_ICE_CAND_PRFLX, "198.51.100.9", 41001, NULL, 0);
	cr_assert_not(floe_ice_nat_symmetric(&n, FLOE_ICE_NAT_REMOTE), "the second socket's own mapping: EIM");
}
