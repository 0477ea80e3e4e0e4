/*
 * Test harness: a client and a gateway connection actor in one process,
 * real libnice agents on loopback, signalling passed between them in
 * memory (optionally delayed at random), and the test's own mailboxes as
 * the userspace packet devices of both ends.
 *
 * Included by the actor tests (static functions only).
 */
#ifndef FLOE_TESTS_PAIR_HARNESS_H
#define FLOE_TESTS_PAIR_HARNESS_H

#include <criterion/criterion.h>
#include <sched.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "actors/conn.h"
#include "runtime/mailbox.h"
#include "runtime/log.h"
#include "transport/wg/key.h"

enum {
	CLIENT = 0,
	GATEWAY = 1,
	PAIR_MAX_SEQ = 4096,
	PAIR_DELAYED_MAX = 256,
	PAIR_PKT_BYTES = 24, /* IPv4 header + a 4-byte sequence number */
};

typedef struct {
	uint64_t due_ns;
	int to;
	floe_msg_t *msg;
} delayed_t;

typedef struct {
	floe_ctx_t *ctx;
	floe_pool_t *pool;
	floe_clock_t *clock;
	floe_wg_device_t *dev[2];
	uint8_t pub[2][FLOE_WG_KEY_LEN];
	floe_mailbox_t *parent[2];       /* what each conn emits: events and its device's packets */
	floe_conn_t *conn[2];
	floe_mailbox_sender_t *to[2];
	uint32_t fail_timeout_ms;
	uint32_t stun_max_retransmissions; /* 0: libnice's default */
	uint32_t stun_initial_timeout_ms;
	floe_ice_keepalive_t keepalive;  /* 0: CONSENT (the nodes use RELAXED) */
	uint32_t idle_after_ms;          /* 0: FLOE_IDLE_AFTER_MS */
	uint32_t peer_gone_ms;           /* 0: FLOE_IDLE_PEER_GONE_MS */
	/* What the ends saw. */
	bool nominated[2], established[2], failed[2], exited[2];
	char fail_reason[2][128];
	uint64_t nominated_ns[2], established_ns[2];
	uint32_t delivered[2];           /* packets that reached this end's device */
	uint32_t delivered_seq[2][PAIR_MAX_SEQ];
	bool forward_candidates;         /* pass trickled candidates to the other end */
	uint32_t max_delay_ms;           /* random delay per signalling message, 0 = none */
	bool defer_client_peer;          /* the client learns its gateway later (portal flow) */
	bool gateway_chatter;            /* the gateway's device keeps sending to the client */
	bool client_chatter;             /* the client's device sends a packet every 100 ms */
	uint64_t client_chatter_at;
	uint32_t chatter_seq;
	delayed_t delayed[PAIR_DELAYED_MAX];
	int n_delayed;
} pair_t;

static const char *const pair_loopback[] = { "127.0.0.1" };

static inline uint64_t pair_now(pair_t *p)
{
	return floe_clock_now_ns(p->clock);
}

static inline void pair_init(pair_t *p)
{
	uint8_t priv[FLOE_WG_KEY_LEN];

	memset(p, 0, sizeof(*p));
	cr_assert_eq(sodium_init() >= 0, true);
	floe_log_init();
	p->ctx = floe_ctx_new();
	p->pool = floe_pool_new(FLOE_POOL_BUF_BYTES, 8192);
	p->clock = floe_clock_new_monotonic();
	cr_assert(p->ctx && p->pool && p->clock);
	for (int i = 0; i < 2; i++) {
		floe_key_generate(priv);
		cr_assert_eq(floe_key_public(p->pub[i], priv), 0);
		p->dev[i] = floe_wg_device_new(priv);
		cr_assert_not_null(p->dev[i]);
		p->parent[i] = floe_mailbox_new(p->ctx);
		cr_assert_not_null(p->parent[i]);
	}
	sodium_memzero(priv, sizeof(priv));
	p->fail_timeout_ms = 5000;
	p->forward_candidates = true;
}

