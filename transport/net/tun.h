/*
 * A Linux TUN device (layer 3, no packet-information header), non-blocking,
 * configured over rtnetlink (netlink.h): up, MTU, addresses, routes.
 * Reads are batched: read until EAGAIN or until the batch is full.
 */
#ifndef FLOE_TRANSPORT_NET_TUN_H
#define FLOE_TRANSPORT_NET_TUN_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/net/addr.h"

enum floe_tun_limits {
	FLOE_TUN_BATCH_MAX = 32,   /* packets read per wake-up before polling again */
	FLOE_TUN_NAME_MAX = IFNAMSIZ - 1,
	FLOE_TUN_VNET_HDR_BYTES = 10,  /* struct virtio_net_hdr, see offload.h */
};

enum floe_tun_flags {
	/* IFF_VNET_HDR + TUNSETOFFLOAD (checksum, TSO4, TSO6): reads return a
	 * virtio-net header then a packet of up to 64 KiB (split it with
	 * floe_offload_split); floe_tun_write adds the header itself. */
	FLOE_TUN_F_OFFLOAD = 1u << 0,
};

typedef struct floe_tun floe_tun_t;

/* One packet of a batch: buf/cap belong to the caller, len is filled. */
typedef struct {
	uint8_t *buf;
	size_t cap;
	size_t len;
} floe_tun_pkt_t;

/*
 * Opens /dev/net/tun and creates (or attaches to) the interface `name`;
 * NULL or "" lets the kernel pick "tunN". NULL with *err = -errno
 * (-EINVAL for a name longer than FLOE_TUN_NAME_MAX).
 */
floe_tun_t *floe_tun_new(const char *name, int *err);
/* The same with FLOE_TUN_F_* flags. */
floe_tun_t *floe_tun_new_flags(const char *name, unsigned flags, int *err);
/* true when opened with FLOE_TUN_F_OFFLOAD. */
FLOE_MUST_CHECK bool floe_tun_offload(const floe_tun_t *self);
/* Closes the fd; the kernel deletes the interface with it. */
void floe_tun_destroy(floe_tun_t **self_p);
int floe_tun_fd(const floe_tun_t *self);
const char *floe_tun_name(const floe_tun_t *self);
int floe_tun_ifindex(const floe_tun_t *self);

/* Brings the link up with `mtu` (0 keeps the current one). 0 or -errno. */
int floe_tun_set_up(floe_tun_t *self, uint32_t mtu);
int floe_tun_add_address(floe_tun_t *self, const floe_cidr_t *addr);
int floe_tun_add_route(floe_tun_t *self, const floe_cidr_t *dst);
/* Adds (present, replacing one on another device) or removes a route to
 * dst via this device: see floe_netlink_route_set / _del. */
int floe_tun_set_host_route(floe_tun_t *self, const floe_cidr_t *dst, bool present);

/* Reads up to n (<= FLOE_TUN_BATCH_MAX) packets, stopping at EAGAIN.
 * Returns the count (0 if none was waiting) or -errno. */
int floe_tun_read_batch(floe_tun_t *self, floe_tun_pkt_t *pkts, size_t n);
/* Writes one IP packet (with complete checksums). 0 or -errno (-EAGAIN
 * when the queue is full). */
int floe_tun_write(floe_tun_t *self, const uint8_t *pkt, size_t len);
/* With offloads: writes a frame that has its own virtio-net header (e.g.
 * floe_offload_gro_take's). 0 or -errno; -EINVAL without offloads. */
int floe_tun_write_frame(floe_tun_t *self, const uint8_t *frame, size_t len);

#endif
