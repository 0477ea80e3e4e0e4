/*
 * rtnetlink requests through libmnl: bring a link up and set its MTU, add
 * addresses and routes. Used to configure the TUN device without shelling
 * out to ip(8). Each call opens a NETLINK_ROUTE socket, sends one request,
 * waits for its ACK and closes the socket: these are start-up operations,
 * not packet path.
 */
#ifndef FLOE_TRANSPORT_NET_NETLINK_H
#define FLOE_TRANSPORT_NET_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/net/addr.h"

enum floe_netlink_limits {
	FLOE_NETLINK_MTU_MIN = 576,   /* IPv4 minimum datagram every host must take */
	FLOE_NETLINK_MTU_MAX = 65535,
};

/* Sets IFF_UP (or clears it) and, when mtu != 0, the MTU. 0 or -errno. */
int floe_netlink_link_set(int ifindex, bool up, uint32_t mtu);
/* Adds an address with its prefix (IPv6 without duplicate address
 * detection: a tunnel has no neighbours to collide with). -EEXIST if present. */
int floe_netlink_addr_add(int ifindex, const floe_cidr_t *addr);
/* Adds a link-scope route to the prefix (host bits ignored) via ifindex in
 * the main table. -EEXIST if that route exists (in any device). */
int floe_netlink_route_add(int ifindex, const floe_cidr_t *dst);
/* The same route, created or moved here from any device that held it
 * (NLM_F_REPLACE): a sharded gateway's host route for a client. */
int floe_netlink_route_set(int ifindex, const floe_cidr_t *dst);
/* Removes that route if it leads to ifindex; -ESRCH when it does not exist
 * (or leads elsewhere: another worker took the client over). */
int floe_netlink_route_del(int ifindex, const floe_cidr_t *dst);

#endif
