/*
 * The device: the local static identity, the cookie checker, and two
 * tables shared by every peer's thread: receiver index -> peer (chained
 * hash, entries embedded in their owners) and public key -> peer.
 */
#include "transport/wg/device.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "transport/wg/messages.h"
#include "transport/wg/ratelimit.h"
#include "transport/wg/timers.h"

enum { PEERS_INITIAL_CAP = 8 };

typedef struct {
	uint8_t public_key[FLOE_WG_KEY_LEN];
	floe_wg_peer_t *peer;
} peer_slot_t;

struct floe_wg_device {
	floe_wg_static_t identity;          /* constant after _new */
	floe_wg_cookie_checker_t cookie;    /* has its own lock for the secret */
	atomic_bool under_load;          /* forced || detected: what peers read */
	atomic_uint_fast64_t drops;
	floe_wg_ratelimit_t *ratelimit;  /* thread-safe itself */
	/* `load_lock` protects the detector and the admission counters. */
	pthread_mutex_t load_lock;
	bool load_forced, load_detected;
	uint64_t load_window_start_ns, load_window_count, load_last_busy_ns;
	floe_wg_device_stats_t load_stats;
	/*
	 * `lock` protects buckets (every chain and every entry's `next`
	 * and `registered`), peers, n_peers and cap_peers. It is never held
	 * while calling into a peer or the cookie checker.
	 */
	pthread_mutex_t lock;
	floe_wg_index_entry_t *buckets[FLOE_WG_INDEX_BUCKETS];
	peer_slot_t *peers;
	size_t n_peers, cap_peers;
};

floe_wg_device_t *floe_wg_device_new(const uint8_t private_key[FLOE_WG_KEY_LEN])
{
	floe_wg_device_t *self;

	if (sodium_init() < 0)
		return NULL;
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	memcpy(self->identity.private_key, private_key, FLOE_WG_KEY_LEN);
	/* X25519 clamps; an all-zero public key only comes from a degenerate scalar. */
	if (!floe_wg_dh_public(self->identity.public_key, self->identity.private_key))
		goto err_free;
	if (floe_wg_cookie_checker_init(&self->cookie, self->identity.public_key) != 0)
		goto err_free;
	self->ratelimit = floe_wg_ratelimit_new();
	if (!self->ratelimit)
		goto err_cookie;
	if (pthread_mutex_init(&self->lock, NULL) != 0)
		goto err_ratelimit;
	if (pthread_mutex_init(&self->load_lock, NULL) != 0)
		goto err_lock;
	atomic_init(&self->under_load, false);
	atomic_init(&self->drops, 0);
	return self;

err_lock:
	pthread_mutex_destroy(&self->lock);
err_ratelimit:
	floe_wg_ratelimit_destroy(&self->ratelimit);
err_cookie:
	floe_wg_cookie_checker_destroy(&self->cookie);
err_free:
	sodium_memzero(self, sizeof(*self));
	free(self);
	return NULL;
}

void floe_wg_device_destroy(floe_wg_device_t **self_p)
{
	floe_wg_device_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	pthread_mutex_destroy(&self->lock);
	pthread_mutex_destroy(&self->load_lock);
	floe_wg_ratelimit_destroy(&self->ratelimit);
	floe_wg_cookie_checker_destroy(&self->cookie);
	free(self->peers);
	sodium_memzero(self, sizeof(*self));
	free(self);
	*self_p = NULL;
}

void floe_wg_device_public_key(const floe_wg_device_t *self, uint8_t out[FLOE_WG_KEY_LEN])
{
	memcpy(out, self->identity.public_key, FLOE_WG_KEY_LEN);
}

void floe_wg_device_set_under_load(floe_wg_device_t *self, bool under_load)
{
	pthread_mutex_lock(&self->load_lock);
	self->load_forced = under_load;
	atomic_store(&self->under_load, self->load_forced || self->load_detected);
	pthread_mutex_unlock(&self->load_lock);
}

/*
 * Counts one MAC1-valid handshake at now_ns and returns whether the device
 * is under load. Caller holds load_lock.
 */
