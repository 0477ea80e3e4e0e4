/*
 * Per-source handshake rate limiter: a token bucket per source address
 * (IPv4 /32, IPv6 /64: one host usually owns a whole /64, so limiting
 * single IPv6 addresses would let it rotate through 2^64 of them).
 *
 * Memory is bounded: the table never holds more than
 * FLOE_WG_RATELIMIT_MAX_ENTRIES sources; a new source arriving at a full
 * table is refused (counted) rather than evicting someone. Entries whose
 * bucket has been full for FLOE_WG_RATELIMIT_IDLE_S are collected at most
 * every FLOE_WG_RATELIMIT_GC_INTERVAL_S, from inside floe_wg_ratelimit_allow
 * (no thread of its own: time is the caller's, so tests use a manual clock).
 *
 * Thread-safety: every function may be called from any thread (one mutex;
 * the connection actors of a gateway share their device's limiter).
 */
#ifndef FLOE_TRANSPORT_WG_RATELIMIT_H
#define FLOE_TRANSPORT_WG_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "runtime/common.h"

enum floe_wg_ratelimit_limits {
	/* Kernel WireGuard's figures: 20 handshakes per second, burst 5. */
	FLOE_WG_RATELIMIT_PACKETS_PER_S = 20,
	FLOE_WG_RATELIMIT_BURST = 5,
	/* 8192 entries of ~48 bytes plus buckets: < 0.5 MiB at most. */
	FLOE_WG_RATELIMIT_MAX_ENTRIES = 8192,
	FLOE_WG_RATELIMIT_BUCKETS = 2048,    /* power of two */
	FLOE_WG_RATELIMIT_GC_INTERVAL_S = 1,
	FLOE_WG_RATELIMIT_IDLE_S = 1,        /* a full bucket this long holds no state worth keeping */
	FLOE_WG_RATELIMIT_ADDR_LEN = 16,
};

/* A source as the limiter sees it: family plus the address, masked to its prefix. */
typedef struct floe_wg_ratelimit_key {
	uint8_t family;   /* AF_INET or AF_INET6; 0 = unknown (never limited) */
	uint8_t addr[FLOE_WG_RATELIMIT_ADDR_LEN];
} floe_wg_ratelimit_key_t;

typedef struct {
	uint64_t allowed;
	uint64_t limited;      /* refused: the source's bucket was empty */
	uint64_t table_full;   /* refused: a new source and no room for it */
	uint64_t entries;      /* sources held now */
} floe_wg_ratelimit_stats_t;

typedef struct floe_wg_ratelimit floe_wg_ratelimit_t;

/* NULL on allocation failure. */
floe_wg_ratelimit_t *floe_wg_ratelimit_new(void);
/* Idempotent; accepts NULL. */
void floe_wg_ratelimit_destroy(floe_wg_ratelimit_t **self_p);

/*
 * Takes one token from `key`'s bucket at `now_ns` (monotonic). True when
 * the handshake may go on. A NULL key or family 0 is refused (false): a
 * caller that cannot name the source gets no free pass.
 */
FLOE_MUST_CHECK bool floe_wg_ratelimit_allow(floe_wg_ratelimit_t *self, uint64_t now_ns,
                                             const floe_wg_ratelimit_key_t *key);
void floe_wg_ratelimit_stats(floe_wg_ratelimit_t *self, floe_wg_ratelimit_stats_t *out);

/* Fills *key from an AF_INET / AF_INET6 sockaddr (v4-mapped v6 counts as v4). -EAFNOSUPPORT / -EINVAL otherwise. */
int floe_wg_ratelimit_key_from_sockaddr(floe_wg_ratelimit_key_t *key, const struct sockaddr *sa, socklen_t len);
/* Fills *key from "a.b.c.d:port", "[v6]:port", or a bare address. -EINVAL when it is none of these. */
int floe_wg_ratelimit_key_from_string(floe_wg_ratelimit_key_t *key, const char *addr);

#endif
