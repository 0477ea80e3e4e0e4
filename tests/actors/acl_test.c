/* The gateway's access policy, packet by packet, with hand-built IPv4/IPv6 packets. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "actors/acl.h"

enum {
	PKT_MAX_BYTES = 256,
	NOW_S = 1000,
	TMP_EXPIRES_S = 2000,
	P_TCP = 6,
	P_UDP = 17,
	P_ICMP = 1,
	P_ICMPV6 = 58,
	P_HOPOPTS = 0,
	P_DSTOPTS = 60,
	P_FRAGMENT = 44,
	MAX_EXT = 10,
};

typedef struct {
	uint8_t b[PKT_MAX_BYTES];
	size_t len;
} pkt_t;

/* How to build one test packet. */
typedef struct {
	int family;
	uint8_t proto;
	const char *src, *dst;
	uint16_t dport;
	uint16_t frag_off_8;     /* fragment offset in 8-byte units; 0 = first/unfragmented */
	uint8_t v4_options_words; /* extra IPv4 header words (IHL - 5) */
	uint8_t ext[MAX_EXT];    /* IPv6 extension headers, in order */
	size_t n_ext;
} spec_t;

static const uint8_t TUN_V4[4] = { 100, 64, 0, 2 };
static uint8_t TUN_V6[16];

static size_t l4_len(uint8_t proto, bool non_first)
{
	if (non_first)
		return 16; /* a slice of the middle of a datagram */
	switch (proto) {
	case P_TCP:
		return 20;
	case P_UDP:
	case P_ICMP:
	case P_ICMPV6:
		return 8;
	default:
		return 12;
	}
}

static void put_l4(uint8_t *l4, const spec_t *s, bool non_first)
{
	if (non_first)
		return;
	if (s->proto == P_TCP || s->proto == P_UDP) {
		l4[0] = 0xc3; /* source port 50000 */
		l4[1] = 0x50;
		l4[2] = (uint8_t)(s->dport >> 8);
		l4[3] = (uint8_t)s->dport;
	}
	if (s->proto == P_TCP)
		l4[12] = 5 << 4; /* data offset: 5 words */
	if (s->proto == P_UDP)
		l4[5] = 8; /* UDP length */
}

static void build(pkt_t *p, const spec_t *s)
{
	bool non_first = s->frag_off_8 != 0;
	size_t l4 = l4_len(s->proto, non_first);

	memset(p, 0, sizeof(*p));
	if (s->family == AF_INET) {
		size_t ihl = 20 + 4u * s->v4_options_words;

		p->len = ihl + l4;
		p->b[0] = (uint8_t)(0x40 | (ihl / 4));
		p->b[2] = (uint8_t)(p->len >> 8);
		p->b[3] = (uint8_t)p->len;
		p->b[6] = (uint8_t)(s->frag_off_8 >> 8);
		p->b[7] = (uint8_t)s->frag_off_8;
		p->b[8] = 64;
		p->b[9] = s->proto;
		cr_assert_eq(inet_pton(AF_INET, s->src, p->b + 12), 1);
		cr_assert_eq(inet_pton(AF_INET, s->dst, p->b + 16), 1);
		put_l4(p->b + ihl, s, non_first);
		return;
	}
	size_t off = 40;
	uint8_t *nh = &p->b[6];

	p->b[0] = 0x60;
	p->b[7] = 64;
	cr_assert_eq(inet_pton(AF_INET6, s->src, p->b + 8), 1);
	cr_assert_eq(inet_pton(AF_INET6, s->dst, p->b + 24), 1);
	for (size_t i = 0; i < s->n_ext; i++) {
		*nh = s->ext[i];
		nh = &p->b[off];
		if (s->ext[i] == P_FRAGMENT) {
			p->b[off + 2] = (uint8_t)(s->frag_off_8 >> 5);
			p->b[off + 3] = (uint8_t)(s->frag_off_8 << 3);
			off += 8;
		} else {
			p->b[off + 1] = 1; /* 16 bytes: exercises the length field */
			off += 16;
		}
	}
	*nh = s->proto;
	put_l4(p->b + off, s, non_first);
	p->len = off + l4;
	p->b[4] = (uint8_t)((p->len - 40) >> 8);
	p->b[5] = (uint8_t)(p->len - 40);
}

