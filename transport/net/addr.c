/* IP addresses, prefixes and packet addresses: see addr.h. */
#include "transport/net/addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum {
	IPV4_SRC_OFFSET = 12,
	IPV4_DST_OFFSET = 16,
	IPV6_SRC_OFFSET = 8,
	IPV6_DST_OFFSET = 24,
	IP_VERSION_4 = 4,
	IP_VERSION_6 = 6,
};

size_t floe_addr_len(int family)
{
	if (family == AF_INET)
		return FLOE_ADDR_V4_LEN;
	if (family == AF_INET6)
		return FLOE_ADDR_V6_LEN;
	return 0;
}

int floe_cidr_parse(const char *s, floe_cidr_t *out)
{
	char buf[FLOE_CIDR_STR_MAX];
	size_t n;
	char *slash;
	floe_cidr_t c = { 0 };

	if (!s || !out)
		return -EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';

	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, c.addr) == 1)
		c.family = AF_INET6;
	else
		return -EINVAL;

	unsigned long max = floe_addr_len(c.family) * 8;
	c.prefix = (uint8_t)max;
	if (slash) {
		const char *p = slash + 1;
		char *end;
		unsigned long v;

		/* strtoul would accept "+5", " 5" and "-0": digits only. */
		if (!isdigit((unsigned char)*p) || strlen(p) > 3)
			return -EINVAL;
		v = strtoul(p, &end, 10);
		if (*end != '\0' || v > max)
			return -EINVAL;
		c.prefix = (uint8_t)v;
	}
	*out = c;
	return 0;
}

void floe_cidr_format(const floe_cidr_t *c, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (floe_addr_len(c->family))
		inet_ntop(c->family, c->addr, a, sizeof(a));
	snprintf(buf, cap, "%s/%u", a, c->prefix);
}

bool floe_cidr_contains(const floe_cidr_t *c, int family, const uint8_t *addr)
{
	unsigned full, rest;

	if (c->family != family || !floe_addr_len(family))
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));

		if ((c->addr[full] & m) != (addr[full] & m))
			return false;
	}
	return true;
}

void floe_cidr_mask(floe_cidr_t *c)
{
	size_t len = floe_addr_len(c->family);
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (full >= len)
		return;
	if (rest)
		c->addr[full++] &= (uint8_t)(0xff << (8 - rest));
	memset(c->addr + full, 0, len - full);
}

static int packet_addr(const uint8_t *pkt, size_t len, int *family, const uint8_t **addr,
		       size_t v4_off, size_t v6_off)
{
	if (!pkt || len < 1)
		return -EINVAL;
	switch (pkt[0] >> 4) {
	case IP_VERSION_4:
		if (len < FLOE_IPV4_HEADER_MIN_BYTES)
			return -EINVAL;
		*family = AF_INET;
		*addr = pkt + v4_off;
		return 0;
	case IP_VERSION_6:
		if (len < FLOE_IPV6_HEADER_BYTES)
			return -EINVAL;
		*family = AF_INET6;
		*addr = pkt + v6_off;
		return 0;
	default:
		return -EINVAL;
	}
}

int floe_ip_packet_src(const uint8_t *pkt, size_t len, int *family, const uint8_t **addr)
{
	return packet_addr(pkt, len, family, addr, IPV4_SRC_OFFSET, IPV6_SRC_OFFSET);
}

int floe_ip_packet_dst(const uint8_t *pkt, size_t len, int *family, const uint8_t **addr)
{
	return packet_addr(pkt, len, family, addr, IPV4_DST_OFFSET, IPV6_DST_OFFSET);
}
