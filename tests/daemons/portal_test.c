/* The portal in-process on tcp://127.0.0.1:<free port> with real CURVE and
 * real portal clients: ZAP refusal, welcome, a whole flow negotiation with
 * candidate relay, denial, reload, expiry and a portal restart. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemons/common/portal.h"
#include "daemons/common/turn_rest.h"
#include "transport/signal/portal_client.h"

enum {
	MAX_NODES = 12,
	INBOX = 32,
	WAIT_MS = 3000,
	QUIET_MS = 400, /* how long "nothing arrives" is watched */
};

typedef struct {
	const char *name;
	uint8_t sec[32], pub[32];
	char b64[45];
	floe_signal_role_t role;
	floe_portal_client_t *c;
	uint64_t skew_ms;          /* added to this node's clock */
	int worker, workers;       /* a sharded gateway's session: worker k of n (0 of 0: not sharded) */
	floe_signal_msg_t inbox[INBOX];
	size_t n_inbox;
} node_t;

typedef struct {
	char dir[64];
	char conf[128];
	uint8_t portal_sec[32], portal_pub[32];
	char portal_b64[45];
	void *ctx;
	floe_portal_t *portal;
	char endpoint[128];
	node_t nodes[MAX_NODES];
	size_t n_nodes;
	unsigned rest_ttl_s;       /* TTL of the shared-secret relay; 0: 600 */
} harness_t;

static harness_t H;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void keypair(uint8_t sec[32], uint8_t pub[32], char b64[45])
{
	randombytes_buf(sec, 32);
	crypto_scalarmult_base(pub, sec);
	sodium_bin2base64(b64, 45, pub, 32, sodium_base64_VARIANT_ORIGINAL);
}

static node_t *add_node(const char *name, floe_signal_role_t role)
{
	node_t *n = &H.nodes[H.n_nodes++];

	n->name = name;
	n->role = role;
	keypair(n->sec, n->pub, n->b64);
	return n;
}

static node_t *node(const char *name)
{
	for (size_t i = 0; i < H.n_nodes; i++) {
		if (!strcmp(H.nodes[i].name, name))
			return &H.nodes[i];
	}
	cr_assert_fail("no node %s", name);
	return NULL;
}

/*
 * gw1 serves web and db, gw2 only web; alice may reach web; bob is a known client with no
 * grant for web; mallory is unknown to the portal. grants_extra is appended.
 */
static void write_config(const char *grants_extra)
{
	char priv_b64[45];
	FILE *f;

	sodium_bin2base64(priv_b64, sizeof(priv_b64), H.portal_sec, 32, sodium_base64_VARIANT_ORIGINAL);
	f = fopen(H.conf, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"[Portal]\nListenAddress = %s\nPrivateKey = %s\n"
		"[Relay turn]\nHost = 127.0.0.1\nPort = 3478\nUsername = u\nPassword = p\n"
		"[Relay rest]\nHost = 127.0.0.1\nPort = 3479\nSecret = north\nTTL = %u\n"
		"[Resource web]\nCIDR = 10.1.0.0/16\nProtocol = tcp\nPorts = 80,443\n"
		"[Resource db]\nCIDR = 10.2.0.0/24\n"
		"[Gateway gw1]\nPublicKey = %s\nResources = web, db\nTunnelIPv4 = 100.64.255.1\n"
		"[Gateway gw2]\nPublicKey = %s\nResources = web\n"
		"[Client alice]\nPublicKey = %s\nTunnelIPv4 = 100.64.0.2\nTunnelIPv6 = fd00::2\n"
		"[Client bob]\nPublicKey = %s\nTunnelIPv4 = 100.64.0.3\n"
		"%s",
		H.endpoint[0] ? H.endpoint : "tcp://127.0.0.1:*", priv_b64, H.rest_ttl_s ? H.rest_ttl_s : 600,
		node("gw1")->b64, node("gw2")->b64,
		node("alice")->b64, node("bob")->b64, grants_extra);
	fclose(f);
	sodium_memzero(priv_b64, sizeof(priv_b64));
}

static const char alice_web[] = "[Grant alice-web]\nClient = alice\nResource = web\n";

static void start_portal(void)
{
	char err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;

	cr_assert_eq(floe_portal_config_load(H.conf, &cfg, err), 0, "%s", err);
	H.portal = floe_portal_new(&cfg, mono_ms());
	cr_assert_not_null(H.portal, "portal: %s", strerror(errno));
	cr_assert_null(cfg);
	snprintf(H.endpoint, sizeof(H.endpoint), "%s", floe_portal_endpoint(H.portal));
}

static void setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	memset(&H, 0, sizeof(H));
	snprintf(H.dir, sizeof(H.dir), "/tmp/sig-portal-XXXXXX");
	cr_assert_not_null(mkdtemp(H.dir));
	snprintf(H.conf, sizeof(H.conf), "%s/portal.conf", H.dir);
	keypair(H.portal_sec, H.portal_pub, H.portal_b64);
	add_node("gw1", FLOE_SIGNAL_ROLE_GATEWAY);
	add_node("gw2", FLOE_SIGNAL_ROLE_GATEWAY);
	add_node("alice", FLOE_SIGNAL_ROLE_CLIENT);
	add_node("bob", FLOE_SIGNAL_ROLE_CLIENT);
	add_node("mallory", FLOE_SIGNAL_ROLE_CLIENT);
	H.ctx = zmq_ctx_new();
	cr_assert_not_null(H.ctx);
}

