/*
 * examples/ippkt.h, the examples' IPv4 / ICMP / UDP code: the RFC 1071 sum
 * against published vectors, packets it builds pass its own checks and
 * every single corrupted byte or truncation is refused, malformed headers
 * are refused, and the echo service answers only what it should. (Here,
 * beside the daemons, because the examples link what the daemons link.)
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>

#include "examples/ippkt.h"

static const uint8_t A[4] = { 100, 64, 0, 2 }, B[4] = { 100, 64, 255, 1 }, C[4] = { 10, 0, 0, 9 };

/* RFC 1071 section 3's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2. */
Test(example_ippkt, rfc1071_sum)
{
	static const uint8_t words[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	cr_assert_eq(ippkt_sum(0, words, sizeof(words)), 0xddf2);
	cr_assert_eq(ippkt_checksum(ippkt_sum(0, words, sizeof(words))), 0x220d);
	/* Chained sums equal one sum; an odd tail is padded with a zero byte. */
	cr_assert_eq(ippkt_sum(ippkt_sum(0, words, 4), words + 4, 4), 0xddf2);
	cr_assert_eq(ippkt_sum(0, words, 7), ippkt_sum(0, (const uint8_t[]){ 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5,
									0xf6, 0x00 }, 8));
}

/* A well-known header (192.168.0.1 -> 192.168.0.199, UDP, 115 bytes, DF,
 * TTL 64, id 0) carries checksum 0xb861. */
Test(example_ippkt, ipv4_header_checksum_vector)
{
	uint8_t h[IPPKT_V4_HDR_BYTES];
	uint8_t src[4] = { 192, 168, 0, 1 }, dst[4] = { 192, 168, 0, 199 };

	ippkt_v4_header(h, src, dst, IPPKT_PROTO_UDP, 0x73, 0);
	cr_assert_eq(ippkt_get16(h + 10), 0xb861, "got %04x", ippkt_get16(h + 10));
}

/* Every byte of a built packet matters: flip any one and it is refused. */
static void assert_every_byte_counts(uint8_t *p, size_t len)
{
	ippkt_v4_t v;

	cr_assert_eq(ippkt_parse_v4(p, len, &v), 0);
	for (size_t i = 0; i < len; i++) {
		p[i] ^= 0x20;
		cr_assert_eq(ippkt_parse_v4(p, len, &v), -EINVAL, "byte %zu flipped was accepted", i);
		p[i] ^= 0x20;
	}
	for (size_t n = 0; n < len; n++)
		cr_assert_eq(ippkt_parse_v4(p, n, &v), -EINVAL, "a %zu-byte prefix was accepted", n);
	cr_assert_eq(ippkt_parse_v4(p, len, &v), 0);
}

Test(example_ippkt, icmp_echo_round_trip_and_corruption)
{
	uint8_t p[IPPKT_MAX_BYTES], payload[57]; /* odd: exercises the padding */
	ippkt_v4_t v;
	int n;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	n = ippkt_icmp_echo(p, sizeof(p), A, B, IPPKT_ICMP_ECHO_REQUEST, 0x1234, 42, payload, sizeof(payload));
	cr_assert_eq(n, IPPKT_V4_HDR_BYTES + IPPKT_ICMP_HDR_BYTES + (int)sizeof(payload));
	cr_assert_eq(ippkt_parse_v4(p, (size_t)n, &v), 0);
	cr_assert_eq(v.proto, IPPKT_PROTO_ICMP);
	cr_assert_eq(memcmp(v.src, A, 4), 0);
	cr_assert_eq(memcmp(v.dst, B, 4), 0);
	cr_assert_eq(v.l4_len, IPPKT_ICMP_HDR_BYTES + sizeof(payload));
	cr_assert_eq(ippkt_get16(v.l4 + 4), 0x1234);
	cr_assert_eq(ippkt_get16(v.l4 + 6), 42);
	assert_every_byte_counts(p, (size_t)n);
}

Test(example_ippkt, udp_round_trip_and_corruption)
{
	uint8_t p[IPPKT_MAX_BYTES];
	const char *msg = "floe-udp";
	ippkt_v4_t v;
	int n = ippkt_udp(p, sizeof(p), A, B, 40000, IPPKT_UDP_ECHO_PORT, (const uint8_t *)msg, strlen(msg));

	cr_assert_eq(n, IPPKT_V4_HDR_BYTES + IPPKT_UDP_HDR_BYTES + (int)strlen(msg));
	cr_assert_eq(ippkt_parse_v4(p, (size_t)n, &v), 0);
	cr_assert_eq(v.proto, IPPKT_PROTO_UDP);
	cr_assert_eq(v.l4_len, IPPKT_UDP_HDR_BYTES + strlen(msg));
	/* Computed independently (RFC 768: pseudo header with protocol 17 and
	 * the UDP length, then the datagram); the kernel agrees, see
	 * tests/system/examples_test.sh's UDP echo. */
	cr_assert_eq(ippkt_get16(v.l4 + 6), 0x344b, "UDP checksum %04x", ippkt_get16(v.l4 + 6));
	assert_every_byte_counts(p, (size_t)n);
	/* Checksum 0 is "none" in IPv4: accepted without checking. */
	p[IPPKT_V4_HDR_BYTES + 6] = p[IPPKT_V4_HDR_BYTES + 7] = 0;
	p[IPPKT_V4_HDR_BYTES + 8] ^= 1;
	cr_assert_eq(ippkt_parse_v4(p, (size_t)n, &v), 0);
}

/* Link-layer padding after the IP total length is not part of the packet. */
Test(example_ippkt, trailing_bytes_are_ignored)
{
	uint8_t p[IPPKT_MAX_BYTES];
	ippkt_v4_t v;
	int n = ippkt_udp(p, sizeof(p), A, B, 1, 7, (const uint8_t *)"x", 1);

	memset(p + n, 0xee, 6);
	cr_assert_eq(ippkt_parse_v4(p, (size_t)n + 6, &v), 0);
	cr_assert_eq(v.l4_len, IPPKT_UDP_HDR_BYTES + 1);
}

/* Rewrites the header checksum after a deliberate edit, so that only the
 * edited field can be why a packet is refused. */
static void fix_header(uint8_t *p)
{
	size_t ihl = (size_t)(p[0] & 0x0f) * 4;

	p[10] = p[11] = 0;
	ippkt_put16(p + 10, ippkt_checksum(ippkt_sum(0, p, ihl < IPPKT_V4_HDR_BYTES ? IPPKT_V4_HDR_BYTES : ihl)));
}

Test(example_ippkt, malformed_headers_are_refused)
{
	static const struct {
		const char *what;
		size_t at;
		uint8_t value;
	} edits[] = {
		{ "IPv6 version", 0, 0x65 },
		{ "IHL 4", 0, 0x44 },
		{ "IHL beyond the data", 0, 0x4f },
		{ "total length below the header", 3, 12 },
		{ "total length beyond the data", 3, 200 },
		{ "more fragments", 6, 0x60 },
		{ "fragment offset", 7, 0x01 },
		{ "UDP length 4", IPPKT_V4_HDR_BYTES + 5, 4 },
		{ "UDP length beyond IP", IPPKT_V4_HDR_BYTES + 5, 99 },
	};
	uint8_t orig[64], p[64];
	ippkt_v4_t v;
	int n = ippkt_udp(orig, sizeof(orig), A, B, 1, 7, (const uint8_t *)"abcd", 4);

	cr_assert_eq(n, 32);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(p, orig, sizeof(p));
		p[edits[i].at] = edits[i].value;
		if (edits[i].at < IPPKT_V4_HDR_BYTES)
			fix_header(p);
		cr_assert_eq(ippkt_parse_v4(p, (size_t)n, &v), -EINVAL, "%s was accepted", edits[i].what);
	}
	/* An ICMP message shorter than its 8-byte header. */
	memcpy(p, orig, sizeof(p));
	p[9] = IPPKT_PROTO_ICMP;
	p[3] = IPPKT_V4_HDR_BYTES + 4;
	fix_header(p);
	cr_assert_eq(ippkt_parse_v4(p, IPPKT_V4_HDR_BYTES + 4, &v), -EINVAL);
	/* An unknown protocol passes the IP checks and is the caller's to ignore. */
	memcpy(p, orig, sizeof(p));
	p[9] = 47;
	fix_header(p);
	cr_assert_eq(ippkt_parse_v4(p, (size_t)n, &v), 0);
	cr_assert_eq(v.proto, 47);
	cr_assert_eq(ippkt_echo_answer(&v, B, orig, sizeof(orig)), 0, "GRE is not echoed");
}

