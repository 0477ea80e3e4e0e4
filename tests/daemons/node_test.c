/*
 * Two nodes and a portal in one process: a gateway and a client with
 * userspace devices, ICE on 127.0.0.1, the real portal (CURVE over TCP on
 * loopback) on a thread of the test. Flows, ordering, replies, unknown
 * destinations, anti-spoofing, revocation by reload, re-connection after
 * replacement, and the snapshot.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actors/conn.h"
#include "actors/node.h"
#include "tests/actors/node_packet.h"
#include "daemons/common/portal.h"
#include "runtime/log.h"
#include "transport/wg/key.h"

enum {
	WAIT_MS = 8000,
	BURST_PKTS = 20,
	PKT_BYTES = NODE_PKT_BYTES,
};

static const char *const loopback[] = { "127.0.0.1" };

typedef struct {
	char dir[64], conf[128];
	uint8_t portal_sec[32], portal_pub[32];
	uint8_t gw_sec[32], gw_pub[32];
	uint8_t cl_sec[32], cl_pub[32];
	floe_portal_t *portal;
	char endpoint[128];
	pthread_t thread;
	_Atomic bool stop;
	_Atomic int reload;   /* 1: reload requested; the portal thread sets it to 0 when done */
	floe_node_t *gw, *cl;
} harness_t;

static harness_t H;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void keypair(uint8_t sec[32], uint8_t pub[32])
{
	floe_key_generate(sec);
	cr_assert_eq(floe_key_public(pub, sec), 0);
}

/* web (10.1.0.0/16) is granted to alice, secret (10.9.0.0/24) is not. */
static void write_config(bool grant_web)
{
	char priv[45], gw[45], cl[45];
	FILE *f = fopen(H.conf, "w");

	cr_assert_not_null(f);
	floe_key_to_base64(priv, H.portal_sec);
	floe_key_to_base64(gw, H.gw_pub);
	floe_key_to_base64(cl, H.cl_pub);
	fprintf(f,
		"[Portal]\nListenAddress = %s\nPrivateKey = %s\n"
		"[Resource web]\nCIDR = 10.1.0.0/16\n"
		"[Resource secret]\nCIDR = 10.9.0.0/24\n"
		"[Gateway gw1]\nPublicKey = %s\nResources = web, secret\nTunnelIPv4 = 100.64.255.1\n"
		"[Client alice]\nPublicKey = %s\nTunnelIPv4 = 100.64.0.2\n%s",
		H.endpoint[0] ? H.endpoint : "tcp://127.0.0.1:*", priv, gw, cl,
		grant_web ? "[Grant alice-web]\nClient = alice\nResource = web\n" : "");
	fclose(f);
	sodium_memzero(priv, sizeof(priv));
}

static floe_portal_config_t *load_config(void)
{
	char err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;

	cr_assert_eq(floe_portal_config_load(H.conf, &cfg, err), 0, "%s", err);
	return cfg;
}

/* The portal's one thread: it owns the portal, reloads included. */
static void *portal_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&H.stop)) {
		zmq_pollitem_t item;
		uint64_t now;

		floe_portal_pollitem(H.portal, &item);
		zmq_poll(&item, 1, 10);
		now = mono_ms();
		floe_portal_handle(H.portal, now);
		if (now >= floe_portal_next_deadline_ms(H.portal))
			floe_portal_tick(H.portal, now);
		if (atomic_load(&H.reload)) {
			char err[FLOE_PORTAL_CONFIG_ERR_BYTES];
			floe_portal_config_t *cfg = NULL;

			if (floe_portal_config_load(H.conf, &cfg, err) == 0)
				floe_portal_reload(H.portal, &cfg, now);
			floe_portal_config_destroy(&cfg);
			atomic_store(&H.reload, 0);
		}
	}
	return NULL;
}

static void reload(bool grant_web)
{
	uint64_t end = mono_ms() + WAIT_MS;

	write_config(grant_web);
	atomic_store(&H.reload, 1);
	while (atomic_load(&H.reload) && mono_ms() < end)
		usleep(1000);
	cr_assert_eq(atomic_load(&H.reload), 0, "the portal reloaded");
}

