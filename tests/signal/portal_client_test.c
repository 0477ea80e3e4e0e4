/* The node's portal session against a bare CURVE ROUTER standing in for the
 * portal: hello/welcome, pings, dead-portal detection, backoff and redial,
 * malformed frames counted. The clock is passed by hand (now_ms), so the
 * timers are checked exactly; only socket delivery waits for real. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "transport/signal/portal_client.h"

enum { WAIT_MS = 3000 };

typedef struct {
	void *ctx;
	void *router;
	char endpoint[64];
	uint8_t portal_pub[32], portal_sec[32];
	uint8_t node_pub[32], node_sec[32];
} fixture_t;

static void fixture_init(fixture_t *f)
{
	int one = 1, linger = 0;
	size_t len;

	cr_assert_eq(sodium_init() >= 0, true);
	crypto_box_keypair(f->portal_pub, f->portal_sec);
	crypto_box_keypair(f->node_pub, f->node_sec);
	f->ctx = zmq_ctx_new();
	f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
	cr_assert_not_null(f->router);
	zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger));
	cr_assert_eq(zmq_setsockopt(f->router, ZMQ_CURVE_SERVER, &one, sizeof(one)), 0);
	cr_assert_eq(zmq_setsockopt(f->router, ZMQ_CURVE_SECRETKEY, f->portal_sec, 32), 0);
	cr_assert_eq(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
	len = sizeof(f->endpoint);
	cr_assert_eq(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len), 0);
}

static void fixture_fini(fixture_t *f)
{
	if (f->router)
		zmq_close(f->router);
	zmq_ctx_term(f->ctx);
}

/* Receives one [routing id, payload] from the router; returns payload size or -1. */
static int router_recv(fixture_t *f, uint8_t *rid, size_t *rid_len, char *buf, size_t cap, int timeout_ms)
{
	zmq_pollitem_t it = { .socket = f->router, .events = ZMQ_POLLIN };
	int n;

	if (zmq_poll(&it, 1, timeout_ms) <= 0)
		return -1;
	n = zmq_recv(f->router, rid, 256, 0);
	cr_assert_gt(n, 0);
	*rid_len = (size_t)n;
	n = zmq_recv(f->router, buf, cap - 1, 0);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	return n;
}

static void router_send(fixture_t *f, const uint8_t *rid, size_t rid_len, const char *json)
{
	cr_assert_eq(zmq_send(f->router, rid, rid_len, ZMQ_SNDMORE), (int)rid_len);
	cr_assert_eq(zmq_send(f->router, json, strlen(json), 0), (int)strlen(json));
}

/* Polls the client until handle() yields something other than -EAGAIN. */
static int client_wait(floe_portal_client_t *c, uint64_t now_ms, floe_signal_msg_t *out)
{
	for (int waited = 0; waited < WAIT_MS; waited += 10) {
		zmq_pollitem_t it;
		int r;

		if (floe_portal_client_pollitem(c, &it) < 0)
			return -ENOTCONN;
		zmq_poll(&it, 1, 10);
		r = floe_portal_client_handle(c, now_ms, out);
		if (r != -EAGAIN)
			return r;
	}
	return -ETIMEDOUT;
}

static const char welcome[] =
	"{\"type\":\"welcome\",\"node_id\":\"alice\",\"tunnel_ipv4\":\"100.64.0.2\","
	"\"tunnel_ipv6\":\"fd00::2\",\"resources\":[{\"id\":\"web\",\"cidr\":\"10.0.0.0/8\"}],\"relays\":[]}";

#define HELLO_PREFIX "{\"type\":\"hello\",\"role\":\"client\",\"version\":1,\"boot_id\":\""

