/*
 * The node actor: its loop, the connection table, the packet path and the
 * devices. The portal signalling is in node_flow.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/node_priv.h"
#include "runtime/log.h"
#include "transport/net/addr.h"
#include "transport/net/offload.h"

uint64_t node_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void node_table_lock(floe_node_t *self)
{
	pthread_mutex_lock(&self->table_lock);
}

void node_table_unlock(floe_node_t *self)
{
	pthread_mutex_unlock(&self->table_lock);
}

/* ---- the connection table (node thread) ---- */

node_conn_t *node_conn_by_tag(floe_node_t *self, uint64_t tag)
{
	for (size_t i = 0; i < self->n_conns; i++) {
		if (self->conns[i]->tag == tag)
			return self->conns[i];
	}
	return NULL;
}

static node_conn_t *by_actor_id(floe_node_t *self, uint64_t id)
{
	for (size_t i = 0; i < self->n_conns; i++) {
		if (floe_conn_actor_id(self->conns[i]->conn) == id)
			return self->conns[i];
	}
	return NULL;
}

node_conn_t *node_conn_by_cid(floe_node_t *self, const char *cid)
{
	for (size_t i = 0; i < self->n_conns; i++) {
		if (self->conns[i]->cid[0] && !strcmp(self->conns[i]->cid, cid))
			return self->conns[i];
	}
	return NULL;
}

node_conn_t *node_conn_by_client(floe_node_t *self, const char *client_id)
{
	for (size_t i = 0; i < self->n_conns; i++) {
		if (!strcmp(self->conns[i]->client_id, client_id))
			return self->conns[i];
	}
	return NULL;
}

node_conn_t *node_conn_by_peer(floe_node_t *self, const uint8_t key[FLOE_WG_KEY_LEN])
{
	for (size_t i = 0; i < self->n_conns; i++) {
		if (self->conns[i]->has_peer && !memcmp(self->conns[i]->peer_key, key, FLOE_WG_KEY_LEN))
			return self->conns[i];
	}
	return NULL;
}

/*
 * Without LocalAddress libnice gathers on every interface that is up, our
 * own TUN included: the peer would be offered our tunnel address, and its
 * checks to it would go into the tunnel the connection is meant to build
 * (or, once a tunnel is up, through it). So a TUN node lists the addresses
 * itself, leaving the TUN, loopback and link-local IPv6 out (those need a
 * scope libnice's address strings do not carry). Read anew for every
 * connection: a replacement after roaming gathers the new addresses. 0
 * when there is nothing to list (libnice then finds nothing either).
 */
static size_t gather_addrs(floe_node_t *self)
{
	struct ifaddrs *all, *ifa;
	unsigned int tun_index = (unsigned int)floe_tun_ifindex(self->tun);
	size_t n = 0;

	if (getifaddrs(&all) < 0)
		return 0;
	for (ifa = all; ifa && n < FLOE_ICE_MAX_LOCAL_ADDRS; ifa = ifa->ifa_next) {
		const void *bytes;
		int family = ifa->ifa_addr ? ifa->ifa_addr->sa_family : AF_UNSPEC;

		if ((family != AF_INET && family != AF_INET6) || !(ifa->ifa_flags & IFF_UP) ||
		    (ifa->ifa_flags & IFF_LOOPBACK) || if_nametoindex(ifa->ifa_name) == tun_index)
			continue;
		if (family == AF_INET) {
			bytes = &((const struct sockaddr_in *)(const void *)ifa->ifa_addr)->sin_addr;
		} else {
			const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)ifa->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(a6))
				continue;
			bytes = a6;
		}
		if (inet_ntop(family, bytes, self->gather[n], sizeof(self->gather[n]))) {
			self->gather_ptrs[n] = self->gather[n];
			n++;
		}
	}
	freeifaddrs(all);
	return n;
}

