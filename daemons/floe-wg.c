/*
 * floe-wg: one WireGuard interface from a wg-quick-style file, on a Linux
 * TUN device over one plain UDP socket, for stock WireGuard peers.
 *
 *   floe-wg --config FILE [--interface NAME]
 *
 * One thread, one poll over {TUN, UDP, signalfd}; the poll timeout is the
 * earliest peer timer. Per wake-up the TUN and the socket are read in
 * batches until EAGAIN (bounded by FWG_WAKE_MAX_BATCHES so neither side
 * starves the other), and outgoing datagrams leave in sendmmsg batches.
 *
 *   TUN -> AllowedIPs(dst) -> encrypt -> UDP   (no session: stage, initiate)
 *   UDP -> device lookup -> receive -> TUN     (AllowedIPs(src) must be the peer)
 *
 * Signals: SIGTERM/SIGINT exit cleanly (keys wiped, TUN removed); SIGUSR1
 * forces a new handshake with every peer (key rotation, used by the tests).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "daemons/common/wgconf.h"
#include "runtime/log.h"
#include "transport/net/addr.h"
#include "transport/net/allowedips.h"
#include "transport/net/offload.h"
#include "transport/net/pktring.h"
#include "transport/net/tun.h"
#include "transport/net/udp.h"
#include "transport/wg/ratelimit.h"
#include "transport/wg/wg.h"

#define LOG_TARGET "floe::wg"

enum fwg_limits {
	/* Packets held per peer while its handshake is under way; the oldest
	 * is dropped past this (WireGuard's MAX_STAGED_PACKETS). */
	FWG_MAX_STAGED_PACKETS = 128,
	FWG_DEFAULT_MTU = 1420,
	/* Batches read from one fd per wake-up before the other gets a turn. */
	FWG_WAKE_MAX_BATCHES = 8,
	/* Datagrams a peer's timers may emit in one go (retry + keepalive). */
	FWG_TICK_MAX_DATAGRAMS = 8,
	FWG_RX_BUF_BYTES = 65536,                     /* largest UDP payload, rounded up */
	FWG_TX_BUF_BYTES = FLOE_WG_MAX_DATAGRAM_LEN,  /* largest encrypt output */
	/* With TUN offloads a read is a virtio-net header and up to 64 KiB. */
	FWG_TUN_BUF_BYTES = FLOE_WG_MAX_PACKET_LEN + FLOE_TUN_VNET_HDR_BYTES,
	FWG_SEG_BUF_BYTES = FLOE_WG_MAX_PACKET_LEN,   /* one split-off packet */
};

static const uint64_t NS_PER_MS = 1000000ULL;

/* Counters of the daemon itself; the engine counts the cryptography. */
typedef struct {
	uint64_t no_endpoint_drops;     /* nothing to send to yet */
	uint64_t source_drops;          /* decrypted source not in this peer's AllowedIPs */
	uint64_t tun_write_drops;
	uint64_t endpoint_changes;      /* roaming */
} fwg_peer_counters_t;

typedef struct {
	floe_wg_peer_t *wg;
	unsigned id;                    /* 1-based position in the config: logs name peers by it */
	struct sockaddr_storage endpoint;
	socklen_t endpoint_len;         /* 0 = no endpoint yet */
	floe_pktring_t *staged;         /* held while the handshake is under way */
	fwg_peer_counters_t c;
} fwg_peer_t;

typedef struct {
	floe_wgconf_t *conf;
	floe_wg_device_t *dev;
	fwg_peer_t *peers;
	size_t n_peers;
	floe_allowedips_t *routes;
	floe_tun_t *tun;
	floe_udp_t *udp;
	int sigfd;
	bool running;
	int exit_code;                 /* non-zero when the loop stopped on a failure */
	uint32_t mtu;
	/* Buffers sized once at start: the packet path does not allocate. */
	floe_tun_pkt_t tun_rx[FLOE_TUN_BATCH_MAX];
	floe_udp_dgram_t udp_rx[FLOE_UDP_BATCH_MAX];
	floe_udp_dgram_t udp_tx[FLOE_UDP_BATCH_MAX];
	size_t n_tx;
	uint8_t *seg;                  /* TSO frames are split here (offload.h) */
	floe_offload_gro_t gro;        /* received TCP segments gathered for one TUN write */
	fwg_peer_t *gro_peer;          /* whose segments those are (drops are counted there) */
	uint64_t now;                  /* of the TUN batch being split */
	uint64_t tx_drops, unknown_dst_drops, malformed_drops, offload_drops;
} fwg_t;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- outgoing datagrams: filled in place, sent in sendmmsg batches ---- */