/* Rewrites the IP length fields to len, as if the packet had been built short. */
static void set_len(uint8_t *b, size_t len)
{
	if ((b[0] >> 4) == 4) {
		b[2] = (uint8_t)(len >> 8);
		b[3] = (uint8_t)len;
	} else if (len >= 40) {
		b[4] = (uint8_t)((len - 40) >> 8);
		b[5] = (uint8_t)(len - 40);
	}
}

static floe_acl_resource_t resource(const char *id, const char *cidr, floe_acl_proto_t proto,
				    size_t n_ports, const floe_acl_port_range_t *ports)
{
	floe_acl_resource_t r = { .proto = proto, .n_ports = n_ports };

	strcpy(r.id, id);
	cr_assert_eq(floe_cidr_parse(cidr, &r.cidr), 0, "%s", cidr);
	for (size_t i = 0; i < n_ports; i++)
		r.ports[i] = ports[i];
	return r;
}

static floe_acl_t *acl;

static void grant(const char *client, floe_acl_resource_t r, int64_t expires)
{
	cr_assert_eq(floe_acl_grant(acl, client, &r, expires), 0, "grant %s", r.id);
}

static void setup(void)
{
	static const floe_acl_port_range_t web[] = { { 80, 80 }, { 443, 443 } };
	static const floe_acl_port_range_t dns[] = { { 53, 53 } };
	static const floe_acl_port_range_t ssh[] = { { 22, 22 }, { 6000, 6010 } };

	cr_assert_eq(inet_pton(AF_INET6, "fd00::2", TUN_V6), 1);
	acl = floe_acl_new();
	cr_assert_not_null(acl);
	grant("alice", resource("web", "10.0.0.0/24", FLOE_ACL_PROTO_TCP, 2, web), 0);
	grant("alice", resource("dns", "10.0.1.53", FLOE_ACL_PROTO_UDP, 1, dns), 0);
	grant("alice", resource("ping", "10.0.2.0/24", FLOE_ACL_PROTO_ICMP, 0, NULL), 0);
	grant("alice", resource("old", "10.0.9.0/24", FLOE_ACL_PROTO_ANY, 0, NULL), NOW_S);
	grant("alice", resource("tmp", "10.0.3.0/24", FLOE_ACL_PROTO_ANY, 0, NULL), TMP_EXPIRES_S);
	grant("alice", resource("all6", "fd10::/64", FLOE_ACL_PROTO_ANY, 0, NULL), 0);
	grant("alice", resource("ssh6", "fd20::/64", FLOE_ACL_PROTO_ANY, 2, ssh), 0);
	grant("bob", resource("bob6", "fd30::/64", FLOE_ACL_PROTO_ANY, 0, NULL), 0);
}

static void teardown(void)
{
	floe_acl_destroy(&acl);
	cr_assert_null(acl);
	floe_acl_destroy(&acl); /* idempotent */
	floe_acl_destroy(NULL);
}

static floe_acl_verdict_t check_at(const char *client, const spec_t *s, int64_t now)
{
	pkt_t p;

	build(&p, s);
	return floe_acl_check(acl, client, TUN_V4, TUN_V6, p.b, p.len, now);
}

#define V4(p_, s_, d_, port_) { .family = AF_INET, .proto = (p_), .src = (s_), .dst = (d_), .dport = (port_) }
#define V6(p_, s_, d_, port_) { .family = AF_INET6, .proto = (p_), .src = (s_), .dst = (d_), .dport = (port_) }

struct verdict_case {
	const char *name;
	const char *client;
	spec_t spec;
	floe_acl_verdict_t want;
};

TestSuite(acl, .init = setup, .fini = teardown);