static floe_node_t *start_node(floe_role_t role, const uint8_t sec[32])
{
	char err[256];
	floe_node_config_t cfg = {
		.role = role,
		.portal_endpoint = H.endpoint,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = 5000,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	floe_node_t *n;

	memcpy(cfg.private_key, sec, 32);
	memcpy(cfg.portal_public_key, H.portal_pub, 32);
	n = floe_node_new(&cfg, err, sizeof(err));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	cr_assert_not_null(n, "floe_node_new: %s", err);
	return n;
}

static void setup(void)
{
	floe_portal_config_t *cfg;
	uint64_t end;

	cr_assert_geq(sodium_init(), 0);
	floe_log_init();
	memset(&H, 0, sizeof(H));
	snprintf(H.dir, sizeof(H.dir), "/tmp/node-test-XXXXXX");
	cr_assert_not_null(mkdtemp(H.dir));
	snprintf(H.conf, sizeof(H.conf), "%s/portal.conf", H.dir);
	keypair(H.portal_sec, H.portal_pub);
	keypair(H.gw_sec, H.gw_pub);
	keypair(H.cl_sec, H.cl_pub);
	write_config(true);
	cfg = load_config();
	H.portal = floe_portal_new(&cfg, mono_ms());
	cr_assert_not_null(H.portal, "portal: %s", strerror(errno));
	snprintf(H.endpoint, sizeof(H.endpoint), "%s", floe_portal_endpoint(H.portal));
	cr_assert_eq(pthread_create(&H.thread, NULL, portal_thread, NULL), 0);
	H.gw = start_node(FLOE_ROLE_GATEWAY, H.gw_sec);
	H.cl = start_node(FLOE_ROLE_CLIENT, H.cl_sec);
	end = mono_ms() + WAIT_MS;
	while (!(floe_node_portal_connected(H.gw) && floe_node_portal_connected(H.cl)) && mono_ms() < end)
		usleep(10000);
	cr_assert(floe_node_portal_connected(H.gw) && floe_node_portal_connected(H.cl), "both nodes welcomed");
}

static void teardown(void)
{
	char cmd[128];

	floe_node_destroy(&H.cl);
	floe_node_destroy(&H.gw);
	if (H.portal) {
		atomic_store(&H.stop, true);
		pthread_join(H.thread, NULL);
		floe_portal_destroy(&H.portal);
	}
	sodium_memzero(&H, offsetof(harness_t, portal));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", H.dir);
	cr_assert_eq(system(cmd), 0);
}

static void send_pkt(floe_node_t *n, const char *src, const char *dst, uint32_t seq)
{
	uint8_t p[PKT_BYTES];

	node_packet(p, src, dst, seq);
	cr_assert_eq(floe_node_device_write(n, p, sizeof(p)), 0);
}

/* The next packet at n's device within timeout_ms: its seq, or -1. */
static int64_t recv_seq(floe_node_t *n, int timeout_ms, char *src_out)
{
	uint8_t buf[2048];
	uint32_t seq;
	ssize_t len = floe_node_device_read(n, buf, sizeof(buf), timeout_ms);

	if (len == -EAGAIN)
		return -1;
	cr_assert_eq(len, PKT_BYTES, "read: %zd", len);
	if (src_out)
		inet_ntop(AF_INET, buf + 12, src_out, INET_ADDRSTRLEN);
	memcpy(&seq, buf + 28, 4);
	return seq;
}

static uint64_t counter(floe_node_t *n, floe_counter_t id)
{
	floe_counters_snapshot_t s;

	floe_node_counters(n, &s);
	return s.v[id];
}

static bool wait_counter(floe_node_t *n, floe_counter_t id, uint64_t at_least, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	while (counter(n, id) < at_least && mono_ms() < end)
		usleep(5000);
	return counter(n, id) >= at_least;
}

/* Sends seq every 100 ms from the client until the gateway gets one. */
static bool reach_gateway(uint32_t seq, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	while (mono_ms() < end) {
		send_pkt(H.cl, "100.64.0.2", "10.1.0.5", seq);
		if (recv_seq(H.gw, 100, NULL) == seq)
			return true;
	}
	return false;
}

/*
 * A portal node's events (floe.h): the first connection was established
 * on a path and closed when replaced; the new one established, under its
 * id; the portal carried the ICE credentials and candidates, so no LOCAL_*
 * event reached the application.
 */
static void gateway_events_tell_the_story(const char *old_cid, const char *new_cid, uint64_t new_id)
{
	bool old_path = false, old_up = false, old_closed = false, new_up = false;
	uint64_t end = mono_ms() + WAIT_MS;
	floe_event_t ev;

	while (!(old_path && old_up && old_closed && new_up) && mono_ms() < end) {
		if (floe_node_event_next(H.gw, &ev) == -EAGAIN) {
			usleep(10000);
			continue;
		}
		cr_assert(ev.type >= FLOE_EVENT_PATH, "a LOCAL_* event on a portal node (%d)", (int)ev.type);
		if (!strcmp(ev.cid, old_cid)) {
			old_path |= ev.type == FLOE_EVENT_PATH;
			old_up |= ev.type == FLOE_EVENT_ESTABLISHED;
			old_closed |= ev.type == FLOE_EVENT_CLOSED;
		} else if (!strcmp(ev.cid, new_cid) && ev.type == FLOE_EVENT_ESTABLISHED) {
			cr_assert_eq(ev.conn_id, new_id);
			new_up = true;
		}
	}
	cr_assert(old_path && old_up && old_closed && new_up, "path %d up %d closed %d new %d", old_path,
		  old_up, old_closed, new_up);
	cr_assert_eq(floe_node_event_drops(H.gw), 0);
}

TestSuite(node, .init = setup, .fini = teardown, .timeout = 60);

Test(node, flow_burst_reply_drops_snapshot_revoke_reconnect)
{
	floe_conn_info_t info[4];
	floe_counters_snapshot_t before, after;
	char src[INET_ADDRSTRLEN];
	char first_cid[64];
	size_t n;
	uint64_t drops, acl, t_revoked;
	int64_t s;

	/* A burst to a granted resource: the first packet asks for the flow,
	 * the connection buffers the rest, all arrive in order. */
	for (uint32_t i = 0; i < BURST_PKTS; i++)
		send_pkt(H.cl, "100.64.0.2", "10.1.0.5", i);
	for (uint32_t i = 0; i < BURST_PKTS; i++) {
		s = recv_seq(H.gw, WAIT_MS, src);
		cr_assert_eq(s, (int64_t)i, "packet %u arrived as %lld", i, (long long)s);
		cr_assert_str_eq(src, "100.64.0.2");
	}

	/* The gateway's reply to the client's tunnel IP. */
	send_pkt(H.gw, "10.1.0.5", "100.64.0.2", 7777);
	cr_assert_eq(recv_seq(H.cl, 3000, src), 7777);
	cr_assert_str_eq(src, "10.1.0.5");

	/* Not granted: the client has no route to it, so it never leaves. */
	drops = counter(H.cl, FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION);
	acl = counter(H.gw, FLOE_COUNTER_ACL_DROPS);
	send_pkt(H.cl, "100.64.0.2", "10.9.0.1", 1);
	cr_assert(wait_counter(H.cl, FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION, drops + 1, 2000));
	/* Gateway: a destination that is no client's tunnel IP. */
	send_pkt(H.gw, "10.1.0.5", "100.64.0.77", 2);
	cr_assert(wait_counter(H.gw, FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION, 1, 2000));

	/* Spoofed source: carried by the tunnel, refused by the gateway. */
	send_pkt(H.cl, "100.64.0.99", "10.1.0.5", 3);
	cr_assert(wait_counter(H.gw, FLOE_COUNTER_ACL_DROPS, acl + 1, 3000));
	cr_assert_eq(recv_seq(H.gw, 300, NULL), -1, "the spoofed packet never reached the device");

	/* The gateway never initiates a handshake; the client did once. */
	floe_node_counters(H.gw, &before);
	cr_assert_eq(before.v[FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT], 0);
	cr_assert_geq(counter(H.cl, FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 1);

	/* Snapshot: one connection each, connected on a loopback path. */
	cr_assert_eq(floe_node_show(H.gw, info, 4, &n, &after), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(info[0].client_id, "alice");
	cr_assert_str_eq(info[0].tunnel_ipv4, "100.64.0.2");
	cr_assert_eq(info[0].state, FLOE_CONN_CONNECTED);
	cr_assert(info[0].has_path);
	cr_assert_not_null(strstr(info[0].path.remote_addr, "127.0.0.1"));
	cr_assert_gt(info[0].last_handshake_unix_s, 0);
	cr_assert_geq(info[0].counters.v[FLOE_COUNTER_TUN_TX_PACKETS], BURST_PKTS);
	cr_assert_geq(after.v[FLOE_COUNTER_ACL_DROPS], acl + 1);
	snprintf(first_cid, sizeof(first_cid), "%s", info[0].cid);
	{
		char gw_b64[45], cl_b64[45];

		floe_key_to_base64(cl_b64, H.cl_pub);
		cr_assert_str_eq(info[0].peer_public_key, cl_b64);
		cr_assert_eq(floe_node_show(H.cl, info, 4, &n, NULL), 0);
		cr_assert_eq(n, 1);
		floe_key_to_base64(gw_b64, H.gw_pub);
		cr_assert_str_eq(info[0].peer_public_key, gw_b64);
		cr_assert_str_eq(info[0].cid, first_cid, "both ends name the flow by the portal's cid");
		cr_assert(info[0].has_path);
	}

	/* Revocation by reload: nothing gets through 1 s later. */
	reload(false);
	t_revoked = mono_ms();
	while (mono_ms() < t_revoked + 1000)
		usleep(10000);
	drops = counter(H.cl, FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION);
	acl = counter(H.gw, FLOE_COUNTER_ACL_DROPS);
	for (uint32_t i = 0; i < 5; i++)
		send_pkt(H.cl, "100.64.0.2", "10.1.0.5", 500 + i);
	cr_assert_eq(recv_seq(H.gw, 500, NULL), -1, "traffic stopped within 1 s of the revoke");
	cr_assert_eq(counter(H.cl, FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION) +
			     counter(H.gw, FLOE_COUNTER_ACL_DROPS),
		     drops + acl + 5, "each packet dropped and counted once");

	/* Granted again: the client asks for a new flow, both ends replace
	 * their connection, and traffic flows on the new one. */
	reload(true);
	cr_assert(reach_gateway(900, WAIT_MS), "the client re-connected");
	cr_assert_eq(floe_node_show(H.gw, info, 4, &n, &after), 0);
	cr_assert_eq(n, 1, "the new connection replaced the old one");
	cr_assert_str_neq(info[0].cid, first_cid);
	cr_assert_eq(floe_node_connections(H.cl, NULL), 1);
	gateway_events_tell_the_story(first_cid, info[0].cid, info[0].id);
	/* Totals keep the replaced connection's counters. */
	for (int id = 0; id < FLOE_COUNTER_COUNT; id++)
		cr_assert_geq(after.v[id], before.v[id], "%s went down", floe_counter_name(id));
	cr_assert_eq(after.v[FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT], 0);

	/* The portal goes away: the tunnel carries on both ways. */
	atomic_store(&H.stop, true);
	pthread_join(H.thread, NULL);
	floe_portal_destroy(&H.portal);
	send_pkt(H.cl, "100.64.0.2", "10.1.0.5", 901);
	cr_assert_eq(recv_seq(H.gw, 2000, NULL), 901, "the tunnel works without the portal");
	send_pkt(H.gw, "10.1.0.5", "100.64.0.2", 902);
	cr_assert_eq(recv_seq(H.cl, 2000, NULL), 902);
}

Test(node_config, bad_configuration_and_arguments)
{
	char err[128];
	floe_node_config_t cfg = { .role = FLOE_ROLE_CLIENT, .device = FLOE_NODE_DEVICE_USERSPACE };
	uint8_t buf[64];

	cr_assert_null(floe_node_new(NULL, err, sizeof(err)));
	cr_assert_str_eq(err, "no configuration");
	/* No portal is application signalling (tests/actors/node_api_test.c);
	 * an empty endpoint is a mistake. */
	cfg.portal_endpoint = "";
	cr_assert_null(floe_node_new(&cfg, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "empty portal endpoint"), "%s", err);
	cfg.portal_endpoint = "not-an-endpoint";
	cr_assert_null(floe_node_new(&cfg, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "private key"), "no key: %s", err);
	floe_key_generate(cfg.private_key); /* now only the endpoint is wrong */
	cr_assert_null(floe_node_new(&cfg, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "portal"), "%s", err);
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	cfg.role = 7;
	cr_assert_null(floe_node_new(&cfg, err, sizeof(err)));
	cr_assert_str_eq(err, "role must be client or gateway");
	cr_assert_eq(floe_node_device_write(NULL, buf, 1), -EINVAL);
	cr_assert_eq(floe_node_device_read(NULL, buf, sizeof(buf), 0), -EINVAL);
	cr_assert_eq(floe_node_show(NULL, NULL, 0, NULL, NULL), -EINVAL);
	cr_assert_not(floe_node_portal_connected(NULL));
	floe_node_destroy(NULL);
}

/* A gateway on a real TUN (root): up with its addresses and routes, gone
 * with the node; a bad route is refused with a clear reason. */
Test(node_config, tun_device_addresses_and_routes)
{
	const char *addrs[] = { "100.64.255.1/32" };
	const char *routes[] = { "100.64.0.0/10" };
	const char *bad_routes[] = { "100.64.0.0/99" };
	floe_node_config_t cfg = {
		.role = FLOE_ROLE_GATEWAY,
		.portal_endpoint = "tcp://127.0.0.1:9", /* never answers: the node starts anyway */
		.device = FLOE_NODE_DEVICE_TUN,
		.tun_name = "node-tun0",
		.tun_addresses = addrs,
		.n_tun_addresses = 1,
		.tun_routes = routes,
		.n_tun_routes = 1,
	};
	char err[256];
	floe_node_t *n;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		cr_skip_test("needs root and /dev/net/tun");
		return;
	}
	cr_assert_geq(sodium_init(), 0);
	floe_key_generate(cfg.private_key);
	randombytes_buf(cfg.portal_public_key, 32);
	n = floe_node_new(&cfg, err, sizeof(err));
	cr_assert_not_null(n, "%s", err);
	cr_assert_eq(system("ip -4 addr show dev node-tun0 | grep -q 100.64.255.1"), 0);
	cr_assert_eq(system("ip -4 route show dev node-tun0 | grep -q 100.64.0.0/10"), 0);
	cr_assert_not(floe_node_portal_connected(n));
	cr_assert_eq(floe_node_device_write(n, (const uint8_t *)"x", 1), -EOPNOTSUPP, "no userspace device");
	cr_assert_eq(floe_node_device_read(n, (uint8_t *)err, sizeof(err), 0), -EOPNOTSUPP);
	cr_assert_eq(floe_node_device_fd(n), -EOPNOTSUPP);
	cr_assert_eq(floe_node_tun_name(n, err, sizeof(err)), 0);
	cr_assert_str_eq(err, "node-tun0");
	cr_assert_eq(floe_node_tun_name(n, err, 4), -ENAMETOOLONG);
	floe_node_destroy(&n);
	cr_assert_null(n);
	cr_assert_neq(system("ip link show node-tun0 >/dev/null 2>&1"), 0, "the interface went with the node");

	cfg.tun_routes = bad_routes;
	cr_assert_null(floe_node_new(&cfg, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "100.64.0.0/99"), "%s", err);
	cr_assert_neq(system("ip link show node-tun0 >/dev/null 2>&1"), 0);
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
}