void node_fill_ice(floe_node_t *self, floe_ice_config_t *ice, floe_ice_turn_server_t *turn)
{
	size_t n = 0;

	for (size_t i = 0; i < self->cfg.n_turn && n < FLOE_NODE_MAX_TURN; i++) {
		const floe_turn_server_t *t = &self->cfg.turn[i];

		turn[n++] = (floe_ice_turn_server_t){
			.host = t->host, .port = t->port, .username = t->username, .password = t->password,
		};
	}
	/* The portal's relays; libnice takes numeric addresses only. */
	for (size_t i = 0; i < self->n_relays && n < FLOE_NODE_MAX_TURN; i++) {
		const floe_signal_relay_t *r = &self->relays[i];
		uint8_t a[16];

		if (inet_pton(AF_INET, r->host, a) != 1 && inet_pton(AF_INET6, r->host, a) != 1)
			continue;
		turn[n++] = (floe_ice_turn_server_t){
			.host = r->host, .port = r->port, .username = r->username, .password = r->password,
		};
	}
	*ice = (floe_ice_config_t){
		.role = self->cfg.role == FLOE_ROLE_CLIENT ? FLOE_ICE_CONTROLLING : FLOE_ICE_CONTROLLED,
		.stun_host = self->cfg.stun_host,
		.stun_port = self->cfg.stun_port,
		.turn = n ? turn : NULL,
		.n_turn = n,
		.local_addrs = self->cfg.local_addrs,
		.n_local_addrs = self->cfg.n_local_addrs,
		.failure_timeout_ms = self->cfg.ice_failure_timeout_ms,
		/* Liveness and the idle keepalive come from WireGuard
		 * (actors/idle.h): ICE only keeps the binding, every 25 s. */
		.keepalive = FLOE_ICE_KEEPALIVE_RELAXED,
		.stun_max_retransmissions = NODE_STUN_RETRANSMISSIONS,
	};
	if (!self->cfg.n_local_addrs && self->tun) {
		ice->n_local_addrs = gather_addrs(self);
		ice->local_addrs = ice->n_local_addrs ? self->gather_ptrs : NULL;
	}
}

node_conn_t *node_conn_start(floe_node_t *self, const floe_conn_config_t *base, const node_conn_t *ident)
{
	floe_conn_config_t cfg = *base;
	node_conn_t *c = NULL;
	int err = 0;

	if (self->n_conns >= FLOE_NODE_MAX_CONNS) {
		err = ENOSPC;
		goto out;
	}
	if (self->n_conns == self->cap_conns) {
		size_t cap = self->cap_conns ? self->cap_conns * 2 : 16;
		node_conn_t **grown;

		/* Grown under the lock: snapshot readers walk the array. */
		node_table_lock(self);
		grown = realloc(self->conns, cap * sizeof(*grown));
		if (grown) {
			self->conns = grown;
			self->cap_conns = cap;
		}
		node_table_unlock(self);
		if (!grown) {
			err = ENOMEM;
			goto out;
		}
	}
	c = malloc(sizeof(*c));
	if (!c) {
		err = ENOMEM;
		goto out;
	}
	*c = *ident;
	c->tag = ++self->next_tag;
	cfg.tag = c->tag;
	cfg.cid = c->label;
	cfg.client_id = c->client_id[0] ? c->client_id : NULL;
	cfg.wg_device = self->wg;
	cfg.parent_endpoint = floe_mailbox_endpoint(self->mailbox);
	cfg.parent_inbox = self->inbox;
	cfg.pool = self->pool;
	c->conn = floe_conn_new(self->ctx, &cfg);
	if (!c->conn) {
		err = errno ? errno : EIO;
		goto out;
	}
	node_table_lock(self);
	self->conns[self->n_conns++] = c;
	node_table_unlock(self);
out:
	sodium_memzero(&cfg, sizeof(cfg));
	if (err && c) {
		floe_conn_destroy(&c->conn);
		free(c);
		c = NULL;
	}
	if (err) {
		floe_log(FLOE_LOG_WARNING, NODE_LOG, "Failed to create connection",
			 FLOE_F_STR("cid", ident->label), FLOE_F_STR("error", strerror(err)));
		errno = err;
	}
	return c;
}