Test(acl, verdicts_follow_grants_protocols_ports_and_sources)
{
	static const struct verdict_case cases[] = {
		{ "tcp to a granted port", "alice", V4(P_TCP, "100.64.0.2", "10.0.0.5", 443), FLOE_ACL_ALLOW },
		{ "tcp, second range", "alice", V4(P_TCP, "100.64.0.2", "10.0.0.255", 80), FLOE_ACL_ALLOW },
		{ "tcp, wrong port", "alice", V4(P_TCP, "100.64.0.2", "10.0.0.5", 22), FLOE_ACL_DENY_PORT },
		{ "tcp, port just above", "alice", V4(P_TCP, "100.64.0.2", "10.0.0.5", 444), FLOE_ACL_DENY_PORT },
		{ "udp to a tcp grant", "alice", V4(P_UDP, "100.64.0.2", "10.0.0.5", 443), FLOE_ACL_DENY_PROTOCOL },
		{ "icmp to a tcp grant", "alice", V4(P_ICMP, "100.64.0.2", "10.0.0.5", 0), FLOE_ACL_DENY_PROTOCOL },
		{ "udp dns", "alice", V4(P_UDP, "100.64.0.2", "10.0.1.53", 53), FLOE_ACL_ALLOW },
		{ "udp, host next door", "alice", V4(P_UDP, "100.64.0.2", "10.0.1.54", 53), FLOE_ACL_DENY_NO_GRANT },
		{ "icmp grant", "alice", V4(P_ICMP, "100.64.0.2", "10.0.2.9", 0), FLOE_ACL_ALLOW },
		{ "tcp to an icmp grant", "alice", V4(P_TCP, "100.64.0.2", "10.0.2.9", 80), FLOE_ACL_DENY_PROTOCOL },
		{ "outside every cidr", "alice", V4(P_TCP, "100.64.0.2", "10.0.4.1", 80), FLOE_ACL_DENY_NO_GRANT },
		{ "just outside /24", "alice", V4(P_TCP, "100.64.0.2", "10.0.1.0", 80), FLOE_ACL_DENY_NO_GRANT },
		{ "spoofed v4 source", "alice", V4(P_TCP, "100.64.0.3", "10.0.0.5", 443), FLOE_ACL_DENY_SPOOFED },
		{ "spoofed v4, other's grant", "bob", V4(P_TCP, "10.0.0.7", "10.0.0.5", 443), FLOE_ACL_DENY_SPOOFED },
		{ "expired grant", "alice", V4(P_TCP, "100.64.0.2", "10.0.9.1", 80), FLOE_ACL_DENY_EXPIRED },
		{ "another client's grant", "bob", V4(P_TCP, "100.64.0.2", "10.0.0.5", 443), FLOE_ACL_DENY_NO_GRANT },
		{ "unknown client", "carol", V4(P_TCP, "100.64.0.2", "10.0.0.5", 443), FLOE_ACL_DENY_NO_GRANT },
		{ "v6 tcp, any-protocol grant", "alice", V6(P_TCP, "fd00::2", "fd10::1", 1234), FLOE_ACL_ALLOW },
		{ "v6 icmpv6, any-protocol grant", "alice", V6(P_ICMPV6, "fd00::2", "fd10::1", 0), FLOE_ACL_ALLOW },
		{ "v6 other protocol (gre)", "alice", V6(47, "fd00::2", "fd10::ffff", 0), FLOE_ACL_ALLOW },
		{ "v6 outside /64", "alice", V6(P_TCP, "fd00::2", "fd10:0:0:1::1", 80), FLOE_ACL_DENY_NO_GRANT },
		{ "v6 spoofed", "alice", V6(P_TCP, "fd00::3", "fd10::1", 80), FLOE_ACL_DENY_SPOOFED },
		{ "v6 ported grant, tcp 22", "alice", V6(P_TCP, "fd00::2", "fd20::1", 22), FLOE_ACL_ALLOW },
		{ "v6 ported grant, udp 6005", "alice", V6(P_UDP, "fd00::2", "fd20::1", 6005), FLOE_ACL_ALLOW },
		{ "v6 ported grant, tcp 23", "alice", V6(P_TCP, "fd00::2", "fd20::1", 23), FLOE_ACL_DENY_PORT },
		{ "v6 ported grant, icmpv6", "alice", V6(P_ICMPV6, "fd00::2", "fd20::1", 0), FLOE_ACL_DENY_PROTOCOL },
		{ "v6 bob's grant", "bob", V6(P_UDP, "fd00::2", "fd30::9", 9), FLOE_ACL_ALLOW },
	};
	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++) {
		const struct verdict_case *c = &cases[i];
		floe_acl_verdict_t got = check_at(c->client, &c->spec, NOW_S);

		cr_expect_eq(got, c->want, "%s: got %s, want %s", c->name,
			     floe_acl_verdict_name(got), floe_acl_verdict_name(c->want));
	}
}