/* Creates one end's connection (replacing an old one). */
static inline void pair_start_one(pair_t *p, int side)
{
	floe_conn_config_t cfg = {
		.role = side == CLIENT ? FLOE_ROLE_CLIENT : FLOE_ROLE_GATEWAY,
		.tag = (uint64_t)side,
		.cid = side == CLIENT ? "test-client" : "test-gateway",
		.client_id = "client-1",
		.wg_device = p->dev[side],
		.defer_peer = side == CLIENT && p->defer_client_peer,
		.ice = {
			.role = side == CLIENT ? FLOE_ICE_CONTROLLING : FLOE_ICE_CONTROLLED,
			.local_addrs = pair_loopback,
			.n_local_addrs = 1,
			.failure_timeout_ms = p->fail_timeout_ms,
			.stun_max_retransmissions = p->stun_max_retransmissions,
			.stun_initial_timeout_ms = p->stun_initial_timeout_ms,
			.keepalive = p->keepalive,
		},
		.idle_after_ms = p->idle_after_ms,
		.peer_gone_ms = p->peer_gone_ms,
		.parent_endpoint = floe_mailbox_endpoint(p->parent[side]),
		.pool = p->pool,
	};

	memcpy(cfg.peer_public_key, p->pub[1 - side], FLOE_WG_KEY_LEN);
	/* Both ends get the same preshared key, as the portal hands out. */
	memset(cfg.preshared_key, 0x42, FLOE_WG_KEY_LEN);
	floe_mailbox_sender_destroy(&p->to[side]);
	floe_conn_destroy(&p->conn[side]);
	p->nominated[side] = p->established[side] = p->failed[side] = p->exited[side] = false;
	p->delivered[side] = 0;
	p->conn[side] = floe_conn_new(p->ctx, &cfg);
	cr_assert_not_null(p->conn[side], "floe_conn_new: %s", strerror(errno));
	p->to[side] = floe_mailbox_sender_new(p->ctx, floe_conn_endpoint(p->conn[side]));
	cr_assert_not_null(p->to[side]);
}

static inline void pair_start(pair_t *p)
{
	pair_start_one(p, CLIENT);
	pair_start_one(p, GATEWAY);
}

static inline void pair_send_to(pair_t *p, int side, floe_msg_t *m)
{
	cr_assert_not_null(m);
	cr_assert_eq(floe_mailbox_send(p->to[side], &m), 0);
}

/* What the portal's flow_granted tells a client that started without a peer. */
static inline void pair_set_client_peer(pair_t *p)
{
	floe_conn_peer_t peer = { 0 };

	memcpy(peer.public_key, p->pub[GATEWAY], FLOE_WG_KEY_LEN);
	memset(peer.preshared_key, 0x42, FLOE_WG_KEY_LEN);
	pair_send_to(p, CLIENT, floe_conn_msg_set_peer(&peer));
}

/* Signalling toward `side`, delayed at random when max_delay_ms is set. */
static inline void pair_signal(pair_t *p, int side, floe_msg_t *m)
{
	if (!p->max_delay_ms) {
		pair_send_to(p, side, m);
		return;
	}
	cr_assert_lt(p->n_delayed, PAIR_DELAYED_MAX);
	p->delayed[p->n_delayed++] = (delayed_t){
		.due_ns = pair_now(p) + (uint64_t)randombytes_uniform(p->max_delay_ms + 1) * FLOE_NS_PER_MS,
		.to = side,
		.msg = m,
	};
}

/* Each end learns the other's credentials (through the "portal"). */
static inline void pair_exchange_credentials(pair_t *p)
{
	for (int side = 0; side < 2; side++)
		pair_signal(p, side, floe_conn_msg_credentials(floe_conn_local_ufrag(p->conn[1 - side]),
								floe_conn_local_pwd(p->conn[1 - side])));
}

static inline floe_msg_t *pair_packet(pair_t *p, int from, uint32_t seq)
{
	floe_msg_t *m = floe_msg_new(p->pool, FLOE_MSG_TUN_PACKET);
	uint8_t *d;

	cr_assert_not_null(m);
	d = floe_msg_data(m);
	memset(d, 0, PAIR_PKT_BYTES);
	d[0] = 0x45;                 /* IPv4, 20-byte header */
	d[3] = PAIR_PKT_BYTES;       /* total length */
	d[8] = 64;                   /* TTL */
	d[9] = 17;                   /* UDP, nominally */
	d[12] = 100; d[13] = 64; d[14] = 0; d[15] = (uint8_t)(2 + from);  /* src */
	d[16] = 100; d[17] = 64; d[18] = 0; d[19] = (uint8_t)(3 - from);  /* dst */
	memcpy(d + 20, &seq, sizeof(seq));
	cr_assert_eq(floe_msg_set_len(m, PAIR_PKT_BYTES), 0);
	return m;
}

/* A packet from `from`'s device into its connection. */
static inline void pair_device_send(pair_t *p, int from, uint32_t seq)
{
	pair_send_to(p, from, pair_packet(p, from, seq));
}

