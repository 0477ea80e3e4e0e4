/*
 * The owner's side of the node: start and stop, the userspace device's
 * two ends (and its pollable fd), and the snapshot read from any thread
 * under table_lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "actors/node_priv.h"
#include "runtime/log.h"
#include "transport/wg/key.h"

static char *dup_str(const char *s, bool *ok)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*ok = false;
	return d;
}

static char **dup_list(const char *const *list, size_t n, bool *ok)
{
	char **out;

	if (!n)
		return NULL;
	out = calloc(n, sizeof(*out));
	if (!out) {
		*ok = false;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = dup_str(list[i], ok);
	return out;
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i]);
	free(list);
}

static bool copy_config(floe_node_t *self, const floe_node_config_t *cfg)
{
	bool ok = true;

	self->cfg = *cfg;
	memcpy(self->private_key, cfg->private_key, FLOE_WG_KEY_LEN);
	sodium_memzero(self->cfg.private_key, sizeof(self->cfg.private_key));
	self->cfg.portal_endpoint = self->portal_endpoint = dup_str(cfg->portal_endpoint, &ok);
	self->cfg.stun_host = self->stun_host = dup_str(cfg->stun_host, &ok);
	self->cfg.tun_name = self->tun_name = dup_str(cfg->tun_name, &ok);
	self->local_addrs = dup_list(cfg->local_addrs, cfg->n_local_addrs, &ok);
	self->cfg.local_addrs = (const char *const *)self->local_addrs;
	self->tun_addresses = dup_list(cfg->tun_addresses, cfg->n_tun_addresses, &ok);
	self->cfg.tun_addresses = (const char *const *)self->tun_addresses;
	self->tun_routes = dup_list(cfg->tun_routes, cfg->n_tun_routes, &ok);
	self->cfg.tun_routes = (const char *const *)self->tun_routes;
	for (size_t i = 0; i < cfg->n_turn; i++) {
		self->cfg.turn[i].host = self->turn_strs[i][0] = dup_str(cfg->turn[i].host, &ok);
		self->cfg.turn[i].username = self->turn_strs[i][1] = dup_str(cfg->turn[i].username, &ok);
		self->cfg.turn[i].password = self->turn_strs[i][2] = dup_str(cfg->turn[i].password, &ok);
	}
	return ok;
}

static void free_config(floe_node_t *self)
{
	free(self->portal_endpoint);
	free(self->stun_host);
	free(self->tun_name);
	free_list(self->local_addrs, self->cfg.n_local_addrs);
	free_list(self->tun_addresses, self->cfg.n_tun_addresses);
	free_list(self->tun_routes, self->cfg.n_tun_routes);
	for (size_t i = 0; i < FLOE_NODE_MAX_TURN; i++) {
		for (size_t k = 0; k < 3; k++) {
			if (self->turn_strs[i][k])
				sodium_memzero(self->turn_strs[i][k], strlen(self->turn_strs[i][k]));
			free(self->turn_strs[i][k]);
		}
	}
}

static const char *config_error(const floe_node_config_t *cfg)
{
	if (!cfg)
		return "no configuration";
	if (cfg->role != FLOE_ROLE_CLIENT && cfg->role != FLOE_ROLE_GATEWAY)
		return "role must be client or gateway";
	/* NULL: the application signals; "" is a mistake, not that. */
	if (cfg->portal_endpoint && !cfg->portal_endpoint[0])
		return "empty portal endpoint (NULL: signalling by the application)";
	if (cfg->device != FLOE_NODE_DEVICE_TUN && cfg->device != FLOE_NODE_DEVICE_USERSPACE)
		return "unknown device kind";
	if (cfg->n_turn > FLOE_NODE_MAX_TURN)
		return "too many TURN servers";
	/* Checked here: the agents would refuse it only at the first connection. */
	if (cfg->ice_failure_timeout_ms && (cfg->ice_failure_timeout_ms < FLOE_ICE_FAILURE_TIMEOUT_MIN_MS ||
					    cfg->ice_failure_timeout_ms > FLOE_ICE_FAILURE_TIMEOUT_MAX_MS))
		return "ICE failure timeout out of range (100 ms .. 600 s)";
	if ((cfg->n_local_addrs && !cfg->local_addrs) || (cfg->n_tun_addresses && !cfg->tun_addresses) ||
	    (cfg->n_tun_routes && !cfg->tun_routes))
		return "an address list is NULL";
	if (cfg->workers && (cfg->role != FLOE_ROLE_GATEWAY || !cfg->portal_endpoint ||
			     cfg->device != FLOE_NODE_DEVICE_TUN))
		return "workers: only a gateway with a portal and a TUN shards";
	if (cfg->workers > FLOE_NODE_MAX_WORKERS || (cfg->workers && cfg->worker >= cfg->workers))
		return "worker index out of range";
	if (sodium_is_zero(cfg->private_key, sizeof(cfg->private_key)))
		return "the private key is all zero (not set?)";
	return NULL;
}