Test(acl, headers_options_extension_headers_and_fragments)
{
	static const struct verdict_case cases[] = {
		{ "v4 with options, granted port", "alice",
		  { .family = AF_INET, .proto = P_TCP, .src = "100.64.0.2", .dst = "10.0.0.5", .dport = 443,
		    .v4_options_words = 3 }, FLOE_ACL_ALLOW },
		{ "v4 with options, wrong port", "alice",
		  { .family = AF_INET, .proto = P_TCP, .src = "100.64.0.2", .dst = "10.0.0.5", .dport = 8443,
		    .v4_options_words = 3 }, FLOE_ACL_DENY_PORT },
		{ "v4 non-first fragment to a ported grant", "alice",
		  { .family = AF_INET, .proto = P_TCP, .src = "100.64.0.2", .dst = "10.0.0.5", .frag_off_8 = 3 },
		  FLOE_ACL_ALLOW },
		{ "v4 non-first fragment, wrong protocol", "alice",
		  { .family = AF_INET, .proto = P_UDP, .src = "100.64.0.2", .dst = "10.0.0.5", .frag_off_8 = 3 },
		  FLOE_ACL_DENY_PROTOCOL },
		{ "v4 non-first fragment, no grant", "alice",
		  { .family = AF_INET, .proto = P_TCP, .src = "100.64.0.2", .dst = "10.0.7.5", .frag_off_8 = 3 },
		  FLOE_ACL_DENY_NO_GRANT },
		{ "v6 hop-by-hop + dest-opts, granted port", "alice",
		  { .family = AF_INET6, .proto = P_TCP, .src = "fd00::2", .dst = "fd20::1", .dport = 22,
		    .ext = { P_HOPOPTS, P_DSTOPTS }, .n_ext = 2 }, FLOE_ACL_ALLOW },
		{ "v6 hop-by-hop + dest-opts, wrong port", "alice",
		  { .family = AF_INET6, .proto = P_TCP, .src = "fd00::2", .dst = "fd20::1", .dport = 23,
		    .ext = { P_HOPOPTS, P_DSTOPTS }, .n_ext = 2 }, FLOE_ACL_DENY_PORT },
		{ "v6 first fragment reads ports", "alice",
		  { .family = AF_INET6, .proto = P_UDP, .src = "fd00::2", .dst = "fd20::1", .dport = 53,
		    .ext = { P_FRAGMENT }, .n_ext = 1 }, FLOE_ACL_DENY_PORT },
		{ "v6 non-first fragment to a ported grant", "alice",
		  { .family = AF_INET6, .proto = P_UDP, .src = "fd00::2", .dst = "fd20::1", .frag_off_8 = 185,
		    .ext = { P_HOPOPTS, P_FRAGMENT }, .n_ext = 2 }, FLOE_ACL_ALLOW },
		{ "v6 non-first fragment, no grant", "alice",
		  { .family = AF_INET6, .proto = P_UDP, .src = "fd00::2", .dst = "fd40::1", .frag_off_8 = 185,
		    .ext = { P_FRAGMENT }, .n_ext = 1 }, FLOE_ACL_DENY_NO_GRANT },
		{ "v6 too many extension headers", "alice",
		  { .family = AF_INET6, .proto = P_TCP, .src = "fd00::2", .dst = "fd10::1", .dport = 1,
		    .ext = { 0, 60, 60, 60, 60, 60, 60, 60, 60 }, .n_ext = 9 }, FLOE_ACL_DENY_MALFORMED },
		{ "v6 eight extension headers", "alice",
		  { .family = AF_INET6, .proto = P_TCP, .src = "fd00::2", .dst = "fd10::1", .dport = 1,
		    .ext = { 0, 60, 60, 60, 60, 60, 60, 60 }, .n_ext = 8 }, FLOE_ACL_ALLOW },
	};
	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++) {
		const struct verdict_case *c = &cases[i];
		floe_acl_verdict_t got = check_at(c->client, &c->spec, NOW_S);

		cr_expect_eq(got, c->want, "%s: got %s, want %s", c->name,
			     floe_acl_verdict_name(got), floe_acl_verdict_name(c->want));
	}
}