static void teardown(void)
{
	char cmd[128];

	for (size_t i = 0; i < H.n_nodes; i++)
		floe_portal_client_destroy(&H.nodes[i].c);
	floe_portal_destroy(&H.portal);
	zmq_ctx_term(H.ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", H.dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(portal, .init = setup, .fini = teardown, .timeout = 60);

/* One round: the portal and every node handle what is waiting and tick. */
static void pump_once(int poll_ms)
{
	zmq_pollitem_t items[MAX_NODES + 1];
	int n = 0;
	uint64_t now = mono_ms();

	if (H.portal)
		floe_portal_pollitem(H.portal, &items[n++]);
	for (size_t i = 0; i < H.n_nodes; i++) {
		if (H.nodes[i].c && floe_portal_client_pollitem(H.nodes[i].c, &items[n]) == 0)
			n++;
	}
	zmq_poll(items, n, poll_ms);
	if (H.portal) {
		cr_assert_eq(floe_portal_handle(H.portal, now), 0);
		if (now >= floe_portal_next_deadline_ms(H.portal))
			floe_portal_tick(H.portal, now);
	}
	for (size_t i = 0; i < H.n_nodes; i++) {
		node_t *nd = &H.nodes[i];
		uint64_t t = now + nd->skew_ms;

		if (!nd->c)
			continue;
		for (int k = 0; k < 64 && nd->n_inbox < INBOX; k++) {
			int r = floe_portal_client_handle(nd->c, t, &nd->inbox[nd->n_inbox]);
			if (r == -EAGAIN || r == -ENOTCONN)
				break;
			cr_assert_eq(r, 0, "%s: handle %d", nd->name, r);
			nd->n_inbox++;
		}
		if (t >= floe_portal_client_next_deadline_ms(nd->c))
			floe_portal_client_tick(nd->c, t);
	}
}

/* Removes and returns the first message of a type from a node's inbox. */
static bool take(node_t *n, floe_signal_type_t type, floe_signal_msg_t *out)
{
	for (size_t i = 0; i < n->n_inbox; i++) {
		if (n->inbox[i].type != type)
			continue;
		*out = n->inbox[i];
		memmove(&n->inbox[i], &n->inbox[i + 1], (n->n_inbox - i - 1) * sizeof(n->inbox[0]));
		n->n_inbox--;
		return true;
	}
	return false;
}

static bool wait_for(node_t *n, floe_signal_type_t type, floe_signal_msg_t *out, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	while (!take(n, type, out)) {
		if (mono_ms() >= end)
			return false;
		pump_once(10);
	}
	return true;
}

static void connect_node(node_t *n)
{
	n->c = floe_portal_client_new_worker(H.ctx, H.endpoint, H.portal_pub, n->sec, n->role, n->worker, n->workers,
					     mono_ms());
	cr_assert_not_null(n->c);
}

static void welcome(node_t *n, floe_signal_msg_t *w)
{
	connect_node(n);
	cr_assert(wait_for(n, FLOE_SIGNAL_WELCOME, w, WAIT_MS), "%s got no welcome", n->name);
	cr_assert(floe_portal_client_connected(n->c));
}

static void send_msg(node_t *n, const floe_signal_msg_t *m)
{
	cr_assert_eq(floe_portal_client_send(n->c, m), 0, "%s send", n->name);
}

static floe_signal_msg_t M, R; /* scratch: too large for the stack in bulk */

Test(portal, unknown_key_is_refused)
{
	write_config(alice_web);
	start_portal();
	connect_node(node("mallory"));
	cr_assert_not(wait_for(node("mallory"), FLOE_SIGNAL_WELCOME, &M, 1000));
	cr_assert_not(floe_portal_client_connected(node("mallory")->c));
	cr_assert_geq(floe_portal_stats(H.portal).zap_refused, 1);
	cr_assert_eq(floe_portal_stats(H.portal).rx_msgs, 0, "nothing from mallory reached the portal");
}

Test(portal, known_client_gets_welcome_with_its_resources)
{
	write_config(alice_web);
	start_portal();
	welcome(node("alice"), &M);
	cr_assert_str_eq(M.u.welcome.node_id, "alice");
	cr_assert_str_eq(M.u.welcome.tunnel_ipv4, "100.64.0.2");
	cr_assert_str_eq(M.u.welcome.tunnel_ipv6, "fd00::2");
	cr_assert_eq(M.u.welcome.resources.n, 1);
	cr_assert_str_eq(M.u.welcome.resources.items[0].id, "web");
	cr_assert_str_eq(M.u.welcome.resources.items[0].cidr, "10.1.0.0/16");
	cr_assert_str_eq(M.u.welcome.resources.items[0].ports, "80,443");
	cr_assert_eq(M.u.welcome.n_relays, 2);
	cr_assert_eq(M.u.welcome.relays[0].port, 3478);
	cr_assert_str_eq(M.u.welcome.relays[0].username, "u", "a static user goes out as configured");
	/* Issue #6: the shared-secret relay gets alice's own credential,
	 * expiring a TTL from now (coturn's REST scheme). */
	{
		long long expiry = 0;
		int used = 0;
		char user[64], pass[FLOE_TURN_REST_PASSWORD_BYTES];
		long long now = (long long)time(NULL);

		cr_assert_eq(M.u.welcome.relays[1].port, 3479);
		cr_assert_eq(sscanf(M.u.welcome.relays[1].username, "%lld:alice%n", &expiry, &used), 1,
			     "%s", M.u.welcome.relays[1].username);
		cr_expect_eq((size_t)used, strlen(M.u.welcome.relays[1].username));
		cr_expect(expiry >= now + 600 - 5 && expiry <= now + 600, "expiry %lld, now %lld", expiry, now);
		cr_assert_eq(floe_turn_rest_mint((const uint8_t *)"north", 5, (uint64_t)expiry, "alice", user,
						 sizeof(user), pass, sizeof(pass)), 0);
		cr_expect_str_eq(M.u.welcome.relays[1].password, pass);
	}
	/* a gateway is welcomed with what it serves */
	welcome(node("gw1"), &M);
	cr_assert_str_eq(M.u.welcome.node_id, "gw1");
	cr_assert_eq(M.u.welcome.n_relays, 2);
	cr_expect(strstr(M.u.welcome.relays[1].username, ":gw1"), "%s", M.u.welcome.relays[1].username);
	cr_assert_eq(M.u.welcome.resources.n, 2);
	cr_assert_geq(floe_portal_stats(H.portal).zap_accepted, 2);
}

Test(portal, wrong_role_gets_error)
{
	write_config(alice_web);
	start_portal();
	node("alice")->role = FLOE_SIGNAL_ROLE_GATEWAY;
	connect_node(node("alice"));
	cr_assert(wait_for(node("alice"), FLOE_SIGNAL_ERROR, &M, WAIT_MS));
	cr_assert_not(floe_portal_client_connected(node("alice")->c));
}

static void request(node_t *client, const char *resource, const char *ufrag)
{
	memset(&M, 0, sizeof(M));
	M.type = FLOE_SIGNAL_REQUEST_FLOW;
	snprintf(M.u.request_flow.resource, sizeof(M.u.request_flow.resource), "%s", resource);
	snprintf(M.u.request_flow.ice.ufrag, sizeof(M.u.request_flow.ice.ufrag), "%s", ufrag);
	snprintf(M.u.request_flow.ice.pwd, sizeof(M.u.request_flow.ice.pwd), "client-password-0123456789");
	send_msg(client, &M);
}

static void candidate(node_t *from, const char *cid, const char *line)
{
	memset(&M, 0, sizeof(M));
	M.type = FLOE_SIGNAL_CANDIDATE;
	snprintf(M.u.candidate.cid, sizeof(M.u.candidate.cid), "%s", cid);
	snprintf(M.u.candidate.candidate, sizeof(M.u.candidate.candidate), "%s", line);
	send_msg(from, &M);
}

/* alice asks for web; gw1 authorizes and accepts; returns the cid. */
static void negotiate(char cid[FLOE_SIGNAL_CID_CAP])
{
	node_t *alice = node("alice"), *gw = node("gw1");
	floe_signal_msg_t granted;

	request(alice, "web", "cufr");
	cr_assert(wait_for(gw, FLOE_SIGNAL_AUTHORIZE_FLOW, &R, WAIT_MS), "gateway got no authorize_flow");
	cr_assert(floe_signal_uuid_valid(R.u.authorize_flow.cid));
	cr_assert_str_eq(R.u.authorize_flow.client.id, "alice");
	cr_assert_str_eq(R.u.authorize_flow.client.public_key, alice->b64);
	cr_assert_str_eq(R.u.authorize_flow.client.tunnel_ipv4, "100.64.0.2");
	cr_assert_str_eq(R.u.authorize_flow.resource.id, "web");
	cr_assert_str_eq(R.u.authorize_flow.ice.ufrag, "cufr");
	cr_assert_str_eq(R.u.authorize_flow.ice.pwd, "client-password-0123456789");
	memcpy(cid, R.u.authorize_flow.cid, FLOE_SIGNAL_CID_CAP);

	memset(&M, 0, sizeof(M));
	M.type = FLOE_SIGNAL_FLOW_ACCEPTED;
	memcpy(M.u.flow_accepted.cid, cid, FLOE_SIGNAL_CID_CAP);
	snprintf(M.u.flow_accepted.ice.ufrag, sizeof(M.u.flow_accepted.ice.ufrag), "gufr");
	snprintf(M.u.flow_accepted.ice.pwd, sizeof(M.u.flow_accepted.ice.pwd), "gateway-password-0123456789");
	send_msg(gw, &M);

	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_GRANTED, &granted, WAIT_MS), "client got no flow_granted");
	cr_assert_str_eq(granted.u.flow_granted.cid, cid);
	cr_assert_str_eq(granted.u.flow_granted.psk, R.u.authorize_flow.psk, "one PSK for both sides");
	cr_assert(floe_signal_key_valid(granted.u.flow_granted.psk));
	cr_assert_str_eq(granted.u.flow_granted.gateway.id, "gw1");
	cr_assert_str_eq(granted.u.flow_granted.gateway.public_key, gw->b64);
	cr_assert_str_eq(granted.u.flow_granted.gateway.tunnel_ipv4, "100.64.255.1");
	cr_assert_str_eq(granted.u.flow_granted.ice.ufrag, "gufr");
	cr_assert_str_eq(granted.u.flow_granted.resource.id, "web");
}