static void tx_flush(fwg_t *s)
{
	size_t done = 0;

	while (done < s->n_tx) {
		int r = floe_udp_send_batch(s->udp, s->udp_tx + done, s->n_tx - done);

		if (r <= 0)
			break;
		done += (size_t)r;
	}
	if (done < s->n_tx) {
		/* Socket buffer full or a route error: UDP may lose datagrams,
		 * WireGuard's timers recover; count them. */
		s->tx_drops += s->n_tx - done;
		floe_log_ratelimited(FLOE_LOG_DEBUG, LOG_TARGET, "Dropped outgoing datagrams",
				     FLOE_F_U64("count", s->n_tx - done));
	}
	s->n_tx = 0;
}

/* The buffer the next outgoing datagram is written into. */
static uint8_t *tx_slot(fwg_t *s)
{
	if (s->n_tx == FLOE_UDP_BATCH_MAX)
		tx_flush(s);
	return s->udp_tx[s->n_tx].buf;
}

/* Commits the datagram written into tx_slot() for `to`. */
static void tx_commit(fwg_t *s, size_t len, const struct sockaddr_storage *to, socklen_t to_len)
{
	floe_udp_dgram_t *d = &s->udp_tx[s->n_tx];

	d->len = len;
	memcpy(&d->addr, to, to_len);
	d->addr_len = to_len;
	s->n_tx++;
}

static void tx_to_peer(fwg_t *s, fwg_peer_t *p, size_t len)
{
	if (!p->endpoint_len) {
		p->c.no_endpoint_drops++;
		return;
	}
	tx_commit(s, len, &p->endpoint, p->endpoint_len);
}

/* ---- staged packets: held while a handshake is under way ---- */

/* Sends staged packets in order while the session takes them. */
static void flush_staged(fwg_t *s, fwg_peer_t *p, uint64_t now)
{
	const uint8_t *pkt;
	size_t len;

	while ((pkt = floe_pktring_peek(p->staged, &len))) {
		ssize_t r = floe_wg_peer_encrypt(p->wg, now, pkt, len, tx_slot(s), FWG_TX_BUF_BYTES);

		if (r == -ENOKEY)
			return; /* still no session: keep them */
		if (r > 0)
			tx_to_peer(s, p, (size_t)r);
		floe_pktring_pop(p->staged);
	}
}

/* ---- timers and events ---- */

static void run_timers(fwg_t *s, fwg_peer_t *p, uint64_t now)
{
	for (int i = 0; i < FWG_TICK_MAX_DATAGRAMS; i++) {
		ssize_t r = floe_wg_peer_tick(p->wg, now, tx_slot(s), FWG_TX_BUF_BYTES);

		if (r <= 0)
			break;
		tx_to_peer(s, p, (size_t)r);
	}
}

static void handle_events(fwg_t *s, fwg_peer_t *p, uint64_t now)
{
	uint32_t ev = floe_wg_peer_take_events(p->wg);

	if (ev & FLOE_WG_EV_HANDSHAKE_COMPLETE) {
		floe_wg_peer_stats_t st;
		char ep[FLOE_UDP_ENDPOINT_STR_MAX];

		floe_wg_peer_stats(p->wg, &st);
		floe_udp_endpoint_format(&p->endpoint, ep, sizeof(ep));
		floe_log(FLOE_LOG_INFO, LOG_TARGET, "Handshake completed", FLOE_F_U64("peer", p->id),
			 FLOE_F_STR("endpoint", ep), FLOE_F_U64("handshakes", st.handshakes_completed),
			 FLOE_F_U64("staged", floe_pktring_count(p->staged)));
		flush_staged(s, p, now);
		/* After the flush: with nothing sent, the initiator confirms the
		 * session with a keepalive from tick (wg.h). */
		run_timers(s, p, now);
	}
	if (ev & FLOE_WG_EV_GAVE_UP) {
		size_t n = floe_pktring_clear(p->staged);

		floe_log(FLOE_LOG_INFO, LOG_TARGET, "Handshake gave up", FLOE_F_U64("peer", p->id),
			 FLOE_F_U64("dropped_staged", n));
	}
	if (ev & FLOE_WG_EV_KEYS_ZEROED)
		floe_log(FLOE_LOG_DEBUG, LOG_TARGET, "Session keys zeroed", FLOE_F_U64("peer", p->id));
}

