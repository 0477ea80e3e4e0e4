/* The role policy; see policy.h for the table. */
#include "actors/policy.h"

floe_policy_action_t floe_policy_device_packet(floe_role_t role, bool nominated, bool established)
{
	if (nominated && established)
		return FLOE_POLICY_SEND;
	/* Nominated but the first handshake is still in flight: the client
	 * keeps buffering (its packets follow the handshake, in order); the
	 * gateway has no session it may start, so it still drops. */
	return role == FLOE_ROLE_CLIENT ? FLOE_POLICY_BUFFER : FLOE_POLICY_DROP;
}

floe_policy_action_t floe_policy_wg_output(floe_role_t role, bool nominated)
{
	(void)role;
	/* Both roles: no path yet, so keep the datagram for the nominated one. */
	return nominated ? FLOE_POLICY_SEND : FLOE_POLICY_BUFFER;
}

bool floe_policy_initiates(floe_role_t role)
{
	return role == FLOE_ROLE_CLIENT;
}

bool floe_policy_responder_only(floe_role_t role)
{
	return role == FLOE_ROLE_GATEWAY;
}

const char *floe_role_name(floe_role_t role)
{
	switch (role) {
	case FLOE_ROLE_CLIENT:
		return "client";
	case FLOE_ROLE_GATEWAY:
		return "gateway";
	}
	return "unknown";
}