Test(portal, client_and_gateway_negotiate_a_flow_and_relay_candidates)
{
	char cid[FLOE_SIGNAL_CID_CAP], cid2[FLOE_SIGNAL_CID_CAP];
	node_t *alice = node("alice"), *gw = node("gw1"), *bob = node("bob");

	write_config(alice_web);
	start_portal();
	welcome(gw, &M);
	welcome(alice, &M);
	welcome(bob, &M);
	negotiate(cid);

	candidate(alice, cid, "candidate:1 1 UDP 2130706431 192.0.2.1 5000 typ host");
	cr_assert(wait_for(gw, FLOE_SIGNAL_CANDIDATE, &R, WAIT_MS));
	cr_assert_str_eq(R.u.candidate.cid, cid);
	cr_assert_str_eq(R.u.candidate.candidate, "candidate:1 1 UDP 2130706431 192.0.2.1 5000 typ host");
	candidate(gw, cid, "candidate:2 1 UDP 2130706431 192.0.2.2 6000 typ host");
	cr_assert(wait_for(alice, FLOE_SIGNAL_CANDIDATE, &R, WAIT_MS));
	cr_assert_str_eq(R.u.candidate.candidate, "candidate:2 1 UDP 2130706431 192.0.2.2 6000 typ host");
	memset(&M, 0, sizeof(M));
	M.type = FLOE_SIGNAL_END_OF_CANDIDATES;
	memcpy(M.u.end_of_candidates.cid, cid, sizeof(cid));
	send_msg(gw, &M);
	cr_assert(wait_for(alice, FLOE_SIGNAL_END_OF_CANDIDATES, &R, WAIT_MS));
	cr_assert_str_eq(R.u.end_of_candidates.cid, cid);

	/* bob is a known node but no party to this cid: dropped and counted */
	candidate(bob, cid, "candidate:9 1 UDP 1 203.0.113.9 9 typ host");
	cr_assert_not(wait_for(gw, FLOE_SIGNAL_CANDIDATE, &R, QUIET_MS));
	cr_assert_not(wait_for(alice, FLOE_SIGNAL_CANDIDATE, &R, 10));
	cr_assert_eq(floe_portal_stats(H.portal).foreign_cid_drops, 1);

	/* a second flow gets another cid and another PSK */
	negotiate(cid2);
	cr_assert_str_neq(cid, cid2);
	cr_assert_eq(floe_portal_stats(H.portal).flows_granted, 2);
}