void node_conn_reap(floe_node_t *self, node_conn_t *c, const char *why)
{
	floe_counters_snapshot_t last;

	floe_log(FLOE_LOG_INFO, NODE_LOG, "Connection closed", FLOE_F_STR("cid", c->label),
		 FLOE_F_STR("client_id", c->client_id[0] ? c->client_id : NULL), FLOE_F_STR("reason", why));
	/* The last event of this id: the application forgets it now. */
	node_event_emit(self, FLOE_EVENT_CLOSED, c, why);
	if (self->cfg.role == FLOE_ROLE_CLIENT && !self->app_signal)
		node_flow_forget(self, c);
	else
		floe_allowedips_remove_owner(self->routes, c);
	if (self->cfg.role == FLOE_ROLE_GATEWAY)
		node_flow_host_routes(self, c, false);
	/*
	 * Leave the table and fold the final counters in at one moment, so
	 * the totals never go down. A connection still running (a
	 * replacement) may count a few more events before its thread joins;
	 * those are lost, never double-counted.
	 */
	node_table_lock(self);
	for (size_t i = 0; i < self->n_conns; i++) {
		if (self->conns[i] == c) {
			self->conns[i] = self->conns[--self->n_conns];
			break;
		}
	}
	floe_conn_counters(c->conn, &last);
	floe_counters_sum(&self->closed, &last, 1);
	node_table_unlock(self);
	floe_conn_destroy(&c->conn);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

void node_conn_send(floe_node_t *self, node_conn_t *c, floe_msg_t *m)
{
	if (!m)
		return;
	/* A full inbox drops the packet: counted here, as the node is the
	 * one that saw it full. floe_conn_post, not a mailbox sender: no fd
	 * per connection on the node's side. */
	if (floe_conn_post(c->conn, &m) == -EAGAIN)
		floe_counters_inc(&self->counters, FLOE_COUNTER_MAILBOX_DROPS);
}

/* ---- the packet path ---- */

static void drop_unknown(floe_node_t *self, int family, const uint8_t *dst)
{
	char a[INET6_ADDRSTRLEN] = "?";

	floe_counters_inc(&self->counters, FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION);
	if (dst)
		inet_ntop(family, dst, a, sizeof(a));
	floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Unknown client, perhaps already disconnected?",
			     FLOE_F_STR("dst", a));
}

/* A packet from the device: to the connection its destination routes to. */
static void route_device_packet(floe_node_t *self, floe_msg_t **m_p)
{
	const uint8_t *dst;
	node_conn_t *c = NULL;
	int family;

	if (floe_ip_packet_dst(floe_msg_data(*m_p), floe_msg_len(*m_p), &family, &dst) < 0) {
		drop_unknown(self, AF_UNSPEC, NULL);
		goto drop;
	}
	/* A gateway, or any node without a portal (WireGuard's AllowedIPs):
	 * the routes' owners are connections. */
	if (self->cfg.role == FLOE_ROLE_GATEWAY || self->app_signal) {
		c = floe_allowedips_lookup(self->routes, family, dst);
	} else {
		node_resource_t *res = floe_allowedips_lookup(self->routes, family, dst);

		/* No connection yet: ask for a flow; the new connection's
		 * ring buffers this packet and the next ones while it connects. */
		if (res)
			c = res->conn ? res->conn : node_flow_request(self, res, node_now_ms());
	}
	if (!c) {
		drop_unknown(self, family, dst);
		goto drop;
	}
	node_conn_send(self, c, *m_p);
	*m_p = NULL;
	return;
drop:
	floe_msg_destroy(m_p);
}

/* Writes what the GRO gathered: one TUN write for up to 64 KiB of TCP. */
static void tun_flush(floe_node_t *self)
{
	size_t len;
	const uint8_t *f = floe_offload_gro_take(&self->tun_gro, &len);

	if (f)
		(void)floe_tun_write_frame(self->tun, f, len);
}

/* With offloads, consecutive TCP segments of one flow become one write
 * (transport/net/offload.h); anything else flushes first: order is kept. */
static void tun_gather(floe_node_t *self, const uint8_t *pkt, size_t len)
{
	int r = floe_offload_gro_add(&self->tun_gro, pkt, len);

	if (r == -EAGAIN) {
		tun_flush(self);
		r = floe_offload_gro_add(&self->tun_gro, pkt, len);
	}
	if (r == 0)
		return;
	tun_flush(self);
	(void)floe_tun_write(self->tun, pkt, len);
}

