/*
 * ICE agent: a thin layer over one libnice NiceAgent per connection.
 *
 * Threading. The agent is created, used and destroyed on ONE thread: the
 * connection actor's. That thread owns the agent's private GMainContext
 * (acquired once in floe_ice_agent_new, released in destroy) and drives it
 * from its own poll loop, beside its mailbox:
 *
 *	struct pollfd fds[1 + FLOE_ICE_POLL_MAX_FDS];
 *	fds[0] = mailbox;
 *	int timeout = next_deadline_ms;
 *	int n = floe_ice_agent_poll_prepare(ice, fds + 1, FLOE_ICE_POLL_MAX_FDS, &timeout);
 *	poll(fds, 1 + n, timeout);
 *	floe_ice_agent_poll_dispatch(ice, fds + 1, n);
 *
 * This module never creates a thread and never runs a GMainLoop. Every
 * callback runs on that thread: from floe_ice_agent_poll_dispatch (or
 * _iterate), or from inside the floe_ice_agent_* call that caused it
 * (libnice announces host candidates from inside gather); never after
 * floe_ice_agent_destroy. Because the receiving
 * thread owns the context, libnice hands each datagram to on_recv straight
 * from its receive buffer (no per-packet copy; see docs/ice.md).
 *
 * File descriptors (measured in tests/ice): two eventfds (our context's
 * wakeup, and the private context libnice creates in every component) and
 * one UDP socket per local address; TURN runs over that socket.
 */
#ifndef FLOE_TRANSPORT_ICE_AGENT_H
#define FLOE_TRANSPORT_ICE_AGENT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "runtime/common.h"

enum floe_ice_limits {
	/* Default time from floe_ice_agent_gather to a selected pair. */
	FLOE_ICE_FAILURE_TIMEOUT_DEFAULT_MS = 10000,
	FLOE_ICE_FAILURE_TIMEOUT_MIN_MS = 100,
	FLOE_ICE_FAILURE_TIMEOUT_MAX_MS = 600000,
	/* Enough for the agent's sockets and GLib's wakeup fd. */
	FLOE_ICE_POLL_MAX_FDS = 16,
	FLOE_ICE_MAX_LOCAL_ADDRS = 8,
	FLOE_ICE_MAX_TURN_SERVERS = 4,
	/* Remote candidates held until remote credentials arrive. */
	FLOE_ICE_MAX_PENDING_REMOTE = 64,
	/* An SDP candidate attribute longer than this is rejected unparsed. */
	FLOE_ICE_CANDIDATE_MAX_BYTES = 512,
	/* RFC 8445 5.3: ufrag 4..256 ice-chars, pwd 22..256 ice-chars. */
	FLOE_ICE_UFRAG_MIN_BYTES = 4,
	FLOE_ICE_PWD_MIN_BYTES = 22,
	FLOE_ICE_CRED_MAX_BYTES = 256,
	/* "[v6-address%scope]:65535" with room to spare. */
	FLOE_ICE_ADDR_STR_BYTES = 64,
	/* Datagrams handed to libnice per sendmmsg-backed call. */
	FLOE_ICE_SEND_BATCH_MAX = 64,
};

typedef struct floe_ice_agent floe_ice_agent_t;

typedef enum {
	FLOE_ICE_CONTROLLING = 0, /* the client */
	FLOE_ICE_CONTROLLED = 1,  /* the gateway */
} floe_ice_role_t;

/*
 * Keepalive / consent on the selected pair (libnice 0.1.21's constants, not
 * tunable; read in its agent/conncheck.c and measured, docs/nat.md):
 * CONSENT: RFC 7675 consent freshness: a binding request every 4-6 s
 *   (randomised) from each end, each answered; the pair fails when no
 *   answer came for 10 s or at once on an authenticated error. libnice
 *   fixes it at agent creation (construct-only property). Default.
 * RELAXED: one binding indication (no answer) per 25 s (Tr) from each end:
 *   it keeps the NAT binding and nothing else; the pair never fails after
 *   selection. The nodes use it: liveness and the idle keepalive come
 *   from WireGuard (actors/idle.h). (libnice's "keepalive-conncheck"
 *   would send requests every 4-6 s, failing after 50 s: no fewer
 *   datagrams than CONSENT, so it is off.)
 */