/* Every prefix of a valid packet, in a buffer of exactly that size (ASan
 * catches a read past it), as cut and with its length fields rewritten to
 * match: malformed, never a crash. */
Test(acl, truncated_packets_are_malformed_at_every_length)
{
	static const spec_t specs[] = {
		V4(P_TCP, "100.64.0.2", "10.0.0.5", 443),
		V4(P_UDP, "100.64.0.2", "10.0.1.53", 53),
		V4(P_ICMP, "100.64.0.2", "10.0.2.1", 0),
		{ .family = AF_INET, .proto = P_TCP, .src = "100.64.0.2", .dst = "10.0.0.5", .dport = 443,
		  .v4_options_words = 2 },
		V6(P_TCP, "fd00::2", "fd10::1", 80),
		V6(P_ICMPV6, "fd00::2", "fd10::1", 0),
		{ .family = AF_INET6, .proto = P_UDP, .src = "fd00::2", .dst = "fd20::1", .dport = 22,
		  .ext = { P_HOPOPTS, P_FRAGMENT, P_DSTOPTS }, .n_ext = 3 },
	};
	for (size_t s = 0; s < FLOE_ARRAY_LEN(specs); s++) {
		pkt_t full;

		build(&full, &specs[s]);
		cr_assert_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, full.b, full.len, NOW_S),
			     FLOE_ACL_ALLOW, "spec %zu whole", s);
		for (size_t len = 0; len < full.len; len++) {
			for (int rewrite = 0; rewrite < 2; rewrite++) {
				uint8_t *b = malloc(len ? len : 1);

				cr_assert_not_null(b);
				memcpy(b, full.b, len);
				if (rewrite && len >= 6)
					set_len(b, len);
				cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, b, len, NOW_S),
					     FLOE_ACL_DENY_MALFORMED, "spec %zu len %zu rewrite %d", s, len,
					     rewrite);
				free(b);
			}
		}
	}
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, NULL, 40, NOW_S),
		     FLOE_ACL_DENY_MALFORMED);
}

Test(acl, malformed_headers)
{
	pkt_t p;
	const spec_t v4 = V4(P_TCP, "100.64.0.2", "10.0.0.5", 443);
	const spec_t v6 = V6(P_TCP, "fd00::2", "fd10::1", 80);

	build(&p, &v4);
	p.b[0] = 0x44; /* IHL 4 words, below the minimum */
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_DENY_MALFORMED);
	build(&p, &v4);
	p.b[0] = 0x5f; /* version 5 */
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_DENY_MALFORMED);
	build(&p, &v4);
	p.b[0] = 0x4f; /* IHL 60 bytes > total */
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_DENY_MALFORMED);
	build(&p, &v4);
	p.b[20 + 12] = 4 << 4; /* TCP data offset below 5 words */
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_DENY_MALFORMED);
	build(&p, &v4);
	p.b[20 + 12] = 15 << 4; /* TCP data offset past the end */
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_DENY_MALFORMED);
	build(&p, &v4);
	p.len += 6; /* trailing padding after total length is fine */
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_ALLOW);

	build(&p, &v6);
	p.b[4] = p.b[5] = 0; /* jumbogram */
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_DENY_MALFORMED);
	const spec_t ext = { .family = AF_INET6, .proto = P_TCP, .src = "fd00::2", .dst = "fd10::1",
			     .dport = 1, .ext = { P_HOPOPTS }, .n_ext = 1 };
	build(&p, &ext);
	p.b[41] = 200; /* extension header longer than the packet */
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_DENY_MALFORMED);
}

