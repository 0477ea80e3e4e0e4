/*
 * When the portal re-issues minted TURN credentials (turn_rest.h,
 * docs/nat.md "TURN credentials"). A node connected longer than the TTL
 * would otherwise hold an expired credential, and every new ICE agent it
 * creates (a new flow, a replacement) would get no relay candidate. So
 * the portal sends each online node a fresh welcome (its relays with
 * credentials minted then) between TTL/2 - TTL/10 and TTL/2 after the
 * last one: a node's newest credential always has at least half its TTL
 * left, and the jitter spreads the re-issues of nodes that connected
 * together (a portal restart) over a tenth of the TTL.
 *
 * Connections already relayed keep their allocation: coturn checks the
 * credential's expiry when an allocation is made, not on its Refresh,
 * CreatePermission or ChannelBind (tests/daemons/turn_refresh_test.c).
 */
#ifndef FLOE_DAEMONS_TURN_REFRESH_H
#define FLOE_DAEMONS_TURN_REFRESH_H

#include <stdint.h>

#include "daemons/common/portal_config.h"

enum floe_turn_refresh_limits {
	/* The re-issue comes up to TTL / this earlier than TTL/2. */
	FLOE_TURN_REFRESH_JITTER_DIV = 10,
};

/* The shortest TTL among the relays with a shared secret; 0 when none. */
uint32_t floe_turn_refresh_ttl_s(const floe_portal_config_t *cfg);

/* Milliseconds from one issue to the next for credentials of ttl_s:
 * TTL/2 minus (rnd mod (TTL/10 + 1 ms)). 0 (never) when ttl_s is 0. */
uint64_t floe_turn_refresh_delay_ms(uint32_t ttl_s, uint32_t rnd);

#endif
