/* Idle behaviour of a connection; see idle.h for the table. */
#include "actors/idle.h"

#include "runtime/clock.h"

uint16_t floe_idle_keepalive_s(floe_role_t role, uint16_t configured_s)
{
	if (role != FLOE_ROLE_CLIENT)
		return configured_s;
	/* A configured keepalive longer than ours would let a 20 s NAT
	 * binding lapse; a shorter one is the operator knowing their NAT. */
	if (configured_s == 0 || configured_s > FLOE_IDLE_KEEPALIVE_S)
		return FLOE_IDLE_KEEPALIVE_S;
	return configured_s;
}

uint64_t floe_idle_at_ns(uint64_t last_data_ns, uint32_t idle_after_ms)
{
	return last_data_ns + (uint64_t)idle_after_ms * FLOE_NS_PER_MS;
}

floe_idle_state_t floe_idle_state(uint64_t last_data_ns, uint64_t now_ns, uint32_t idle_after_ms)
{
	return now_ns >= floe_idle_at_ns(last_data_ns, idle_after_ms) ? FLOE_IDLE_IDLE : FLOE_IDLE_ACTIVE;
}

uint64_t floe_idle_peer_gone_at_ns(floe_role_t role, uint64_t last_heard_ns, uint32_t gone_ms)
{
	if (role != FLOE_ROLE_GATEWAY)
		return UINT64_MAX;
	return last_heard_ns + (uint64_t)gone_ms * FLOE_NS_PER_MS;
}

bool floe_idle_peer_gone(floe_role_t role, uint64_t last_heard_ns, uint64_t now_ns, uint32_t gone_ms)
{
	return now_ns >= floe_idle_peer_gone_at_ns(role, last_heard_ns, gone_ms);
}

const char *floe_idle_state_name(floe_idle_state_t state)
{
	switch (state) {
	case FLOE_IDLE_ACTIVE:
		return "active";
	case FLOE_IDLE_IDLE:
		return "idle";
	}
	return "unknown";
}