static bool load_account_locked(floe_wg_device_t *self, uint64_t now_ns)
{
	const uint64_t window_ns = FLOE_WG_LOAD_WINDOW_MS * FLOE_NS_PER_MS;
	const uint64_t enter = FLOE_WG_LOAD_ENTER_PER_S * FLOE_WG_LOAD_WINDOW_MS / 1000;
	const uint64_t leave = FLOE_WG_LOAD_LEAVE_PER_S * FLOE_WG_LOAD_WINDOW_MS / 1000;

	if (now_ns - self->load_window_start_ns >= window_ns || now_ns < self->load_window_start_ns) {
		/* A window ended (or several: then the last one was empty). */
		uint64_t last = now_ns - self->load_window_start_ns >= 2 * window_ns ? 0 : self->load_window_count;

		if (self->load_detected && last < leave &&
		    now_ns - self->load_last_busy_ns >= FLOE_WG_LOAD_HOLD_MS * FLOE_NS_PER_MS)
			self->load_detected = false;
		self->load_window_start_ns = now_ns;
		self->load_window_count = 0;
	}
	self->load_window_count++;
	self->load_stats.handshakes_seen++;
	if (self->load_window_count > enter) {
		if (!self->load_detected)
			self->load_stats.under_load_entered++;
		self->load_detected = true;
		self->load_last_busy_ns = now_ns;
	}
	atomic_store(&self->under_load, self->load_forced || self->load_detected);
	return self->load_forced || self->load_detected;
}

ssize_t floe_wg_device_admit(floe_wg_device_t *self, uint64_t now_ns, const void *src, size_t src_len,
                             const struct floe_wg_ratelimit_key *key, const uint8_t *msg, size_t len,
                             uint8_t *out, size_t cap)
{
	floe_wg_mac_state_t st;
	bool under_load;
	ssize_t rc = 0;

	if (!self || !msg || len < FLOE_WG_HEADER_LEN)
		return 0;
	if (!((msg[FLOE_WG_OFF_TYPE] == FLOE_WG_MSG_INITIATION && len == FLOE_WG_MSG_INITIATION_LEN) ||
	      (msg[FLOE_WG_OFF_TYPE] == FLOE_WG_MSG_RESPONSE && len == FLOE_WG_MSG_RESPONSE_LEN)))
		return 0;
	if (!out || cap < FLOE_WG_MSG_COOKIE_REPLY_LEN || src_len > FLOE_WG_MAX_SRC_ADDR_LEN || (src_len && !src))
		return -ENOBUFS;
	/* MAC1 alone first: input that does not know our key does not count as load. */
	if (floe_wg_cookie_validate(&self->cookie, msg, len, NULL, 0, now_ns, false) == FLOE_WG_MAC_INVALID) {
		pthread_mutex_lock(&self->load_lock);
		self->load_stats.mac1_drops++;
		pthread_mutex_unlock(&self->load_lock);
		floe_wg_device_count_drop(self);
		return -EBADMSG;
	}
	pthread_mutex_lock(&self->load_lock);
	under_load = load_account_locked(self, now_ns);
	pthread_mutex_unlock(&self->load_lock);
	if (!under_load)
		return 0;

	st = floe_wg_cookie_validate(&self->cookie, msg, len, src, src_len, now_ns, true);
	if (st != FLOE_WG_MAC_VALID_WITH_COOKIE) {
		floe_wg_cookie_create_reply(&self->cookie, out, msg, len, src, src_len, now_ns);
		rc = FLOE_WG_MSG_COOKIE_REPLY_LEN;
	} else if (key && key->family && !floe_wg_ratelimit_allow(self->ratelimit, now_ns, key)) {
		rc = -EBUSY;
	}
	pthread_mutex_lock(&self->load_lock);
	if (rc > 0)
		self->load_stats.cookie_replies_sent++;
	else if (rc < 0)
		self->load_stats.ratelimited_drops++;
	pthread_mutex_unlock(&self->load_lock);
	return rc;
}