static inline void pair_handle(pair_t *p, int side, floe_msg_t **m_p)
{
	floe_msg_t *m = *m_p;

	switch (floe_msg_type(m)) {
	case FLOE_CONN_EV_LOCAL_CANDIDATE:
		if (p->forward_candidates) {
			const char *line = floe_conn_msg_text(m);

			cr_assert_not_null(line);
			pair_signal(p, 1 - side, floe_conn_msg_candidate(line));
		}
		break;
	case FLOE_CONN_EV_NOMINATED:
		p->nominated[side] = true;
		p->nominated_ns[side] = pair_now(p);
		break;
	case FLOE_CONN_EV_ESTABLISHED:
		p->established[side] = true;
		p->established_ns[side] = pair_now(p);
		break;
	case FLOE_CONN_EV_FAILED: {
		const char *why = floe_conn_msg_text(m);

		p->failed[side] = true;
		snprintf(p->fail_reason[side], sizeof(p->fail_reason[side]), "%s", why ? why : "?");
		break;
	}
	case FLOE_CONN_DELIVER: {
		uint32_t seq;

		cr_assert_eq(floe_msg_len(m), PAIR_PKT_BYTES);
		memcpy(&seq, floe_msg_data(m) + 20, sizeof(seq));
		if (p->delivered[side] < PAIR_MAX_SEQ)
			p->delivered_seq[side][p->delivered[side]] = seq;
		p->delivered[side]++;
		break;
	}
	case FLOE_MSG_CONTROL:
		if (floe_msg_code(m) == FLOE_CONTROL_CHILD_EXITED)
			p->exited[side] = true;
		break;
	default:
		break;
	}
	floe_msg_destroy(m_p);
}

/* Moves messages between the ends for up to timeout_ms or until done(p). */
static inline void pair_pump(pair_t *p, uint32_t timeout_ms, bool (*done)(pair_t *))
{
	uint64_t end = pair_now(p) + (uint64_t)timeout_ms * FLOE_NS_PER_MS;

	while (pair_now(p) < end) {
		zmq_pollitem_t items[2];
		floe_msg_t *batch[64];

		if (done && done(p))
			return;
		if (p->gateway_chatter && p->conn[GATEWAY])
			pair_device_send(p, GATEWAY, 100000 + p->chatter_seq++);
		if (p->client_chatter && p->conn[CLIENT] && pair_now(p) >= p->client_chatter_at) {
			pair_device_send(p, CLIENT, 200000 + p->chatter_seq++);
			p->client_chatter_at = pair_now(p) + 100 * FLOE_NS_PER_MS;
		}
		floe_mailbox_pollitem(p->parent[CLIENT], &items[0]);
		floe_mailbox_pollitem(p->parent[GATEWAY], &items[1]);
		zmq_poll(items, 2, 2);
		for (int side = 0; side < 2; side++) {
			int n = floe_mailbox_recv_batch(p->parent[side], batch, 64);

			for (int i = 0; i < n; i++)
				pair_handle(p, side, &batch[i]);
		}
		for (int i = 0; i < p->n_delayed;) {
			if (p->delayed[i].due_ns <= pair_now(p)) {
				pair_send_to(p, p->delayed[i].to, p->delayed[i].msg);
				p->delayed[i] = p->delayed[--p->n_delayed];
			} else {
				i++;
			}
		}
	}
}

static inline bool pair_both_established(pair_t *p)
{
	return p->established[CLIENT] && p->established[GATEWAY];
}

/* Both ends established and the client's first packet delivered. */
static inline bool pair_established_and_delivered(pair_t *p)
{
	return pair_both_established(p) && p->delivered[GATEWAY] >= 1;
}

/* Starts the pair as configured (pair_init and any fields set before),
 * sends one client packet and waits until it is delivered. */
static inline void pair_connect(pair_t *p, uint32_t timeout_ms)
{
	pair_start(p);
	pair_device_send(p, CLIENT, 1);
	pair_exchange_credentials(p);
	pair_pump(p, timeout_ms, pair_established_and_delivered);
	cr_assert(pair_established_and_delivered(p), "no connection: %s / %s", p->fail_reason[CLIENT],
		  p->fail_reason[GATEWAY]);
}

/* Moves the test into a network namespace of its own with loopback up
 * (root; skips with WHY otherwise). */
static inline void pair_own_netns(const char *why)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: %s", why);
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET)");
	cr_assert_eq(system("ip link set lo up"), 0);
}

static inline uint64_t pair_counter(pair_t *p, int side, floe_counter_t id)
{
	floe_counters_snapshot_t s;

	floe_conn_counters(p->conn[side], &s);
	return s.v[id];
}

static inline void pair_fini(pair_t *p)
{
	for (int i = 0; i < p->n_delayed; i++)
		floe_msg_destroy(&p->delayed[i].msg);
	for (int side = 0; side < 2; side++) {
		floe_mailbox_sender_destroy(&p->to[side]);
		floe_conn_destroy(&p->conn[side]);
	}
	for (int side = 0; side < 2; side++) {
		floe_mailbox_destroy(&p->parent[side]);
		floe_wg_device_destroy(&p->dev[side]);
	}
	floe_ctx_destroy(&p->ctx);
	cr_expect_eq(floe_pool_destroy(&p->pool), 0, "every pooled buffer came back");
	floe_clock_destroy(&p->clock);
}

#endif
