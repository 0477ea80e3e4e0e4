/*
 * IPv4 packets for the floe examples: just enough to send and to answer
 * ICMP echo (ping) and UDP echo (RFC 862, port 7) through floe's userspace
 * device, where the application itself is the network.
 *
 * Everything that comes out of a device is remote input: ippkt_parse_v4
 * checks lengths and checksums before anything else looks at a packet, and
 * the examples count and drop what it refuses. Not part of libfloe; copy it
 * with the example you start from.
 */
#ifndef FLOE_EXAMPLES_IPPKT_H
#define FLOE_EXAMPLES_IPPKT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum ippkt_limits {
	IPPKT_V4_HDR_BYTES = 20,   /* an IPv4 header without options */
	IPPKT_ICMP_HDR_BYTES = 8,  /* type, code, checksum, identifier, sequence */
	IPPKT_UDP_HDR_BYTES = 8,   /* ports, length, checksum */
	IPPKT_MAX_BYTES = 1500,    /* the largest packet a floe userspace device takes */
	IPPKT_TTL = 64,
	IPPKT_PROTO_ICMP = 1,
	IPPKT_PROTO_UDP = 17,
	IPPKT_ICMP_ECHO_REPLY = 0,
	IPPKT_ICMP_ECHO_REQUEST = 8,
	IPPKT_UDP_ECHO_PORT = 7,
	IPPKT_FLAG_DF = 0x4000,    /* don't fragment */
	IPPKT_FRAG_MASK = 0x3fff,  /* more-fragments flag + fragment offset */
};

/* A checked IPv4 packet. l4 points into the caller's buffer. */
typedef struct {
	uint8_t src[4], dst[4];
	uint8_t proto;
	const uint8_t *l4; /* transport header + payload */
	size_t l4_len;     /* UDP: the UDP length field, which may be below the IP payload's */
} ippkt_v4_t;

static inline uint16_t ippkt_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void ippkt_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)(v & 0xff);
}

/*
 * RFC 1071: the ones' complement sum of big-endian 16-bit words (an odd
 * last byte is padded with a zero byte). Folded on every call, so sums can
 * be chained (pseudo header, then header, then payload) without overflow.
 */
static inline uint32_t ippkt_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += ippkt_get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* The checksum field's value for a sum: its complement. Over data that
 * already carries a correct checksum this gives 0. */