floe_node_t *floe_node_new(const floe_node_config_t *cfg, char *err, size_t err_cap)
{
	floe_actor_opts_t opts = { .name = "floe-node" };
	const char *bad = config_error(cfg);
	floe_node_t *self = NULL;

	if (err && err_cap)
		err[0] = 0;
	if (bad) {
		errno = EINVAL;
		goto fail;
	}
	if (sodium_init() < 0) {
		bad = "libsodium failed to initialise";
		goto fail;
	}
	self = calloc(1, sizeof(*self));
	if (!self) {
		bad = "out of memory";
		goto fail;
	}
	pthread_mutex_init(&self->table_lock, NULL);
	floe_counters_init(&self->counters);
	self->dev_fd = self->cmd_fd = -1;
	self->app_signal = !cfg->portal_endpoint;
	if (node_events_init(&self->events) < 0 || node_signal_init(self) < 0) {
		bad = "cannot create the event queue";
		goto fail;
	}
	if (!copy_config(self, cfg)) {
		bad = "out of memory";
		goto fail;
	}
	/* A client with a portal holds a connection per resource at most
	 * (64, ~3 sockets each): a small context, 800 KiB less per node. */
	if (cfg->role == FLOE_ROLE_CLIENT && cfg->portal_endpoint)
		self->ctx = floe_ctx_new_sized(FLOE_CTX_SMALL_MAX_SOCKETS);
	else
		self->ctx = floe_ctx_new();
	self->pool = self->ctx ? floe_pool_new(FLOE_POOL_BUF_BYTES, NODE_POOL_BUFS) : NULL;
	self->wg = self->pool ? floe_wg_device_new(self->private_key) : NULL;
	self->zmq_portal_ctx = self->wg ? zmq_ctx_new() : NULL;
	if (!self->zmq_portal_ctx) {
		bad = "cannot create the runtime (context, pool, WireGuard device)";
		goto fail;
	}
	if (cfg->device == FLOE_NODE_DEVICE_USERSPACE) {
		self->dev_out = floe_mailbox_new(self->ctx);
		self->dev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		atomic_store(&self->dev_armed, true);
		if (!self->dev_out || self->dev_fd < 0) {
			bad = "cannot create the device queue";
			goto fail;
		}
	}
	self->actor = floe_actor_new(self->ctx, node_run, self, &opts);
	if (!self->actor) {
		bad = self->err[0] ? self->err : "cannot start the node thread";
		goto fail;
	}
	return self;
fail:
	if (err && err_cap)
		snprintf(err, err_cap, "%s", bad ? bad : "node start failed");
	floe_node_destroy(&self);
	if (!errno)
		errno = EINVAL;
	return NULL;
}

void floe_node_destroy(floe_node_t **self_p)
{
	floe_node_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	/* The node thread reaps every connection (each destroy joins). */
	floe_actor_destroy(&self->actor);
	floe_mailbox_sender_destroy(&self->dev_in);
	floe_mailbox_destroy(&self->dev_out);
	floe_ctx_destroy(&self->ctx);
	if (self->pool && floe_pool_destroy(&self->pool) < 0)
		floe_log(FLOE_LOG_ERROR, NODE_LOG, "Packet buffers still out at destroy: pool leaked");
	floe_wg_device_destroy(&self->wg);
	if (self->zmq_portal_ctx)
		zmq_ctx_term(self->zmq_portal_ctx);
	free_config(self);
	free(self->conns);
	node_signal_fini(self);
	node_events_fini(&self->events);
	if (self->dev_fd >= 0)
		close(self->dev_fd);
	pthread_mutex_destroy(&self->table_lock);
	sodium_memzero(self, sizeof(*self));
	free(self);
	*self_p = NULL;
}

int floe_node_device_write(floe_node_t *self, const uint8_t *pkt, size_t len)
{
	floe_msg_t *m;
	int rc;

	if (!self || !pkt || !len)
		return -EINVAL;
	if (self->cfg.device != FLOE_NODE_DEVICE_USERSPACE)
		return -EOPNOTSUPP;
	if (len > FLOE_NODE_MAX_PACKET_BYTES)
		return -EMSGSIZE;
	/* Created on the first write, on the one writer thread (a ZeroMQ
	 * socket belongs to the thread that uses it). */
	if (!self->dev_in) {
		self->dev_in = floe_mailbox_sender_new(self->ctx, floe_actor_endpoint(self->actor));
		if (!self->dev_in)
			return errno ? -errno : -ENOMEM;
	}
	m = floe_msg_new(self->pool, FLOE_MSG_TUN_PACKET);
	if (!m) {
		atomic_fetch_add(&self->dev_in_drops, 1);
		return -EAGAIN;
	}
	if (floe_msg_set_len(m, len) < 0) {
		floe_msg_destroy(&m);
		return -EMSGSIZE;
	}
	memcpy(floe_msg_data(m), pkt, len);
	rc = floe_mailbox_send(self->dev_in, &m);
	if (rc == -EAGAIN)
		atomic_fetch_add(&self->dev_in_drops, 1);
	return rc;
}