Test(acl, a_client_without_an_address_of_that_family_is_spoofing)
{
	const spec_t v4 = V4(P_TCP, "100.64.0.2", "10.0.0.5", 443);
	const spec_t v6 = V6(P_TCP, "fd00::2", "fd10::1", 80);
	pkt_t p;

	build(&p, &v4);
	cr_expect_eq(floe_acl_check(acl, "alice", NULL, TUN_V6, p.b, p.len, NOW_S), FLOE_ACL_DENY_SPOOFED);
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, NULL, p.b, p.len, NOW_S), FLOE_ACL_ALLOW);
	build(&p, &v6);
	cr_expect_eq(floe_acl_check(acl, "alice", TUN_V4, NULL, p.b, p.len, NOW_S), FLOE_ACL_DENY_SPOOFED);
}

struct expired_log {
	size_t n;
	char client[FLOE_ACL_ID_MAX];
	char resource[FLOE_ACL_ID_MAX];
};

static void on_expired(void *user, const char *client_id, const floe_acl_resource_t *r)
{
	struct expired_log *log = user;

	log->n++;
	strcpy(log->client, client_id);
	strcpy(log->resource, r->id);
}

Test(acl, a_grant_expires_at_its_exact_second)
{
	const spec_t s = V4(P_UDP, "100.64.0.2", "10.0.3.7", 9);
	struct expired_log log = { 0 };

	cr_expect_eq(floe_acl_next_expiry(acl), NOW_S);
	cr_expect_eq(check_at("alice", &s, TMP_EXPIRES_S - 1), FLOE_ACL_ALLOW);
	cr_expect_eq(check_at("alice", &s, TMP_EXPIRES_S), FLOE_ACL_DENY_EXPIRED,
		     "refused at the second even before floe_acl_expire runs");

	/* "old" (expires NOW_S) goes first, "tmp" a second before its time stays. */
	cr_expect_eq(floe_acl_expire(acl, TMP_EXPIRES_S - 1, on_expired, &log), 1);
	cr_expect_eq(log.n, 1);
	cr_expect_str_eq(log.resource, "old");
	cr_expect_eq(floe_acl_next_expiry(acl), TMP_EXPIRES_S);
	cr_expect_eq(check_at("alice", &s, TMP_EXPIRES_S - 1), FLOE_ACL_ALLOW);

	cr_expect_eq(floe_acl_expire(acl, TMP_EXPIRES_S, on_expired, &log), 1);
	cr_expect_eq(log.n, 2);
	cr_expect_str_eq(log.client, "alice");
	cr_expect_str_eq(log.resource, "tmp");
	cr_expect_eq(floe_acl_next_expiry(acl), 0);
	/* Gone, not merely expired: the grant no longer exists. */
	cr_expect_eq(check_at("alice", &s, TMP_EXPIRES_S - 1), FLOE_ACL_DENY_NO_GRANT);
	cr_expect_eq(floe_acl_expire(acl, TMP_EXPIRES_S + 100, NULL, NULL), 0);
	cr_expect_eq(floe_acl_count(acl, "alice", NOW_S), 5);
}

Test(acl, revoke_and_replace)
{
	static const floe_acl_port_range_t ssh[] = { { 22, 22 } };
	const spec_t https = V4(P_TCP, "100.64.0.2", "10.0.0.5", 443);
	const spec_t sshp = V4(P_TCP, "100.64.0.2", "10.0.0.5", 22);
	const spec_t v6 = V6(P_UDP, "fd00::2", "fd30::9", 9);

	/* Same resource id: replaced, not added. */
	cr_expect_eq(floe_acl_count(acl, "alice", NOW_S - 1), 7);
	grant("alice", resource("web", "10.0.0.0/24", FLOE_ACL_PROTO_TCP, 1, ssh), 0);
	cr_expect_eq(floe_acl_count(acl, "alice", NOW_S - 1), 7);
	cr_expect_eq(check_at("alice", &https, NOW_S), FLOE_ACL_DENY_PORT);
	cr_expect_eq(check_at("alice", &sshp, NOW_S), FLOE_ACL_ALLOW);

	cr_expect_eq(floe_acl_revoke(acl, "alice", "web"), 0);
	cr_expect_eq(check_at("alice", &sshp, NOW_S), FLOE_ACL_DENY_NO_GRANT);
	cr_expect_eq(floe_acl_revoke(acl, "alice", "web"), -ENOENT);
	cr_expect_eq(floe_acl_revoke(acl, "nobody", "web"), -ENOENT);

	cr_expect_eq(check_at("bob", &v6, NOW_S), FLOE_ACL_ALLOW);
	cr_expect_eq(floe_acl_revoke_client(acl, "bob"), 0);
	cr_expect_eq(check_at("bob", &v6, NOW_S), FLOE_ACL_DENY_NO_GRANT);
	cr_expect_eq(floe_acl_revoke_client(acl, "bob"), -ENOENT);
	cr_expect_eq(floe_acl_count(acl, "alice", NOW_S - 1), 6, "alice untouched by bob's revoke");
}

