/*
 * Endpoint-dependent ("symmetric") NAT mapping detection from the ICE
 * candidates one agent knows (docs/nat.md, "Why a relay").
 *
 * A NAT with endpoint-independent mapping shows one public address:port for
 * one local socket, whoever it talks to. A symmetric NAT gives every
 * destination its own port. So two reflexive candidates (srflx from a STUN
 * or TURN server, prflx from a connectivity check) of the same side with
 * the same public IP but different ports, behind the same local socket,
 * prove an endpoint-dependent mapping:
 *  - local side: srflx (to the STUN/TURN server) vs prflx (what the peer,
 *    or the peer's relay, saw in a check) or two srflx from two servers;
 *    libnice records the base (our socket) of each, so "same socket" is
 *    known exactly.
 *  - remote side: the peer's srflx carries its base (raddr/rport); a
 *    remote prflx learnt from a check does not, so it is only compared when
 *    the peer has exactly one host candidate of that address family (one
 *    socket: no other base the port could belong to), or when every host
 *    socket of that family has an srflx on the prflx's IP and the prflx
 *    matches none of their ports (an EIM NAT would have reused one).
 * Nothing here can be fooled into "symmetric" by an endpoint-independent
 * NAT; the reverse is possible (no second mapping observed): then the
 * verdict is simply "not detected".
 *
 * Plain data, no allocation: embed a floe_ice_nat_t, zero it with
 * floe_ice_nat_reset, feed candidates, ask.
 */
#ifndef FLOE_TRANSPORT_ICE_NATDETECT_H
#define FLOE_TRANSPORT_ICE_NATDETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "runtime/common.h"
#include "transport/ice/agent.h"

enum floe_ice_nat_limits {
	/* Reflexive candidates kept per side; more are ignored (counted). */
	FLOE_ICE_NAT_MAX_REFLEXIVE = 16,
};

typedef enum {
	FLOE_ICE_NAT_LOCAL = 0,
	FLOE_ICE_NAT_REMOTE = 1,
} floe_ice_nat_side_t;

typedef struct {
	struct sockaddr_storage addr;
	struct sockaddr_storage base; /* ss_family 0: unknown */
} floe_ice_nat_reflexive_t;

typedef struct {
	floe_ice_nat_reflexive_t refl[FLOE_ICE_NAT_MAX_REFLEXIVE];
	size_t n_refl;
	size_t n_host_v4, n_host_v6;
	size_t ignored;
} floe_ice_nat_side_state_t;

typedef struct {
	floe_ice_nat_side_state_t side[2];
} floe_ice_nat_t;

FLOE_EXPORT void floe_ice_nat_reset(floe_ice_nat_t *self);
/*
 * One candidate of one side. base may be NULL or have ss_family 0 when
 * unknown. Relay candidates say nothing about our NAT and are ignored.
 * 0, or -EINVAL for NULL / an address that is not IPv4 or IPv6.
 */
FLOE_EXPORT int floe_ice_nat_observe(floe_ice_nat_t *self, floe_ice_nat_side_t side,
				     floe_ice_cand_type_t type, const struct sockaddr *addr,
				     const struct sockaddr *base);
/* Has this side been seen behind an endpoint-dependent mapping? */
FLOE_MUST_CHECK FLOE_EXPORT bool floe_ice_nat_symmetric(const floe_ice_nat_t *self,
							floe_ice_nat_side_t side);

#endif