Test(portal, flow_denied_without_grant_or_gateway_or_on_rejection)
{
	node_t *alice = node("alice"), *gw = node("gw1"), *bob = node("bob");

	write_config(alice_web);
	start_portal();
	welcome(alice, &M);
	welcome(bob, &M);
	/* no gateway online yet */
	request(alice, "web", "cufr");
	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_DENIED, &R, WAIT_MS));
	cr_assert_str_eq(R.u.flow_denied.reason, "no gateway online");
	welcome(gw, &M);
	/* bob holds no grant for web; nobody holds one for an unknown id */
	request(bob, "web", "bufr");
	cr_assert(wait_for(bob, FLOE_SIGNAL_FLOW_DENIED, &R, WAIT_MS));
	cr_assert_str_eq(R.u.flow_denied.resource, "web");
	cr_assert_str_eq(R.u.flow_denied.reason, "no grant");
	request(alice, "nosuch", "cufr");
	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_DENIED, &R, WAIT_MS));
	cr_assert_str_eq(R.u.flow_denied.reason, "no grant");
	cr_assert_not(wait_for(gw, FLOE_SIGNAL_AUTHORIZE_FLOW, &R, 50), "the gateway never heard of them");
	/* the gateway says no */
	request(alice, "web", "cufr");
	cr_assert(wait_for(gw, FLOE_SIGNAL_AUTHORIZE_FLOW, &R, WAIT_MS));
	memset(&M, 0, sizeof(M));
	M.type = FLOE_SIGNAL_FLOW_REJECTED;
	memcpy(M.u.flow_rejected.cid, R.u.authorize_flow.cid, FLOE_SIGNAL_CID_CAP);
	snprintf(M.u.flow_rejected.reason, sizeof(M.u.flow_rejected.reason), "overloaded");
	send_msg(gw, &M);
	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_DENIED, &R, WAIT_MS));
	cr_assert_str_eq(R.u.flow_denied.reason, "gateway rejected: overloaded");
	cr_assert_eq(floe_portal_stats(H.portal).flows_denied, 4);
}

Test(portal, reload_revokes_and_grants_at_once)
{
	char err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;
	node_t *alice = node("alice"), *gw = node("gw1"), *bob = node("bob");

	write_config(alice_web);
	start_portal();
	welcome(gw, &M);
	welcome(alice, &M);
	welcome(bob, &M);
	/* alice loses web, bob gains it */
	write_config("[Grant bob-web]\nClient = bob\nResource = web\n");
	cr_assert_eq(floe_portal_config_load(H.conf, &cfg, err), 0, "%s", err);
	cr_assert_eq(floe_portal_reload(H.portal, &cfg, mono_ms()), 0);
	cr_assert_null(cfg);

	cr_assert(wait_for(gw, FLOE_SIGNAL_REVOKE, &R, WAIT_MS), "gateway got no revoke");
	cr_assert_str_eq(R.u.revoke.client.id, "alice");
	cr_assert_str_eq(R.u.revoke.client.public_key, alice->b64);
	cr_assert_str_eq(R.u.revoke.resource, "web");
	cr_assert(wait_for(gw, FLOE_SIGNAL_GRANT, &R, WAIT_MS), "gateway got no grant");
	cr_assert_str_eq(R.u.grant.client.id, "bob");
	cr_assert_str_eq(R.u.grant.resource.id, "web");
	cr_assert(wait_for(alice, FLOE_SIGNAL_RESOURCES, &R, WAIT_MS));
	cr_assert_eq(R.u.resources.resources.n, 0);
	cr_assert(wait_for(bob, FLOE_SIGNAL_RESOURCES, &R, WAIT_MS));
	cr_assert_eq(R.u.resources.resources.n, 1);
	/* and the policy follows: alice is now denied */
	request(alice, "web", "cufr");
	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_DENIED, &R, WAIT_MS));
	cr_assert_str_eq(R.u.flow_denied.reason, "no grant");
}

Test(portal, reload_removing_a_node_refuses_it)
{
	char err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;
	node_t *mallory = node("mallory");

	write_config(alice_web);
	start_portal();
	connect_node(mallory);
	cr_assert_not(wait_for(mallory, FLOE_SIGNAL_WELCOME, &M, QUIET_MS));
	/* mallory becomes bob (same key, new name): the allow-list follows */
	memcpy(node("bob")->b64, mallory->b64, sizeof(mallory->b64));
	write_config(alice_web);
	cr_assert_eq(floe_portal_config_load(H.conf, &cfg, err), 0, "%s", err);
	cr_assert_eq(floe_portal_reload(H.portal, &cfg, mono_ms()), 0);
	/* the client redials on its own after the dead time; skip the wait */
	mallory->skew_ms = FLOE_PORTAL_DEAD_AFTER_MS;
	cr_assert(wait_for(mallory, FLOE_SIGNAL_WELCOME, &M, WAIT_MS + FLOE_PORTAL_BACKOFF_MIN_MS));
	cr_assert_str_eq(M.u.welcome.node_id, "bob");
}