typedef enum {
	FLOE_ICE_KEEPALIVE_CONSENT = 0,
	FLOE_ICE_KEEPALIVE_RELAXED = 1,
} floe_ice_keepalive_t;

typedef enum {
	FLOE_ICE_CAND_HOST = 0,
	FLOE_ICE_CAND_SRFLX,
	FLOE_ICE_CAND_PRFLX,
	FLOE_ICE_CAND_RELAY,
} floe_ice_cand_type_t;

/* TURN over UDP. host is a numeric IPv4/IPv6 address. */
typedef struct {
	const char *host;
	uint16_t port;
	const char *username;
	const char *password;
} floe_ice_turn_server_t;

/* Plain data; copied by floe_ice_agent_new, so it may live on the stack. */
typedef struct {
	floe_ice_role_t role;
	/* Optional STUN server (numeric address; port 0 = 3478). Ignored when
	 * a TURN server is configured: TURN's allocation already yields the
	 * server-reflexive address, and libnice's gathering stalls ~2 s with
	 * both (docs/ice.md). */
	const char *stun_host;
	uint16_t stun_port;
	const floe_ice_turn_server_t *turn;
	size_t n_turn;
	/* Numeric local addresses. When given, only these are used (loopback
	 * and namespace tests); when empty, libnice enumerates interfaces and
	 * skips loopback. */
	const char *const *local_addrs;
	size_t n_local_addrs;
	/* Gather relay candidates only (libnice "force-relay"). */
	bool relay_only;
	/* No selected pair this long after gather -> on_failed. 0 = default. */
	uint32_t failure_timeout_ms;
	/* STUN tuning for lossy links; 0 = libnice's default (7, 200 ms). */
	uint32_t stun_max_retransmissions;
	uint32_t stun_initial_timeout_ms;
	floe_ice_keepalive_t keepalive;
} floe_ice_config_t;

/* Why a connection is relayed (docs/nat.md); NONE when it is not. The agent
 * sets NO_DIRECT_PAIR, SYMMETRIC_NAT or RELAY_ONLY; the connection may set
 * DIRECT_PATH_LOST when it replaced one whose direct path died. */
typedef enum {
	FLOE_ICE_RELAY_REASON_NONE = 0,
	FLOE_ICE_RELAY_REASON_NO_DIRECT_PAIR,
	FLOE_ICE_RELAY_REASON_SYMMETRIC_NAT,
	FLOE_ICE_RELAY_REASON_DIRECT_PATH_LOST,
	FLOE_ICE_RELAY_REASON_RELAY_ONLY,
} floe_ice_relay_reason_t;

typedef struct {
	floe_ice_cand_type_t local_type;
	floe_ice_cand_type_t remote_type;
	char local_addr[FLOE_ICE_ADDR_STR_BYTES];  /* "127.0.0.1:40000", "[::1]:40000" */
	char remote_addr[FLOE_ICE_ADDR_STR_BYTES];
	/* Endpoint-dependent mapping seen at selection (transport/ice/natdetect.h). */
	bool local_symmetric_nat;
	bool remote_symmetric_nat;
	floe_ice_relay_reason_t relay_reason;
} floe_ice_path_t;

/* Every member may be NULL. All run on the owning thread, from dispatch. */
typedef struct {
	/* One local candidate, SDP attribute form ("a=candidate:..."), to be
	 * trickled to the peer as soon as it appears. */
	void (*on_local_candidate)(void *user, const char *sdp_line);
	void (*on_gathering_done)(void *user);
	/* A pair was selected; called again only if libnice switches pairs. */
	void (*on_selected)(void *user, const floe_ice_path_t *path);
	/* Terminal: ICE failed, consent was lost, or the failure timeout hit
	 * before a pair was selected. Called at most once. */
	void (*on_failed)(void *user, const char *reason);
	/* One datagram. BORROWED: buf is valid only during the call; decrypt
	 * from it or copy it into a pooled buffer before returning. */
	void (*on_recv)(void *user, const uint8_t *buf, size_t len);
} floe_ice_callbacks_t;

typedef struct {
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_errors;            /* datagrams libnice refused */
	uint64_t bad_candidates;       /* malformed remote candidate lines */
	uint64_t bad_credentials;      /* malformed remote ufrag/pwd */
	uint64_t ignored_candidates;   /* after selection, non-UDP, or queue full */
} floe_ice_stats_t;