Test(example_ippkt, echo_answers_icmp_request)
{
	uint8_t req[128], out[128];
	ippkt_v4_t v, r;
	int n = ippkt_icmp_echo(req, sizeof(req), A, B, IPPKT_ICMP_ECHO_REQUEST, 7, 9, (const uint8_t *)"ping!", 5);

	cr_assert_eq(ippkt_parse_v4(req, (size_t)n, &v), 0);
	cr_assert_eq(ippkt_echo_answer(&v, B, out, sizeof(out)), n);
	cr_assert_eq(ippkt_parse_v4(out, (size_t)n, &r), 0, "the reply carries valid checksums");
	cr_assert_eq(memcmp(r.src, B, 4), 0);
	cr_assert_eq(memcmp(r.dst, A, 4), 0);
	cr_assert_eq(r.l4[0], IPPKT_ICMP_ECHO_REPLY);
	cr_assert_eq(ippkt_get16(r.l4 + 4), 7);
	cr_assert_eq(ippkt_get16(r.l4 + 6), 9);
	cr_assert_eq(memcmp(r.l4 + IPPKT_ICMP_HDR_BYTES, "ping!", 5), 0);
	/* Not for us; not a request; no room for the answer. */
	cr_assert_eq(ippkt_echo_answer(&v, C, out, sizeof(out)), 0);
	cr_assert_eq(ippkt_echo_answer(&r, A, out, sizeof(out)), 0, "a reply is not answered");
	cr_assert_eq(ippkt_echo_answer(&v, B, out, (size_t)n - 1), -EMSGSIZE);
}

