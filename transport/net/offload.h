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

#endif
