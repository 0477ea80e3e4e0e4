/* The signalling protocol: every message round-trips; malformed frames are
 * refused with -EPROTO / -EINVAL and never crash. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "transport/signal/proto.h"

#define KEY_A "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY="
#define KEY_B "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define CID "3f2b8c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7b"
#define UFRAG "abcd"
#define PWD "0123456789abcdefghijkl"

static void set(char *dst, size_t cap, const char *s)
{
	snprintf(dst, cap, "%s", s);
}
#define SET(f, s) set((f), sizeof(f), (s))

static void fill_resource(floe_signal_resource_t *r, const char *id)
{
	SET(r->id, id);
	SET(r->cidr, "10.1.0.0/16");
	SET(r->protocol, "tcp");
	SET(r->ports, "80,443,8000-8100");
	SET(r->expires, "2030-01-02T03:04:05Z");
}

static void fill_peer(floe_signal_peer_t *p, const char *id, const char *key)
{
	SET(p->id, id);
	SET(p->public_key, key);
	SET(p->tunnel_ipv4, "100.64.0.2");
	SET(p->tunnel_ipv6, "fd00::2");
}

static void fill_ice(floe_signal_ice_t *ice)
{
	SET(ice->ufrag, UFRAG);
	SET(ice->pwd, PWD);
}

/* One valid instance of every message kind. */
static void fill(floe_signal_msg_t *m, floe_signal_type_t t)
{
	memset(m, 0, sizeof(*m));
	m->type = t;
	switch (t) {
	case FLOE_SIGNAL_HELLO:
		m->u.hello.role = FLOE_SIGNAL_ROLE_GATEWAY;
		m->u.hello.version = 1;
		break;
	case FLOE_SIGNAL_WELCOME:
		SET(m->u.welcome.node_id, "alice");
		SET(m->u.welcome.tunnel_ipv4, "100.64.0.2");
		SET(m->u.welcome.tunnel_ipv6, "fd00::2");
		m->u.welcome.resources.n = 2;
		fill_resource(&m->u.welcome.resources.items[0], "web");
		fill_resource(&m->u.welcome.resources.items[1], "db");
		memset(m->u.welcome.resources.items[1].protocol, 0, sizeof(m->u.welcome.resources.items[1].protocol));
		memset(m->u.welcome.resources.items[1].ports, 0, sizeof(m->u.welcome.resources.items[1].ports));
		memset(m->u.welcome.resources.items[1].expires, 0, sizeof(m->u.welcome.resources.items[1].expires));
		m->u.welcome.n_relays = 1;
		SET(m->u.welcome.relays[0].host, "turn.example.net");
		m->u.welcome.relays[0].port = 3478;
		SET(m->u.welcome.relays[0].username, "u");
		SET(m->u.welcome.relays[0].password, "p");
		break;
	case FLOE_SIGNAL_ERROR:
		SET(m->u.error.reason, "unknown node");
		break;
	case FLOE_SIGNAL_REQUEST_FLOW:
		SET(m->u.request_flow.resource, "web");
		fill_ice(&m->u.request_flow.ice);
		break;
	case FLOE_SIGNAL_AUTHORIZE_FLOW:
		SET(m->u.authorize_flow.cid, CID);
		fill_peer(&m->u.authorize_flow.client, "alice", KEY_A);
		SET(m->u.authorize_flow.psk, KEY_B);
		fill_resource(&m->u.authorize_flow.resource, "web");
		fill_ice(&m->u.authorize_flow.ice);
		break;
	case FLOE_SIGNAL_FLOW_ACCEPTED:
		SET(m->u.flow_accepted.cid, CID);
		fill_ice(&m->u.flow_accepted.ice);
		break;
	case FLOE_SIGNAL_FLOW_REJECTED:
		SET(m->u.flow_rejected.cid, CID);
		SET(m->u.flow_rejected.reason, "busy");
		break;
	case FLOE_SIGNAL_FLOW_GRANTED:
		SET(m->u.flow_granted.cid, CID);
		fill_resource(&m->u.flow_granted.resource, "web");
		fill_peer(&m->u.flow_granted.gateway, "gw1", KEY_B);
		memset(m->u.flow_granted.gateway.tunnel_ipv4, 0, sizeof(m->u.flow_granted.gateway.tunnel_ipv4));
		SET(m->u.flow_granted.psk, KEY_A);
		fill_ice(&m->u.flow_granted.ice);
		break;
	case FLOE_SIGNAL_FLOW_DENIED:
		SET(m->u.flow_denied.resource, "web");
		SET(m->u.flow_denied.reason, "no grant");
		break;
	case FLOE_SIGNAL_CANDIDATE:
		SET(m->u.candidate.cid, CID);
		SET(m->u.candidate.candidate, "candidate:1 1 UDP 2130706431 10.0.0.1 5000 typ host");
		break;
	case FLOE_SIGNAL_END_OF_CANDIDATES:
		SET(m->u.end_of_candidates.cid, CID);
		break;
	case FLOE_SIGNAL_REVOKE:
		SET(m->u.revoke.client.id, "alice");
		SET(m->u.revoke.client.public_key, KEY_A);
		SET(m->u.revoke.resource, "web");
		break;
	case FLOE_SIGNAL_GRANT:
		fill_peer(&m->u.grant.client, "alice", KEY_A);
		fill_resource(&m->u.grant.resource, "web");
		break;
	case FLOE_SIGNAL_RESOURCES:
		m->u.resources.resources.n = 1;
		fill_resource(&m->u.resources.resources.items[0], "web");
		break;
	default:
		break;
	}
}