ssize_t floe_node_device_read(floe_node_t *self, uint8_t *buf, size_t cap, int timeout_ms)
{
	floe_msg_t *m = NULL;
	size_t len;
	int rc;

	if (!self || !buf)
		return -EINVAL;
	if (!self->dev_out)
		return -EOPNOTSUPP;
	rc = floe_mailbox_recv(self->dev_out, &m, timeout_ms);
	if (rc == -EAGAIN) {
		/*
		 * Empty: arm the fd before draining it, then look once more. A
		 * packet queued before the node saw dev_armed is found by this
		 * second look; one queued after makes the node write the fd.
		 */
		uint64_t v;

		atomic_store(&self->dev_armed, true);
		(void)!read(self->dev_fd, &v, sizeof(v));
		rc = floe_mailbox_recv(self->dev_out, &m, 0);
	}
	if (rc < 0)
		return rc;
	len = floe_msg_len(m);
	if (len > cap) {
		floe_msg_destroy(&m);
		return -EMSGSIZE;
	}
	memcpy(buf, floe_msg_data(m), len);
	floe_msg_destroy(&m);
	return (ssize_t)len;
}

int floe_node_device_fd(floe_node_t *self)
{
	if (!self)
		return -EINVAL;
	return self->dev_fd >= 0 ? self->dev_fd : -EOPNOTSUPP;
}

void node_device_signal(floe_node_t *self)
{
	uint64_t one = 1;

	/* One write per emptying by the reader, not one per packet; the
	 * plain load keeps the common case (not armed) off the bus lock. */
	if (atomic_load(&self->dev_armed) && atomic_exchange(&self->dev_armed, false))
		(void)!write(self->dev_fd, &one, sizeof(one));
}

int floe_node_tun_name(floe_node_t *self, char *buf, size_t cap)
{
	const char *name;

	if (!self || !buf)
		return -EINVAL;
	/* The node thread created the TUN before floe_node_new returned and
	 * keeps it until destroy: reading its name here is safe. */
	if (self->cfg.device != FLOE_NODE_DEVICE_TUN || !self->tun)
		return -EOPNOTSUPP;
	name = floe_tun_name(self->tun);
	if (strlen(name) >= cap)
		return -ENAMETOOLONG;
	memcpy(buf, name, strlen(name) + 1);
	return 0;
}

static uint64_t unix_of_mono_ns(uint64_t mono_ns)
{
	struct timespec mono, real;
	uint64_t now_ns, ago_s;

	if (!mono_ns)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	now_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	ago_s = now_ns > mono_ns ? (now_ns - mono_ns) / 1000000000ull : 0;
	return (uint64_t)real.tv_sec > ago_s ? (uint64_t)real.tv_sec - ago_s : 0;
}

static floe_path_type_t path_type(floe_ice_cand_type_t t)
{
	switch (t) {
	case FLOE_ICE_CAND_HOST:
		return FLOE_PATH_HOST;
	case FLOE_ICE_CAND_SRFLX:
		return FLOE_PATH_SRFLX;
	case FLOE_ICE_CAND_PRFLX:
		return FLOE_PATH_PRFLX;
	case FLOE_ICE_CAND_RELAY:
		return FLOE_PATH_RELAY;
	}
	return FLOE_PATH_HOST;
}

static floe_relay_reason_t relay_reason(floe_ice_relay_reason_t r)
{
	switch (r) {
	case FLOE_ICE_RELAY_REASON_NONE:
		return FLOE_RELAY_REASON_NONE;
	case FLOE_ICE_RELAY_REASON_NO_DIRECT_PAIR:
		return FLOE_RELAY_REASON_NO_DIRECT_PAIR;
	case FLOE_ICE_RELAY_REASON_SYMMETRIC_NAT:
		return FLOE_RELAY_REASON_SYMMETRIC_NAT;
	case FLOE_ICE_RELAY_REASON_DIRECT_PATH_LOST:
		return FLOE_RELAY_REASON_DIRECT_PATH_LOST;
	case FLOE_ICE_RELAY_REASON_RELAY_ONLY:
		return FLOE_RELAY_REASON_RELAY_ONLY;
	}
	return FLOE_RELAY_REASON_NONE;
}