Test(portal, expiring_grant_yields_revoke_at_expiry)
{
	char grant[256], when[FLOE_SIGNAL_TIME_CAP];
	int64_t expires = (int64_t)time(NULL) + 2;
	node_t *alice = node("alice"), *gw = node("gw1");

	cr_assert_eq(floe_signal_time_format(expires, when), 0);
	snprintf(grant, sizeof(grant), "[Grant soon]\nClient = alice\nResource = db\nExpires = %s\n", when);
	write_config(grant);
	start_portal();
	welcome(gw, &M);
	welcome(alice, &M);
	cr_assert_eq(M.u.welcome.resources.n, 1);
	cr_assert_str_eq(M.u.welcome.resources.items[0].expires, when);
	cr_assert_not(wait_for(gw, FLOE_SIGNAL_REVOKE, &R, 500), "not before expiry");
	cr_assert(wait_for(gw, FLOE_SIGNAL_REVOKE, &R, 4000), "no revoke at expiry");
	cr_assert_geq((int64_t)time(NULL), expires);
	cr_assert_str_eq(R.u.revoke.client.id, "alice");
	cr_assert_str_eq(R.u.revoke.resource, "db");
	cr_assert(wait_for(alice, FLOE_SIGNAL_RESOURCES, &R, WAIT_MS));
	cr_assert_eq(R.u.resources.resources.n, 0);
}

Test(portal, portal_restart_client_reconnects_and_says_hello_again)
{
	node_t *alice = node("alice");

	write_config(alice_web);
	start_portal();
	welcome(alice, &M);
	cr_assert_eq(floe_portal_client_next_event(alice->c), FLOE_PORTAL_EVENT_CONNECTED);

	floe_portal_destroy(&H.portal);
	/* the portal is gone: the client notices by the silence of its pings */
	alice->skew_ms = FLOE_PORTAL_DEAD_AFTER_MS + FLOE_PORTAL_PING_INTERVAL_MS;
	for (int i = 0; i < 50 && floe_portal_client_connected(alice->c); i++)
		pump_once(10);
	cr_assert_not(floe_portal_client_connected(alice->c));
	cr_assert_eq(floe_portal_client_next_event(alice->c), FLOE_PORTAL_EVENT_DISCONNECTED);

	write_config(alice_web); /* now on the same port */
	start_portal();
	cr_assert(wait_for(alice, FLOE_SIGNAL_WELCOME, &M, WAIT_MS + FLOE_PORTAL_BACKOFF_MAX_MS / 10),
		  "no welcome after the restart");
	cr_assert(floe_portal_client_connected(alice->c));
	cr_assert_eq(floe_portal_client_next_event(alice->c), FLOE_PORTAL_EVENT_CONNECTED);
	cr_assert_geq(floe_portal_client_stats(alice->c).reconnects, 1);
}

Test(portal, gateways_serving_a_resource_take_turns)
{
	node_t *alice = node("alice"), *gw1 = node("gw1"), *gw2 = node("gw2");
	int got1 = 0, got2 = 0;

	write_config(alice_web);
	start_portal();
	welcome(gw1, &M);
	welcome(gw2, &M);
	welcome(alice, &M);
	for (int i = 0; i < 4; i++) {
		request(alice, "web", "cufr");
		for (int waited = 0; waited < WAIT_MS && got1 + got2 == i; waited += 10) {
			pump_once(10);
			got1 += take(gw1, FLOE_SIGNAL_AUTHORIZE_FLOW, &R);
			got2 += take(gw2, FLOE_SIGNAL_AUTHORIZE_FLOW, &R);
		}
	}
	cr_assert_eq(got1, 2, "gw1 got %d of 4", got1);
	cr_assert_eq(got2, 2, "gw2 got %d of 4", got2);
}

/* ------------------------------------------------------------------ */
/* A sharded gateway: one key, K worker sessions (docs/perf.md)        */

/* Worker k of n of gateway gw: gw's keys, its own portal session. */
static node_t *add_worker(const char *name, const char *gw, int k, int n)
{
	node_t *w = &H.nodes[H.n_nodes++], *g = node(gw);

	cr_assert_leq(H.n_nodes, MAX_NODES);
	*w = (node_t){ .name = name, .role = FLOE_SIGNAL_ROLE_GATEWAY, .worker = k, .workers = n };
	memcpy(w->sec, g->sec, sizeof(w->sec));
	memcpy(w->pub, g->pub, sizeof(w->pub));
	memcpy(w->b64, g->b64, sizeof(w->b64));
	return w;
}

/* A new key for client c until floe_portal_place puts it on worker want. */
static void rekey_onto(node_t *c, unsigned want, unsigned n)
{
	for (int i = 0; i < 1000 && floe_portal_place(c->b64, n) != want; i++)
		keypair(c->sec, c->pub, c->b64);
	cr_assert_eq(floe_portal_place(c->b64, n), want);
}

static const char db_grants[] = "[Grant alice-db]\nClient = alice\nResource = db\n"
				"[Grant bob-db]\nClient = bob\nResource = db\n";

