/*
 * The WireGuard engine, sans-IO: bytes and time in; datagrams to send,
 * decrypted packets and events out. Byte-compatible with WireGuard
 * (Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, whitepaper section 5).
 *
 * A device holds the local static identity: private key, the MAC1 key
 * derived from its public key, the cookie secret (rotated every 2 minutes),
 * the table of receiver indices and the table of peers by public key.
 * A peer holds everything about one remote: handshake state, the previous /
 * current / next keypairs with their replay windows, and the timers.
 *
 * Threading: a device is shared; its tables and cookie secret are protected
 * by the device's own lock and its "under load" flag is atomic. A peer
 * belongs to one thread (its connection actor): no peer function may be
 * called concurrently for the same peer. Different peers of one device may
 * be driven from different threads.
 *
 * Time: every call that needs it takes `now_ns`, a monotonic clock in
 * nanoseconds (the caller's clock, so tests use a manual one). The TAI64N
 * timestamp in initiations comes from CLOCK_REALTIME.
 *
 * Errors: functions that return ssize_t return the number of bytes written
 * to `out` (> 0), 0 when there is nothing to do, or a negative errno. A
 * received datagram that is malformed, unauthenticated, replayed or
 * unexpected is dropped and counted in the peer's stats (or the device's
 * when no peer is known); it is never asserted on and produces no reply
 * unless the whitepaper says so (a cookie reply under load).
 *
 * Secrets: every key buffer is wiped with sodium_memzero on every exit
 * path; MACs are compared in constant time; no key ever reaches the log.
 */
#ifndef FLOE_TRANSPORT_WG_H
#define FLOE_TRANSPORT_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/common.h"

enum floe_wg_limits {
	FLOE_WG_KEY_LEN = 32,
	FLOE_WG_MSG_INITIATION_LEN = 148,
	FLOE_WG_MSG_RESPONSE_LEN = 92,
	FLOE_WG_MSG_COOKIE_REPLY_LEN = 64,
	FLOE_WG_DATA_HEADER_LEN = 16,    /* type, receiver, counter */
	FLOE_WG_DATA_TAG_LEN = 16,       /* Poly1305 */
	FLOE_WG_DATA_OVERHEAD = 32,      /* header + tag, before padding */
	FLOE_WG_PADDING_MULTIPLE = 16,
	FLOE_WG_MAX_PACKET_LEN = 65535,  /* largest plaintext IP packet */
	/* Largest datagram encrypt can produce: packet padded up + overhead. */
	FLOE_WG_MAX_DATAGRAM_LEN = FLOE_WG_MAX_PACKET_LEN + 15 + FLOE_WG_DATA_OVERHEAD,
	FLOE_WG_MAX_SRC_ADDR_LEN = 32,   /* bytes of address fed to the cookie MAC */
};

/* Message types on the wire (first byte, little-endian u32 with 3 zero bytes). */
enum floe_wg_msg_type {
	FLOE_WG_MSG_INITIATION = 1,
	FLOE_WG_MSG_RESPONSE = 2,
	FLOE_WG_MSG_COOKIE_REPLY = 3,
	FLOE_WG_MSG_DATA = 4,
};

typedef struct floe_wg_device floe_wg_device_t;
typedef struct floe_wg_peer floe_wg_peer_t;

/* What a received datagram produced. */
typedef enum {
	FLOE_WG_OUT_NONE = 0,    /* consumed (cookie stored, keepalive, handshake done) */
	FLOE_WG_OUT_NETWORK,     /* out holds a datagram to send to the peer */
	FLOE_WG_OUT_TUNNEL,      /* out holds a decrypted IP packet for the device */
} floe_wg_out_t;

/* Events, read and cleared with floe_wg_peer_take_events(). */
enum floe_wg_event {
	FLOE_WG_EV_HANDSHAKE_COMPLETE = 1u << 0, /* a new session is usable (either role) */
	FLOE_WG_EV_GAVE_UP = 1u << 1,            /* REKEY_ATTEMPT_TIME passed without a session: drop staged packets */
	FLOE_WG_EV_KEYS_ZEROED = 1u << 2,        /* 3 * REJECT_AFTER_TIME without a new session */
};

/* Counters of one peer. Names match the design brief where they exist. */
typedef struct {
	uint64_t handshake_initiations_sent;
	uint64_t handshake_initiations_received;
	uint64_t handshake_responses_sent;
	uint64_t handshake_responses_received;
	uint64_t handshakes_completed;
	uint64_t cookie_replies_sent;
	uint64_t cookie_replies_received;
	uint64_t keepalives_sent;
	uint64_t decrypt_errors;    /* AEAD failure on data or handshake */
	uint64_t replay_drops;      /* counter already seen or too old */
	uint64_t invalid_drops;     /* wrong length / type / index / MAC1, stale timestamp, unexpected */
	uint64_t rx_packets, rx_bytes; /* decrypted data packets (not keepalives), plaintext bytes */
	uint64_t tx_packets, tx_bytes;
	uint64_t last_handshake_ns;    /* monotonic time of the last completed handshake, 0 if none */
} floe_wg_peer_stats_t;

