/*
 * TUN offloads (IFF_VNET_HDR + TUNSETOFFLOAD): with TSO on, the kernel
 * hands the TUN reader whole TCP super-segments (up to 64 KiB) behind a
 * virtio-net header instead of one MTU-sized packet per read, and may leave
 * the transport checksum to us. This module turns such a frame back into
 * the MTU-sized packets with complete checksums that a WireGuard peer
 * expects, in userspace, without allocating.
 *
 * Everything here is pure: frames come from the local kernel, but they are
 * still checked field by field, and a frame that does not add up is
 * refused with -EINVAL for the caller to count and drop.
 */
#ifndef FLOE_TRANSPORT_NET_OFFLOAD_H
#define FLOE_TRANSPORT_NET_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"

enum floe_offload_limits {
	/* struct virtio_net_hdr (no num_buffers: TUN's default size). */
	FLOE_OFFLOAD_VNET_HDR_BYTES = 10,
	/* Largest IP packet one segment may become (IPv4 total length). */
	FLOE_OFFLOAD_SEG_MAX_BYTES = 65535,
};

/* Called once per packet, in order; `pkt` is valid only during the call.
 * A non-zero return stops the split and is returned by it. */
typedef int (*floe_offload_emit_fn)(void *ctx, const uint8_t *pkt, size_t len);

/*
 * Splits one frame read from a TUN opened with offloads (virtio-net header
 * then an IP packet) into IP packets with complete checksums, building each
 * in `scratch` (cap bytes; a segment that does not fit is -EMSGSIZE) and
 * passing it to emit. A frame without GSO is passed on whole (its checksum
 * completed if the header asks). Returns the number of packets emitted,
 * -EINVAL for a malformed frame (nothing emitted), -EPROTONOSUPPORT for a
 * GSO type other than TCPv4/TCPv6 (nothing emitted), or emit's non-zero
 * return.
 */
int floe_offload_split(const uint8_t *frame, size_t len, uint8_t *scratch, size_t cap,
		       floe_offload_emit_fn emit, void *ctx);

/* RFC 1071 one's-complement sum helpers, exposed for tests. */
uint32_t floe_offload_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t floe_offload_csum_fold(uint32_t sum);

/*
 * The other direction (GRO for TUN writes): consecutive TCP segments of
 * one flow, in order, are gathered into one frame with a virtio-net GSO
 * header, so the local kernel takes them in one write and one pass through
 * its TCP stack. Each segment's checksum is verified before it joins (the
 * kernel trusts the frame's checksums afterwards). Caller-owned, no
 * allocation: buf must hold FLOE_OFFLOAD_GRO_BUF_BYTES.
 */
enum { FLOE_OFFLOAD_GRO_BUF_BYTES = FLOE_OFFLOAD_VNET_HDR_BYTES + FLOE_OFFLOAD_SEG_MAX_BYTES };

typedef struct {
	uint8_t *buf;          /* virtio-net header, then the growing packet */
	size_t len;            /* bytes used in buf; 0 = empty */
	size_t seg;            /* payload bytes of the first segment (gso_size) */
	size_t ip_hlen, hlen;  /* IP header, IP + TCP header bytes */
	uint32_t next_seq;     /* the sequence number that may follow */
	int n;                 /* segments gathered */
	int closed;            /* a short or PSH segment ended it */
} floe_offload_gro_t;

void floe_offload_gro_init(floe_offload_gro_t *g, uint8_t *buf);
/*
 * Offers one IP packet. 0: gathered (the packet was copied). -EAGAIN: it
 * does not continue what is gathered: take the frame, then offer it again.
 * -ENOTSUP: not a plain TCP data segment (SYN/FIN/RST/URG/ECN flags, no
 * payload, IPv4 options, IPv6 extension headers, not TCP), and -EBADMSG:
 * its TCP checksum is wrong (or the packet is malformed) - in both cases
 * take the frame, then write the packet on its own.
 */
int floe_offload_gro_add(floe_offload_gro_t *g, const uint8_t *pkt, size_t len);
/* The gathered frame (virtio-net header + packet) ready for one TUN
 * write, or NULL when empty; empties g. Valid until the next add. */
const uint8_t *floe_offload_gro_take(floe_offload_gro_t *g, size_t *len);

#endif
