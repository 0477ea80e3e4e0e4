/* CIDR parsing, containment and packet address offsets. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "transport/net/addr.h"

struct parse_case {
	const char *in;
	int ret, family, prefix;
	const char *formatted;
};

Test(addr, cidr_parse_table)
{
	static const struct parse_case cases[] = {
		{ "10.0.0.1/24", 0, AF_INET, 24, "10.0.0.1/24" },
		{ "  192.168.1.2  ", 0, AF_INET, 32, "192.168.1.2/32" },
		{ "0.0.0.0/0", 0, AF_INET, 0, "0.0.0.0/0" },
		{ "fd00::1/64", 0, AF_INET6, 64, "fd00::1/64" },
		{ "::/0", 0, AF_INET6, 0, "::/0" },
		{ "2001:db8::5", 0, AF_INET6, 128, "2001:db8::5/128" },
		{ "10.0.0.1/33", -EINVAL, 0, 0, NULL },
		{ "fd00::1/129", -EINVAL, 0, 0, NULL },
		{ "10.0.0.1/", -EINVAL, 0, 0, NULL },
		{ "10.0.0.1/+8", -EINVAL, 0, 0, NULL },
		{ "10.0.0.1/8x", -EINVAL, 0, 0, NULL },
		{ "10.0.0/8", -EINVAL, 0, 0, NULL },
		{ "example.com/8", -EINVAL, 0, 0, NULL },
		{ "", -EINVAL, 0, 0, NULL },
		{ "   ", -EINVAL, 0, 0, NULL },
	};
	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++) {
		floe_cidr_t c;
		char buf[FLOE_CIDR_STR_MAX];
		int r = floe_cidr_parse(cases[i].in, &c);

		cr_expect_eq(r, cases[i].ret, "case %zu '%s': %d", i, cases[i].in, r);
		if (r != 0)
			continue;
		cr_expect_eq(c.family, cases[i].family, "case %zu family", i);
		cr_expect_eq(c.prefix, cases[i].prefix, "case %zu prefix", i);
		floe_cidr_format(&c, buf, sizeof(buf));
		cr_expect_str_eq(buf, cases[i].formatted, "case %zu", i);
	}
	cr_expect_eq(floe_cidr_parse(NULL, NULL), -EINVAL);
}

Test(addr, contains_and_mask)
{
	floe_cidr_t c;
	uint8_t a[16];

	cr_assert_eq(floe_cidr_parse("10.1.2.3/12", &c), 0);
	inet_pton(AF_INET, "10.15.255.255", a);
	cr_expect(floe_cidr_contains(&c, AF_INET, a));
	inet_pton(AF_INET, "10.16.0.0", a);
	cr_expect_not(floe_cidr_contains(&c, AF_INET, a));
	cr_expect_not(floe_cidr_contains(&c, AF_INET6, a), "family must match");
	floe_cidr_mask(&c);
	char buf[FLOE_CIDR_STR_MAX];
	floe_cidr_format(&c, buf, sizeof(buf));
	cr_expect_str_eq(buf, "10.0.0.0/12");

	cr_assert_eq(floe_cidr_parse("fd00:1234::77/20", &c), 0);
	floe_cidr_mask(&c);
	floe_cidr_format(&c, buf, sizeof(buf));
	cr_expect_str_eq(buf, "fd00:1000::/20");
}

Test(addr, packet_addresses)
{
	uint8_t v4[20] = { 0x45 }, v6[40] = { 0x60 };
	const uint8_t *a;
	int fam;

	inet_pton(AF_INET, "1.2.3.4", v4 + 12);
	inet_pton(AF_INET, "5.6.7.8", v4 + 16);
	cr_assert_eq(floe_ip_packet_src(v4, sizeof(v4), &fam, &a), 0);
	cr_expect_eq(fam, AF_INET);
	cr_expect_eq(memcmp(a, v4 + 12, 4), 0);
	cr_assert_eq(floe_ip_packet_dst(v4, sizeof(v4), &fam, &a), 0);
	cr_expect_eq(memcmp(a, v4 + 16, 4), 0);
	cr_expect_eq(floe_ip_packet_dst(v4, 19, &fam, &a), -EINVAL, "short IPv4");

	cr_assert_eq(floe_ip_packet_dst(v6, sizeof(v6), &fam, &a), 0);
	cr_expect_eq(fam, AF_INET6);
	cr_expect_eq(a, v6 + 24);
	cr_expect_eq(floe_ip_packet_src(v6, 39, &fam, &a), -EINVAL, "short IPv6");

	uint8_t junk[40] = { 0x50 };
	cr_expect_eq(floe_ip_packet_src(junk, sizeof(junk), &fam, &a), -EINVAL, "version 5");
	cr_expect_eq(floe_ip_packet_src(junk, 0, &fam, &a), -EINVAL, "empty");
}