static inline uint16_t ippkt_checksum(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* UDP's checksum covers a pseudo header too: addresses, protocol, length. */
static inline uint32_t ippkt_pseudo_sum(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint16_t len)
{
	uint8_t ph[12];

	memcpy(ph, src, 4);
	memcpy(ph + 4, dst, 4);
	ph[8] = 0;
	ph[9] = proto;
	ippkt_put16(ph + 10, len);
	return ippkt_sum(0, ph, sizeof(ph));
}

/*
 * Checks one packet read from a device and fills *out: 0, or -EINVAL for
 * anything malformed: not IPv4, short, a length field beyond the data, a
 * bad header checksum, a fragment (the examples never send one and do not
 * reassemble), a short or mis-summed ICMP message or UDP datagram. Other
 * protocols pass unchecked beyond the IP header; the caller ignores them.
 */
static inline int ippkt_parse_v4(const uint8_t *p, size_t len, ippkt_v4_t *out)
{
	size_t ihl, total;

	if (len < IPPKT_V4_HDR_BYTES || p[0] >> 4 != 4)
		return -EINVAL;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	total = ippkt_get16(p + 2);
	if (ihl < IPPKT_V4_HDR_BYTES || total < ihl || total > len)
		return -EINVAL;
	if (ippkt_checksum(ippkt_sum(0, p, ihl)) != 0)
		return -EINVAL;
	if (ippkt_get16(p + 6) & IPPKT_FRAG_MASK)
		return -EINVAL;
	memcpy(out->src, p + 12, 4);
	memcpy(out->dst, p + 16, 4);
	out->proto = p[9];
	out->l4 = p + ihl;
	out->l4_len = total - ihl;
	if (out->proto == IPPKT_PROTO_ICMP) {
		if (out->l4_len < IPPKT_ICMP_HDR_BYTES || ippkt_checksum(ippkt_sum(0, out->l4, out->l4_len)) != 0)
			return -EINVAL;
	} else if (out->proto == IPPKT_PROTO_UDP) {
		size_t ulen;

		if (out->l4_len < IPPKT_UDP_HDR_BYTES)
			return -EINVAL;
		ulen = ippkt_get16(out->l4 + 4);
		if (ulen < IPPKT_UDP_HDR_BYTES || ulen > out->l4_len)
			return -EINVAL;
		out->l4_len = ulen;
		/* Checksum 0 means "none" in IPv4 (RFC 768); anything else must add up. */
		if (ippkt_get16(out->l4 + 6) != 0 &&
		    ippkt_checksum(ippkt_sum(ippkt_pseudo_sum(out->src, out->dst, IPPKT_PROTO_UDP, (uint16_t)ulen),
					     out->l4, ulen)) != 0)
			return -EINVAL;
	}
	return 0;
}

/* An IPv4 header (no options, DF set) for a packet of total bytes. */
static inline void ippkt_v4_header(uint8_t *p, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
				   uint16_t total, uint16_t ident)
{
	memset(p, 0, IPPKT_V4_HDR_BYTES);
	p[0] = 0x45; /* version 4, 5 words of header */
	ippkt_put16(p + 2, total);
	ippkt_put16(p + 4, ident);
	ippkt_put16(p + 6, IPPKT_FLAG_DF);
	p[8] = IPPKT_TTL;
	p[9] = proto;
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	ippkt_put16(p + 10, ippkt_checksum(ippkt_sum(0, p, IPPKT_V4_HDR_BYTES)));
}

/* An ICMP echo request or reply (type) into out: its length, or -EMSGSIZE. */
static inline int ippkt_icmp_echo(uint8_t *out, size_t cap, const uint8_t src[4], const uint8_t dst[4],
				  uint8_t type, uint16_t ident, uint16_t seq, const uint8_t *data, size_t n)
{
	size_t total = IPPKT_V4_HDR_BYTES + IPPKT_ICMP_HDR_BYTES + n;
	uint8_t *icmp = out + IPPKT_V4_HDR_BYTES;

	if (total > cap || total > IPPKT_MAX_BYTES)
		return -EMSGSIZE;
	ippkt_v4_header(out, src, dst, IPPKT_PROTO_ICMP, (uint16_t)total, seq);
	icmp[0] = type;
	icmp[1] = 0; /* code */
	ippkt_put16(icmp + 2, 0);
	ippkt_put16(icmp + 4, ident);
	ippkt_put16(icmp + 6, seq);
	if (n)
		memcpy(icmp + IPPKT_ICMP_HDR_BYTES, data, n);
	ippkt_put16(icmp + 2, ippkt_checksum(ippkt_sum(0, icmp, IPPKT_ICMP_HDR_BYTES + n)));
	return (int)total;
}

/* A UDP datagram into out: its length, or -EMSGSIZE. */
static inline int ippkt_udp(uint8_t *out, size_t cap, const uint8_t src[4], const uint8_t dst[4], uint16_t sport,
			    uint16_t dport, const uint8_t *data, size_t n)
{
	size_t ulen = IPPKT_UDP_HDR_BYTES + n, total = IPPKT_V4_HDR_BYTES + ulen;
	uint8_t *udp = out + IPPKT_V4_HDR_BYTES;
	uint16_t sum;

	if (total > cap || total > IPPKT_MAX_BYTES)
		return -EMSGSIZE;
	ippkt_v4_header(out, src, dst, IPPKT_PROTO_UDP, (uint16_t)total, 0);
	ippkt_put16(udp, sport);
	ippkt_put16(udp + 2, dport);
	ippkt_put16(udp + 4, (uint16_t)ulen);
	ippkt_put16(udp + 6, 0);
	if (n)
		memcpy(udp + IPPKT_UDP_HDR_BYTES, data, n);
	sum = ippkt_checksum(ippkt_sum(ippkt_pseudo_sum(src, dst, IPPKT_PROTO_UDP, (uint16_t)ulen), udp, ulen));
	/* A computed 0 is sent as 0xffff: 0 would mean "no checksum". */
	ippkt_put16(udp + 6, sum ? sum : 0xffff);
	return (int)total;
}

/*
 * The echo service on address me: the answer to an ICMP echo request or a
 * UDP datagram to port 7, built into out (addresses and ports swapped, the
 * same identifier, sequence and payload). Its length; 0 when req is not for
 * the service (another address, protocol, port or ICMP type); -EMSGSIZE.
 * req must have passed ippkt_parse_v4.
 */
static inline int ippkt_echo_answer(const ippkt_v4_t *req, const uint8_t me[4], uint8_t *out, size_t cap)
{
	if (memcmp(req->dst, me, 4) != 0)
		return 0;
	if (req->proto == IPPKT_PROTO_ICMP && req->l4[0] == IPPKT_ICMP_ECHO_REQUEST && req->l4[1] == 0)
		return ippkt_icmp_echo(out, cap, me, req->src, IPPKT_ICMP_ECHO_REPLY, ippkt_get16(req->l4 + 4),
				       ippkt_get16(req->l4 + 6), req->l4 + IPPKT_ICMP_HDR_BYTES,
				       req->l4_len - IPPKT_ICMP_HDR_BYTES);
	if (req->proto == IPPKT_PROTO_UDP && ippkt_get16(req->l4 + 2) == IPPKT_UDP_ECHO_PORT)
		return ippkt_udp(out, cap, me, req->src, IPPKT_UDP_ECHO_PORT, ippkt_get16(req->l4),
				 req->l4 + IPPKT_UDP_HDR_BYTES, req->l4_len - IPPKT_UDP_HDR_BYTES);
	return 0;
}

#endif