static void device_out(floe_node_t *self, floe_msg_t **m_p)
{
	if (self->tun && self->tun_frame) {
		tun_gather(self, floe_msg_data(*m_p), floe_msg_len(*m_p));
		floe_msg_destroy(m_p);
		return;
	}
	if (self->tun) {
		floe_tun_write(self->tun, floe_msg_data(*m_p), floe_msg_len(*m_p));
		floe_msg_destroy(m_p);
		return;
	}
	if (floe_mailbox_send(self->to_dev, m_p) == -EAGAIN)
		floe_counters_inc(&self->counters, FLOE_COUNTER_MAILBOX_DROPS);
	else
		node_device_signal(self);
}

/* Without a portal, WireGuard's rule: a peer's packet must come from one of
 * its allowed IPs, i.e. route back to the same connection. */
static bool source_allowed(floe_node_t *self, node_conn_t *c, floe_msg_t *m)
{
	const uint8_t *src;
	int family;

	if (floe_ip_packet_src(floe_msg_data(m), floe_msg_len(m), &family, &src) < 0)
		return false;
	return floe_allowedips_lookup(self->routes, family, src) == c;
}

/* A decrypted packet from a connection. A gateway lets it out only if the
 * client's grants allow it and it comes from the client's tunnel address. */
static void deliver(floe_node_t *self, node_conn_t *c, floe_msg_t **m_p)
{
	if (self->app_signal) {
		if (!source_allowed(self, c, *m_p)) {
			floe_counters_inc(&self->counters, FLOE_COUNTER_ACL_DROPS);
			floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Packet from outside the peer's allowed IPs",
					     FLOE_F_STR("cid", c->label));
			floe_msg_destroy(m_p);
			return;
		}
	} else if (self->cfg.role == FLOE_ROLE_GATEWAY) {
		floe_acl_verdict_t v = floe_acl_check(self->acl, c->client_id, c->has_v4 ? c->tun_v4 : NULL,
						      c->has_v6 ? c->tun_v6 : NULL, floe_msg_data(*m_p),
						      floe_msg_len(*m_p), (int64_t)time(NULL));

		if (v != FLOE_ACL_ALLOW) {
			floe_counters_inc(&self->counters, FLOE_COUNTER_ACL_DROPS);
			floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Packet dropped by access policy",
					     FLOE_F_STR("cid", c->label), FLOE_F_STR("client_id", c->client_id),
					     FLOE_F_STR("reason", floe_acl_verdict_name(v)));
			floe_msg_destroy(m_p);
			return;
		}
	}
	device_out(self, m_p);
}

/* One packet split off a TSO frame: into a pooled message of its own. */
static int emit_tun_segment(void *ctx, const uint8_t *pkt, size_t len)
{
	floe_node_t *self = ctx;
	floe_msg_t *m = floe_msg_new(self->pool, FLOE_MSG_TUN_PACKET);

	if (!m || len > floe_msg_tailroom(m)) {
		floe_counters_inc(&self->counters, FLOE_COUNTER_MAILBOX_DROPS);
		floe_msg_destroy(&m);
		return 0;
	}
	memcpy(floe_msg_data(m), pkt, len);
	if (floe_msg_set_len(m, len) == 0)
		route_device_packet(self, &m);
	floe_msg_destroy(&m);
	return 0;
}

/* With TUN offloads a read may be a 64 KiB TCP frame (one syscall and one
 * pass through the sender's TCP stack instead of ~45): split it into
 * MTU-sized packets (transport/net/offload.h). */
static void read_tun_offload(floe_node_t *self)
{
	for (int i = 0; i < FLOE_TUN_BATCH_MAX; i++) {
		floe_tun_pkt_t frame = { .buf = self->tun_frame, .cap = NODE_TUN_FRAME_BYTES };
		int r = floe_tun_read_batch(self->tun, &frame, 1);

		if (r <= 0)
			return;
		r = floe_offload_split(frame.buf, frame.len, self->tun_seg, NODE_TUN_SEG_BYTES,
				       emit_tun_segment, self);
		if (r < 0) {
			self->tun_offload_drops++;
			floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "TUN frame not split, dropped",
					     FLOE_F_I64("error", r),
					     FLOE_F_U64("offload_drops", self->tun_offload_drops));
		}
	}
}