Test(example_ippkt, echo_answers_udp_port_7_only)
{
	uint8_t req[128], out[128];
	ippkt_v4_t v, r;
	int n = ippkt_udp(req, sizeof(req), A, B, 40007, IPPKT_UDP_ECHO_PORT, (const uint8_t *)"hello", 5);

	cr_assert_eq(ippkt_parse_v4(req, (size_t)n, &v), 0);
	cr_assert_eq(ippkt_echo_answer(&v, B, out, sizeof(out)), n);
	cr_assert_eq(ippkt_parse_v4(out, (size_t)n, &r), 0);
	cr_assert_eq(memcmp(r.dst, A, 4), 0);
	cr_assert_eq(ippkt_get16(r.l4), IPPKT_UDP_ECHO_PORT);
	cr_assert_eq(ippkt_get16(r.l4 + 2), 40007);
	cr_assert_eq(memcmp(r.l4 + IPPKT_UDP_HDR_BYTES, "hello", 5), 0);
	n = ippkt_udp(req, sizeof(req), A, B, 40007, 53, (const uint8_t *)"hello", 5);
	cr_assert_eq(ippkt_parse_v4(req, (size_t)n, &v), 0);
	cr_assert_eq(ippkt_echo_answer(&v, B, out, sizeof(out)), 0, "port 53 is not the echo service");
}

Test(example_ippkt, oversized_packets_are_not_built)
{
	static uint8_t big[IPPKT_MAX_BYTES + 64], data[IPPKT_MAX_BYTES];

	cr_assert_eq(ippkt_udp(big, sizeof(big), A, B, 1, 7, data, IPPKT_MAX_BYTES), -EMSGSIZE);
	cr_assert_eq(ippkt_icmp_echo(big, sizeof(big), A, B, 8, 1, 1, data, IPPKT_MAX_BYTES), -EMSGSIZE);
	cr_assert_eq(ippkt_udp(big, 10, A, B, 1, 7, data, 0), -EMSGSIZE);
}