Test(portal_client, hello_welcome_ping_dead_backoff_redial)
{
	static floe_signal_msg_t msg;
	fixture_t f = { 0 };
	floe_portal_client_t *c;
	uint8_t rid[256];
	size_t rid_len;
	char buf[4096], boot_id[33] = "";
	uint64_t t = 1000000;

	fixture_init(&f);
	c = floe_portal_client_new(f.ctx, f.endpoint, f.portal_pub, f.node_sec,
				   FLOE_SIGNAL_ROLE_CLIENT, t);
	cr_assert_not_null(c);
	cr_assert_eq(floe_portal_client_state(c), FLOE_PORTAL_LINK_HELLO_SENT);
	cr_assert_not(floe_portal_client_connected(c));

	cr_assert_gt(router_recv(&f, rid, &rid_len, buf, sizeof(buf), WAIT_MS), 0);
	/* hello carries a boot id: 32 hex digits, the same for the client's life. */
	cr_assert_eq(strncmp(buf, HELLO_PREFIX, strlen(HELLO_PREFIX)), 0, "%s", buf);
	cr_assert_eq(strlen(buf), strlen(HELLO_PREFIX) + 32 + 2, "%s", buf);
	memcpy(boot_id, buf + strlen(HELLO_PREFIX), 32);

	router_send(&f, rid, rid_len, welcome);
	cr_assert_eq(client_wait(c, t, &msg), 0);
	cr_assert_eq(msg.type, FLOE_SIGNAL_WELCOME);
	cr_assert_str_eq(msg.u.welcome.node_id, "alice");
	cr_assert(floe_portal_client_connected(c));
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_CONNECTED);
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_NONE);

	/* the next deadline is the ping, and nothing is sent before it */
	cr_assert_eq(floe_portal_client_next_deadline_ms(c), t + FLOE_PORTAL_PING_INTERVAL_MS);
	cr_assert_eq(floe_portal_client_tick(c, t + FLOE_PORTAL_PING_INTERVAL_MS - 1), 0);
	cr_assert_eq(router_recv(&f, rid, &rid_len, buf, sizeof(buf), 100), -1);
	cr_assert_eq(floe_portal_client_tick(c, t + FLOE_PORTAL_PING_INTERVAL_MS), 0);
	cr_assert_gt(router_recv(&f, rid, &rid_len, buf, sizeof(buf), WAIT_MS), 0);
	cr_assert_str_eq(buf, "{\"type\":\"ping\"}");

	/* a pong is consumed inside and keeps the link alive */
	t += 5000;
	router_send(&f, rid, rid_len, "{\"type\":\"pong\"}");
	cr_assert_eq(client_wait(c, t, &msg), -ETIMEDOUT);
	cr_assert_eq(floe_portal_client_tick(c, t + FLOE_PORTAL_DEAD_AFTER_MS - 1), 0);
	cr_assert(floe_portal_client_connected(c));
	/* that tick was past the second ping's time */
	cr_assert_gt(router_recv(&f, rid, &rid_len, buf, sizeof(buf), WAIT_MS), 0);
	cr_assert_str_eq(buf, "{\"type\":\"ping\"}");

	/* a malformed frame is dropped and counted */
	router_send(&f, rid, rid_len, "{\"type\":\"welcome\"");
	cr_assert_eq(client_wait(c, t, &msg), -EPROTO);
	cr_assert_eq(floe_portal_client_stats(c).decode_errors, 1);

	/* silence for DEAD_AFTER: the link drops and a redial is scheduled */
	t += FLOE_PORTAL_DEAD_AFTER_MS;
	cr_assert_eq(floe_portal_client_tick(c, t), 0);
	cr_assert_eq(floe_portal_client_state(c), FLOE_PORTAL_LINK_BACKOFF);
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_DISCONNECTED);
	cr_assert_eq(floe_portal_client_next_deadline_ms(c), t + FLOE_PORTAL_BACKOFF_MIN_MS);
	zmq_pollitem_t it;
	cr_assert_eq(floe_portal_client_pollitem(c, &it), -ENOTCONN);
	cr_assert_eq(floe_portal_client_send(c, &msg), -ENOTCONN);

	/* redial says hello again; without an answer the backoff doubles */
	t += FLOE_PORTAL_BACKOFF_MIN_MS;
	cr_assert_eq(floe_portal_client_tick(c, t), 0);
	cr_assert_eq(floe_portal_client_state(c), FLOE_PORTAL_LINK_HELLO_SENT);
	cr_assert_gt(router_recv(&f, rid, &rid_len, buf, sizeof(buf), WAIT_MS), 0);
	cr_assert_eq(strncmp(buf, HELLO_PREFIX, strlen(HELLO_PREFIX)), 0, "%s", buf);
	cr_assert_eq(strncmp(buf + strlen(HELLO_PREFIX), boot_id, 32), 0, "a redial keeps the boot id");
	t += FLOE_PORTAL_DEAD_AFTER_MS;
	cr_assert_eq(floe_portal_client_tick(c, t), 0);
	cr_assert_eq(floe_portal_client_state(c), FLOE_PORTAL_LINK_BACKOFF);
	/* no DISCONNECTED: it never got connected this time */
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_NONE);
	cr_assert_eq(floe_portal_client_next_deadline_ms(c), t + 2 * FLOE_PORTAL_BACKOFF_MIN_MS);
	cr_assert_eq(floe_portal_client_stats(c).reconnects, 1);

	floe_portal_client_destroy(&c);
	cr_assert_null(c);
	floe_portal_client_destroy(&c);
	fixture_fini(&f);
}

Test(portal_client, backoff_is_capped)
{
	fixture_t f = { 0 };
	floe_portal_client_t *c;
	uint64_t t = 0, prev_gap = 0;

	fixture_init(&f);
	c = floe_portal_client_new(f.ctx, f.endpoint, f.portal_pub, f.node_sec,
				   FLOE_SIGNAL_ROLE_GATEWAY, t);
	cr_assert_not_null(c);
	for (int i = 0; i < 20; i++) {
		uint64_t gap;

		t = floe_portal_client_next_deadline_ms(c);
		cr_assert_eq(floe_portal_client_tick(c, t), 0);
		cr_assert_eq(floe_portal_client_state(c), FLOE_PORTAL_LINK_BACKOFF);
		gap = floe_portal_client_next_deadline_ms(c) - t;
		cr_assert(gap >= prev_gap && gap <= FLOE_PORTAL_BACKOFF_MAX_MS, "gap %lu", (unsigned long)gap);
		prev_gap = gap;
		t = floe_portal_client_next_deadline_ms(c);
		cr_assert_eq(floe_portal_client_tick(c, t), 0);
	}
	cr_assert_eq(prev_gap, FLOE_PORTAL_BACKOFF_MAX_MS);
	floe_portal_client_destroy(&c);
	fixture_fini(&f);
}

