/* AllowedIPs longest-prefix match, table-driven: overlapping prefixes, /0,
 * both families, re-insertion moving a prefix, removal by owner. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/socket.h>

#include "transport/net/allowedips.h"

static int owners[4]; /* A, B, C, D: only their addresses matter */
#define A (&owners[0])
#define B (&owners[1])
#define C (&owners[2])
#define D (&owners[3])

static void insert(floe_allowedips_t *t, const char *cidr, void *owner)
{
	floe_cidr_t c;

	cr_assert_eq(floe_cidr_parse(cidr, &c), 0, "%s", cidr);
	cr_assert_eq(floe_allowedips_insert(t, &c, owner), 0, "%s", cidr);
}

static void *lookup(floe_allowedips_t *t, const char *ip)
{
	uint8_t a[16];
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;

	cr_assert_eq(inet_pton(fam, ip, a), 1, "%s", ip);
	return floe_allowedips_lookup(t, fam, a);
}

struct lookup_case {
	const char *ip;
	void *want;
};

Test(allowedips, longest_prefix_wins)
{
	floe_allowedips_t *t = floe_allowedips_new();

	cr_assert_not_null(t);
	/* Inserted shortest-first and longest-first mixed on purpose. */
	insert(t, "10.0.0.0/8", A);
	insert(t, "10.1.2.0/24", C);
	insert(t, "10.1.0.0/16", B);
	insert(t, "10.1.2.3/32", D);
	insert(t, "0.0.0.0/0", D);
	insert(t, "fd00::/8", A);
	insert(t, "fd00:1::/32", B);
	insert(t, "fd00:1::1/128", C);

	const struct lookup_case cases[] = {
		{ "10.200.0.1", A },
		{ "10.1.99.1", B },
		{ "10.1.2.4", C },
		{ "10.1.2.3", D },
		{ "192.0.2.1", D },      /* only /0 covers it */
		{ "fd12::1", A },
		{ "fd00:1:2::1", B },
		{ "fd00:1::1", C },
		{ "fd00:1::2", B },
		{ "2001:db8::1", NULL }, /* no IPv6 default */
	};
	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++)
		cr_expect_eq(lookup(t, cases[i].ip), cases[i].want, "case %zu %s", i, cases[i].ip);
	cr_expect_eq(floe_allowedips_count(t), 8);
	floe_allowedips_destroy(&t);
	cr_expect_null(t);
	floe_allowedips_destroy(&t);
	floe_allowedips_destroy(NULL);
}

Test(allowedips, reinsert_moves_prefix_and_host_bits_are_ignored)
{
	floe_allowedips_t *t = floe_allowedips_new();

	insert(t, "10.9.0.7/16", A); /* stored as 10.9.0.0/16 */
	cr_expect_eq(lookup(t, "10.9.255.1"), A);
	insert(t, "10.9.0.0/16", B);
	cr_expect_eq(lookup(t, "10.9.255.1"), B, "same prefix moves to the new owner");
	cr_expect_eq(floe_allowedips_count(t), 1);
	floe_allowedips_destroy(&t);
}

Test(allowedips, remove_owner_and_bad_input)
{
	floe_allowedips_t *t = floe_allowedips_new();
	floe_cidr_t bad = { .family = AF_UNIX, .prefix = 0 };
	floe_cidr_t c;

	insert(t, "10.0.0.0/8", A);
	insert(t, "10.1.0.0/16", B);
	insert(t, "::/0", B);
	floe_allowedips_remove_owner(t, B);
	cr_expect_eq(lookup(t, "10.1.0.1"), A, "falls back to the shorter prefix");
	cr_expect_null(lookup(t, "::1"));
	cr_expect_eq(floe_allowedips_count(t), 1);

	cr_expect_eq(floe_allowedips_insert(t, &bad, A), -EINVAL);
	cr_assert_eq(floe_cidr_parse("10.0.0.0/8", &c), 0);
	cr_expect_eq(floe_allowedips_insert(t, &c, NULL), -EINVAL);
	c.prefix = 33;
	cr_expect_eq(floe_allowedips_insert(t, &c, A), -EINVAL);
	cr_expect_null(floe_allowedips_lookup(t, AF_INET, NULL));
	floe_allowedips_destroy(&t);
}