static void start_handshake(fwg_t *s, fwg_peer_t *p, uint64_t now)
{
	ssize_t r;

	if (!p->endpoint_len)
		return;
	r = floe_wg_peer_initiate(p->wg, now, tx_slot(s), FWG_TX_BUF_BYTES);
	if (r > 0)
		tx_to_peer(s, p, (size_t)r);
}

/* ---- packet paths ---- */

static fwg_peer_t *peer_of(fwg_t *s, const floe_wg_peer_t *wg)
{
	for (size_t i = 0; i < s->n_peers; i++)
		if (s->peers[i].wg == wg)
			return &s->peers[i];
	return NULL;
}

static void handle_tun_packet(fwg_t *s, const uint8_t *pkt, size_t len, uint64_t now)
{
	const uint8_t *dst;
	int family;
	fwg_peer_t *p;
	ssize_t r;

	if (floe_ip_packet_dst(pkt, len, &family, &dst) != 0) {
		s->malformed_drops++;
		return;
	}
	p = floe_allowedips_lookup(s->routes, family, dst);
	if (!p) {
		s->unknown_dst_drops++;
		floe_log_ratelimited(FLOE_LOG_DEBUG, LOG_TARGET, "No peer for destination, dropped",
				     FLOE_F_U64("dropped_unknown_destination", s->unknown_dst_drops));
		return;
	}
	if (floe_pktring_count(p->staged)) { /* keep order behind packets already waiting */
		flush_staged(s, p, now);
		if (floe_pktring_count(p->staged)) {
			(void)floe_pktring_push(p->staged, pkt, len); /* drops are counted */
			return;
		}
	}
	r = floe_wg_peer_encrypt(p->wg, now, pkt, len, tx_slot(s), FWG_TX_BUF_BYTES);
	if (r > 0) {
		tx_to_peer(s, p, (size_t)r);
	} else if (r == -ENOKEY) {
		(void)floe_pktring_push(p->staged, pkt, len); /* drops are counted */
		start_handshake(s, p, now);
	} else {
		s->malformed_drops++;
	}
}

/* Writes what the GRO gathered (one write for up to 64 KiB of TCP). */
static void tun_flush(fwg_t *s)
{
	size_t len;
	const uint8_t *f = floe_offload_gro_take(&s->gro, &len);

	if (f && floe_tun_write_frame(s->tun, f, len) < 0 && s->gro_peer)
		s->gro_peer->c.tun_write_drops++;
	s->gro_peer = NULL;
}

/* With offloads, consecutive TCP segments of one flow become one write;
 * anything else flushes what was gathered first, so order is kept. */
static void tun_gather(fwg_t *s, fwg_peer_t *p, const uint8_t *pkt, size_t len)
{
	int r = floe_offload_gro_add(&s->gro, pkt, len);

	if (r == -EAGAIN) {
		tun_flush(s);
		r = floe_offload_gro_add(&s->gro, pkt, len);
	}
	if (r == 0) {
		s->gro_peer = p;
		return;
	}
	tun_flush(s);
	if (floe_tun_write(s->tun, pkt, len) < 0)
		p->c.tun_write_drops++;
}

static void handle_tunnel_packet(fwg_t *s, fwg_peer_t *p, const uint8_t *pkt, size_t len)
{
	const uint8_t *src;
	int family, r;

	/* Cryptokey routing: a peer may only send from its AllowedIPs. */
	if (floe_ip_packet_src(pkt, len, &family, &src) != 0 ||
	    floe_allowedips_lookup(s->routes, family, src) != p) {
		p->c.source_drops++;
		floe_log_ratelimited(FLOE_LOG_DEBUG, LOG_TARGET,
				     "Packet source not in the peer's AllowedIPs, dropped",
				     FLOE_F_U64("peer", p->id), FLOE_F_U64("source_drops", p->c.source_drops));
		return;
	}
	if (floe_tun_offload(s->tun)) {
		tun_gather(s, p, pkt, len);
		return;
	}
	r = floe_tun_write(s->tun, pkt, len);
	if (r < 0)
		p->c.tun_write_drops++;
}