Test(acl, invalid_grants_are_refused)
{
	floe_acl_resource_t r = resource("x", "10.1.0.0/16", FLOE_ACL_PROTO_ICMP, 0, NULL);

	r.n_ports = 1;
	r.ports[0] = (floe_acl_port_range_t){ 1, 2 };
	cr_expect_eq(floe_acl_grant(acl, "c", &r, 0), -EINVAL, "ports on icmp");
	r.proto = FLOE_ACL_PROTO_TCP;
	r.ports[0] = (floe_acl_port_range_t){ 9, 8 };
	cr_expect_eq(floe_acl_grant(acl, "c", &r, 0), -EINVAL, "reversed range");
	r.ports[0] = (floe_acl_port_range_t){ 8, 9 };
	r.n_ports = FLOE_ACL_MAX_PORT_RANGES + 1;
	cr_expect_eq(floe_acl_grant(acl, "c", &r, 0), -EINVAL, "too many ranges");
	r.n_ports = 1;
	cr_expect_eq(floe_acl_grant(acl, "", &r, 0), -EINVAL, "empty client id");
	cr_expect_eq(floe_acl_grant(acl, NULL, &r, 0), -EINVAL);
	cr_expect_eq(floe_acl_grant(acl, "c", NULL, 0), -EINVAL);
	cr_expect_eq(floe_acl_grant(acl, "c", &r, -1), -EINVAL, "negative expiry");
	r.cidr.family = 0;
	cr_expect_eq(floe_acl_grant(acl, "c", &r, 0), -EINVAL, "no family");
	r = resource("x", "10.1.0.0/16", FLOE_ACL_PROTO_ANY, 0, NULL);
	memset(r.id, 'a', sizeof(r.id)); /* no NUL inside the bound */
	cr_expect_eq(floe_acl_grant(acl, "c", &r, 0), -EINVAL, "unterminated resource id");
	cr_expect_eq(floe_acl_count(acl, "c", 0), 0, "no half-made client");

	r = resource("x", "10.1.0.0/16", FLOE_ACL_PROTO_ANY, 0, NULL);
	for (int i = 0; i < FLOE_ACL_MAX_GRANTS_PER_CLIENT; i++) {
		snprintf(r.id, sizeof(r.id), "res-%d", i);
		cr_assert_eq(floe_acl_grant(acl, "c", &r, 0), 0, "grant %d", i);
	}
	strcpy(r.id, "one-too-many");
	cr_expect_eq(floe_acl_grant(acl, "c", &r, 0), -ENOSPC);
	strcpy(r.id, "res-7");
	cr_expect_eq(floe_acl_grant(acl, "c", &r, 5), 0, "replacing at the limit is fine");
	cr_expect_eq(floe_acl_count(acl, "c", 0), FLOE_ACL_MAX_GRANTS_PER_CLIENT);
}

Test(acl, names)
{
	cr_expect_str_eq(floe_acl_verdict_name(FLOE_ACL_DENY_SPOOFED), "spoofed_source");
	cr_expect_str_eq(floe_acl_verdict_name((floe_acl_verdict_t)99), "unknown");
	cr_expect_str_eq(floe_acl_proto_name(FLOE_ACL_PROTO_UDP), "udp");
}