static void read_tun(floe_node_t *self)
{
	floe_tun_pkt_t pkts[FLOE_TUN_BATCH_MAX];
	floe_msg_t *msgs[FLOE_TUN_BATCH_MAX];
	size_t n = 0;
	int got;

	if (self->tun_frame) {
		read_tun_offload(self);
		return;
	}
	while (n < FLOE_TUN_BATCH_MAX) {
		msgs[n] = floe_msg_new(self->pool, FLOE_MSG_TUN_PACKET);
		if (!msgs[n])
			break;
		pkts[n] = (floe_tun_pkt_t){ .buf = floe_msg_data(msgs[n]), .cap = floe_msg_tailroom(msgs[n]) };
		n++;
	}
	got = n ? floe_tun_read_batch(self->tun, pkts, n) : 0;
	for (size_t i = 0; i < n; i++) {
		if ((int)i < got && floe_msg_set_len(msgs[i], pkts[i].len) == 0)
			route_device_packet(self, &msgs[i]);
		floe_msg_destroy(&msgs[i]);
	}
}

/* ---- events from the connections ---- */

static void handle_conn_event(floe_node_t *self, node_conn_t *c, floe_msg_t **m_p)
{
	floe_msg_t *m = *m_p;
	const char *text;

	switch (floe_msg_type(m)) {
	case FLOE_CONN_DELIVER:
		deliver(self, c, m_p);
		return;
	case FLOE_CONN_EV_LOCAL_CANDIDATE:
		text = floe_conn_msg_text(m);
		if (text && self->app_signal)
			node_event_emit(self, FLOE_EVENT_LOCAL_CANDIDATE, c, text);
		else if (text)
			node_flow_local_candidate(self, c, text);
		break;
	case FLOE_CONN_EV_GATHERING_DONE:
		if (self->app_signal)
			node_event_emit(self, FLOE_EVENT_GATHERING_DONE, c, NULL);
		else
			node_flow_gathering_done(self, c);
		break;
	case FLOE_CONN_EV_NOMINATED:
		if (floe_msg_len(m) == sizeof(floe_ice_path_t)) {
			node_table_lock(self);
			memcpy(&c->path, floe_msg_data(m), sizeof(c->path));
			c->path.local_addr[sizeof(c->path.local_addr) - 1] = 0;
			c->path.remote_addr[sizeof(c->path.remote_addr) - 1] = 0;
			c->has_path = true;
			node_table_unlock(self);
			node_event_path(self, c);
		}
		break;
	case FLOE_CONN_EV_ESTABLISHED:
		floe_log(FLOE_LOG_INFO, NODE_LOG, "Connection established", FLOE_F_STR("cid", c->label),
			 FLOE_F_STR("client_id", c->client_id[0] ? c->client_id : NULL));
		node_event_emit(self, FLOE_EVENT_ESTABLISHED, c, NULL);
		break;
	case FLOE_CONN_EV_FAILED: {
		char why[128], resource[FLOE_SIGNAL_ID_CAP];
		bool silent, direct;

		text = floe_conn_msg_text(m);
		snprintf(why, sizeof(why), "failed: %s", text ? text : "?");
		node_event_emit(self, FLOE_EVENT_FAILED, c, text ? text : "?");
		/* A client's path went silent (liveness): replace it at once. */
		silent = text && (!strcmp(text, FLOE_CONN_REASON_SILENT) || !strcmp(text, FLOE_CONN_REASON_NO_HANDSHAKE)) &&
			 !self->app_signal;
		direct = c->has_path && c->path.local_type != FLOE_ICE_CAND_RELAY &&
			 c->path.remote_type != FLOE_ICE_CAND_RELAY;
		snprintf(resource, sizeof(resource), "%s", c->resource);
		node_conn_reap(self, c, why);
		/* A path that died with a change of the network (a new NAT
		 * mapping) most likely took our TCP link to the portal along:
		 * silence would tell only after FLOE_PORTAL_DEAD_AFTER_MS, and
		 * the replacement's request sent on it would be lost. Dial
		 * again first; the request goes out on the welcome. */
		if (silent && !strcmp(text, FLOE_CONN_REASON_SILENT))
			(void)floe_portal_client_redial(self->portal, node_now_ms());
		if (silent)
			node_flow_replace_silent(self, resource, direct, node_now_ms());
		break;
	}
	default:
		break;
	}
	floe_msg_destroy(m_p);
}

