/*
 * addrwatch: address and link notifications from a veth interface in a
 * network namespace of the test's own (root; skipped otherwise; this
 * kernel has no dummy module).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "transport/net/addrwatch.h"

/* Waits up to 1 s for the socket to become readable, then reads. */
static int wait_read(floe_addrwatch_t *w)
{
	struct pollfd p = { .fd = floe_addrwatch_fd(w), .events = POLLIN };

	(void)poll(&p, 1, 1000);
	return floe_addrwatch_read(w);
}

static void sh(const char *cmd)
{
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(addrwatch, reports_address_and_link_changes, .timeout = 20)
{
	floe_addrwatch_t *w;
	int err = 0, idx;

	if (geteuid() != 0)
		cr_skip_test("needs root: a network namespace with a veth pair");
	cr_assert_eq(unshare(CLONE_NEWNET), 0);
	/* No link-local IPv6 address appearing later on its own. */
	sh("ip link add h16dummy type veth peer name h16peer && ip link set h16dummy addrgenmode none && "
	   "ip link set h16peer addrgenmode none && ip link set h16dummy up && "
	   "ip link set h16peer up && ip link set lo up");
	w = floe_addrwatch_new(&err);
	cr_assert_not_null(w, "%d", err);
	cr_assert_geq(floe_addrwatch_fd(w), 0);
	cr_expect_eq(floe_addrwatch_read(w), 0, "nothing happened yet");

	sh("ip addr add 192.0.2.10/24 dev h16dummy");
	cr_expect_eq(wait_read(w), 1, "a new address");
	cr_expect_eq(floe_addrwatch_read(w), 0, "drained");
	sh("ip addr del 192.0.2.10/24 dev h16dummy");
	cr_expect_eq(wait_read(w), 1, "a removed address");
	sh("ip -6 addr add 2001:db8::10/64 dev h16dummy nodad");
	cr_expect_eq(wait_read(w), 1, "a new IPv6 address");

	/* The node's own TUN is ignored. */
	idx = (int)if_nametoindex("h16dummy");
	cr_assert_gt(idx, 0);
	floe_addrwatch_ignore(w, idx);
	sh("ip addr add 192.0.2.11/24 dev h16dummy");
	cr_expect_eq(wait_read(w), 0, "an ignored interface");
	floe_addrwatch_ignore(w, 0);

	/* A link going down counts through the addresses it loses (IPv6 ones
	 * are flushed), not by itself: link state is liveness's business. */
	sh("ip link set h16peer down");
	cr_expect_eq(wait_read(w), 0, "a link without addresses down");
	sh("ip link set h16dummy down");
	cr_expect_eq(wait_read(w), 1, "a link down losing its global IPv6 address");
	/* Link-local and host-scope addresses carry no path of ours. */
	sh("ip link set h16dummy up && ip -6 addr add fe80::10/64 dev h16dummy nodad");
	cr_expect_eq(wait_read(w), 0, "a link-local address");
	sh("ip addr add 127.0.0.9/8 dev lo");
	cr_expect_eq(wait_read(w), 0, "a host-scope address");

	/* Pinned: only the pinned addresses count, both families. */
	{
		const char *pinned[] = { "192.0.2.20", "2001:db8::20" };
		const char *bad[] = { "192.0.2.300" };

		cr_assert_eq(floe_addrwatch_only(w, bad, 1), -EINVAL);
		cr_assert_eq(floe_addrwatch_only(w, pinned, 2), 0);
		sh("ip addr add 192.0.2.21/24 dev h16dummy");
		cr_expect_eq(wait_read(w), 0, "an address that is not pinned");
		sh("ip addr add 192.0.2.20/24 dev h16dummy");
		cr_expect_eq(wait_read(w), 1, "a pinned address added");
		sh("ip addr del 192.0.2.20/24 dev h16dummy");
		cr_expect_eq(wait_read(w), 1, "a pinned address removed");
		sh("ip -6 addr add 2001:db8::20/64 dev h16dummy nodad");
		cr_expect_eq(wait_read(w), 1, "a pinned IPv6 address");
		cr_assert_eq(floe_addrwatch_only(w, NULL, 0), 0);
		sh("ip addr add 192.0.2.22/24 dev h16dummy");
		cr_expect_eq(wait_read(w), 1, "the filter cleared");
	}
	floe_addrwatch_destroy(&w);
	cr_expect_null(w);
	floe_addrwatch_destroy(&w);
	floe_addrwatch_destroy(NULL);
}

Test(addrwatch, null_is_refused)
{
	cr_expect_eq(floe_addrwatch_read(NULL), -EINVAL);
	cr_expect_eq(floe_addrwatch_fd(NULL), -1);
	floe_addrwatch_ignore(NULL, 3);
	cr_expect_eq(floe_addrwatch_only(NULL, NULL, 0), -EINVAL);
}
