/*
 * The test packet of the node suites (tests/actors/node_api_test.c,
 * tests/daemons/node_test.c): IPv4/UDP, 32 bytes, src -> dst, carrying a
 * sequence number, so a test can tell which packet came out of a device.
 */
#ifndef FLOE_TESTS_NODE_PACKET_H
#define FLOE_TESTS_NODE_PACKET_H

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

enum {
	NODE_PKT_BYTES = 32,   /* IPv4 20 + UDP 8 + a 4-byte sequence number */
	NODE_PKT_SEQ_AT = 28,
};

static inline void node_packet(uint8_t p[NODE_PKT_BYTES], const char *src, const char *dst, uint32_t seq)
{
	memset(p, 0, NODE_PKT_BYTES);
	p[0] = 0x45;                     /* IPv4, 20-byte header */
	p[3] = NODE_PKT_BYTES;
	p[8] = 64;                       /* TTL */
	p[9] = 17;                       /* UDP */
	cr_assert_eq(inet_pton(AF_INET, src, p + 12), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, p + 16), 1);
	p[21] = 53;                      /* ports */
	p[23] = 53;
	p[25] = 12;                      /* UDP length */
	memcpy(p + NODE_PKT_SEQ_AT, &seq, 4);
}

#endif