/* gw1 as three workers; alice on worker 0, bob on worker 2. */
static void sharded_setup(node_t *w[3])
{
	w[0] = add_worker("gw1w0", "gw1", 0, 3);
	w[1] = add_worker("gw1w1", "gw1", 1, 3);
	w[2] = add_worker("gw1w2", "gw1", 2, 3);
	rekey_onto(node("alice"), 0, 3);
	rekey_onto(node("bob"), 2, 3);
	write_config(db_grants);
	start_portal();
	for (int k = 0; k < 3; k++) {
		welcome(w[k], &M);
		cr_assert_str_eq(M.u.welcome.node_id, "gw1", "every worker is the one gateway");
		cr_assert_eq(M.u.welcome.resources.n, 2);
	}
	welcome(node("alice"), &M);
	welcome(node("bob"), &M);
}

/* The worker that got an authorize_flow within the wait; -1 for none. */
static int authorized_on(node_t *w[3], int wait_ms, floe_signal_msg_t *out)
{
	for (int waited = 0; waited < wait_ms; waited += 10) {
		pump_once(10);
		for (int k = 0; k < 3; k++) {
			if (take(w[k], FLOE_SIGNAL_AUTHORIZE_FLOW, out))
				return k;
		}
	}
	return -1;
}

static void accept_on(node_t *w, const char *cid)
{
	memset(&M, 0, sizeof(M));
	M.type = FLOE_SIGNAL_FLOW_ACCEPTED;
	snprintf(M.u.flow_accepted.cid, sizeof(M.u.flow_accepted.cid), "%s", cid);
	snprintf(M.u.flow_accepted.ice.ufrag, sizeof(M.u.flow_accepted.ice.ufrag), "gufr");
	snprintf(M.u.flow_accepted.ice.pwd, sizeof(M.u.flow_accepted.ice.pwd), "gateway-password-0123456789");
	send_msg(w, &M);
}

Test(portal, place_is_stable_and_spreads)
{
	enum { KEYS = 3000, K = 3 };
	unsigned count[K] = { 0 };
	uint8_t sec[32], pub[32];
	char b64[45];

	cr_assert_eq(floe_portal_place(NULL, 3), 0);
	for (int i = 0; i < KEYS; i++) {
		unsigned w;

		keypair(sec, pub, b64);
		w = floe_portal_place(b64, K);
		cr_assert_lt(w, K);
		cr_assert_eq(floe_portal_place(b64, K), w, "the same key, the same worker");
		cr_assert_eq(floe_portal_place(b64, 1), 0);
		cr_assert_eq(floe_portal_place(b64, 0), 0);
		count[w]++;
	}
	/* 1,000 expected each; sigma ~26: 150 off is ~6 sigma */
	for (int k = 0; k < K; k++)
		cr_assert(count[k] > KEYS / K - 150 && count[k] < KEYS / K + 150, "worker %d got %u of %d", k,
			  count[k], KEYS);
	sodium_memzero(sec, sizeof(sec));
}

Test(portal, sharded_gateway_flows_go_to_the_placed_worker)
{
	node_t *w[3], *alice, *bob;
	floe_signal_msg_t granted;
	char cid_a[FLOE_SIGNAL_CID_CAP], cid_b[FLOE_SIGNAL_CID_CAP];
	uint64_t unexpected;

	sharded_setup(w);
	alice = node("alice");
	bob = node("bob");
	request(alice, "db", "aufr");
	cr_assert_eq(authorized_on(w, WAIT_MS, &R), 0, "alice's flow not on worker 0");
	memcpy(cid_a, R.u.authorize_flow.cid, sizeof(cid_a));
	request(bob, "db", "bufr");
	cr_assert_eq(authorized_on(w, WAIT_MS, &R), 2, "bob's flow not on worker 2");
	memcpy(cid_b, R.u.authorize_flow.cid, sizeof(cid_b));
	/* again: a client's flows always land on its worker */
	request(alice, "db", "aufr");
	cr_assert_eq(authorized_on(w, WAIT_MS, &R), 0);
	cr_assert_eq(authorized_on(w, QUIET_MS, &R), -1, "one authorize per request");

	/* an answer from another worker of the same gateway is not the flow's */
	unexpected = floe_portal_stats(H.portal).unexpected_msgs;
	accept_on(w[1], cid_a);
	cr_assert_not(wait_for(alice, FLOE_SIGNAL_FLOW_GRANTED, &granted, QUIET_MS));
	cr_assert_eq(floe_portal_stats(H.portal).unexpected_msgs, unexpected + 1);
	accept_on(w[0], cid_a);
	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_GRANTED, &granted, WAIT_MS));
	cr_assert_str_eq(granted.u.flow_granted.gateway.id, "gw1");
	accept_on(w[2], cid_b);
	cr_assert(wait_for(bob, FLOE_SIGNAL_FLOW_GRANTED, &granted, WAIT_MS));

	/* candidates: to the worker holding the flow only, and only from it */
	candidate(alice, cid_a, "candidate:1 1 UDP 2130706431 192.0.2.1 5000 typ host");
	cr_assert(wait_for(w[0], FLOE_SIGNAL_CANDIDATE, &R, WAIT_MS));
	cr_assert_str_eq(R.u.candidate.cid, cid_a);
	cr_assert_not(wait_for(w[1], FLOE_SIGNAL_CANDIDATE, &R, 10));
	cr_assert_not(wait_for(w[2], FLOE_SIGNAL_CANDIDATE, &R, 10));
	candidate(w[2], cid_a, "candidate:9 1 UDP 1 203.0.113.9 9 typ host");
	cr_assert_not(wait_for(alice, FLOE_SIGNAL_CANDIDATE, &R, QUIET_MS), "worker 2 is no party to alice's flow");
	cr_assert_eq(floe_portal_stats(H.portal).foreign_cid_drops, 1);
	candidate(w[0], cid_a, "candidate:2 1 UDP 2130706431 192.0.2.2 6000 typ host");
	cr_assert(wait_for(alice, FLOE_SIGNAL_CANDIDATE, &R, WAIT_MS));
	cr_assert_eq(floe_portal_stats(H.portal).flows_granted, 2);
}

