/* The role policy table of DESIGN.md, cell by cell. */
#include <criterion/criterion.h>

#include "actors/policy.h"

struct device_case {
	floe_role_t role;
	bool nominated, established;
	floe_policy_action_t want;
};

Test(policy, device_packets_follow_the_design_table)
{
	static const struct device_case cases[] = {
		{ FLOE_ROLE_CLIENT, false, false, FLOE_POLICY_BUFFER },
		{ FLOE_ROLE_CLIENT, true, false, FLOE_POLICY_BUFFER },
		{ FLOE_ROLE_CLIENT, true, true, FLOE_POLICY_SEND },
		{ FLOE_ROLE_GATEWAY, false, false, FLOE_POLICY_DROP },
		{ FLOE_ROLE_GATEWAY, true, false, FLOE_POLICY_DROP },
		{ FLOE_ROLE_GATEWAY, true, true, FLOE_POLICY_SEND },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct device_case *c = &cases[i];
		cr_expect_eq(floe_policy_device_packet(c->role, c->nominated, c->established), c->want,
			     "case %zu (%s, nominated=%d, established=%d)", i,
			     floe_role_name(c->role), c->nominated, c->established);
	}
}

Test(policy, wireguard_output_waits_for_the_path_in_both_roles)
{
	cr_expect_eq(floe_policy_wg_output(FLOE_ROLE_CLIENT, false), FLOE_POLICY_BUFFER);
	cr_expect_eq(floe_policy_wg_output(FLOE_ROLE_GATEWAY, false), FLOE_POLICY_BUFFER);
	cr_expect_eq(floe_policy_wg_output(FLOE_ROLE_CLIENT, true), FLOE_POLICY_SEND);
	cr_expect_eq(floe_policy_wg_output(FLOE_ROLE_GATEWAY, true), FLOE_POLICY_SEND);
}

Test(policy, only_the_client_starts_the_first_handshake)
{
	cr_expect(floe_policy_initiates(FLOE_ROLE_CLIENT));
	cr_expect_not(floe_policy_initiates(FLOE_ROLE_GATEWAY));
	cr_expect(floe_policy_responder_only(FLOE_ROLE_GATEWAY));
	cr_expect_not(floe_policy_responder_only(FLOE_ROLE_CLIENT));
}