Test(proto, every_message_round_trips)
{
	static floe_signal_msg_t in, out;
	char buf[8192];

	for (int t = FLOE_SIGNAL_HELLO; t < FLOE_SIGNAL_TYPE_COUNT; t++) {
		size_t len = 0;

		fill(&in, (floe_signal_type_t)t);
		cr_assert_eq(floe_signal_encode(&in, buf, sizeof(buf), &len), 0, "encode %s",
			     floe_signal_type_name((floe_signal_type_t)t));
		cr_assert_eq(floe_signal_decode(buf, len, &out), 0, "decode %.*s", (int)len, buf);
		cr_assert_eq(memcmp(&in, &out, sizeof(in)), 0, "round trip of %.*s", (int)len, buf);
	}
}

Test(proto, wire_names_and_nulls)
{
	static floe_signal_msg_t m;
	char buf[8192];
	size_t len;

	fill(&m, FLOE_SIGNAL_WELCOME);
	cr_assert_eq(floe_signal_encode(&m, buf, sizeof(buf), &len), 0);
	buf[len] = '\0';
	cr_assert(strstr(buf, "\"type\":\"welcome\""));
	cr_assert(strstr(buf, "\"protocol\":null"), "absent protocol is null: %s", buf);
	cr_assert(strstr(buf, "\"expires\":null"));
	cr_assert(strstr(buf, "\"expires\":\"2030-01-02T03:04:05Z\""));
}