Test(portal_client, wrong_portal_key_never_welcomes)
{
	static floe_signal_msg_t msg;
	fixture_t f = { 0 };
	floe_portal_client_t *c;
	uint8_t other_pub[32], other_sec[32], rid[256];
	size_t rid_len;
	char buf[256];

	fixture_init(&f);
	crypto_box_keypair(other_pub, other_sec);
	c = floe_portal_client_new(f.ctx, f.endpoint, other_pub, f.node_sec,
				   FLOE_SIGNAL_ROLE_CLIENT, 0);
	cr_assert_not_null(c);
	/* the CURVE handshake fails, so the hello never reaches the router */
	cr_assert_eq(router_recv(&f, rid, &rid_len, buf, sizeof(buf), 500), -1);
	cr_assert_eq(floe_portal_client_handle(c, 0, &msg), -EAGAIN);
	cr_assert_not(floe_portal_client_connected(c));
	floe_portal_client_destroy(&c);
	fixture_fini(&f);
}

/* A local address change: the link is given up on at once and dialled
 * again at the next tick, not after DEAD_AFTER or a backoff. */
Test(portal_client, redial_now)
{
	static floe_signal_msg_t msg;
	fixture_t f = { 0 };
	floe_portal_client_t *c;
	uint8_t rid[256], rid2[256];
	size_t rid_len, rid2_len;
	char buf[4096];
	uint64_t t = 1000000;

	fixture_init(&f);
	c = floe_portal_client_new(f.ctx, f.endpoint, f.portal_pub, f.node_sec, FLOE_SIGNAL_ROLE_CLIENT, t);
	cr_assert_not_null(c);
	cr_assert_gt(router_recv(&f, rid, &rid_len, buf, sizeof(buf), WAIT_MS), 0);
	router_send(&f, rid, rid_len, welcome);
	cr_assert_eq(client_wait(c, t, &msg), 0);
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_CONNECTED);

	t += 10;
	cr_assert_eq(floe_portal_client_redial(c, t), 0);
	cr_assert_not(floe_portal_client_connected(c));
	cr_assert_eq(floe_portal_client_state(c), FLOE_PORTAL_LINK_BACKOFF);
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_DISCONNECTED);
	cr_assert_eq(floe_portal_client_next_deadline_ms(c), t, "dial at once, no backoff");
	cr_assert_eq(floe_portal_client_tick(c, t), 0);
	cr_assert_eq(floe_portal_client_state(c), FLOE_PORTAL_LINK_HELLO_SENT);
	/* a new connection (new routing id) says hello */
	cr_assert_gt(router_recv(&f, rid2, &rid2_len, buf, sizeof(buf), WAIT_MS), 0);
	cr_assert_eq(strncmp(buf, HELLO_PREFIX, strlen(HELLO_PREFIX)), 0, "%s", buf);
	cr_assert(rid2_len != rid_len || memcmp(rid, rid2, rid_len), "the old socket was reused");
	router_send(&f, rid2, rid2_len, welcome);
	cr_assert_eq(client_wait(c, t, &msg), 0);
	cr_assert(floe_portal_client_connected(c));
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_CONNECTED);

	/* redialling while not connected reports no second DISCONNECTED */
	cr_assert_eq(floe_portal_client_redial(c, t), 0);
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_DISCONNECTED);
	cr_assert_eq(floe_portal_client_redial(c, t), 0);
	cr_assert_eq(floe_portal_client_next_event(c), FLOE_PORTAL_EVENT_NONE);
	cr_assert_eq(floe_portal_client_redial(NULL, t), -EINVAL);
	floe_portal_client_destroy(&c);
	fixture_fini(&f);
}

Test(portal_client, bad_arguments)
{
	uint8_t k[32] = { 0 };
	void *ctx = zmq_ctx_new();

	cr_assert_null(floe_portal_client_new(NULL, "tcp://127.0.0.1:1", k, k, FLOE_SIGNAL_ROLE_CLIENT, 0));
	cr_assert_null(floe_portal_client_new(ctx, "tcp://127.0.0.1:1", k, k, (floe_signal_role_t)7, 0));
	cr_assert_null(floe_portal_client_new(ctx, "nonsense", k, k, FLOE_SIGNAL_ROLE_CLIENT, 0));
	cr_assert_eq(floe_portal_client_tick(NULL, 0), -EINVAL);
	cr_assert_not(floe_portal_client_connected(NULL));
	zmq_ctx_term(ctx);
}