/* Configuration of one peer. Plain data. */
typedef struct {
	uint8_t public_key[FLOE_WG_KEY_LEN];
	uint8_t preshared_key[FLOE_WG_KEY_LEN]; /* all zero = none, as in WireGuard */
	uint16_t persistent_keepalive_s;        /* 0 = off */
	/* Responder-only until established: this peer never sends the first
	 * initiation (no initiate call, no timer, no rekey) until a handshake
	 * it answered has completed. The gateway role sets it (DESIGN.md). */
	bool responder_only;
} floe_wg_peer_config_t;

/*
 * Creates a device from a private key (any 32 bytes; clamped by X25519).
 * Returns NULL on allocation failure.
 */
floe_wg_device_t *floe_wg_device_new(const uint8_t private_key[FLOE_WG_KEY_LEN]);
/* Destroys the device, wiping its keys. All its peers must be destroyed first. */
void floe_wg_device_destroy(floe_wg_device_t **self_p);
void floe_wg_device_public_key(const floe_wg_device_t *self, uint8_t out[FLOE_WG_KEY_LEN]);
/*
 * Under load, initiations and responses need a valid MAC2 or get a cookie
 * reply. true forces the device under load (tests, an operator); false
 * hands the decision back to the rate detector in floe_wg_device_admit.
 */
void floe_wg_device_set_under_load(floe_wg_device_t *self, bool under_load);

/*
 * Handshake load detection (device-wide, with hysteresis): the device
 * counts the MAC1-valid handshake messages passed to floe_wg_device_admit
 * in windows of FLOE_WG_LOAD_WINDOW_MS. It goes under load as soon as one
 * window holds more than FLOE_WG_LOAD_ENTER_PER_S (scaled to the window),
 * and leaves only after a window below FLOE_WG_LOAD_LEAVE_PER_S that ends
 * FLOE_WG_LOAD_HOLD_MS or more after the last window above the entry rate.
 * 1,000/s is far above legitimate use (10,000 peers rekeying every
 * 2 minutes make ~83/s) and costs ~5-10% of a core in DH (~50-100 us each).
 */
enum floe_wg_load_limits {
	FLOE_WG_LOAD_WINDOW_MS = 100,
	FLOE_WG_LOAD_ENTER_PER_S = 1000,
	FLOE_WG_LOAD_LEAVE_PER_S = 250,
	FLOE_WG_LOAD_HOLD_MS = 1000,
};

typedef struct {
	uint64_t handshakes_seen;     /* MAC1-valid initiations/responses admitted or answered */
	uint64_t mac1_drops;          /* handshake messages with a wrong MAC1 */
	uint64_t cookie_replies_sent; /* under load, instead of a DH */
	uint64_t ratelimited_drops;   /* under load, valid MAC2 but the source's bucket was empty */
	uint64_t ratelimit_table_full;/* under load, a new source and the limiter's table full */
	uint64_t under_load_entered;  /* times the detector went under load */
	bool under_load;              /* now */
} floe_wg_device_stats_t;

struct floe_wg_ratelimit_key;

/*
 * Admission of one received datagram, before any DH or peer lookup: call
 * it for every datagram, then go on to lookup/receive only when it returns
 * 0. Data and cookie-reply messages (and wrong lengths, left to the normal
 * path to count) return 0 at once. For an initiation or response:
 *   -EBADMSG  MAC1 wrong (counted): drop;
 *   > 0       under load without a valid MAC2: `out` holds a cookie reply
 *             of that length for `src` (counted); send it, process nothing;
 *   -EBUSY    under load, valid MAC2, but `key`'s source is over its rate
 *             (or new and the limiter's table is full): drop (counted);
 *   -ENOBUFS  cap < FLOE_WG_MSG_COOKIE_REPLY_LEN or src_len too long;
 *   0         go on.
 * `src` are the same address bytes later given to floe_wg_peer_receive
 * (MAC2 covers them); `key` names the source for the per-source limiter
 * (transport/wg/ratelimit.h); NULL means "no address known" and skips
 * the limiter (MAC2 already proved the source can receive). Thread-safe.
 */
ssize_t floe_wg_device_admit(floe_wg_device_t *self, uint64_t now_ns, const void *src, size_t src_len,
                             const struct floe_wg_ratelimit_key *key, const uint8_t *msg, size_t len,
                             uint8_t *out, size_t cap);
void floe_wg_device_stats(floe_wg_device_t *self, floe_wg_device_stats_t *out);

/*
 * Finds the peer a received datagram is meant for, for a device that shares
 * one socket among several peers (floe-wg): by receiver index for responses,
 * cookie replies and data; by the initiator's static key for initiations
 * (MAC1 is checked first, so this costs one DH only for MAC1-valid input).
 * Returns NULL when no peer matches (counted in the device's drops).
 */
floe_wg_peer_t *floe_wg_device_lookup(floe_wg_device_t *self, const uint8_t *msg, size_t len);
/* Datagrams dropped before any peer was known. */
uint64_t floe_wg_device_drops(const floe_wg_device_t *self);

