/*
 * IP addresses and prefixes (CIDR) as the tunnel sees them: parsing
 * "10.0.0.1/24" / "fd00::1/64", prefix containment, and where the source and
 * destination addresses sit in a raw IPv4/IPv6 packet read from the TUN.
 * Plain data, no allocation.
 */
#ifndef FLOE_TRANSPORT_NET_ADDR_H
#define FLOE_TRANSPORT_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"

enum floe_addr_limits {
	FLOE_ADDR_V4_LEN = 4,
	FLOE_ADDR_V6_LEN = 16,
	FLOE_ADDR_MAX_LEN = 16,
	FLOE_IPV4_HEADER_MIN_BYTES = 20,
	FLOE_IPV6_HEADER_BYTES = 40,
	FLOE_CIDR_STR_MAX = 64, /* "ffff:...:ffff/128" and a NUL fit */
};

/* An address with a prefix length; family is AF_INET or AF_INET6. The bits
 * after the prefix are kept as written (an interface address needs them). */
typedef struct {
	int family;
	uint8_t prefix;
	uint8_t addr[FLOE_ADDR_MAX_LEN];
} floe_cidr_t;

/*
 * Parses "ADDR/PREFIX" or a bare "ADDR" (host prefix: /32 or /128),
 * surrounding whitespace allowed. -EINVAL for anything else (prefix out of
 * range, trailing garbage, empty).
 */
int floe_cidr_parse(const char *s, floe_cidr_t *out);
/* Writes "ADDR/PREFIX" into buf (cap >= FLOE_CIDR_STR_MAX). */
void floe_cidr_format(const floe_cidr_t *c, char *buf, size_t cap);
/* Address length in bytes of a family: 4, 16, or 0 for anything else. */
size_t floe_addr_len(int family);
/* true when the first `prefix` bits of addr equal those of c (same family). */
FLOE_MUST_CHECK bool floe_cidr_contains(const floe_cidr_t *c, int family, const uint8_t *addr);
/* Clears the host bits after the prefix (the network of an AllowedIPs entry). */
void floe_cidr_mask(floe_cidr_t *c);

/*
 * Finds the source or destination address of an IP packet. Sets *family and
 * *addr (pointing into pkt) and returns 0, or -EINVAL when the packet is too
 * short or not IPv4/IPv6 (remote input: the caller drops and counts).
 */
int floe_ip_packet_src(const uint8_t *pkt, size_t len, int *family, const uint8_t **addr);
int floe_ip_packet_dst(const uint8_t *pkt, size_t len, int *family, const uint8_t **addr);

#endif