/* A connection's event or delivered packet. */
static void handle_from_conn(floe_node_t *self, floe_msg_t **m_p)
{
	node_conn_t *c = node_conn_by_tag(self, floe_msg_arg(*m_p));

	/* Events queued by a connection reaped since are stale. */
	if (c)
		handle_conn_event(self, c, m_p);
	else
		floe_msg_destroy(m_p);
}

/* Everything the connections posted so far. */
static void handle_inbox(floe_node_t *self)
{
	floe_msg_t *batch[NODE_RX_BATCH_MSGS];
	int n;

	while ((n = floe_inbox_take(self->inbox, batch, NODE_RX_BATCH_MSGS)) > 0) {
		for (int i = 0; i < n; i++)
			handle_from_conn(self, &batch[i]);
		if (self->tun_frame)
			tun_flush(self); /* what this batch gathered */
	}
}

/* Returns true on TERM. */
static bool handle_mailbox(floe_node_t *self)
{
	floe_msg_t *batch[NODE_RX_BATCH_MSGS];
	int n = floe_mailbox_recv_batch(self->mailbox, batch, NODE_RX_BATCH_MSGS);
	bool term = false;

	for (int i = 0; i < n; i++) {
		floe_msg_t **m_p = &batch[i];
		uint16_t type = floe_msg_type(*m_p);

		if (term) {
			floe_msg_destroy(m_p);
		} else if (type == FLOE_MSG_CONTROL) {
			if (floe_msg_is_term(*m_p)) {
				term = true;
			} else if (floe_msg_code(*m_p) == FLOE_CONTROL_CHILD_EXITED) {
				node_conn_t *c;

				/* Its last events (FAILED and why) were posted before
				 * it exited: handle them before it is forgotten (they
				 * may reap it, so look it up after). */
				handle_inbox(self);
				c = by_actor_id(self, floe_msg_arg(*m_p));
				if (c)
					node_conn_reap(self, c, "exited");
			}
			floe_msg_destroy(m_p);
		} else if (type == FLOE_MSG_TUN_PACKET) {
			route_device_packet(self, m_p);
		} else {
			handle_from_conn(self, m_p);
		}
	}
	return term;
}

/* ---- the actor ---- */

/*
 * Roaming (docs/nat.md): a client with a portal replaces its connections
 * as soon as a local address changes. Without the watch (no netlink
 * socket) liveness still notices a dead path, only later.
 */
static void start_addrwatch(floe_node_t *self)
{
	int err = 0;

	if (!self->portal)
		return;
	self->addrwatch = floe_addrwatch_new(&err);
	if (!self->addrwatch) {
		floe_log(FLOE_LOG_WARNING, NODE_LOG, "Cannot watch local addresses; roaming relies on liveness",
			 FLOE_F_I64("error", err));
		return;
	}
	if (self->tun)
		floe_addrwatch_ignore(self->addrwatch, floe_tun_ifindex(self->tun));
	/* Pinned addresses: nothing else can carry our candidates, and other
	 * programs' address changes must not replace our connections. */
	if (self->cfg.n_local_addrs &&
	    floe_addrwatch_only(self->addrwatch, (const char *const *)self->cfg.local_addrs,
				self->cfg.n_local_addrs) != 0) {
		floe_log(FLOE_LOG_WARNING, NODE_LOG, "Cannot watch the pinned local addresses; roaming relies on liveness");
		floe_addrwatch_destroy(&self->addrwatch);
	}
}