Test(proto, encode_refuses_invalid_and_short_buffer)
{
	static floe_signal_msg_t m;
	char buf[8192];
	size_t len;

	fill(&m, FLOE_SIGNAL_AUTHORIZE_FLOW);
	SET(m.u.authorize_flow.psk, "short");
	cr_assert_eq(floe_signal_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	fill(&m, FLOE_SIGNAL_AUTHORIZE_FLOW);
	cr_assert_eq(floe_signal_encode(&m, buf, 40, &len), -EMSGSIZE);
	m.type = FLOE_SIGNAL_TYPE_COUNT;
	cr_assert_eq(floe_signal_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	cr_assert_eq(floe_signal_encode(NULL, buf, sizeof(buf), &len), -EINVAL);
}

struct bad {
	const char *json;
	int err;
};

static const struct bad bad_inputs[] = {
	{ "", -EPROTO },
	{ "{", -EPROTO },
	{ "[]", -EPROTO },
	{ "\"hello\"", -EPROTO },
	{ "{}", -EPROTO },
	{ "{\"type\":1}", -EPROTO },
	{ "{\"type\":\"nope\"}", -EPROTO },
	{ "{\"type\":\"ping\",\"type\":\"pong\"}", -EPROTO },
	{ "{\"type\":\"hello\",\"role\":\"client\"}", -EPROTO },
	{ "{\"type\":\"hello\",\"role\":\"client\",\"version\":\"1\"}", -EPROTO },
	{ "{\"type\":\"hello\",\"role\":\"admin\",\"version\":1}", -EINVAL },
	{ "{\"type\":\"hello\",\"role\":\"client\",\"version\":0}", -EINVAL },
	{ "{\"type\":\"request_flow\",\"resource\":\"web\"}", -EPROTO },
	{ "{\"type\":\"request_flow\",\"resource\":\"web\",\"ice\":[]}", -EPROTO },
	{ "{\"type\":\"request_flow\",\"resource\":\"web\",\"ice\":{\"ufrag\":\"ab\",\"pwd\":\"" PWD "\"}}", -EINVAL },
	{ "{\"type\":\"request_flow\",\"resource\":\"w b\",\"ice\":{\"ufrag\":\"abcd\",\"pwd\":\"" PWD "\"}}", -EINVAL },
	{ "{\"type\":\"request_flow\",\"resource\":\"web\",\"ice\":{\"ufrag\":5,\"pwd\":\"" PWD "\"}}", -EPROTO },
	{ "{\"type\":\"candidate\",\"cid\":\"" CID "\",\"candidate\":\"a\\nb\"}", -EPROTO },
	{ "{\"type\":\"candidate\",\"cid\":\"" CID "\",\"candidate\":\"a\\u0000b\"}", -EPROTO },
	{ "{\"type\":\"candidate\",\"cid\":\"not-a-uuid\",\"candidate\":\"x\"}", -EINVAL },
	{ "{\"type\":\"candidate\",\"cid\":\"" CID "\",\"candidate\":\"\"}", -EINVAL },
	{ "{\"type\":\"end_of_candidates\",\"cid\":null}", -EPROTO },
	{ "{\"type\":\"flow_granted\",\"cid\":\"" CID "\",\"psk\":\"" KEY_A "\"}", -EPROTO },
	{ "{\"type\":\"revoke\",\"client\":{\"id\":\"a\",\"public_key\":\"AAAA\"},\"resource\":\"web\"}", -EINVAL },
	{ "{\"type\":\"resources\",\"resources\":{}}", -EPROTO },
	{ "{\"type\":\"resources\",\"resources\":[1]}", -EPROTO },
	{ "{\"type\":\"resources\",\"resources\":[{\"id\":\"web\",\"cidr\":\"10.1.2.3/8\"}]}", -EINVAL },
	{ "{\"type\":\"resources\",\"resources\":[{\"id\":\"web\",\"cidr\":\"10.0.0.0/33\"}]}", -EINVAL },
	{ "{\"type\":\"resources\",\"resources\":[{\"id\":\"web\",\"cidr\":\"10.0.0.0/8\",\"protocol\":\"sctp\"}]}", -EINVAL },
	{ "{\"type\":\"resources\",\"resources\":[{\"id\":\"web\",\"cidr\":\"10.0.0.0/8\",\"protocol\":\"tcp\",\"ports\":\"0\"}]}", -EINVAL },
	{ "{\"type\":\"resources\",\"resources\":[{\"id\":\"web\",\"cidr\":\"10.0.0.0/8\",\"expires\":\"tomorrow\"}]}", -EINVAL },
	{ "{\"type\":\"welcome\",\"node_id\":\"a\",\"tunnel_ipv4\":\"300.1.1.1\",\"resources\":[],\"relays\":[]}", -EINVAL },
	{ "{\"type\":\"welcome\",\"node_id\":\"a\",\"resources\":[],\"relays\":[{\"host\":\"h\",\"port\":70000}]}", -EPROTO },
};

Test(proto, malformed_inputs_are_refused)
{
	static floe_signal_msg_t out;

	for (size_t i = 0; i < FLOE_ARRAY_LEN(bad_inputs); i++) {
		const struct bad *b = &bad_inputs[i];
		int r = floe_signal_decode(b->json, strlen(b->json), &out);

		cr_assert_eq(r, b->err, "case %zu: %s -> %d, want %d", i, b->json, r, b->err);
		cr_assert_eq(out.type, FLOE_SIGNAL_NONE, "case %zu leaves no message", i);
	}
}

Test(proto, oversized_strings_and_frames)
{
	static char big[FLOE_SIGNAL_MAX_FRAME_BYTES + 64];
	static floe_signal_msg_t out;
	int n;

	/* a 300-char ufrag: longer than any field allows */
	n = snprintf(big, sizeof(big),
		     "{\"type\":\"request_flow\",\"resource\":\"web\",\"ice\":{\"ufrag\":\"%0300d\",\"pwd\":\"%s\"}}",
		     0, PWD);
	cr_assert_eq(floe_signal_decode(big, (size_t)n, &out), -EPROTO);
	/* more resources than a message may carry */
	n = snprintf(big, sizeof(big), "{\"type\":\"resources\",\"resources\":[");
	for (int i = 0; i <= FLOE_SIGNAL_MAX_RESOURCES; i++)
		n += snprintf(big + n, sizeof(big) - (size_t)n, "%s{\"id\":\"r%d\",\"cidr\":\"10.0.0.0/8\"}",
			      i ? "," : "", i);
	n += snprintf(big + n, sizeof(big) - (size_t)n, "]}");
	cr_assert_eq(floe_signal_decode(big, (size_t)n, &out), -EPROTO);
	/* a frame over the limit is not parsed at all */
	memset(big, ' ', sizeof(big));
	cr_assert_eq(floe_signal_decode(big, sizeof(big), &out), -EPROTO);
	cr_assert_eq(floe_signal_decode(NULL, 0, &out), -EPROTO);
	cr_assert_eq(floe_signal_decode("{}", 2, NULL), -EINVAL);
}

Test(proto, hello_boot_id_is_optional_hex)
{
	floe_signal_msg_t in = { .type = FLOE_SIGNAL_HELLO }, out;
	const char *bad = "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"boot_id\":\"zz\"}";
	const char *old = "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1}";
	char buf[512];
	size_t len;

	in.u.hello.role = FLOE_SIGNAL_ROLE_GATEWAY;
	in.u.hello.version = 1;
	strcpy(in.u.hello.boot_id, "0123456789abcdef0123456789abcdef");
	cr_assert_eq(floe_signal_encode(&in, buf, sizeof(buf), &len), 0);
	cr_assert_eq(floe_signal_decode(buf, len, &out), 0);
	cr_expect_str_eq(out.u.hello.boot_id, in.u.hello.boot_id);
	/* A node without one (an older node) still says hello. */
	cr_assert_eq(floe_signal_decode(old, strlen(old), &out), 0);
	cr_expect_str_eq(out.u.hello.boot_id, "");
	cr_expect_eq(floe_signal_decode(bad, strlen(bad), &out), -EINVAL);
}

/* A sharded gateway's hello: worker and workers, together or not at all. */
Test(proto, hello_worker_index_is_optional)
{
	static const struct {
		const char *json;
		int rc;
	} cases[] = {
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":0}", -EPROTO },
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"workers\":3}", -EPROTO },
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":\"1\",\"workers\":3}", -EPROTO },
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":1.5,\"workers\":3}", -EPROTO },
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":-1,\"workers\":3}", -EINVAL },
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":0,\"workers\":4294967296}", -EINVAL },
		/* out of range for the portal, still well-formed: the portal refuses it with a reason */
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":5,\"workers\":0}", 0 },
	};
	floe_signal_msg_t in = { .type = FLOE_SIGNAL_HELLO }, out;
	const char *old = "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1}";
	char buf[512];
	size_t len;

	in.u.hello.role = FLOE_SIGNAL_ROLE_GATEWAY;
	in.u.hello.version = 1;
	in.u.hello.has_worker = true;
	in.u.hello.worker = 2;
	in.u.hello.workers = 3;
	cr_assert_eq(floe_signal_encode(&in, buf, sizeof(buf), &len), 0);
	cr_assert_eq(floe_signal_decode(buf, len, &out), 0);
	cr_expect(out.u.hello.has_worker);
	cr_expect_eq(out.u.hello.worker, 2);
	cr_expect_eq(out.u.hello.workers, 3);
	cr_assert_eq(floe_signal_decode(old, strlen(old), &out), 0);
	cr_expect_not(out.u.hello.has_worker, "no index: one process");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(floe_signal_decode(cases[i].json, strlen(cases[i].json), &out), cases[i].rc, "%s",
			     cases[i].json);
	in.u.hello.worker = -1;
	cr_expect_eq(floe_signal_encode(&in, buf, sizeof(buf), &len), -EINVAL, "encode validates");
}
