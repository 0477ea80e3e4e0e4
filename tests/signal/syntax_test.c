/* Field syntax of the signalling protocol: port lists, CIDRs, RFC 3339
 * times, UUIDs; each with the inputs it must refuse. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/socket.h>

#include "transport/signal/syntax.h"

Test(syntax, ports_parse)
{
	floe_signal_port_range_t r[4];
	size_t n;

	cr_assert_eq(floe_signal_ports_parse("80, 443 ,8000-8100", r, 4, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert(r[0].lo == 80 && r[0].hi == 80);
	cr_assert(r[2].lo == 8000 && r[2].hi == 8100);
	cr_assert_eq(floe_signal_ports_parse("1,2,3,4,5", r, 4, &n), -E2BIG);
	const char *bad[] = { "", ",", "80,", "0", "65536", "100-90", "80-", "a", "80 443" };
	for (size_t i = 0; i < FLOE_ARRAY_LEN(bad); i++)
		cr_assert_eq(floe_signal_ports_parse(bad[i], r, 4, &n), -EINVAL, "%s", bad[i]);
}

Test(syntax, cidr_parse)
{
	uint8_t a[16];
	unsigned p;
	int fam;

	cr_assert_eq(floe_signal_cidr_parse("10.0.0.0/8", &fam, a, &p), 0);
	cr_assert(fam == AF_INET && p == 8 && a[0] == 10);
	cr_assert_eq(floe_signal_cidr_parse("fd00::/64", &fam, a, &p), 0);
	cr_assert(fam == AF_INET6 && p == 64);
	cr_assert_eq(floe_signal_cidr_parse("0.0.0.0/0", &fam, a, &p), 0);
	const char *bad[] = { "10.0.0.0", "10.0.0.1/8", "10.0.0.0/", "/8", "fd00::1/64",
			      "fd00::/129", "10.0.0.0/8x", "host/8" };
	for (size_t i = 0; i < FLOE_ARRAY_LEN(bad); i++)
		cr_assert_eq(floe_signal_cidr_parse(bad[i], &fam, a, &p), -EINVAL, "%s", bad[i]);
}

Test(syntax, time_parse_and_format)
{
	char buf[FLOE_SIGNAL_TIME_CAP];
	int64_t t;

	cr_assert_eq(floe_signal_time_parse("1970-01-01T00:00:00Z", &t), 0);
	cr_assert_eq(t, 0);
	cr_assert_eq(floe_signal_time_parse("2026-11-26T15:36:46.474Z", &t), 0);
	cr_assert_eq(t, 1795707406);
	cr_assert_eq(floe_signal_time_parse("2026-11-26T17:36:46+02:00", &t), 0);
	cr_assert_eq(t, 1795707406);
	cr_assert_eq(floe_signal_time_format(1795707406, buf), 0);
	cr_assert_str_eq(buf, "2026-11-26T15:36:46Z");
	cr_assert_eq(floe_signal_time_parse("2024-02-29T00:00:00Z", &t), 0);
	const char *bad[] = { "", "2026-11-26", "2026-11-26 15:36:46Z", "2026-13-01T00:00:00Z",
			      "2025-02-29T00:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T15:36:46",
			      "2026-11-26T15:36:46+2:00", "2026-1-26T15:36:46Z", "2026-11-26T15:36:46Zx" };
	for (size_t i = 0; i < FLOE_ARRAY_LEN(bad); i++)
		cr_assert_eq(floe_signal_time_parse(bad[i], &t), -EINVAL, "%s", bad[i]);
}

Test(syntax, uuid_generate_is_v4_and_fresh)
{
	char a[FLOE_SIGNAL_CID_CAP], b[FLOE_SIGNAL_CID_CAP];

	floe_signal_uuid_generate(a);
	floe_signal_uuid_generate(b);
	cr_assert(floe_signal_uuid_valid(a), "%s", a);
	cr_assert(floe_signal_uuid_valid(b));
	cr_assert_str_neq(a, b);
	cr_assert_not(floe_signal_uuid_valid("3f2b8c1e-9a4d-1e6f-8b1a-2c3d4e5f6a7b"));
}