static int setup_tun(floe_node_t *self)
{
	int err = 0;
	floe_cidr_t cidr;

	self->tun = floe_tun_new_flags(self->cfg.tun_name, FLOE_TUN_F_OFFLOAD, &err);
	if (self->tun) {
		self->tun_frame = malloc(NODE_TUN_BUF_BYTES);
		if (self->tun_frame) {
			self->tun_seg = self->tun_frame + NODE_TUN_FRAME_BYTES;
			floe_offload_gro_init(&self->tun_gro, self->tun_seg + NODE_TUN_SEG_BYTES);
		} else {
			floe_tun_destroy(&self->tun); /* without the buffer: no offloads */
		}
	}
	if (!self->tun) /* a kernel without TUN offloads, or no memory for them */
		self->tun = floe_tun_new(self->cfg.tun_name, &err);
	if (!self->tun) {
		snprintf(self->err, sizeof(self->err), "TUN %s: %s", self->cfg.tun_name ? self->cfg.tun_name : "",
			 strerror(-err));
		return err ? err : -EIO;
	}
	err = floe_tun_set_up(self->tun, self->cfg.mtu ? self->cfg.mtu : FLOE_NODE_DEFAULT_MTU);
	for (size_t i = 0; !err && i < self->cfg.n_tun_addresses; i++) {
		err = floe_cidr_parse(self->cfg.tun_addresses[i], &cidr);
		if (!err)
			err = floe_tun_add_address(self->tun, &cidr);
		if (err)
			snprintf(self->err, sizeof(self->err), "TUN address %s: %s",
				 self->cfg.tun_addresses[i], strerror(-err));
	}
	for (size_t i = 0; !err && i < self->cfg.n_tun_routes; i++) {
		err = floe_cidr_parse(self->cfg.tun_routes[i], &cidr);
		if (!err) {
			floe_cidr_mask(&cidr);
			err = floe_tun_add_route(self->tun, &cidr);
		}
		if (err)
			snprintf(self->err, sizeof(self->err), "TUN route %s: %s", self->cfg.tun_routes[i],
				 strerror(-err));
	}
	if (err && !self->err[0])
		snprintf(self->err, sizeof(self->err), "TUN up: %s", strerror(-err));
	return err;
}

static int poll_timeout_ms(floe_node_t *self, uint64_t now)
{
	uint64_t next = floe_portal_client_next_deadline_ms(self->portal);

	if (self->acl && self->next_acl_ms < next)
		next = self->next_acl_ms;
	if (self->roam_at_ms && self->roam_at_ms < next)
		next = self->roam_at_ms;
	if (next <= now)
		return 0;
	return next - now > 1000 ? 1000 : (int)(next - now);
}

static void node_teardown(floe_node_t *self)
{
	floe_wg_device_stats_t ds;

	while (self->n_conns)
		node_conn_reap(self, self->conns[self->n_conns - 1], "node stopping");
	/* The admission's totals (a flood's trace: cookies, rate-limited
	 * sources), which no connection's counters hold; as floe-wg logs. */
	floe_wg_device_stats(self->wg, &ds);
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Device stats", FLOE_F_U64("handshakes_seen", ds.handshakes_seen),
		 FLOE_F_U64("cookie_replies_sent", ds.cookie_replies_sent),
		 FLOE_F_U64("ratelimited_drops", ds.ratelimited_drops), FLOE_F_U64("mac1_drops", ds.mac1_drops),
		 FLOE_F_U64("under_load_entered", ds.under_load_entered));
	floe_portal_client_destroy(&self->portal);
	floe_addrwatch_destroy(&self->addrwatch);
	floe_tun_destroy(&self->tun);
	/* The GRO buffer held decrypted plaintext. */
	if (self->tun_frame)
		sodium_memzero(self->tun_frame, NODE_TUN_BUF_BYTES);
	free(self->tun_frame);
	self->tun_frame = NULL;
	floe_acl_destroy(&self->acl);
	floe_allowedips_destroy(&self->routes);
	floe_mailbox_sender_destroy(&self->to_dev);
	/* After the connections: nobody posts any more. */
	floe_inbox_destroy(&self->inbox);
	atomic_store(&self->portal_up, false);
	node_signal_close(self);
}