void floe_wg_device_stats(floe_wg_device_t *self, floe_wg_device_stats_t *out)
{
	floe_wg_ratelimit_stats_t rl;

	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!self)
		return;
	floe_wg_ratelimit_stats(self->ratelimit, &rl);
	pthread_mutex_lock(&self->load_lock);
	*out = self->load_stats;
	out->under_load = self->load_forced || self->load_detected;
	pthread_mutex_unlock(&self->load_lock);
	out->ratelimit_table_full = rl.table_full;
}

bool floe_wg_device_is_under_load(const floe_wg_device_t *self)
{
	return atomic_load(&self->under_load);
}

const floe_wg_static_t *floe_wg_device_identity(const floe_wg_device_t *self)
{
	return &self->identity;
}

floe_wg_cookie_checker_t *floe_wg_device_cookie_checker(floe_wg_device_t *self)
{
	return &self->cookie;
}

void floe_wg_device_count_drop(floe_wg_device_t *self)
{
	atomic_fetch_add(&self->drops, 1);
}

uint64_t floe_wg_device_drops(const floe_wg_device_t *self)
{
	return atomic_load(&((floe_wg_device_t *)self)->drops);
}

static floe_wg_index_entry_t **bucket_of(floe_wg_device_t *self, uint32_t index)
{
	/* Indices are uniformly random: their low bits are a fine hash. */
	return &self->buckets[index & (FLOE_WG_INDEX_BUCKETS - 1)];
}

static floe_wg_index_entry_t *find_locked(floe_wg_device_t *self, uint32_t index)
{
	for (floe_wg_index_entry_t *e = *bucket_of(self, index); e; e = e->next)
		if (e->index == index)
			return e;
	return NULL;
}

static void unlink_locked(floe_wg_device_t *self, floe_wg_index_entry_t *entry)
{
	for (floe_wg_index_entry_t **pp = bucket_of(self, entry->index); *pp; pp = &(*pp)->next) {
		if (*pp == entry) {
			*pp = entry->next;
			break;
		}
	}
	entry->next = NULL;
	entry->registered = false;
}

int floe_wg_device_index_register(floe_wg_device_t *self, floe_wg_index_entry_t *entry, floe_wg_peer_t *peer)
{
	int rc = -EBUSY;

	pthread_mutex_lock(&self->lock);
	if (entry->registered)
		unlink_locked(self, entry);
	for (int tries = 0; tries < FLOE_WG_INDEX_MAX_TRIES; tries++) {
		uint32_t index = randombytes_random();
		floe_wg_index_entry_t **head;

		/* Retry on collision: an index names one session on this device. */
		if (find_locked(self, index))
			continue;
		head = bucket_of(self, index);
		entry->index = index;
		entry->peer = peer;
		entry->next = *head;
		entry->registered = true;
		*head = entry;
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&self->lock);
	return rc;
}

void floe_wg_device_index_move(floe_wg_device_t *self, floe_wg_index_entry_t *from, floe_wg_index_entry_t *to)
{
	floe_wg_index_entry_t **head;

	pthread_mutex_lock(&self->lock);
	if (to->registered)
		unlink_locked(self, to);
	if (from->registered) {
		unlink_locked(self, from);
		head = bucket_of(self, from->index);
		to->index = from->index;
		to->peer = from->peer;
		to->next = *head;
		to->registered = true;
		*head = to;
	}
	pthread_mutex_unlock(&self->lock);
}

void floe_wg_device_index_unregister(floe_wg_device_t *self, floe_wg_index_entry_t *entry)
{
	pthread_mutex_lock(&self->lock);
	if (entry->registered)
		unlink_locked(self, entry);
	pthread_mutex_unlock(&self->lock);
}

