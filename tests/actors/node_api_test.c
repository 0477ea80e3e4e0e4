/*
 * The public API (include/floe/floe.h) as an embedder sees it: only the
 * public header is included. Bad arguments for every function; two nodes
 * in one process with userspace devices and ICE on 127.0.0.1, whose
 * signalling the test carries through the event API (no portal); the
 * device's pollable fd; the log sink; the version.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <floe/floe.h>

#include "tests/actors/node_packet.h"

enum {
	WAIT_MS = 15000,
	PKT_BYTES = NODE_PKT_BYTES,
	ROUND_TRIPS = 20,
	FAIL_MS = 300,      /* ICE failure timeout of the unanswered peer */
	CALLERS = 4,        /* application threads calling at once */
	CALLER_PEERS = 8,   /* peers each adds and removes */
	CL = 0,
	GW = 1,
};

static const char *const loopback[] = { "127.0.0.1" };

/* The TUN test's interface, in a namespace of its own. */
#define TUN_NAME "h14-app0"
#define TUN_CL_IP "10.214.0.1"
#define TUN_GW_IP "10.214.0.2"
static const char *const cl_allowed[] = { "10.0.0.2/32" }; /* the client's peer: the gateway */
static const char *const gw_allowed[] = { "10.0.0.1/32" }; /* the gateway's peer: the client */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A portal-less node on loopback whose connections fail after fail_ms. */
static floe_node_t *app_node_failing_after(floe_role_t role, const uint8_t sec[FLOE_KEY_LEN], uint32_t fail_ms)
{
	char err[FLOE_NODE_ERR_BYTES];
	floe_node_config_t cfg = {
		.role = role,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = fail_ms,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	floe_node_t *n;

	memcpy(cfg.private_key, sec, FLOE_KEY_LEN);
	n = floe_node_new(&cfg, err, sizeof(err));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
	cr_assert_not_null(n, "floe_node_new: %s", err);
	return n;
}

static floe_node_t *app_node(floe_role_t role, const uint8_t sec[FLOE_KEY_LEN])
{
	return app_node_failing_after(role, sec, WAIT_MS);
}

static uint64_t counter(floe_node_t *n, floe_counter_t id)
{
	floe_counters_snapshot_t s;

	cr_assert_eq(floe_node_counters(n, &s), 0);
	return s.v[id];
}

static bool wait_counter(floe_node_t *n, floe_counter_t id, uint64_t at_least)
{
	uint64_t end = mono_ms() + WAIT_MS;

	while (counter(n, id) < at_least && mono_ms() < end)
		usleep(5000);
	return counter(n, id) >= at_least;
}

/* ---- bad arguments ---- */

Test(node_api, bad_arguments_without_a_node)
{
	floe_event_t ev;
	floe_counters_snapshot_t s;
	floe_conn_info_t info;
	floe_peer_config_t peer = { 0 };
	uint8_t buf[64] = { 0 };
	char name[32], b64[FLOE_KEY_B64_LEN + 1];
	size_t n = 7;
	uint64_t id;
	floe_node_t *none = NULL;

	cr_assert_eq(floe_node_device_write(NULL, buf, 1), -EINVAL);
	cr_assert_eq(floe_node_device_read(NULL, buf, sizeof(buf), 0), -EINVAL);
	cr_assert_eq(floe_node_device_fd(NULL), -EINVAL);
	cr_assert_eq(floe_node_tun_name(NULL, name, sizeof(name)), -EINVAL);
	cr_assert_eq(floe_node_peer_add(NULL, &peer, &id), -EINVAL);
	cr_assert_eq(floe_node_peer_remote_credentials(NULL, 1, "abcd", "0123456789012345678901"), -EINVAL);
	cr_assert_eq(floe_node_peer_remote_candidate(NULL, 1, "a=candidate:1 1 UDP 1 127.0.0.1 9 typ host"),
		     -EINVAL);
	cr_assert_eq(floe_node_peer_remote_gathering_done(NULL, 1), -EINVAL);
	cr_assert_eq(floe_node_peer_remove(NULL, 1), -EINVAL);
	cr_assert_eq(floe_node_event_fd(NULL), -EINVAL);
	cr_assert_eq(floe_node_event_next(NULL, &ev), -EINVAL);
	cr_assert_eq(floe_node_event_drops(NULL), 0);
	memset(&s, 0xff, sizeof(s));
	cr_assert_eq(floe_node_counters(NULL, &s), -EINVAL);
	cr_assert_eq(s.v[FLOE_COUNTER_TUN_RX_PACKETS], 0, "out zeroed");
	cr_assert_eq(floe_node_show(NULL, &info, 1, &n, NULL), -EINVAL);
	cr_assert_eq(floe_node_connections(NULL, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_not(floe_node_portal_connected(NULL));
	floe_node_destroy(NULL);
	floe_node_destroy(&none);
	cr_assert_null(none);
	cr_assert_eq(floe_key_from_base64(buf, NULL), -EINVAL);
	cr_assert_eq(floe_key_from_base64(NULL, "x"), -EINVAL);
	cr_assert_eq(floe_key_public(NULL, buf), -EINVAL);
	cr_assert_eq(floe_key_public(buf, NULL), -EINVAL);
	floe_key_generate(NULL);
	floe_key_to_base64(NULL, buf);
	b64[0] = 'x';
	floe_key_to_base64(b64, NULL);
	cr_assert_str_eq(b64, "");
	cr_assert_str_eq(floe_role_name((floe_role_t)9), "unknown");
	cr_assert_str_eq(floe_conn_state_name((floe_conn_state_t)99), "unknown");
	cr_assert_str_eq(floe_path_type_name(FLOE_PATH_RELAY), "relay");
	cr_assert_str_eq(floe_path_type_name((floe_path_type_t)42), "unknown");
	cr_assert_null(floe_counter_name(FLOE_COUNTER_COUNT));
	cr_assert_eq(floe_counter_from_name(NULL), -ENOENT);
	cr_assert_eq(floe_counter_from_name("acl_drops"), FLOE_COUNTER_ACL_DROPS);
}

Test(node_api, bad_configs_are_refused_with_a_reason)
{
	static const struct {
		const char *what;
		floe_node_config_t cfg;
		const char *reason;
	} table[] = {
		{ "bad role", { .role = (floe_role_t)7, .device = FLOE_NODE_DEVICE_USERSPACE }, "role" },
		{ "bad device", { .device = (floe_node_device_kind_t)5 }, "device" },
		{ "empty portal", { .portal_endpoint = "", .device = FLOE_NODE_DEVICE_USERSPACE }, "portal" },
		{ "too many TURN", { .n_turn = FLOE_NODE_MAX_TURN + 1, .device = FLOE_NODE_DEVICE_USERSPACE }, "TURN" },
		{ "NULL list", { .n_local_addrs = 2, .device = FLOE_NODE_DEVICE_USERSPACE }, "NULL" },
		{ "ICE timeout", { .ice_failure_timeout_ms = 5, .device = FLOE_NODE_DEVICE_USERSPACE }, "timeout" },
		{ "no key", { .device = FLOE_NODE_DEVICE_USERSPACE }, "private key" },
	};
	char err[FLOE_NODE_ERR_BYTES];

	cr_assert_null(floe_node_new(NULL, err, sizeof(err)));
	cr_assert(strlen(err) > 0);
	cr_assert_null(floe_node_new(NULL, NULL, 0), "no err buffer is fine");
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		errno = 0;
		cr_assert_null(floe_node_new(&table[i].cfg, err, sizeof(err)), "%s", table[i].what);
		cr_assert_eq(errno, EINVAL, "%s", table[i].what);
		cr_assert_not_null(strstr(err, table[i].reason), "%s: '%s'", table[i].what, err);
	}
}

/* A node whose portal never answers: peer calls belong to portal-less nodes. */
Test(node_api, wrong_mode_calls_are_refused)
{
	uint8_t sec[FLOE_KEY_LEN], pub[FLOE_KEY_LEN], buf[FLOE_NODE_MAX_PACKET_BYTES + 1] = { 0 };
	char err[FLOE_NODE_ERR_BYTES], name[32];
	floe_node_config_t cfg = {
		.role = FLOE_ROLE_CLIENT,
		.portal_endpoint = "tcp://127.0.0.1:9",
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	floe_peer_config_t peer = { .allowed_ips = gw_allowed, .n_allowed_ips = 1 };
	floe_event_t ev;
	floe_node_t *n;
	uint64_t id = 0;

	floe_key_generate(sec);
	cr_assert_eq(floe_key_public(pub, sec), 0);
	memcpy(cfg.private_key, sec, sizeof(sec));
	memcpy(peer.public_key, pub, sizeof(pub));
	n = floe_node_new(&cfg, err, sizeof(err));
	cr_assert_not_null(n, "%s", err);
	cr_assert_eq(floe_node_peer_add(n, &peer, &id), -EOPNOTSUPP);
	cr_assert_eq(floe_node_peer_remote_credentials(n, 1, "abcd", "0123456789012345678901"), -EOPNOTSUPP);
	cr_assert_eq(floe_node_peer_remote_candidate(n, 1, "a=candidate:1 1 UDP 1 127.0.0.1 9 typ host"),
		     -EOPNOTSUPP);
	cr_assert_eq(floe_node_peer_remote_gathering_done(n, 1), -EOPNOTSUPP);
	cr_assert_eq(floe_node_peer_remove(n, 1), -EOPNOTSUPP);
	cr_assert_eq(floe_node_tun_name(n, name, sizeof(name)), -EOPNOTSUPP, "a userspace node has no TUN");
	cr_assert_geq(floe_node_device_fd(n), 0);
	cr_assert_eq(floe_node_device_read(n, buf, sizeof(buf), 0), -EAGAIN);
	cr_assert_eq(floe_node_device_write(n, buf, 0), -EINVAL);
	cr_assert_eq(floe_node_device_write(n, NULL, 20), -EINVAL);
	cr_assert_eq(floe_node_device_write(n, buf, FLOE_NODE_MAX_PACKET_BYTES + 1), -EMSGSIZE);
	cr_assert_eq(floe_node_device_read(n, NULL, 10, 0), -EINVAL);
	cr_assert_eq(floe_node_event_next(n, NULL), -EINVAL);
	cr_assert_eq(floe_node_event_next(n, &ev), -EAGAIN);
	cr_assert_eq(floe_node_show(n, NULL, 1, NULL, NULL), -EINVAL, "cap without out");
	cr_assert_eq(floe_node_show(n, NULL, 0, NULL, NULL), 0);
	cr_assert_not(floe_node_portal_connected(n));
	floe_node_destroy(&n);
	cr_assert_null(n);
	floe_node_destroy(&n);
	sodium_memzero(sec, sizeof(sec));
	sodium_memzero(cfg.private_key, sizeof(cfg.private_key));
}

Test(node_api, peer_calls_check_their_arguments)
{
	static const char *const bad_cidr[] = { "10.0.0.300/32" };
	static const char *const null_cidr[] = { NULL };
	const char *many[FLOE_PEER_MAX_ALLOWED_IPS + 1];
	uint8_t sec[FLOE_KEY_LEN], other[FLOE_KEY_LEN];
	floe_peer_config_t peer = { .allowed_ips = gw_allowed, .n_allowed_ips = 1 };
	char line[FLOE_EVENT_TEXT_BYTES + 8];
	floe_node_t *n;
	uint64_t id = 0, id2 = 0;

	floe_key_generate(sec);
	floe_key_generate(other);
	n = app_node(FLOE_ROLE_CLIENT, sec);
	cr_assert_eq(floe_node_portal_connected(n), false);
	cr_assert_eq(floe_node_peer_add(n, NULL, &id), -EINVAL);
	cr_assert_eq(floe_node_peer_add(n, &peer, NULL), -EINVAL);
	cr_assert_eq(floe_node_peer_add(n, &peer, &id), -EINVAL, "all-zero public key");
	cr_assert_eq(floe_key_public(peer.public_key, other), 0);
	peer.allowed_ips = bad_cidr;
	cr_assert_eq(floe_node_peer_add(n, &peer, &id), -EINVAL, "bad CIDR");
	peer.allowed_ips = null_cidr;
	cr_assert_eq(floe_node_peer_add(n, &peer, &id), -EINVAL, "NULL CIDR");
	for (size_t i = 0; i < FLOE_PEER_MAX_ALLOWED_IPS + 1; i++)
		many[i] = "10.9.0.0/16";
	peer.allowed_ips = many;
	peer.n_allowed_ips = FLOE_PEER_MAX_ALLOWED_IPS + 1;
	cr_assert_eq(floe_node_peer_add(n, &peer, &id), -EINVAL, "too many allowed IPs");
	peer.allowed_ips = NULL;
	peer.n_allowed_ips = 1;
	cr_assert_eq(floe_node_peer_add(n, &peer, &id), -EINVAL, "NULL list");
	peer.allowed_ips = gw_allowed;
	cr_assert_eq(floe_node_peer_add(n, &peer, &id), 0);
	cr_assert_neq(id, 0);
	cr_assert_eq(floe_node_peer_add(n, &peer, &id2), -EEXIST, "same key twice");
	cr_assert_eq(floe_node_connections(n, NULL), 1);

	cr_assert_eq(floe_node_peer_remote_credentials(n, id, NULL, "0123456789012345678901"), -EINVAL);
	cr_assert_eq(floe_node_peer_remote_credentials(n, id, "abcd", ""), -EINVAL);
	cr_assert_eq(floe_node_peer_remote_candidate(n, id, NULL), -EINVAL);
	cr_assert_eq(floe_node_peer_remote_candidate(n, id, ""), -EINVAL);
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = 0;
	cr_assert_eq(floe_node_peer_remote_candidate(n, id, line), -EINVAL, "oversized line");
	/* Well-formed calls for ids that do not exist. */
	cr_assert_eq(floe_node_peer_remote_credentials(n, id + 100, "abcd", "0123456789012345678901"), -ENOENT);
	cr_assert_eq(floe_node_peer_remote_candidate(n, id + 100, "a=candidate:1 1 UDP 1 127.0.0.1 9 typ host"),
		     -ENOENT);
	cr_assert_eq(floe_node_peer_remote_gathering_done(n, id + 100), -ENOENT);
	cr_assert_eq(floe_node_peer_remove(n, id + 100), -ENOENT);
	/* A malformed candidate for a live id is the connection's to drop. */
	cr_assert_eq(floe_node_peer_remote_candidate(n, id, "not a candidate"), 0);
	cr_assert_eq(floe_node_peer_remove(n, id), 0);
	cr_assert_eq(floe_node_peer_remove(n, id), -ENOENT, "use after remove");
	cr_assert_eq(floe_node_peer_remote_candidate(n, id, "a=candidate:1 1 UDP 1 127.0.0.1 9 typ host"),
		     -ENOENT);
	cr_assert_eq(floe_node_connections(n, NULL), 0);
	floe_node_destroy(&n);
	sodium_memzero(sec, sizeof(sec));
	sodium_memzero(other, sizeof(other));
}

/* Several application threads call at once: each gets its own answers. */
typedef struct {
	floe_node_t *node;
	int adds, removes, unknown_ok;
} caller_t;

static void *caller(void *arg)
{
	caller_t *c = arg;
	floe_peer_config_t peer = { .allowed_ips = gw_allowed, .n_allowed_ips = 1 };
	uint8_t sec[FLOE_KEY_LEN];

	for (int i = 0; i < CALLER_PEERS; i++) {
		uint64_t id;

		floe_key_generate(sec);
		if (floe_key_public(peer.public_key, sec) != 0)
			continue;
		if (floe_node_peer_add(c->node, &peer, &id) != 0)
			continue;
		c->adds++;
		if (floe_node_peer_remote_credentials(c->node, id, "abcd", "0123456789012345678901") == 0 &&
		    floe_node_peer_remove(c->node, id) == 0 && floe_node_peer_remove(c->node, id) == -ENOENT)
			c->removes++;
		c->unknown_ok += floe_node_peer_remote_gathering_done(c->node, UINT64_MAX - (uint64_t)i) == -ENOENT;
	}
	sodium_memzero(sec, sizeof(sec));
	return NULL;
}

Test(node_api, concurrent_callers_get_their_own_answers, .timeout = 60)
{
	uint8_t sec[FLOE_KEY_LEN];
	caller_t callers[CALLERS];
	pthread_t t[CALLERS];
	floe_node_t *n;

	floe_key_generate(sec);
	n = app_node(FLOE_ROLE_GATEWAY, sec);
	for (int i = 0; i < CALLERS; i++) {
		callers[i] = (caller_t){ .node = n };
		cr_assert_eq(pthread_create(&t[i], NULL, caller, &callers[i]), 0);
	}
	for (int i = 0; i < CALLERS; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(callers[i].adds, CALLER_PEERS, "thread %d", i);
		cr_assert_eq(callers[i].removes, CALLER_PEERS, "thread %d", i);
		cr_assert_eq(callers[i].unknown_ok, CALLER_PEERS, "thread %d", i);
	}
	cr_assert_eq(floe_node_connections(n, NULL), 0);
	floe_node_destroy(&n);
	sodium_memzero(sec, sizeof(sec));
}

/* ---- two nodes, the test as their signalling channel ---- */

typedef struct {
	floe_node_t *node[2];
	uint64_t id[2];       /* each node's connection to the other */
	bool established[2], path[2], closed[2];
	int candidates[2];
	floe_event_t last_closed[2];
} duo_t;

/* Takes every queued event of both nodes; carries signalling across. */
static void pump(duo_t *d)
{
	floe_event_t ev;

	for (int side = 0; side < 2; side++) {
		floe_node_t *peer = d->node[1 - side];
		uint64_t peer_id = d->id[1 - side];

		while (floe_node_event_next(d->node[side], &ev) == 0) {
			cr_assert_eq(ev.conn_id, d->id[side], "event for the one connection");
			switch (ev.type) {
			case FLOE_EVENT_LOCAL_CREDENTIALS:
				cr_assert_eq(floe_node_peer_remote_credentials(peer, peer_id, ev.ufrag, ev.pwd), 0);
				break;
			case FLOE_EVENT_LOCAL_CANDIDATE:
				d->candidates[side]++;
				cr_assert_eq(floe_node_peer_remote_candidate(peer, peer_id, ev.text), 0);
				break;
			case FLOE_EVENT_GATHERING_DONE:
				cr_assert_eq(floe_node_peer_remote_gathering_done(peer, peer_id), 0);
				break;
			case FLOE_EVENT_PATH:
				d->path[side] = true;
				cr_assert_not_null(strstr(ev.path.remote_addr, "127.0.0.1"), "%s", ev.path.remote_addr);
				cr_assert_eq(ev.path.local_type, FLOE_PATH_HOST);
				break;
			case FLOE_EVENT_ESTABLISHED:
				d->established[side] = true;
				break;
			case FLOE_EVENT_FAILED:
				cr_assert_fail("side %d failed: %s", side, ev.text);
				break;
			case FLOE_EVENT_CLOSED:
				d->closed[side] = true;
				d->last_closed[side] = ev;
				break;
			default:
				cr_assert_fail("unexpected event %d", (int)ev.type);
			}
		}
	}
}

/* Waits on both event fds (the application's poll loop) until cond holds. */
#define PUMP_UNTIL(d, cond)                                                                   \
	do {                                                                                  \
		uint64_t end_ = mono_ms() + WAIT_MS;                                          \
		while (!(cond) && mono_ms() < end_) {                                         \
			struct pollfd pfd_[2] = {                                             \
				{ .fd = floe_node_event_fd((d)->node[CL]), .events = POLLIN }, \
				{ .fd = floe_node_event_fd((d)->node[GW]), .events = POLLIN }, \
			};                                                                    \
			poll(pfd_, 2, 50);                                                    \
			pump(d);                                                              \
		}                                                                             \
		cr_assert(cond, "timed out waiting for " #cond);                              \
	} while (0)

/*
 * Two portal-less nodes, each the other's peer. cl_cfg, when given, is the
 * client's configuration (its key is filled in here; otherwise a userspace
 * node on loopback); allowed[side] is the one CIDR side allows its peer.
 */
static void duo_start_with(duo_t *d, floe_node_config_t *cl_cfg, const char *const allowed[2])
{
	uint8_t sec[2][FLOE_KEY_LEN], pub[2][FLOE_KEY_LEN];
	char err[FLOE_NODE_ERR_BYTES];
	floe_peer_config_t peer[2] = {
		{ .allowed_ips = &allowed[CL], .n_allowed_ips = 1, .has_preshared_key = true },
		{ .allowed_ips = &allowed[GW], .n_allowed_ips = 1, .has_preshared_key = true },
	};

	memset(d, 0, sizeof(*d));
	for (int i = 0; i < 2; i++) {
		floe_key_generate(sec[i]);
		cr_assert_eq(floe_key_public(pub[i], sec[i]), 0);
	}
	if (cl_cfg) {
		memcpy(cl_cfg->private_key, sec[CL], FLOE_KEY_LEN);
		d->node[CL] = floe_node_new(cl_cfg, err, sizeof(err));
		sodium_memzero(cl_cfg->private_key, FLOE_KEY_LEN);
		cr_assert_not_null(d->node[CL], "client: %s", err);
	} else {
		d->node[CL] = app_node(FLOE_ROLE_CLIENT, sec[CL]);
	}
	d->node[GW] = app_node(FLOE_ROLE_GATEWAY, sec[GW]);
	for (int i = 0; i < 2; i++) {
		memcpy(peer[i].public_key, pub[1 - i], FLOE_KEY_LEN);
		memset(peer[i].preshared_key, 0x5a, FLOE_KEY_LEN);
		cr_assert_eq(floe_node_peer_add(d->node[i], &peer[i], &d->id[i]), 0);
		sodium_memzero(peer[i].preshared_key, FLOE_KEY_LEN);
	}
	sodium_memzero(sec, sizeof(sec));
}

static void duo_start(duo_t *d)
{
	const char *const allowed[2] = { [CL] = cl_allowed[0], [GW] = gw_allowed[0] };

	duo_start_with(d, NULL, allowed);
}

static void duo_stop(duo_t *d)
{
	floe_node_destroy(&d->node[CL]);
	floe_node_destroy(&d->node[GW]);
}

/* The next packet at n's device, waiting with poll on its fd: seq or -1. */
static int64_t recv_seq(floe_node_t *n, char *src_out)
{
	uint64_t end = mono_ms() + WAIT_MS;
	uint8_t buf[2048];
	uint32_t seq;

	while (mono_ms() < end) {
		struct pollfd pfd = { .fd = floe_node_device_fd(n), .events = POLLIN };
		ssize_t len = floe_node_device_read(n, buf, sizeof(buf), 0);

		if (len == -EAGAIN) {
			poll(&pfd, 1, 100);
			continue;
		}
		cr_assert_eq(len, PKT_BYTES, "read: %zd", len);
		if (src_out)
			inet_ntop(AF_INET, buf + 12, src_out, INET_ADDRSTRLEN);
		memcpy(&seq, buf + 28, 4);
		return seq;
	}
	return -1;
}

static void send_pkt(floe_node_t *n, const char *src, const char *dst, uint32_t seq)
{
	uint8_t p[PKT_BYTES];

	node_packet(p, src, dst, seq);
	cr_assert_eq(floe_node_device_write(n, p, sizeof(p)), 0);
}

Test(node_api, application_signalling_connects_two_nodes_client_first, .timeout = 90)
{
	duo_t d;
	floe_conn_info_t info[2];
	struct pollfd pfd;
	size_t n;
	char src[INET_ADDRSTRLEN];

	duo_start(&d);
	/* Before any signalling: the gateway drops what it has for the
	 * client, the client keeps its packet for after the handshake. */
	send_pkt(d.node[GW], "10.0.0.2", "10.0.0.1", 999);
	cr_assert(wait_counter(d.node[GW], FLOE_COUNTER_DROPPED_NOT_NOMINATED, 1));
	send_pkt(d.node[CL], "10.0.0.1", "10.0.0.2", 1000);
	cr_assert(wait_counter(d.node[CL], FLOE_COUNTER_ICE_BUFFERED_PACKETS, 1));
	PUMP_UNTIL(&d, d.established[CL] && d.established[GW] && d.path[CL] && d.path[GW]);
	cr_assert_gt(d.candidates[CL], 0);
	cr_assert_gt(d.candidates[GW], 0);
	/* The buffered packet arrives, then round trips both ways. */
	cr_assert_eq(recv_seq(d.node[GW], src), 1000);
	cr_assert_str_eq(src, "10.0.0.1");
	for (uint32_t i = 0; i < ROUND_TRIPS; i++) {
		send_pkt(d.node[CL], "10.0.0.1", "10.0.0.2", i);
		cr_assert_eq(recv_seq(d.node[GW], NULL), i);
		send_pkt(d.node[GW], "10.0.0.2", "10.0.0.1", 5000 + i);
		cr_assert_eq(recv_seq(d.node[CL], src), 5000 + i);
		cr_assert_str_eq(src, "10.0.0.2");
	}
	/* Drained to -EAGAIN: the device fd is quiet until the next packet. */
	cr_assert_eq(floe_node_device_read(d.node[CL], (uint8_t *)src, sizeof(src), 0), -EAGAIN);
	pfd = (struct pollfd){ .fd = floe_node_device_fd(d.node[CL]), .events = POLLIN };
	cr_assert_eq(poll(&pfd, 1, 0), 0, "device fd readable with nothing queued");
	send_pkt(d.node[GW], "10.0.0.2", "10.0.0.1", 77);
	cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "device fd wakes for a packet");
	cr_assert_eq(recv_seq(d.node[CL], NULL), 77);
	/* The client made the one initiation; the gateway none. */
	cr_assert_eq(counter(d.node[GW], FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 0);
	cr_assert_eq(counter(d.node[CL], FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 1);
	cr_assert_eq(counter(d.node[GW], FLOE_COUNTER_HANDSHAKE_RESPONSES_SENT), 1);
	/* AllowedIPs: a source outside them is dropped and counted; a
	 * destination outside them has no route. */
	send_pkt(d.node[CL], "10.0.0.1", "10.0.0.2", 31337);
	send_pkt(d.node[GW], "10.0.0.2", "10.0.0.99", 1);
	cr_assert_eq(recv_seq(d.node[GW], NULL), 31337);
	cr_assert(wait_counter(d.node[GW], FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION, 1));
	/* show: one connection each, by the same id as the events. */
	cr_assert_eq(floe_node_show(d.node[GW], info, 2, &n, NULL), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(info[0].id, d.id[GW]);
	cr_assert_eq(info[0].state, FLOE_CONN_CONNECTED);
	cr_assert(info[0].has_path);
	cr_assert_gt(info[0].last_handshake_unix_s, 0);
	cr_assert_geq(info[0].counters.v[FLOE_COUNTER_TUN_TX_PACKETS], ROUND_TRIPS + 1);
	cr_assert_eq(floe_node_connections(d.node[CL], &n), 1);
	cr_assert_eq(n, 1, "connected");
	/* Remove: CLOSED comes, then the id is gone. */
	cr_assert_eq(floe_node_peer_remove(d.node[CL], d.id[CL]), 0);
	PUMP_UNTIL(&d, d.closed[CL]);
	cr_assert_eq(d.last_closed[CL].conn_id, d.id[CL]);
	cr_assert_eq(floe_node_peer_remote_candidate(d.node[CL], d.id[CL], "a=candidate:1 1 UDP 1 127.0.0.1 9 typ host"),
		     -ENOENT);
	cr_assert_eq(floe_node_peer_remove(d.node[CL], d.id[CL]), -ENOENT);
	cr_assert_eq(floe_node_connections(d.node[CL], NULL), 0);
	/* Totals keep the closed connection's counters. */
	cr_assert_eq(counter(d.node[CL], FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 1);
	cr_assert_eq(floe_node_event_drops(d.node[CL]), 0);
	duo_stop(&d);
	cr_assert_null(d.node[CL]);
}

Test(node_api, spoofed_source_is_dropped_by_allowed_ips, .timeout = 90)
{
	duo_t d;

	duo_start(&d);
	PUMP_UNTIL(&d, d.established[CL] && d.established[GW]);
	/* Routed to the gateway (destination allowed), but from a source the
	 * gateway does not allow for this peer. */
	send_pkt(d.node[CL], "10.0.0.66", "10.0.0.2", 1);
	cr_assert(wait_counter(d.node[GW], FLOE_COUNTER_ACL_DROPS, 1));
	send_pkt(d.node[CL], "10.0.0.1", "10.0.0.2", 2);
	cr_assert_eq(recv_seq(d.node[GW], NULL), 2, "the spoofed packet never reached the device");
	duo_stop(&d);
}

Test(node_api, unanswered_peer_fails_then_closes, .timeout = 30)
{
	uint8_t sec[FLOE_KEY_LEN], other[FLOE_KEY_LEN];
	floe_peer_config_t peer = { .allowed_ips = cl_allowed, .n_allowed_ips = 1 };
	bool failed = false, closed = false;
	uint64_t id, end;
	floe_event_t ev;
	floe_node_t *n;

	floe_key_generate(sec);
	floe_key_generate(other);
	cr_assert_eq(floe_key_public(peer.public_key, other), 0);
	n = app_node_failing_after(FLOE_ROLE_CLIENT, sec, FAIL_MS);
	cr_assert_eq(floe_node_peer_add(n, &peer, &id), 0);
	/* Nobody answers: FAILED with a reason, then CLOSED, then the id is gone. */
	end = mono_ms() + WAIT_MS;
	while (!closed && mono_ms() < end) {
		struct pollfd pfd = { .fd = floe_node_event_fd(n), .events = POLLIN };

		poll(&pfd, 1, 100);
		while (floe_node_event_next(n, &ev) == 0) {
			cr_assert_eq(ev.conn_id, id);
			cr_assert_not(closed, "nothing after CLOSED");
			if (ev.type == FLOE_EVENT_FAILED) {
				cr_assert_neq(ev.text[0], 0, "a reason");
				failed = true;
			} else if (ev.type == FLOE_EVENT_CLOSED) {
				cr_assert(failed, "FAILED comes first");
				closed = true;
			}
		}
	}
	cr_assert(closed);
	cr_assert_eq(floe_node_peer_remote_credentials(n, id, "abcd", "0123456789012345678901"), -ENOENT);
	cr_assert_eq(floe_node_connections(n, NULL), 0);
	floe_node_destroy(&n);
	sodium_memzero(sec, sizeof(sec));
	sodium_memzero(other, sizeof(other));
}

/* ---- a TUN node with application signalling (root) ---- */

/* RFC 1071 over an IPv4 header. */
static uint16_t ip_checksum(const uint8_t *h, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(h[i] << 8 | h[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * In a network namespace of its own: a kernel socket's datagram goes out
 * of the client's TUN (routed by tun_routes), through the tunnel to a
 * userspace gateway; the gateway's reply comes back in through the TUN to
 * the socket.
 */
Test(node_api, tun_client_with_application_signalling, .timeout = 90)
{
	static const char *const addrs[] = { TUN_CL_IP "/32" };
	static const char *const routes[] = { TUN_GW_IP "/32" };
	const char *const allowed[2] = { [CL] = TUN_GW_IP "/32", [GW] = TUN_CL_IP "/32" };
	floe_node_config_t cfg = {
		.role = FLOE_ROLE_CLIENT,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = WAIT_MS,
		.device = FLOE_NODE_DEVICE_TUN,
		.tun_name = TUN_NAME,
		.tun_addresses = addrs,
		.n_tun_addresses = 1,
		.tun_routes = routes,
		.n_tun_routes = 1,
	};
	struct sockaddr_in me = { .sin_family = AF_INET }, gw = { .sin_family = AF_INET, .sin_port = htons(53) };
	socklen_t me_len = sizeof(me);
	uint8_t pkt[2048], reply[28 + 5];
	char name[32], got[16];
	uint64_t end;
	ssize_t len = -EAGAIN;
	duo_t d;
	int fd;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		cr_skip_test("needs root and /dev/net/tun");
		return;
	}
	/* Criterion runs each test in a process of its own: the namespace,
	 * its TUN and its routes go with it. */
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	cr_assert_eq(system("ip link set lo up"), 0);
	duo_start_with(&d, &cfg, allowed);
	cr_assert_eq(floe_node_tun_name(d.node[CL], name, sizeof(name)), 0);
	cr_assert_str_eq(name, TUN_NAME);
	cr_assert_eq(floe_node_device_fd(d.node[CL]), -EOPNOTSUPP);
	PUMP_UNTIL(&d, d.established[CL] && d.established[GW]);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(inet_pton(AF_INET, TUN_CL_IP, &me.sin_addr), 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &me_len), 0);
	cr_assert_eq(inet_pton(AF_INET, TUN_GW_IP, &gw.sin_addr), 1);
	cr_assert_eq(sendto(fd, "hello", 5, 0, (struct sockaddr *)&gw, sizeof(gw)), 5);
	/* The gateway's device: the kernel's datagram, from the client's
	 * TUN address (anything else the kernel sends has no route). */
	end = mono_ms() + WAIT_MS;
	while (mono_ms() < end) {
		struct pollfd pfd = { .fd = floe_node_device_fd(d.node[GW]), .events = POLLIN };

		len = floe_node_device_read(d.node[GW], pkt, sizeof(pkt), 0);
		if (len != -EAGAIN)
			break;
		poll(&pfd, 1, 100);
	}
	cr_assert_eq(len, 28 + 5, "read: %zd", len);
	cr_assert_eq(pkt[9], 17, "UDP");
	cr_assert_eq(memcmp(pkt + 12, &me.sin_addr, 4), 0, "from the TUN address");
	cr_assert_eq(memcmp(pkt + 28, "hello", 5), 0);
	/* The reply: swap addresses and ports; UDP checksum 0 (none, IPv4). */
	memcpy(reply, pkt, 28);
	memcpy(reply + 12, pkt + 16, 4);
	memcpy(reply + 16, pkt + 12, 4);
	memcpy(reply + 20, pkt + 22, 2);
	memcpy(reply + 22, pkt + 20, 2);
	reply[26] = reply[27] = 0;
	reply[10] = reply[11] = 0;
	reply[10] = (uint8_t)(ip_checksum(reply, 20) >> 8);
	reply[11] = (uint8_t)(ip_checksum(reply, 20) & 0xff);
	memcpy(reply + 28, "world", 5);
	cr_assert_eq(floe_node_device_write(d.node[GW], reply, sizeof(reply)), 0);
	{
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		cr_assert_eq(poll(&pfd, 1, WAIT_MS), 1, "the reply reached the socket through the TUN");
	}
	memset(got, 0, sizeof(got));
	cr_assert_eq(recv(fd, got, sizeof(got) - 1, 0), 5);
	cr_assert_str_eq(got, "world");
	close(fd);
	cr_assert_eq(counter(d.node[GW], FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT), 0);
	duo_stop(&d);
}

/* ---- log sink and level ---- */

typedef struct {
	pthread_mutex_t lock;
	char buf[1 << 16];
	size_t len;
	int lines;
} sink_t;

static void sink_fn(void *user, const char *line, size_t len)
{
	sink_t *s = user;

	pthread_mutex_lock(&s->lock);
	if (s->len + len < sizeof(s->buf)) {
		memcpy(s->buf + s->len, line, len);
		s->len += len;
		s->buf[s->len] = 0;
	}
	s->lines++;
	pthread_mutex_unlock(&s->lock);
}

Test(node_api, log_sink_gets_json_lines_and_no_keys)
{
	static sink_t s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	uint8_t sec[FLOE_KEY_LEN];
	char b64[FLOE_KEY_B64_LEN + 1];
	floe_node_t *n;
	int before;

	floe_log_set_sink(sink_fn, &s);
	floe_log_set_level(FLOE_LOG_DEBUG);
	cr_assert_eq(floe_log_get_level(), FLOE_LOG_DEBUG);
	floe_log_set_level((floe_log_level_t)42);
	cr_assert_eq(floe_log_get_level(), FLOE_LOG_DEBUG, "out-of-range level ignored");
	floe_key_generate(sec);
	floe_key_to_base64(b64, sec);
	n = app_node(FLOE_ROLE_GATEWAY, sec);
	floe_node_destroy(&n);
	pthread_mutex_lock(&s.lock);
	cr_assert_gt(s.lines, 0);
	cr_assert_not_null(strstr(s.buf, "\"target\":\"floe::node\""), "%s", s.buf);
	cr_assert_not_null(strstr(s.buf, "\"message\":\"Node started\""));
	cr_assert_eq(s.buf[s.len - 1], '\n');
	cr_assert_null(strstr(s.buf, b64), "the private key reached the log");
	before = s.lines;
	pthread_mutex_unlock(&s.lock);
	floe_log_set_level(FLOE_LOG_OFF);
	n = app_node(FLOE_ROLE_GATEWAY, sec);
	floe_node_destroy(&n);
	floe_log_set_sink(NULL, NULL);
	floe_log_set_level(FLOE_LOG_INFO);
	cr_assert_eq(s.lines, before, "level off: nothing logged");
	sodium_memzero(sec, sizeof(sec));
	sodium_memzero(b64, sizeof(b64));
}

/* ---- version ---- */

Test(node_api, version_matches_the_project)
{
	char path[512], line[256], want[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/CMakeLists.txt", FLOE_SOURCE_DIR);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "project(floe VERSION %31s", want) == 1)
			break;
	}
	fclose(f);
	cr_assert_neq(want[0], 0, "no project(floe VERSION ...) line");
	cr_assert_str_eq(floe_version(), want);
	cr_assert_str_eq(FLOE_VERSION_STRING, want);
}
