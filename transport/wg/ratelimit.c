/*
 * Token buckets in nanoseconds, as kernel WireGuard keeps them: a bucket
 * holds up to BURST * COST ns of credit, one handshake costs COST ns, and
 * credit accrues one ns per ns elapsed. Entries come from a pool allocated
 * once, so a flood of new sources never allocates and cannot grow memory.
 */
#include "transport/wg/ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "runtime/clock.h"

#define COST_NS (FLOE_NS_PER_S / FLOE_WG_RATELIMIT_PACKETS_PER_S)
#define MAX_CREDIT_NS (COST_NS * FLOE_WG_RATELIMIT_BURST)

enum {
	V6_PREFIX_BYTES = 8,   /* /64 */
	V4_ADDR_BYTES = 4,
	ADDR_STR_MAX = 64,
};

typedef struct entry {
	struct entry *next;    /* hash chain, or the free list */
	floe_wg_ratelimit_key_t key;
	uint64_t credit_ns;
	uint64_t last_ns;
} entry_t;

struct floe_wg_ratelimit {
	pthread_mutex_t lock;  /* protects everything below */
	entry_t *buckets[FLOE_WG_RATELIMIT_BUCKETS];
	entry_t *pool;         /* FLOE_WG_RATELIMIT_MAX_ENTRIES, allocated once */
	entry_t *free_list;
	uint64_t next_gc_ns;
	uint8_t hash_key[crypto_shorthash_KEYBYTES]; /* random: sources cannot aim at one chain */
	floe_wg_ratelimit_stats_t stats;
};

floe_wg_ratelimit_t *floe_wg_ratelimit_new(void)
{
	floe_wg_ratelimit_t *self;

	if (sodium_init() < 0)
		return NULL;
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->pool = calloc(FLOE_WG_RATELIMIT_MAX_ENTRIES, sizeof(*self->pool));
	if (!self->pool)
		goto err_free;
	if (pthread_mutex_init(&self->lock, NULL) != 0)
		goto err_pool;
	for (size_t i = 0; i < FLOE_WG_RATELIMIT_MAX_ENTRIES; i++) {
		self->pool[i].next = self->free_list;
		self->free_list = &self->pool[i];
	}
	randombytes_buf(self->hash_key, sizeof(self->hash_key));
	return self;

err_pool:
	free(self->pool);
err_free:
	free(self);
	return NULL;
}

void floe_wg_ratelimit_destroy(floe_wg_ratelimit_t **self_p)
{
	floe_wg_ratelimit_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	pthread_mutex_destroy(&self->lock);
	free(self->pool);
	free(self);
	*self_p = NULL;
}

static entry_t **chain_of(floe_wg_ratelimit_t *self, const floe_wg_ratelimit_key_t *key)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, (const uint8_t *)key, sizeof(*key), self->hash_key);
	memcpy(&v, h, sizeof(v));
	return &self->buckets[v & (FLOE_WG_RATELIMIT_BUCKETS - 1)];
}

/* Returns idle entries to the free list. Caller holds the lock. */
static void gc_locked(floe_wg_ratelimit_t *self, uint64_t now_ns)
{
	if (now_ns < self->next_gc_ns)
		return;
	self->next_gc_ns = now_ns + FLOE_WG_RATELIMIT_GC_INTERVAL_S * FLOE_NS_PER_S;
	for (size_t b = 0; b < FLOE_WG_RATELIMIT_BUCKETS; b++) {
		entry_t **pp = &self->buckets[b];

		while (*pp) {
			entry_t *e = *pp;

			if (now_ns - e->last_ns >= FLOE_WG_RATELIMIT_IDLE_S * FLOE_NS_PER_S) {
				*pp = e->next;
				e->next = self->free_list;
				self->free_list = e;
				self->stats.entries--;
			} else {
				pp = &e->next;
			}
		}
	}
}