int floe_wg_device_peer_add(floe_wg_device_t *self, floe_wg_peer_t *peer, const uint8_t pub[FLOE_WG_KEY_LEN])
{
	int rc = 0;

	pthread_mutex_lock(&self->lock);
	for (size_t i = 0; i < self->n_peers; i++) {
		if (memcmp(self->peers[i].public_key, pub, FLOE_WG_KEY_LEN) == 0) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (self->n_peers == self->cap_peers) {
		size_t cap = self->cap_peers ? 2 * self->cap_peers : PEERS_INITIAL_CAP;
		peer_slot_t *grown = realloc(self->peers, cap * sizeof(*grown));

		if (!grown) {
			rc = -ENOMEM;
			goto out;
		}
		self->peers = grown;
		self->cap_peers = cap;
	}
	memcpy(self->peers[self->n_peers].public_key, pub, FLOE_WG_KEY_LEN);
	self->peers[self->n_peers].peer = peer;
	self->n_peers++;
out:
	pthread_mutex_unlock(&self->lock);
	return rc;
}

void floe_wg_device_peer_remove(floe_wg_device_t *self, floe_wg_peer_t *peer)
{
	pthread_mutex_lock(&self->lock);
	for (size_t i = 0; i < self->n_peers; i++) {
		if (self->peers[i].peer == peer) {
			self->peers[i] = self->peers[--self->n_peers];
			break;
		}
	}
	pthread_mutex_unlock(&self->lock);
}

static floe_wg_peer_t *peer_by_key(floe_wg_device_t *self, const uint8_t pub[FLOE_WG_KEY_LEN])
{
	floe_wg_peer_t *peer = NULL;

	/* A linear scan: floe-wg has a handful of peers; connection actors one each. */
	pthread_mutex_lock(&self->lock);
	for (size_t i = 0; i < self->n_peers && !peer; i++)
		if (memcmp(self->peers[i].public_key, pub, FLOE_WG_KEY_LEN) == 0)
			peer = self->peers[i].peer;
	pthread_mutex_unlock(&self->lock);
	return peer;
}

static floe_wg_peer_t *peer_by_index(floe_wg_device_t *self, uint32_t index)
{
	floe_wg_index_entry_t *e;
	floe_wg_peer_t *peer;

	pthread_mutex_lock(&self->lock);
	e = find_locked(self, index);
	peer = e ? e->peer : NULL;
	pthread_mutex_unlock(&self->lock);
	return peer;
}

floe_wg_peer_t *floe_wg_device_lookup(floe_wg_device_t *self, const uint8_t *msg, size_t len)
{
	floe_wg_peer_t *peer = NULL;
	uint8_t initiator_static[FLOE_WG_KEY_LEN];

	if (!msg || len < FLOE_WG_HEADER_LEN ||
	    msg[1] != 0 || msg[2] != 0 || msg[3] != 0)
		goto out;
	switch (msg[FLOE_WG_OFF_TYPE]) {
	case FLOE_WG_MSG_INITIATION:
		if (len != FLOE_WG_MSG_INITIATION_LEN)
			break;
		/* MAC1 first: only input that knows our public key costs a DH. */
		if (floe_wg_cookie_validate(&self->cookie, msg, len, NULL, 0, 0, false) == FLOE_WG_MAC_INVALID)
			break;
		if (floe_wg_noise_initiation_static(&self->identity, msg, initiator_static))
			peer = peer_by_key(self, initiator_static);
		sodium_memzero(initiator_static, sizeof(initiator_static));
		break;
	case FLOE_WG_MSG_RESPONSE:
		if (len == FLOE_WG_MSG_RESPONSE_LEN)
			peer = peer_by_index(self, floe_wg_le32_get(msg + FLOE_WG_RESP_OFF_RECEIVER));
		break;
	case FLOE_WG_MSG_COOKIE_REPLY:
		if (len == FLOE_WG_MSG_COOKIE_REPLY_LEN)
			peer = peer_by_index(self, floe_wg_le32_get(msg + FLOE_WG_COOKIE_OFF_RECEIVER));
		break;
	case FLOE_WG_MSG_DATA:
		if (len >= FLOE_WG_DATA_MIN_LEN)
			peer = peer_by_index(self, floe_wg_le32_get(msg + FLOE_WG_DATA_OFF_RECEIVER));
		break;
	default:
		break;
	}
out:
	if (!peer)
		floe_wg_device_count_drop(self);
	return peer;
}
