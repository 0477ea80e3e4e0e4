/*
 * fuzz/acl: the gateway policy's packet parser on arbitrary bytes. Every
 * input gets a verdict, never a crash or a read outside the packet, and a
 * packet from a source other than the tunnel address is never allowed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "actors/acl.h"
#include "runtime/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t TUN_V4[4] = { 100, 64, 0, 2 };
static const uint8_t TUN_V6[16] = { 0xfd, [15] = 2 };

/* Grants that cover everything the fuzzer can reach, so its inputs get past
 * the address checks into the protocol and port parsing. */
static floe_acl_t *s_acl(void)
{
	static floe_acl_t *acl;
	static const char *const cidrs[] = { "0.0.0.0/0", "::/0", "10.0.0.0/8", "fd00::/8" };
	static const floe_acl_proto_t protos[] = { FLOE_ACL_PROTO_TCP, FLOE_ACL_PROTO_UDP,
						   FLOE_ACL_PROTO_ICMP, FLOE_ACL_PROTO_ANY };

	if (acl)
		return acl;
	floe_log_set_level(FLOE_LOG_OFF);
	acl = floe_acl_new();
	for (size_t i = 0; acl && i < FLOE_ARRAY_LEN(cidrs); i++) {
		floe_acl_resource_t r = { .proto = protos[i] };

		r.id[0] = (char)('a' + i);
		if (floe_cidr_parse(cidrs[i], &r.cidr) < 0)
			abort();
		if (r.proto != FLOE_ACL_PROTO_ICMP) {
			r.n_ports = 1;
			r.ports[0] = (floe_acl_port_range_t){ 1, 1024 };
		}
		if (floe_acl_grant(acl, "c", &r, 0) < 0)
			abort();
	}
	return acl;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy: any over-read is an ASan report. */
	uint8_t *pkt = malloc(size ? size : 1);
	floe_acl_verdict_t v;

	if (!pkt)
		return 0;
	memcpy(pkt, data, size);
	v = floe_acl_check(s_acl(), "c", TUN_V4, TUN_V6, pkt, size, 1);
	if (v == FLOE_ACL_ALLOW) {
		/* Allowed means the source really is the tunnel address. */
		int v6 = (pkt[0] >> 4) == 6;

		if (memcmp(pkt + (v6 ? 8 : 12), v6 ? TUN_V6 : TUN_V4, v6 ? 16 : 4) != 0)
			abort();
	}
	free(pkt);
	return 0;
}