bool floe_wg_ratelimit_allow(floe_wg_ratelimit_t *self, uint64_t now_ns, const floe_wg_ratelimit_key_t *key)
{
	entry_t **chain, *e;
	bool ok = false;

	if (!self)
		return false;
	pthread_mutex_lock(&self->lock);
	if (!key || key->family == 0) {
		self->stats.limited++;
		goto out;
	}
	gc_locked(self, now_ns);
	chain = chain_of(self, key);
	for (e = *chain; e; e = e->next)
		if (memcmp(&e->key, key, sizeof(*key)) == 0)
			break;
	if (!e) {
		if (!self->free_list) {
			self->stats.table_full++;
			goto out;
		}
		e = self->free_list;
		self->free_list = e->next;
		e->key = *key;
		/* A new source starts with a full burst, less this handshake. */
		e->credit_ns = MAX_CREDIT_NS - COST_NS;
		e->last_ns = now_ns;
		e->next = *chain;
		*chain = e;
		self->stats.entries++;
		ok = true;
		goto out;
	}
	/* Clocks are monotonic, but two threads may pass times out of order. */
	if (now_ns > e->last_ns) {
		uint64_t credit = e->credit_ns + (now_ns - e->last_ns);

		e->credit_ns = credit > MAX_CREDIT_NS ? MAX_CREDIT_NS : credit;
		e->last_ns = now_ns;
	}
	if (e->credit_ns >= COST_NS) {
		e->credit_ns -= COST_NS;
		ok = true;
	} else {
		self->stats.limited++;
	}
out:
	if (ok)
		self->stats.allowed++;
	pthread_mutex_unlock(&self->lock);
	return ok;
}

void floe_wg_ratelimit_stats(floe_wg_ratelimit_t *self, floe_wg_ratelimit_stats_t *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!self)
		return;
	pthread_mutex_lock(&self->lock);
	*out = self->stats;
	pthread_mutex_unlock(&self->lock);
}

static void key_v4(floe_wg_ratelimit_key_t *key, const uint8_t *a)
{
	memset(key, 0, sizeof(*key));
	key->family = AF_INET;
	memcpy(key->addr, a, V4_ADDR_BYTES);
}

static void key_v6(floe_wg_ratelimit_key_t *key, const struct in6_addr *a)
{
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		key_v4(key, a->s6_addr + 12);
		return;
	}
	memset(key, 0, sizeof(*key));
	key->family = AF_INET6;
	memcpy(key->addr, a->s6_addr, V6_PREFIX_BYTES);
}

int floe_wg_ratelimit_key_from_sockaddr(floe_wg_ratelimit_key_t *key, const struct sockaddr *sa, socklen_t len)
{
	if (!key || !sa || len < (socklen_t)sizeof(sa_family_t))
		return -EINVAL;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		key_v4(key, (const uint8_t *)&in->sin_addr);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		key_v6(key, &((const struct sockaddr_in6 *)sa)->sin6_addr);
		return 0;
	}
	return sa->sa_family == AF_INET || sa->sa_family == AF_INET6 ? -EINVAL : -EAFNOSUPPORT;
}

int floe_wg_ratelimit_key_from_string(floe_wg_ratelimit_key_t *key, const char *addr)
{
	char buf[ADDR_STR_MAX];
	struct in_addr v4;
	struct in6_addr v6;
	const char *colon;
	size_t n;

	if (!key || !addr)
		return -EINVAL;
	n = strnlen(addr, sizeof(buf));
	if (n == sizeof(buf))
		return -EINVAL;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (!end || (end[1] != '\0' && end[1] != ':'))
			return -EINVAL;
		n = (size_t)(end - addr - 1);
		memcpy(buf, addr + 1, n);
	} else {
		colon = strchr(addr, ':');
		/* One colon: v4 with a port; more: a bare v6 address. */
		if (colon && !strchr(colon + 1, ':'))
			n = (size_t)(colon - addr);
		memcpy(buf, addr, n);
	}
	buf[n] = '\0';
	/* A link-local scope ("%eth0") names an interface, not another host. */
	if (strchr(buf, '%'))
		*strchr(buf, '%') = '\0';
	if (inet_pton(AF_INET, buf, &v4) == 1) {
		key_v4(key, (const uint8_t *)&v4);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &v6) == 1) {
		key_v6(key, &v6);
		return 0;
	}
	return -EINVAL;
}