Test(portal, restarted_worker_ends_only_its_flows)
{
	node_t *w[3], *alice, *bob;
	floe_signal_msg_t granted;
	char cid_b[FLOE_SIGNAL_CID_CAP];

	sharded_setup(w);
	alice = node("alice");
	bob = node("bob");
	request(alice, "db", "aufr");
	cr_assert_eq(authorized_on(w, WAIT_MS, &R), 0);
	accept_on(w[0], R.u.authorize_flow.cid);
	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_GRANTED, &granted, WAIT_MS));
	request(bob, "db", "bufr");
	cr_assert_eq(authorized_on(w, WAIT_MS, &R), 2);
	memcpy(cid_b, R.u.authorize_flow.cid, sizeof(cid_b));
	accept_on(w[2], cid_b);
	cr_assert(wait_for(bob, FLOE_SIGNAL_FLOW_GRANTED, &granted, WAIT_MS));

	/* worker 0 is a new process: a new portal session, a new boot id */
	floe_portal_client_destroy(&w[0]->c);
	welcome(w[0], &M);
	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_DENIED, &R, WAIT_MS));
	cr_assert_str_eq(R.u.flow_denied.reason, FLOE_SIGNAL_REASON_GATEWAY_RESTARTED);
	cr_assert_not(wait_for(bob, FLOE_SIGNAL_FLOW_DENIED, &R, QUIET_MS), "worker 2's flows stay");
	/* bob's flow is still relayed through worker 2 */
	candidate(bob, cid_b, "candidate:1 1 UDP 1 192.0.2.1 1 typ host");
	cr_assert(wait_for(w[2], FLOE_SIGNAL_CANDIDATE, &R, WAIT_MS));
	cr_assert_str_eq(R.u.candidate.cid, cid_b);
	cr_assert_eq(floe_portal_stats(H.portal).hellos_refused, 0);
}

/* The placed worker is down: the client is denied clearly, not moved to another worker. */
Test(portal, placed_worker_offline_denies)
{
	node_t *w[3], *alice;

	sharded_setup(w);
	alice = node("alice");
	floe_portal_client_destroy(&w[0]->c);
	/* the portal notices a silent worker after its dead time; the others ping on */
	for (uint64_t end = mono_ms() + FLOE_PORTAL_NODE_DEAD_AFTER_MS + 2 * FLOE_PORTAL_TICK_MS; mono_ms() < end;)
		pump_once(20);
	request(alice, "db", "aufr");
	cr_assert(wait_for(alice, FLOE_SIGNAL_FLOW_DENIED, &R, WAIT_MS));
	cr_assert_str_eq(R.u.flow_denied.reason, "gateway worker offline");
	cr_assert_eq(authorized_on(w, QUIET_MS, &R), -1, "no other worker takes it");
	/* bob's worker is up: he still gets his flow */
	request(node("bob"), "db", "bufr");
	cr_assert_eq(authorized_on(w, WAIT_MS, &R), 2);
}

/* A raw CURVE session saying one hello; returns the type of the reply
 * (FLOE_SIGNAL_NONE for none) and its error reason in why. */
static floe_signal_type_t raw_hello(const node_t *as, const char *json, char *why, size_t cap)
{
	void *s = zmq_socket(H.ctx, ZMQ_DEALER);
	char buf[8192];
	floe_signal_type_t t = FLOE_SIGNAL_NONE;
	int linger = 0;

	cr_assert_not_null(s);
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, H.portal_pub, 32), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, as->pub, 32), 0);
	cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, as->sec, 32), 0);
	cr_assert_eq(zmq_connect(s, H.endpoint), 0);
	cr_assert_eq(zmq_send(s, json, strlen(json), 0), (int)strlen(json));
	why[0] = '\0';
	for (uint64_t end = mono_ms() + WAIT_MS; mono_ms() < end;) {
		int n;

		pump_once(10);
		n = zmq_recv(s, buf, sizeof(buf) - 1, ZMQ_DONTWAIT);
		if (n < 0)
			continue;
		buf[n] = '\0';
		cr_assert_eq(floe_signal_decode(buf, (size_t)n, &R), 0, "%s", buf);
		t = R.type;
		if (t == FLOE_SIGNAL_ERROR)
			snprintf(why, cap, "%s", R.u.error.reason);
		break;
	}
	zmq_close(s);
	return t;
}