/* NULL on bad config (logged) or failure. Acquires a new GMainContext for
 * the calling thread, which must then be the only one to use the agent. */
FLOE_EXPORT floe_ice_agent_t *floe_ice_agent_new(const floe_ice_config_t *cfg,
						 const floe_ice_callbacks_t *cb, void *user);
/* Idempotent, accepts NULL, nulls *self_p. Safe from inside a callback
 * (destruction then completes when dispatch returns). No callback after. */
FLOE_EXPORT void floe_ice_agent_destroy(floe_ice_agent_t **self_p);

/* Starts gathering and the failure timer. Once; -EALREADY after. */
FLOE_EXPORT int floe_ice_agent_gather(floe_ice_agent_t *self);
/* ufrag_out/pwd_out must hold FLOE_ICE_CRED_MAX_BYTES + 1. */
FLOE_EXPORT int floe_ice_agent_local_credentials(floe_ice_agent_t *self,
						 char *ufrag_out, char *pwd_out);
/* Remote input: -EINVAL on malformed values (counted), -EALREADY if set. */
FLOE_EXPORT int floe_ice_agent_set_remote_credentials(floe_ice_agent_t *self,
						      const char *ufrag, const char *pwd);
/*
 * Remote input, accepted at any time. Before remote credentials the
 * candidate is held (bounded); after a pair is selected it is ignored.
 * Returns 0 (also when ignored, counted), -EINVAL on a malformed line
 * (counted), -EPROTONOSUPPORT for non-UDP candidates (counted).
 */
FLOE_EXPORT int floe_ice_agent_add_remote_candidate(floe_ice_agent_t *self,
						    const char *sdp_line);
/* The peer will send no more candidates: lets libnice fail early. */
FLOE_EXPORT int floe_ice_agent_remote_gathering_done(floe_ice_agent_t *self);

/* 0, -ENOTCONN before a pair is selected, -EAGAIN, -EMSGSIZE, -EIO. */
FLOE_EXPORT int floe_ice_agent_send(floe_ice_agent_t *self, const uint8_t *buf, size_t len);
/* Number of datagrams sent (in order, a prefix of pkts), or -errno when
 * none could be. Uses sendmmsg through libnice. */
FLOE_EXPORT int floe_ice_agent_send_batch(floe_ice_agent_t *self,
					  const struct iovec *pkts, int n);

/* 0, or -ENOTCONN when no pair is selected. */
FLOE_EXPORT int floe_ice_agent_selected_path(floe_ice_agent_t *self, floe_ice_path_t *out);
FLOE_EXPORT void floe_ice_agent_stats(const floe_ice_agent_t *self, floe_ice_stats_t *out);
FLOE_EXPORT const char *floe_ice_cand_type_name(floe_ice_cand_type_t type);
/* "none", "no_direct_pair", "symmetric_nat", "direct_path_lost", "relay_only". */
FLOE_EXPORT const char *floe_ice_relay_reason_name(floe_ice_relay_reason_t reason);

/*
 * Poll integration (see top of file). prepare returns the number of fds
 * written (or -ENOBUFS when more than cap are needed: retry with a larger
 * array) and lowers *timeout_ms (-1 = infinite) to GLib's next timeout.
 * dispatch takes the same fds with revents filled in by poll(2).
 */
FLOE_EXPORT int floe_ice_agent_poll_prepare(floe_ice_agent_t *self, struct pollfd *fds,
					    int cap, int *timeout_ms);
FLOE_EXPORT void floe_ice_agent_poll_dispatch(floe_ice_agent_t *self,
					      struct pollfd *fds, int nfds);
/* prepare + poll + dispatch once, waiting at most timeout_ms. For tests
 * that drive several agents from one thread. 0 or -errno. */
FLOE_EXPORT int floe_ice_agent_iterate(floe_ice_agent_t *self, int timeout_ms);
/* Makes the owner thread's poll on the prepared fds return (GLib's
 * context wake-up): the one call that another thread may make, so a
 * producer can wake the owner without a file descriptor of its own. The
 * caller must keep destroy from running concurrently. NULL: nothing. */
FLOE_EXPORT void floe_ice_agent_wakeup(floe_ice_agent_t *self);

#endif
