/* Two devices with one peer each, driven on a manual clock (header only, for the peer/device suites). */
#ifndef FLOE_TESTS_WG_PAIR_H
#define FLOE_TESTS_WG_PAIR_H

#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "transport/wg/timers.h"
#include "transport/wg/wg.h"

#define S(x) ((uint64_t)(x) * FLOE_NS_PER_S)
#define MS(x) ((uint64_t)(x) * FLOE_NS_PER_MS)
#define T0 S(1000)   /* tests start at a non-zero monotonic time */
#define BUF_LEN 2048

typedef struct {
	floe_wg_device_t *dev_a, *dev_b;
	floe_wg_peer_t *a, *b;   /* a: A's peer (for B); b: B's peer (for A) */
	uint8_t src_a[4], src_b[4];
} pair_t;

static inline void pair_init(pair_t *p, bool b_responder_only, uint16_t keepalive_a)
{
	uint8_t ka[32], kb[32];
	floe_wg_peer_config_t ca = { 0 }, cb = { 0 };

	cr_assert_geq(sodium_init(), 0);
	randombytes_buf(ka, 32);
	randombytes_buf(kb, 32);
	p->dev_a = floe_wg_device_new(ka);
	p->dev_b = floe_wg_device_new(kb);
	cr_assert(p->dev_a && p->dev_b);
	floe_wg_device_public_key(p->dev_b, ca.public_key);
	floe_wg_device_public_key(p->dev_a, cb.public_key);
	randombytes_buf(ca.preshared_key, 32);
	memcpy(cb.preshared_key, ca.preshared_key, 32);
	ca.persistent_keepalive_s = keepalive_a;
	cb.responder_only = b_responder_only;
	p->a = floe_wg_peer_new(p->dev_a, &ca);
	p->b = floe_wg_peer_new(p->dev_b, &cb);
	cr_assert(p->a && p->b);
	memcpy(p->src_a, (uint8_t[]){ 10, 0, 0, 1 }, 4);
	memcpy(p->src_b, (uint8_t[]){ 10, 0, 0, 2 }, 4);
	sodium_memzero(ka, 32);
	sodium_memzero(kb, 32);
}

static inline void pair_fini(pair_t *p)
{
	floe_wg_peer_destroy(&p->a);
	floe_wg_peer_destroy(&p->b);
	floe_wg_device_destroy(&p->dev_a);
	floe_wg_device_destroy(&p->dev_b);
}

/* A fake IPv4 packet of len bytes (len >= 20) whose header says len. */
static inline void ip_packet(uint8_t *p, size_t len, uint8_t fill)
{
	memset(p, fill, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}

/* Delivers msg to `to` from the other side; returns the result and the output. */
static inline ssize_t deliver(pair_t *p, floe_wg_peer_t *to, uint64_t now, const uint8_t *msg, size_t len,
                              uint8_t *out, floe_wg_out_t *kind)
{
	const uint8_t *src = to == p->b ? p->src_a : p->src_b;

	return floe_wg_peer_receive(to, now, src, 4, msg, len, out, BUF_LEN, kind);
}

/* A initiates, B responds, A consumes: both hold the session (B unconfirmed). */
static inline void pair_handshake(pair_t *p, floe_wg_peer_t *from, uint64_t now)
{
	floe_wg_peer_t *to = from == p->a ? p->b : p->a;
	uint8_t init[BUF_LEN], resp[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;

	cr_assert_eq(floe_wg_peer_initiate(from, now, init, sizeof(init)), FLOE_WG_MSG_INITIATION_LEN);
	cr_assert_eq(deliver(p, to, now, init, FLOE_WG_MSG_INITIATION_LEN, resp, &kind), FLOE_WG_MSG_RESPONSE_LEN);
	cr_assert_eq(kind, FLOE_WG_OUT_NETWORK);
	cr_assert_eq(deliver(p, from, now, resp, FLOE_WG_MSG_RESPONSE_LEN, out, &kind), 0);
	cr_assert_eq(kind, FLOE_WG_OUT_NONE);
	cr_assert(floe_wg_peer_take_events(from) & FLOE_WG_EV_HANDSHAKE_COMPLETE);
}

/* Sends one packet of len bytes from -> to and checks it arrives intact. */
static inline void pair_send(pair_t *p, floe_wg_peer_t *from, uint64_t now, size_t len, uint8_t fill)
{
	floe_wg_peer_t *to = from == p->a ? p->b : p->a;
	uint8_t pkt[BUF_LEN], dgram[BUF_LEN], out[BUF_LEN];
	floe_wg_out_t kind;
	ssize_t n;

	ip_packet(pkt, len, fill);
	n = floe_wg_peer_encrypt(from, now, pkt, len, dgram, sizeof(dgram));
	cr_assert_eq(n, (ssize_t)(((len + 15) & ~(size_t)15) + FLOE_WG_DATA_OVERHEAD), "encrypt gave %zd", n);
	cr_assert_eq(deliver(p, to, now, dgram, (size_t)n, out, &kind), (ssize_t)len);
	cr_assert_eq(kind, FLOE_WG_OUT_TUNNEL);
	cr_assert_eq(memcmp(out, pkt, len), 0);
}

/* Runs tick until it has nothing; returns the number of datagrams, the last in out. */
static inline int drain_tick(floe_wg_peer_t *peer, uint64_t now, uint8_t *out, ssize_t *last_len)
{
	int count = 0;

	for (int guard = 0; guard < 8; guard++) {
		ssize_t n = floe_wg_peer_tick(peer, now, out, BUF_LEN);

		cr_assert_geq(n, 0, "tick failed: %zd", n);
		if (n == 0)
			break;
		*last_len = n;
		count++;
	}
	return count;
}

#endif