/* Authenticated input from a new address: the peer moved (roaming). */
static void roam(fwg_peer_t *p, const floe_udp_dgram_t *d)
{
	char ep[FLOE_UDP_ENDPOINT_STR_MAX];

	if (p->endpoint_len && floe_udp_endpoint_equal(&p->endpoint, &d->addr))
		return;
	memcpy(&p->endpoint, &d->addr, d->addr_len);
	p->endpoint_len = d->addr_len;
	p->c.endpoint_changes++;
	floe_udp_endpoint_format(&p->endpoint, ep, sizeof(ep));
	floe_log_ratelimited(FLOE_LOG_INFO, LOG_TARGET, "Peer endpoint changed",
			     FLOE_F_U64("peer", p->id), FLOE_F_STR("endpoint", ep));
}

/* 0: go on; otherwise the datagram was answered (cookie) or dropped. */
static ssize_t admit(fwg_t *s, const floe_udp_dgram_t *d, uint64_t now)
{
	floe_wg_ratelimit_key_t key;
	bool have_key = floe_wg_ratelimit_key_from_sockaddr(&key, (const struct sockaddr *)&d->addr,
							   d->addr_len) == 0;
	uint8_t *out = tx_slot(s);
	ssize_t r = floe_wg_device_admit(s->dev, now, &d->addr, d->addr_len, have_key ? &key : NULL,
					 d->buf, d->len, out, FWG_TX_BUF_BYTES);

	if (r > 0)
		tx_commit(s, (size_t)r, &d->addr, d->addr_len);
	else if (r < 0)
		floe_log_ratelimited(FLOE_LOG_DEBUG, LOG_TARGET, "Handshake not admitted",
				     FLOE_F_I64("error", r));
	return r;
}

static void handle_datagram(fwg_t *s, const floe_udp_dgram_t *d, uint64_t now)
{
	floe_wg_out_t kind = FLOE_WG_OUT_NONE;
	floe_wg_peer_t *wg;
	fwg_peer_t *p;
	uint8_t *out;
	ssize_t r;

	if (d->len == 0) /* truncated or empty */
		return;
	/* Handshake floods stop here, before the DH that finding the peer
	 * costs: a cookie reply under load, or a drop. */
	r = admit(s, d, now);
	if (r != 0)
		return;
	wg = floe_wg_device_lookup(s->dev, d->buf, d->len);
	p = wg ? peer_of(s, wg) : NULL;
	if (!p) {
		floe_log_ratelimited(FLOE_LOG_DEBUG, LOG_TARGET, "Datagram for no known peer, dropped",
				     FLOE_F_U64("device_drops", floe_wg_device_drops(s->dev)));
		return;
	}
	/* Decrypt straight into the next send slot: a handshake response then
	 * needs no copy, and a data packet goes to the TUN from there. */
	out = tx_slot(s);
	r = floe_wg_peer_receive(p->wg, now, &d->addr, d->addr_len, d->buf, d->len, out,
				 FWG_TX_BUF_BYTES, &kind);
	if (r < 0) {
		floe_log_ratelimited(FLOE_LOG_DEBUG, LOG_TARGET, "Datagram rejected",
				     FLOE_F_U64("peer", p->id), FLOE_F_I64("error", r));
		return;
	}
	/* A cookie reply proves nothing about where the peer lives. */
	if (d->buf[0] != FLOE_WG_MSG_COOKIE_REPLY)
		roam(p, d);
	if (kind == FLOE_WG_OUT_NETWORK)
		tx_commit(s, (size_t)r, &d->addr, d->addr_len);
	else if (kind == FLOE_WG_OUT_TUNNEL)
		handle_tunnel_packet(s, p, out, (size_t)r);
	handle_events(s, p, now);
}

static void read_udp(fwg_t *s)
{
	for (int b = 0; b < FWG_WAKE_MAX_BATCHES; b++) {
		int n = floe_udp_recv_batch(s->udp, s->udp_rx, FLOE_UDP_BATCH_MAX);
		uint64_t now = now_ns();

		for (int i = 0; i < n; i++)
			handle_datagram(s, &s->udp_rx[i], now);
		tun_flush(s);
		if (n < FLOE_UDP_BATCH_MAX) /* drained (or an error: poll tells again) */
			break;
	}
}