Test(portal, bad_worker_hellos_are_refused_and_counted)
{
	static const struct {
		const char *json;
		const char *why;
	} bad[] = {
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":3,\"workers\":3}", "bad worker index 3/3" },
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":0,\"workers\":0}", "bad worker index 0/0" },
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":0,\"workers\":65}", "bad worker index 0/65" },
		{ "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":1,\"workers\":2}",
		  "worker count 2 differs from the 3" },
	};
	node_t *w0;
	char why[FLOE_SIGNAL_REASON_CAP];
	uint64_t decode_errors;

	w0 = add_worker("gw1w0", "gw1", 0, 3);
	write_config(alice_web);
	start_portal();
	welcome(w0, &M);
	for (size_t i = 0; i < FLOE_ARRAY_LEN(bad); i++) {
		cr_assert_eq(raw_hello(node("gw1"), bad[i].json, why, sizeof(why)), FLOE_SIGNAL_ERROR, "%s",
			     bad[i].json);
		cr_assert(strstr(why, bad[i].why), "'%s' lacks '%s'", why, bad[i].why);
		cr_assert_eq(floe_portal_stats(H.portal).hellos_refused, i + 1);
	}
	/* a client has no workers */
	cr_assert_eq(raw_hello(node("alice"),
			       "{\"type\":\"hello\",\"role\":\"client\",\"version\":1,\"worker\":0,\"workers\":2}", why,
			       sizeof(why)),
		     FLOE_SIGNAL_ERROR);
	cr_assert_str_eq(why, "only a gateway has workers");
	cr_assert_eq(floe_portal_stats(H.portal).hellos_refused, FLOE_ARRAY_LEN(bad) + 1);
	/* malformed: only one of the two, or negative: dropped as undecodable */
	decode_errors = floe_portal_stats(H.portal).decode_errors;
	cr_assert_eq(raw_hello(node("gw1"), "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":0}", why,
			       sizeof(why)),
		     FLOE_SIGNAL_NONE);
	cr_assert_eq(raw_hello(node("gw1"),
			       "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":-1,\"workers\":2}", why,
			       sizeof(why)),
		     FLOE_SIGNAL_NONE);
	cr_assert_eq(floe_portal_stats(H.portal).decode_errors, decode_errors + 2);
	/* the good worker was never disturbed; a good one joins */
	cr_assert(floe_portal_client_connected(w0->c));
	cr_assert_eq(raw_hello(node("gw1"), "{\"type\":\"hello\",\"role\":\"gateway\",\"version\":1,\"worker\":2,\"workers\":3}",
			       why, sizeof(why)),
		     FLOE_SIGNAL_WELCOME);
}

/* A gateway restarted with another Workers value: accepted once none of
 * its old sessions is online; the old flows end. */
Test(portal, worker_count_changes_when_the_old_workers_are_gone)
{
	node_t *old, *fresh;

	old = add_worker("gw1w0", "gw1", 0, 3);
	fresh = add_worker("gw1w0of2", "gw1", 0, 2);
	write_config(alice_web);
	start_portal();
	welcome(old, &M);
	floe_portal_client_destroy(&old->c);
	for (uint64_t end = mono_ms() + FLOE_PORTAL_NODE_DEAD_AFTER_MS + 2 * FLOE_PORTAL_TICK_MS; mono_ms() < end;)
		pump_once(20);
	welcome(fresh, &M);
	cr_assert_str_eq(M.u.welcome.node_id, "gw1");
	cr_assert_eq(floe_portal_stats(H.portal).hellos_refused, 0);
}

/* The expiry in a minted username "<expiry>:<node>", checked against the secret. */
static long long minted_expiry(const floe_signal_relay_t *r, const char *node_id)
{
	char want[64], user[64], pass[FLOE_TURN_REST_PASSWORD_BYTES];
	long long expiry = 0;

	cr_assert_eq(sscanf(r->username, "%lld:", &expiry), 1, "%s", r->username);
	snprintf(want, sizeof(want), "%lld:%s", expiry, node_id);
	cr_assert_str_eq(r->username, want);
	cr_assert_eq(floe_turn_rest_mint((const uint8_t *)"north", 5, (uint64_t)expiry, node_id, user,
					 sizeof(user), pass, sizeof(pass)), 0);
	cr_assert_str_eq(r->password, pass);
	return expiry;
}

/*
 * Issue #6: minted TURN credentials are re-issued to every online node
 * before they expire: a fresh welcome between TTL/2 - TTL/10 and TTL/2
 * after the last (turn_refresh.h), with a credential valid a TTL from then.
 */
Test(portal, minted_turn_credentials_are_reissued_before_expiry, .timeout = 30)
{
	enum { TTL_S = 10, EARLY_MS = TTL_S * 1000 / 2 - TTL_S * 1000 / 10, LATE_MS = TTL_S * 1000 / 2 };
	static floe_signal_msg_t W[2];
	node_t *who[2] = { node("alice"), node("gw1") };
	uint64_t t0[2], took[2];
	long long e0[2], e1;

	H.rest_ttl_s = TTL_S;
	write_config(alice_web);
	start_portal();
	for (int i = 0; i < 2; i++) {
		welcome(who[i], &M);
		t0[i] = mono_ms();
		e0[i] = minted_expiry(&M.u.welcome.relays[1], who[i]->name);
	}
	/* Pump until both have their second welcome, noting when each came. */
	took[0] = took[1] = 0;
	while ((!took[0] || !took[1]) && mono_ms() < t0[0] + LATE_MS + 2000) {
		pump_once(10);
		for (int i = 0; i < 2; i++) {
			if (took[i] || !take(who[i], FLOE_SIGNAL_WELCOME, &W[i]))
				continue;
			took[i] = mono_ms() - t0[i];
		}
	}
	for (int i = 0; i < 2; i++) {
		cr_assert(took[i], "%s: nothing re-issued by %d ms", who[i]->name, LATE_MS + 2000);
		cr_log_info("%s: re-issued after %llu ms (TTL %d s)", who[i]->name, (unsigned long long)took[i], TTL_S);
		/* Not before TTL/2 - TTL/10; by TTL/2, give or take the portal's
		 * tick and the harness's 10 ms pump. */
		cr_expect_geq(took[i], EARLY_MS - 50, "%s", who[i]->name);
		cr_expect_leq(took[i], LATE_MS + FLOE_PORTAL_TICK_MS + 300, "%s", who[i]->name);
		e1 = minted_expiry(&W[i].u.welcome.relays[1], who[i]->name);
		cr_expect_gt(e1, e0[i], "%s: the same credential again", who[i]->name);
		cr_expect_geq(e1, (long long)time(NULL) + TTL_S - 2, "%s: not a full TTL", who[i]->name);
		cr_expect_str_eq(W[i].u.welcome.relays[0].username, "u", "a static user goes out as configured");
	}
	cr_expect_geq(floe_portal_stats(H.portal).credentials_reissued, 2);
}
