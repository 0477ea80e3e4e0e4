/*
 * The gateway's access policy: which resources each client may reach, until
 * when, and from which source address (docs/gateway-policy.md).
 *
 * A resource is a CIDR with an optional protocol (tcp, udp, icmp) and up to
 * FLOE_ACL_MAX_PORT_RANGES destination port ranges. A grant is
 * (client, resource, expiry); expiry is a realtime second, 0 = never. A grant
 * is valid while now < expires_at: at the exact second it expires.
 *
 * Every packet a client sends through the tunnel is checked:
 *   1. it parses as IPv4/IPv6 (bounded walk of IPv6 extension headers), or
 *      FLOE_ACL_DENY_MALFORMED;
 *   2. its source is the client's tunnel address of that family, or
 *      FLOE_ACL_DENY_SPOOFED;
 *   3. some grant of the client covers its destination, protocol and port,
 *      and has not expired; otherwise the reason of the grant that came
 *      closest (no grant < expired < protocol < port).
 * The caller drops every denied packet and counts it as acl_drops.
 *
 * Fragments: a non-first fragment (offset != 0) carries no transport header,
 * so its ports cannot be checked. It is allowed when a live grant covers its
 * destination and protocol: ports sit in the first 4 bytes of the TCP/UDP
 * header, which a fragment at offset >= 8 bytes cannot overwrite, and the
 * receiver cannot reassemble the datagram without the first fragment, which
 * was checked with its ports. A first fragment too short to hold the ports
 * is malformed.
 *
 * Thread-safety: none. A floe_acl_t belongs to one thread (the node or a
 * connection actor), which is the only one that calls into it.
 */
#ifndef FLOE_ACTORS_ACL_H
#define FLOE_ACTORS_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"
#include "transport/net/addr.h"

enum floe_acl_limits {
	FLOE_ACL_ID_MAX = 64,                 /* bytes of a client or resource id, NUL included */
	FLOE_ACL_MAX_CLIENTS = 65536,
	FLOE_ACL_MAX_GRANTS_PER_CLIENT = 64,
	FLOE_ACL_MAX_PORT_RANGES = 16,        /* per resource */
	FLOE_ACL_MAX_IPV6_EXT_HEADERS = 8,    /* extension headers skipped before giving up */
};

typedef enum {
	FLOE_ACL_PROTO_ANY = 0,
	FLOE_ACL_PROTO_TCP,
	FLOE_ACL_PROTO_UDP,
	FLOE_ACL_PROTO_ICMP, /* ICMP on IPv4, ICMPv6 on IPv6; never has ports */
} floe_acl_proto_t;

/* Inclusive: { 80, 80 } is port 80, { 1024, 65535 } the high ports. */
typedef struct {
	uint16_t first;
	uint16_t last;
} floe_acl_port_range_t;

/*
 * With no port ranges, every packet of the protocol (or of any protocol) to
 * the CIDR is allowed. With port ranges, only TCP/UDP packets (of the
 * protocol, when one is set) to a destination port in a range are.
 */
typedef struct {
	char id[FLOE_ACL_ID_MAX];
	floe_cidr_t cidr;
	floe_acl_proto_t proto;
	size_t n_ports;
	floe_acl_port_range_t ports[FLOE_ACL_MAX_PORT_RANGES];
} floe_acl_resource_t;

typedef enum {
	FLOE_ACL_ALLOW = 0,
	FLOE_ACL_DENY_MALFORMED, /* not a parseable IPv4/IPv6 packet */
	FLOE_ACL_DENY_SPOOFED,   /* source is not the client's tunnel address */
	FLOE_ACL_DENY_NO_GRANT,  /* no grant covers the destination address */
	FLOE_ACL_DENY_EXPIRED,   /* the grants that cover it have expired */
	FLOE_ACL_DENY_PROTOCOL,  /* a live grant covers the address, not the protocol */
	FLOE_ACL_DENY_PORT,      /* ... covers address and protocol, not the port */
} floe_acl_verdict_t;

typedef struct floe_acl floe_acl_t;

/* Called once per grant that floe_acl_expire() removed, after it logged
 * "Access to resource expired". The strings live until the callback returns;
 * it must not call into the acl. */
typedef void (floe_acl_expired_fn)(void *user, const char *client_id,
				   const floe_acl_resource_t *resource);

/* NULL on ENOMEM. */
floe_acl_t *floe_acl_new(void);
void floe_acl_destroy(floe_acl_t **self_p);

/*
 * Adds the grant, or replaces the client's grant of the same resource id.
 * Logs "Allowing access to resource" (client_id, resource, cidr, expires).
 * -EINVAL for an empty or too long id, a CIDR that is not IPv4/IPv6, a
 * reversed port range, more than FLOE_ACL_MAX_PORT_RANGES ranges, or ports
 * on ICMP; -ENOSPC beyond the grant or client limits; -ENOMEM.
 */
int floe_acl_grant(floe_acl_t *self, const char *client_id, const floe_acl_resource_t *resource,
		   int64_t expires_at_s);
/* -ENOENT when the client has no grant of that resource. */
int floe_acl_revoke(floe_acl_t *self, const char *client_id, const char *resource_id);
/* Removes every grant of a client; -ENOENT when it has none. */
int floe_acl_revoke_client(floe_acl_t *self, const char *client_id);
/* Live (unexpired at now_s) grants of a client. */
size_t floe_acl_count(const floe_acl_t *self, const char *client_id, int64_t now_s);
/* The earliest expiry of any grant (the deadline for floe_acl_expire), or 0. */
int64_t floe_acl_next_expiry(const floe_acl_t *self);

/*
 * Decides on one packet the client sent through its tunnel. tunnel_v4 (4
 * bytes) and tunnel_v6 (16 bytes) are the client's tunnel addresses; NULL
 * when it has none of that family, so every packet of that family is
 * spoofed. Never reads outside pkt[0..len).
 */
FLOE_MUST_CHECK floe_acl_verdict_t floe_acl_check(const floe_acl_t *self, const char *client_id,
						  const uint8_t *tunnel_v4, const uint8_t *tunnel_v6,
						  const uint8_t *pkt, size_t len, int64_t now_s);

/*
 * Removes every grant with expires_at <= now_s, logs "Access to resource
 * expired" (client_id, resource) for each and calls fn (may be NULL).
 * Returns how many it removed. floe_acl_check() already refuses an expired
 * grant at its second, so calling this late never lets a packet through.
 */
size_t floe_acl_expire(floe_acl_t *self, int64_t now_s, floe_acl_expired_fn *fn, void *user);

/* "allow", "spoofed_source", ...; never NULL. */
const char *floe_acl_verdict_name(floe_acl_verdict_t v);
/* "any", "tcp", "udp", "icmp"; never NULL. */
const char *floe_acl_proto_name(floe_acl_proto_t p);

#endif