/*
 * Creates a peer of `dev`. Returns NULL with errno set: EINVAL for a
 * low-order public key or a public key equal to the device's own (the static
 * DH would be all zero: such a peer is refused and nothing is ever sent to
 * it), EEXIST when the device has a peer with that key, ENOMEM.
 */
floe_wg_peer_t *floe_wg_peer_new(floe_wg_device_t *dev, const floe_wg_peer_config_t *cfg);
/* Destroys the peer: unregisters its indices, wipes every key. Idempotent. */
void floe_wg_peer_destroy(floe_wg_peer_t **self_p);

/*
 * Encrypts one IP packet (len may be 0 for a keepalive) into a transport
 * data message in `out` (cap >= len + 15 + FLOE_WG_DATA_OVERHEAD; out must
 * not alias pkt). Returns the datagram length, or:
 *   -ENOKEY       no usable sending keypair: the caller buffers or drops
 *                 according to its role, and may call floe_wg_peer_initiate;
 *   -EMSGSIZE     packet larger than FLOE_WG_MAX_PACKET_LEN or cap too small;
 * When the current keypair is older than REKEY_AFTER_TIME (and this side
 * initiated it) or REKEY_AFTER_MESSAGES were sent, the packet is still sent
 * and floe_wg_peer_tick() will produce the rekey initiation.
 */
ssize_t floe_wg_peer_encrypt(floe_wg_peer_t *self, uint64_t now_ns,
                             const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);

/*
 * Writes a handshake initiation into `out` (cap >= FLOE_WG_MSG_INITIATION_LEN)
 * and starts the retry timer. Returns its length, or:
 *   -EPERM     responder-only and not yet established;
 *   -EALREADY  an initiation was sent less than REKEY_TIMEOUT ago;
 *   -ENOBUFS   cap too small.
 */
ssize_t floe_wg_peer_initiate(floe_wg_peer_t *self, uint64_t now_ns, uint8_t *out, size_t cap);

/*
 * Consumes one received datagram from `src` (the sender's address bytes as
 * the caller represents them, e.g. a sockaddr: they feed the cookie MAC and
 * nothing else; src_len <= FLOE_WG_MAX_SRC_ADDR_LEN). On success sets *kind
 * and returns the length written to `out` (cap >= len, and
 * >= FLOE_WG_MSG_RESPONSE_LEN), or 0 with *kind = FLOE_WG_OUT_NONE.
 *   initiation  -> NETWORK: the handshake response (or a cookie reply under load)
 *   response    -> NONE, event HANDSHAKE_COMPLETE (or a cookie reply under load)
 *   cookie      -> NONE: the cookie is stored for MAC2 of the next initiation
 *   data        -> TUNNEL: the packet without padding; NONE for a keepalive
 * Dropped input returns a negative errno (-EINVAL malformed, -EBADMSG
 * authentication failed, -ESTALE replayed timestamp or counter, -ENOKEY no
 * keypair for that index) and is counted; nothing is written to `out`,
 * with one exception: an authentic data packet whose plaintext is not a
 * well-formed IPv4/IPv6 packet (length field beyond the plaintext) is only
 * known to be bad after decryption; it is dropped (-EINVAL) and the bytes
 * it occupied in `out` are zeroed.
 */
ssize_t floe_wg_peer_receive(floe_wg_peer_t *self, uint64_t now_ns,
                             const void *src, size_t src_len,
                             const uint8_t *msg, size_t len,
                             uint8_t *out, size_t cap, floe_wg_out_t *kind);

/*
 * Runs the timers (whitepaper section 6) at `now_ns`. May write one datagram
 * (a handshake initiation retry or rekey, or a keepalive) to `out` and
 * return its length; call again until it returns 0. Raises events (GAVE_UP,
 * KEYS_ZEROED). Call after floe_wg_peer_next_deadline_ns() has passed, and
 * after a HANDSHAKE_COMPLETE event once the caller has flushed its buffered
 * packets: if none were sent, the initiator confirms the session with a
 * keepalive from here.
 */
ssize_t floe_wg_peer_tick(floe_wg_peer_t *self, uint64_t now_ns, uint8_t *out, size_t cap);
/* The earliest time at which tick has work; UINT64_MAX if none. */
uint64_t floe_wg_peer_next_deadline_ns(const floe_wg_peer_t *self);

uint32_t floe_wg_peer_take_events(floe_wg_peer_t *self);
/*
 * True when a confirmed session exists (the current keypair may send).
 * It does not look at the clock: encrypt's -ENOKEY is authoritative for a
 * session past REJECT_AFTER_TIME.
 */
bool floe_wg_peer_is_established(const floe_wg_peer_t *self);
void floe_wg_peer_stats(const floe_wg_peer_t *self, floe_wg_peer_stats_t *out);

/* Forces a new handshake at the next tick (floe-wg's forced rekey, tests). */
void floe_wg_peer_request_rekey(floe_wg_peer_t *self);

#endif