void node_path_public(const floe_ice_path_t *in, floe_path_t *out)
{
	memset(out, 0, sizeof(*out));
	out->local_type = path_type(in->local_type);
	out->remote_type = path_type(in->remote_type);
	snprintf(out->local_addr, sizeof(out->local_addr), "%s", in->local_addr);
	snprintf(out->remote_addr, sizeof(out->remote_addr), "%s", in->remote_addr);
	out->relay_reason = relay_reason(in->relay_reason);
}

const char *floe_relay_reason_name(floe_relay_reason_t reason)
{
	switch (reason) {
	case FLOE_RELAY_REASON_NONE:
		return "none";
	case FLOE_RELAY_REASON_NO_DIRECT_PAIR:
		return "no_direct_pair";
	case FLOE_RELAY_REASON_SYMMETRIC_NAT:
		return "symmetric_nat";
	case FLOE_RELAY_REASON_DIRECT_PATH_LOST:
		return "direct_path_lost";
	case FLOE_RELAY_REASON_RELAY_ONLY:
		return "relay_only";
	}
	return "unknown";
}

const char *floe_path_type_name(floe_path_type_t type)
{
	switch (type) {
	case FLOE_PATH_HOST:
		return "host";
	case FLOE_PATH_SRFLX:
		return "srflx";
	case FLOE_PATH_PRFLX:
		return "prflx";
	case FLOE_PATH_RELAY:
		return "relay";
	}
	return "unknown";
}

const char *floe_version(void)
{
	return FLOE_VERSION_STRING;
}

static void fill_info(const node_conn_t *c, floe_conn_info_t *o)
{
	memset(o, 0, sizeof(*o));
	o->id = c->tag;
	snprintf(o->cid, sizeof(o->cid), "%.63s", c->label);
	snprintf(o->client_id, sizeof(o->client_id), "%s", c->client_id);
	if (c->has_peer)
		floe_key_to_base64(o->peer_public_key, c->peer_key);
	if (c->has_v4)
		inet_ntop(AF_INET, c->tun_v4, o->tunnel_ipv4, sizeof(o->tunnel_ipv4));
	if (c->has_v6)
		inet_ntop(AF_INET6, c->tun_v6, o->tunnel_ipv6, sizeof(o->tunnel_ipv6));
	o->state = floe_conn_state(c->conn);
	o->has_path = c->has_path;
	if (c->has_path)
		node_path_public(&c->path, &o->path);
	o->last_handshake_unix_s = unix_of_mono_ns(floe_conn_last_handshake_ns(c->conn));
	floe_conn_counters(c->conn, &o->counters);
}

int floe_node_show(floe_node_t *self, floe_conn_info_t *out, size_t cap, size_t *n,
		   floe_counters_snapshot_t *totals)
{
	floe_counters_snapshot_t own, each;
	size_t filled = 0;

	if (!self || (cap && !out))
		return -EINVAL;
	floe_counters_snapshot(&self->counters, &own);
	own.v[FLOE_COUNTER_MAILBOX_DROPS] += atomic_load(&self->dev_in_drops);
	node_table_lock(self);
	if (totals) {
		*totals = self->closed;
		floe_counters_sum(totals, &own, 1);
	}
	for (size_t i = 0; i < self->n_conns; i++) {
		if (filled < cap) {
			fill_info(self->conns[i], &out[filled]);
			each = out[filled].counters;
			filled++;
		} else if (totals) {
			floe_conn_counters(self->conns[i]->conn, &each);
		} else {
			continue;
		}
		if (totals)
			floe_counters_sum(totals, &each, 1);
	}
	node_table_unlock(self);
	if (n)
		*n = filled;
	return 0;
}

int floe_node_counters(floe_node_t *self, floe_counters_snapshot_t *out)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (!self || !out)
		return -EINVAL;
	return floe_node_show(self, NULL, 0, NULL, out);
}

size_t floe_node_connections(floe_node_t *self, size_t *connected)
{
	size_t total, up = 0;

	if (!self) {
		if (connected)
			*connected = 0;
		return 0;
	}
	node_table_lock(self);
	total = self->n_conns;
	for (size_t i = 0; i < total; i++) {
		floe_conn_state_t s = floe_conn_state(self->conns[i]->conn);

		up += s == FLOE_CONN_CONNECTED || s == FLOE_CONN_IDLE;
	}
	node_table_unlock(self);
	if (connected)
		*connected = up;
	return total;
}

bool floe_node_portal_connected(floe_node_t *self)
{
	return self && atomic_load(&self->portal_up);
}

void floe_node_force_under_load(floe_node_t *self, bool on)
{
	if (self && self->wg)
		floe_wg_device_set_under_load(self->wg, on);
}