static int emit_tun_segment(void *ctx, const uint8_t *pkt, size_t len)
{
	fwg_t *s = ctx;

	handle_tun_packet(s, pkt, len, s->now);
	return 0;
}

/* With offloads one read may be a 64 KiB TCP frame: split it into MTU-sized
 * packets with complete checksums, as a stock WireGuard peer expects. */
static void handle_tun_frame(fwg_t *s, const uint8_t *frame, size_t len, uint64_t now)
{
	int r;

	if (!floe_tun_offload(s->tun)) {
		handle_tun_packet(s, frame, len, now);
		return;
	}
	s->now = now;
	r = floe_offload_split(frame, len, s->seg, FWG_SEG_BUF_BYTES, emit_tun_segment, s);
	if (r < 0) {
		s->offload_drops++;
		floe_log_ratelimited(FLOE_LOG_DEBUG, LOG_TARGET, "TUN frame not split, dropped",
				     FLOE_F_I64("error", r), FLOE_F_U64("offload_drops", s->offload_drops));
	}
}

static void read_tun(fwg_t *s)
{
	for (int b = 0; b < FWG_WAKE_MAX_BATCHES; b++) {
		for (int i = 0; i < FLOE_TUN_BATCH_MAX; i++)
			s->tun_rx[i].cap = FWG_TUN_BUF_BYTES;
		int n = floe_tun_read_batch(s->tun, s->tun_rx, FLOE_TUN_BATCH_MAX);
		uint64_t now = now_ns();

		if (n < 0 && n != -EAGAIN && n != -EINTR) {
			/* The interface is gone (deleted, or its namespace was):
			 * poll would report it readable forever. Stop instead of
			 * spinning. */
			floe_log(FLOE_LOG_ERROR, LOG_TARGET, "TUN device failed, stopping",
				 FLOE_F_STR("error", strerror(-n)));
			s->running = false;
			s->exit_code = 1;
			return;
		}
		for (int i = 0; i < n; i++)
			handle_tun_frame(s, s->tun_rx[i].buf, s->tun_rx[i].len, now);
		if (n < FLOE_TUN_BATCH_MAX)
			break;
	}
}

static void run_due_timers(fwg_t *s)
{
	uint64_t now = now_ns();

	for (size_t i = 0; i < s->n_peers; i++) {
		fwg_peer_t *p = &s->peers[i];

		if (floe_wg_peer_next_deadline_ns(p->wg) <= now) {
			run_timers(s, p, now);
			handle_events(s, p, now);
		}
	}
}