int node_run(floe_actor_t *actor, floe_mailbox_t *mailbox, void *args)
{
	floe_node_t *self = args;
	int rc = -ENOMEM;

	(void)actor;
	self->mailbox = mailbox;
	self->routes = floe_allowedips_new();
	self->inbox = floe_inbox_new(NODE_INBOX_MSGS, NODE_INBOX_RESERVE_MSGS, true);
	if (!self->routes || !self->inbox)
		goto fail;
	if (self->cfg.role == FLOE_ROLE_GATEWAY && !(self->acl = floe_acl_new()))
		goto fail;
	if (self->dev_out && !(self->to_dev = floe_mailbox_sender_new(self->ctx, floe_mailbox_endpoint(self->dev_out))))
		goto fail;
	if (self->cfg.device == FLOE_NODE_DEVICE_TUN && (rc = setup_tun(self)) < 0)
		goto fail;
	if (self->app_signal)
		goto ready;
	self->portal = floe_portal_client_new_worker(self->zmq_portal_ctx, self->cfg.portal_endpoint,
						     self->cfg.portal_public_key, self->private_key,
						     self->cfg.role == FLOE_ROLE_CLIENT ? FLOE_SIGNAL_ROLE_CLIENT
											: FLOE_SIGNAL_ROLE_GATEWAY,
						     (int)self->cfg.worker, (int)self->cfg.workers, node_now_ms());
	if (!self->portal) {
		rc = errno ? -errno : -EINVAL;
		snprintf(self->err, sizeof(self->err), "portal %s: %s", self->cfg.portal_endpoint, strerror(-rc));
		goto fail;
	}
	if (self->cfg.role == FLOE_ROLE_CLIENT)
		start_addrwatch(self);
ready:
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Node started", FLOE_F_STR("role", floe_role_name(self->cfg.role)),
		 FLOE_F_STR("portal", self->cfg.portal_endpoint));
	floe_actor_ready(actor);
	for (;;) {
		zmq_pollitem_t items[6];
		int n = 0, portal_i = -1, tun_i = -1, cmd_i, inbox_i, watch_i = -1;
		uint64_t now = node_now_ms();

		floe_mailbox_pollitem(mailbox, &items[n++]);
		items[n] = (zmq_pollitem_t){ .fd = self->cmd_fd, .events = ZMQ_POLLIN };
		cmd_i = n++;
		items[n] = (zmq_pollitem_t){ .fd = floe_inbox_fd(self->inbox), .events = ZMQ_POLLIN };
		inbox_i = n++;
		if (floe_portal_client_pollitem(self->portal, &items[n]) == 0)
			portal_i = n++;
		if (self->tun) {
			items[n] = (zmq_pollitem_t){ .fd = floe_tun_fd(self->tun), .events = ZMQ_POLLIN };
			tun_i = n++;
		}
		if (self->addrwatch) {
			items[n] = (zmq_pollitem_t){ .fd = floe_addrwatch_fd(self->addrwatch), .events = ZMQ_POLLIN };
			watch_i = n++;
		}
		if (zmq_poll(items, n, poll_timeout_ms(self, now)) < 0 && zmq_errno() != EINTR)
			break;
		if ((items[0].revents & ZMQ_POLLIN) && handle_mailbox(self))
			break;
		if (items[inbox_i].revents & ZMQ_POLLIN)
			handle_inbox(self);
		if (items[cmd_i].revents & ZMQ_POLLIN)
			node_signal_handle(self);
		if (portal_i >= 0 && (items[portal_i].revents & ZMQ_POLLIN))
			node_flow_handle_portal(self);
		if (tun_i >= 0 && (items[tun_i].revents & ZMQ_POLLIN))
			read_tun(self);
		now = node_now_ms();
		/* The first change arms the timer, later ones join it: the
		 * replacement comes NODE_ROAM_SETTLE_MS after the first. */
		if (watch_i >= 0 && (items[watch_i].revents & ZMQ_POLLIN) &&
		    floe_addrwatch_read(self->addrwatch) > 0 && !self->roam_at_ms)
			self->roam_at_ms = now + NODE_ROAM_SETTLE_MS;
		if (self->roam_at_ms && now >= self->roam_at_ms) {
			self->roam_at_ms = 0;
			node_flow_roam(self, now);
		}
		if (self->portal)
			node_flow_tick(self, now);
		if (self->acl && now >= self->next_acl_ms) {
			floe_acl_expire(self->acl, (int64_t)time(NULL), NULL, NULL);
			self->next_acl_ms = now + NODE_ACL_TICK_MS;
		}
	}
	node_teardown(self);
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Node stopped");
	return 0;
fail:
	if (!self->err[0])
		snprintf(self->err, sizeof(self->err), "node start: %s", strerror(-rc));
	node_teardown(self);
	return rc;
}