static void handle_signal(fwg_t *s)
{
	struct signalfd_siginfo si;
	uint64_t now;

	if (read(s->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR1) {
		floe_log(FLOE_LOG_INFO, LOG_TARGET, "Forced rekey requested",
			 FLOE_F_U64("peers", s->n_peers));
		now = now_ns();
		for (size_t i = 0; i < s->n_peers; i++) {
			floe_wg_peer_request_rekey(s->peers[i].wg);
			run_timers(s, &s->peers[i], now);
		}
		return;
	}
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Shutting down",
		 FLOE_F_STR("signal", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT"));
	s->running = false;
}

static int poll_timeout_ms(const fwg_t *s)
{
	uint64_t next = UINT64_MAX, now;

	for (size_t i = 0; i < s->n_peers; i++) {
		uint64_t d = floe_wg_peer_next_deadline_ns(s->peers[i].wg);

		if (d < next)
			next = d;
	}
	if (next == UINT64_MAX)
		return -1;
	now = now_ns();
	if (next <= now)
		return 0;
	/* Round up: waking a little late is fine, early would spin. */
	uint64_t ms = (next - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void run(fwg_t *s)
{
	struct pollfd fds[3] = {
		{ .fd = s->sigfd, .events = POLLIN },
		{ .fd = floe_udp_fd(s->udp), .events = POLLIN },
		{ .fd = floe_tun_fd(s->tun), .events = POLLIN },
	};

	s->running = true;
	while (s->running) {
		int n = poll(fds, FLOE_ARRAY_LEN(fds), poll_timeout_ms(s));

		if (n < 0 && errno != EINTR) {
			floe_log(FLOE_LOG_ERROR, LOG_TARGET, "poll failed", FLOE_F_STR("error", strerror(errno)));
			break;
		}
		if (n > 0 && fds[0].revents)
			handle_signal(s);
		if (n > 0 && fds[1].revents)
			read_udp(s);
		if (n > 0 && fds[2].revents)
			read_tun(s);
		run_due_timers(s);
		tx_flush(s);
	}
}

/* ---- set-up and tear-down ---- */

static int alloc_buffers(fwg_t *s)
{
	s->seg = malloc(FWG_SEG_BUF_BYTES + FLOE_OFFLOAD_GRO_BUF_BYTES);
	if (!s->seg)
		return -ENOMEM;
	floe_offload_gro_init(&s->gro, s->seg + FWG_SEG_BUF_BYTES);
	for (size_t i = 0; i < FLOE_TUN_BATCH_MAX; i++) {
		s->tun_rx[i].buf = malloc(FWG_TUN_BUF_BYTES);
		if (!s->tun_rx[i].buf)
			return -ENOMEM;
		s->tun_rx[i].cap = FWG_TUN_BUF_BYTES;
	}
	for (size_t i = 0; i < FLOE_UDP_BATCH_MAX; i++) {
		s->udp_rx[i].buf = malloc(FWG_RX_BUF_BYTES);
		s->udp_tx[i].buf = malloc(FWG_TX_BUF_BYTES);
		if (!s->udp_rx[i].buf || !s->udp_tx[i].buf)
			return -ENOMEM;
		s->udp_rx[i].cap = FWG_RX_BUF_BYTES;
		s->udp_tx[i].cap = FWG_TX_BUF_BYTES;
	}
	return 0;
}

/* Creates the engine peers and the AllowedIPs table. On error writes a
 * FILE:LINE message naming the peer's config. */
static int setup_peers(fwg_t *s, const char *path, char *err, size_t cap)
{
	const floe_wgconf_t *c = s->conf;

	s->peers = calloc(c->n_peers ? c->n_peers : 1, sizeof(*s->peers));
	s->routes = floe_allowedips_new();
	if (!s->peers || !s->routes)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_peers; i++) {
		const floe_wgconf_peer_t *pc = &c->peers[i];
		fwg_peer_t *p = &s->peers[i];
		floe_wg_peer_config_t cfg = { .persistent_keepalive_s = pc->persistent_keepalive_s };

		memcpy(cfg.public_key, pc->public_key, FLOE_WG_KEY_LEN);
		if (pc->flags & FLOE_WGCONF_HAS_PRESHARED_KEY)
			memcpy(cfg.preshared_key, pc->preshared_key, FLOE_WG_KEY_LEN);
		p->wg = floe_wg_peer_new(s->dev, &cfg);
		sodium_memzero(&cfg, sizeof(cfg));
		if (!p->wg) {
			int e = errno ? errno : ENOMEM;

			snprintf(err, cap, "%s:%d: PublicKey: peer refused (%s)", path, pc->line,
				 e == EINVAL ? "low-order key, or the interface's own key" : strerror(e));
			return -e;
		}
		s->n_peers++;
		p->id = (unsigned)i + 1;
		if (pc->flags & FLOE_WGCONF_HAS_ENDPOINT) {
			p->endpoint = pc->endpoint;
			p->endpoint_len = pc->endpoint_len;
		}
		/* The TUN hands out packets up to the MTU. */
		p->staged = floe_pktring_new(FWG_MAX_STAGED_PACKETS, s->mtu);
		if (!p->staged)
			return -ENOMEM;
		for (size_t k = 0; k < pc->n_allowed_ips; k++) {
			int r = floe_allowedips_insert(s->routes, &pc->allowed_ips[k], p);

			if (r) {
				snprintf(err, cap, "%s:%d: AllowedIPs: %s", path, pc->line, strerror(-r));
				return r;
			}
		}
	}
	return 0;
}

/* Brings the TUN up with its addresses and a route per AllowedIPs prefix. */
static int setup_tun(fwg_t *s, const char *ifname, bool offload, char *err, size_t cap)
{
	const floe_wgconf_t *c = s->conf;
	char cidr[FLOE_CIDR_STR_MAX];
	int r = 0;

	s->tun = floe_tun_new_flags(ifname, offload ? FLOE_TUN_F_OFFLOAD : 0, &r);
	if (!s->tun && offload) {
		/* A kernel without TUN offloads: one packet per read then. */
		floe_log(FLOE_LOG_INFO, LOG_TARGET, "TUN offloads refused, running without",
			 FLOE_F_STR("error", strerror(-r)));
		s->tun = floe_tun_new(ifname, &r);
	}
	if (!s->tun) {
		snprintf(err, cap, "cannot create TUN '%s': %s", ifname, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < c->n_addresses; i++) {
		r = floe_tun_add_address(s->tun, &c->addresses[i]);
		if (r && r != -EEXIST) {
			floe_cidr_format(&c->addresses[i], cidr, sizeof(cidr));
			snprintf(err, cap, "cannot add address %s to %s: %s", cidr, ifname, strerror(-r));
			return r;
		}
	}
	/* Up before routes: the kernel refuses a route through a down link. */
	r = floe_tun_set_up(s->tun, s->mtu);
	if (r) {
		snprintf(err, cap, "cannot bring %s up (MTU %u): %s", ifname, s->mtu, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < c->n_peers; i++) {
		for (size_t k = 0; k < c->peers[i].n_allowed_ips; k++) {
			const floe_cidr_t *a = &c->peers[i].allowed_ips[k];

			r = floe_tun_add_route(s->tun, a);
			floe_cidr_format(a, cidr, sizeof(cidr));
			if (r == -EEXIST) {
				/* Already routed (e.g. inside an Address prefix, or
				 * a default route exists): leave the table as it is. */
				floe_log(FLOE_LOG_INFO, LOG_TARGET, "Route exists, not added",
					 FLOE_F_STR("prefix", cidr));
			} else if (r) {
				snprintf(err, cap, "cannot add route %s via %s: %s", cidr, ifname,
					 strerror(-r));
				return r;
			}
		}
	}
	return 0;
}

static int setup_signals(fwg_t *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	/* Blocked, so they queue on the signalfd and the loop sees them. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return s->sigfd < 0 ? -errno : 0;
}

static void log_final_stats(const fwg_t *s)
{
	floe_wg_device_stats_t ds;

	floe_wg_device_stats(s->dev, &ds);
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Device stats",
		 FLOE_F_U64("handshakes_seen", ds.handshakes_seen),
		 FLOE_F_U64("cookie_replies_sent", ds.cookie_replies_sent),
		 FLOE_F_U64("ratelimited_drops", ds.ratelimited_drops),
		 FLOE_F_U64("mac1_drops", ds.mac1_drops),
		 FLOE_F_U64("under_load_entered", ds.under_load_entered),
		 FLOE_F_U64("device_drops", floe_wg_device_drops(s->dev)),
		 FLOE_F_U64("tx_drops", s->tx_drops),
		 FLOE_F_U64("offload_drops", s->offload_drops));
	for (size_t i = 0; i < s->n_peers; i++) {
		const fwg_peer_t *p = &s->peers[i];
		floe_wg_peer_stats_t st;

		floe_wg_peer_stats(p->wg, &st);
		floe_log(FLOE_LOG_INFO, LOG_TARGET, "Peer stats", FLOE_F_U64("peer", p->id),
			 FLOE_F_U64("handshakes_completed", st.handshakes_completed),
			 FLOE_F_U64("rx_packets", st.rx_packets), FLOE_F_U64("tx_packets", st.tx_packets),
			 FLOE_F_U64("decrypt_errors", st.decrypt_errors),
			 FLOE_F_U64("replay_drops", st.replay_drops),
			 FLOE_F_U64("staged_drops", floe_pktring_drops(p->staged)),
			 FLOE_F_U64("source_drops", p->c.source_drops),
			 FLOE_F_U64("endpoint_changes", p->c.endpoint_changes));
	}
}

static void teardown(fwg_t *s)
{
	for (size_t i = 0; i < s->n_peers; i++) {
		floe_wg_peer_destroy(&s->peers[i].wg);
		floe_pktring_destroy(&s->peers[i].staged);
	}
	free(s->peers);
	floe_allowedips_destroy(&s->routes);
	floe_wg_device_destroy(&s->dev);
	floe_udp_destroy(&s->udp);
	floe_tun_destroy(&s->tun);
	if (s->sigfd >= 0)
		close(s->sigfd);
	for (size_t i = 0; i < FLOE_TUN_BATCH_MAX; i++)
		free(s->tun_rx[i].buf);
	/* The GRO buffer held decrypted plaintext: wipe before freeing. */
	if (s->seg)
		sodium_memzero(s->seg, FWG_SEG_BUF_BYTES + FLOE_OFFLOAD_GRO_BUF_BYTES);
	free(s->seg);
	for (size_t i = 0; i < FLOE_UDP_BATCH_MAX; i++) {
		free(s->udp_rx[i].buf);
		/* Send slots held decrypted plaintext: wipe before freeing. */
		if (s->udp_tx[i].buf)
			sodium_memzero(s->udp_tx[i].buf, FWG_TX_BUF_BYTES);
		free(s->udp_tx[i].buf);
	}
	floe_wgconf_destroy(&s->conf);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: floe-wg --config FILE [--interface NAME] [--no-offload]\n"
		   "Runs one WireGuard interface from a wg-quick-style file until SIGTERM/SIGINT;\n"
		   "SIGUSR1 forces a new handshake with every peer.\n"
		   "--no-offload reads the TUN one packet at a time (no TSO; for comparison).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "interface", required_argument, NULL, 'i' },
		{ "no-offload", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	fwg_t s = { .sigfd = -1 };
	const char *path = NULL, *ifname_opt = NULL;
	char ifname[IFNAMSIZ], err[FLOE_WGCONF_ERR_MAX] = "";
	int opt, r, ret = 1;
	bool no_offload = false;

	while ((opt = getopt_long(argc, argv, "c:i:hO", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'i': ifname_opt = optarg; break;
		case 'O': no_offload = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 1;
	}
	if (ifname_opt) {
		if (strlen(ifname_opt) > FLOE_TUN_NAME_MAX || !*ifname_opt) {
			fprintf(stderr, "floe-wg: --interface: '%s' is not a valid interface name\n",
				ifname_opt);
			return 1;
		}
		snprintf(ifname, sizeof(ifname), "%s", ifname_opt);
	} else if (floe_wgconf_ifname_from_path(path, ifname, sizeof(ifname)) != 0) {
		fprintf(stderr, "floe-wg: cannot name the interface after '%s': use --interface NAME\n",
			path);
		return 1;
	}
	floe_log_init();

	s.conf = floe_wgconf_load(path, err, sizeof(err));
	if (!s.conf)
		goto out;
	s.mtu = (s.conf->flags & FLOE_WGCONF_HAS_MTU) ? s.conf->mtu : FWG_DEFAULT_MTU;
	s.dev = floe_wg_device_new(s.conf->private_key);
	if (!s.dev || alloc_buffers(&s) != 0) {
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	/* The engine holds its own copy now. */
	sodium_memzero(s.conf->private_key, sizeof(s.conf->private_key));
	if (setup_peers(&s, path, err, sizeof(err)) != 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	if (setup_tun(&s, ifname, !no_offload, err, sizeof(err)) != 0)
		goto out;
	s.udp = floe_udp_new(s.conf->listen_port, &r);
	if (!s.udp) {
		snprintf(err, sizeof(err), "cannot bind UDP port %u: %s", s.conf->listen_port,
			 strerror(-r));
		goto out;
	}
	r = setup_signals(&s);
	if (r) {
		snprintf(err, sizeof(err), "signalfd: %s", strerror(-r));
		goto out;
	}
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Interface up", FLOE_F_STR("interface", ifname),
		 FLOE_F_U64("listen_port", floe_udp_port(s.udp)), FLOE_F_U64("mtu", s.mtu),
		 FLOE_F_U64("peers", s.n_peers),
		 FLOE_F_STR("offload", floe_tun_offload(s.tun) ? "tso" : "none"));

	/* A persistent keepalive means "keep this path open from the start":
	 * handshake at once, as WireGuard does when the option is set. */
	uint64_t now = now_ns();
	for (size_t i = 0; i < s.n_peers; i++)
		if (s.conf->peers[i].flags & FLOE_WGCONF_HAS_KEEPALIVE)
			start_handshake(&s, &s.peers[i], now);
	tx_flush(&s);

	run(&s);
	log_final_stats(&s);
	ret = s.exit_code;
	if (ret)
		snprintf(err, sizeof(err), "the TUN device failed");
out:
	if (ret)
		fprintf(stderr, "floe-wg: %s\n", err[0] ? err : "failed");
	teardown(&s);
	return ret;
}
