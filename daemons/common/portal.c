/*
 * The portal: sessions, policy, the flow table, relay of ICE candidates,
 * reload and expiry. See portal.h for the contract.
 */
#include "daemons/common/portal.h"
#include "daemons/common/portal_zap.h"
#include "daemons/common/turn_refresh.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/log.h"
#include "transport/signal/proto.h"

#define LOG_TARGET "floe::portal"

enum {
	RID_MAX_BYTES = 256, /* ZeroMQ routing ids are at most 255 bytes */
};

/* One process's ZeroMQ connection: a node's, or one worker's of a sharded gateway. */
typedef struct {
	bool online;           /* said hello and pinged within the dead time */
	uint8_t rid[RID_MAX_BYTES];
	size_t rid_len;
	uint64_t last_seen_ms;
	char boot_id[FLOE_SIGNAL_BOOT_ID_CAP]; /* from its last hello */
	uint64_t relays_due_ms; /* welcome again: fresh TURN credentials (turn_refresh.h); 0 = never */
} link_t;

/*
 * One per configured node, kept across reloads by public key. A node has
 * one link; a sharded gateway one per worker (n_workers, from its hellos),
 * and stays one identity: one entry here, in the flow table and in logs.
 */
typedef struct {
	char key_b64[FLOE_SIGNAL_KEY_CAP];
	bool gateway;
	size_t index;          /* into cfg->gateways or cfg->clients */
	unsigned n_workers;    /* >= 1 */
	link_t *links;         /* n_workers entries, owned */
} session_t;

typedef enum {
	FLOW_FREE = 0,
	FLOW_AUTHORIZING,  /* authorize_flow sent; waiting for the gateway */
	FLOW_ESTABLISHED,  /* granted; relaying candidates */
} flow_state_t;

typedef struct {
	flow_state_t state;
	char cid[FLOE_SIGNAL_CID_CAP];
	char client_key[FLOE_SIGNAL_KEY_CAP];
	char gateway_key[FLOE_SIGNAL_KEY_CAP];
	floe_signal_resource_t resource;
	unsigned worker;               /* the gateway's worker holding it (floe_portal_place) */
	char psk[FLOE_SIGNAL_KEY_CAP]; /* until granted; wiped when the flow leaves AUTHORIZING */
	uint64_t deadline_ms;          /* authorize timeout, then idle timeout */
} flow_t;

struct floe_portal {
	void *ctx;
	void *router;
	floe_portal_zap_t *zap;
	char endpoint[FLOE_PORTAL_CONFIG_LISTEN_BYTES];
	floe_portal_config_t *cfg;
	session_t *sessions;
	size_t n_sessions;
	/* Open addressing over sessions by key hash: index + 1, 0 = empty;
	 * index_cap a power of two >= 2 n_sessions. Every frame is looked up
	 * by its sender's key, and 10,000 clients made a linear scan cost. */
	uint32_t *session_index;
	size_t index_cap;
	bool *grant_expired;      /* per cfg grant: revoke already pushed */
	flow_t *flows;            /* FLOE_PORTAL_MAX_FLOWS entries */
	/* Per flow slot: 0 = free, else a hash of its cid (never 0). Scanned
	 * instead of the flows themselves (8 bytes a slot, not ~600): a lookup
	 * among 10,000 flows stays in the cache. */
	uint64_t *flow_tags;
	size_t flow_hint;         /* where flow_alloc looks first */
	size_t rr_next;           /* round-robin start among gateways */
	uint64_t next_tick_ms;
	floe_portal_stats_t stats;
	char buf[FLOE_SIGNAL_MAX_FRAME_BYTES];
	floe_signal_msg_t in, out; /* large: kept off the stack */
};

static int64_t wall_now_s(void)
{
	return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------ */
/* Sessions and policy                                                 */

static const floe_portal_node_conf_t *session_conf(const floe_portal_t *self, const session_t *s)
{
	return s->gateway ? &self->cfg->gateways[s->index] : &self->cfg->clients[s->index];
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static session_t *session_by_key(floe_portal_t *self, const char *b64)
{
	size_t mask = self->index_cap - 1;

	if (!self->index_cap)
		return NULL;
	for (size_t i = fnv1a(b64) & mask;; i = (i + 1) & mask) {
		uint32_t slot = self->session_index[i];

		if (!slot)
			return NULL;
		if (!strcmp(self->sessions[slot - 1].key_b64, b64))
			return &self->sessions[slot - 1];
	}
}

/* The index of table s (n entries): NULL on ENOMEM. */
static uint32_t *index_build(const session_t *s, size_t n, size_t *cap)
{
	uint32_t *idx;

	*cap = 16;
	while (*cap < 2 * n)
		*cap *= 2;
	idx = calloc(*cap, sizeof(*idx));
	for (size_t k = 0; idx && k < n; k++) {
		size_t i = fnv1a(s[k].key_b64) & (*cap - 1);

		while (idx[i])
			i = (i + 1) & (*cap - 1);
		idx[i] = (uint32_t)(k + 1);
	}
	return idx;
}

/* A node's only link; a sharded gateway's worker 0. */
static link_t *link0(const session_t *s)
{
	return &s->links[0];
}

static bool session_online(const session_t *s)
{
	for (unsigned k = 0; k < s->n_workers; k++) {
		if (s->links[k].online)
			return true;
	}
	return false;
}

/* The worker whose current connection is rid, or -1. */
static int link_by_rid(const session_t *s, const uint8_t *rid, size_t rid_len)
{
	for (unsigned k = 0; k < s->n_workers; k++) {
		const link_t *l = &s->links[k];

		if (l->online && l->rid_len == rid_len && !memcmp(l->rid, rid, rid_len))
			return (int)k;
	}
	return -1;
}

static void sessions_free(session_t *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].links);
	free(s);
}

/* Undoes the moves of a failed rebuild: links taken from the old table go back. */
static void links_give_back(floe_portal_t *self, session_t *s, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		session_t *old = s[j].links ? session_by_key(self, s[j].key_b64) : NULL;

		if (old && !old->links) {
			old->links = s[j].links;
			s[j].links = NULL;
		}
	}
}

/* Rebuilds the session table for cfg, keeping the link state of nodes
 * that stay (by key): their links move to the new table. */
static int sessions_rebuild(floe_portal_t *self, const floe_portal_config_t *cfg)
{
	size_t n = cfg->n_gateways + cfg->n_clients, cap = 0;
	session_t *s = calloc(n ? n : 1, sizeof(*s));
	uint32_t *index = NULL;
	bool ok = true;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bool gw = i < cfg->n_gateways;
		size_t idx = gw ? i : i - cfg->n_gateways;
		const floe_portal_node_conf_t *nc = gw ? &cfg->gateways[idx] : &cfg->clients[idx];
		session_t *old = session_by_key(self, nc->public_key_b64);

		if (old && old->gateway == gw && old->links) {
			s[i] = *old;
			old->links = NULL;
		} else {
			s[i].n_workers = 1;
			s[i].links = calloc(1, sizeof(link_t));
		}
		memcpy(s[i].key_b64, nc->public_key_b64, FLOE_SIGNAL_KEY_CAP);
		s[i].gateway = gw;
		s[i].index = idx;
		ok = ok && s[i].links;
	}
	if (ok)
		index = index_build(s, n, &cap);
	if (!index) {
		links_give_back(self, s, n);
		sessions_free(s, n);
		return -ENOMEM;
	}
	sessions_free(self->sessions, self->n_sessions);
	free(self->session_index);
	self->sessions = s;
	self->n_sessions = n;
	self->session_index = index;
	self->index_cap = cap;
	return 0;
}

static bool grant_active(const floe_portal_grant_conf_t *g, int64_t now_s)
{
	return !g->has_expiry || g->expires_s > now_s;
}

/*
 * The resource as granted to a client: expires is the latest expiry among
 * its active grants, or null when one of them never expires. false when
 * the client holds no active grant for it.
 */
static bool granted_resource(const floe_portal_config_t *cfg, size_t client, size_t resource,
			     int64_t now_s, floe_signal_resource_t *out)
{
	bool any = false, forever = false;
	int64_t latest = 0;

	for (size_t i = 0; i < cfg->n_grants; i++) {
		const floe_portal_grant_conf_t *g = &cfg->grants[i];

		if (g->client != client || g->resource != resource || !grant_active(g, now_s))
			continue;
		any = true;
		if (!g->has_expiry)
			forever = true;
		else if (g->expires_s > latest)
			latest = g->expires_s;
	}
	if (!any)
		return false;
	*out = cfg->resources[resource].res;
	memset(out->expires, 0, sizeof(out->expires));
	if (!forever && floe_signal_time_format(latest, out->expires) < 0)
		memset(out->expires, 0, sizeof(out->expires));
	return true;
}

static void client_resources(const floe_portal_config_t *cfg, size_t client, int64_t now_s,
			     floe_signal_resource_list_t *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t r = 0; r < cfg->n_resources && out->n < FLOE_SIGNAL_MAX_RESOURCES; r++) {
		if (granted_resource(cfg, client, r, now_s, &out->items[out->n]))
			out->n++;
	}
}

static bool gateway_serves(const floe_portal_node_conf_t *gw, size_t resource)
{
	for (size_t i = 0; i < gw->n_resources; i++) {
		if (gw->resources[i] == resource)
			return true;
	}
	return false;
}

static void peer_of(const floe_portal_node_conf_t *nc, floe_signal_peer_t *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->id, nc->name, sizeof(p->id));
	memcpy(p->public_key, nc->public_key_b64, sizeof(p->public_key));
	memcpy(p->tunnel_ipv4, nc->tunnel_ipv4, sizeof(p->tunnel_ipv4));
	memcpy(p->tunnel_ipv6, nc->tunnel_ipv6, sizeof(p->tunnel_ipv6));
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */

static int send_link(floe_portal_t *self, const link_t *s, const floe_signal_msg_t *msg)
{
	size_t len = 0;
	int r;

	if (!s->online || s->rid_len == 0) {
		self->stats.send_drops++;
		return -ENOTCONN;
	}
	r = floe_signal_encode(msg, self->buf, sizeof(self->buf), &len);
	if (r < 0) {
		floe_log(FLOE_LOG_ERROR, LOG_TARGET, "Cannot encode message",
			 FLOE_F_STR("type", floe_signal_type_name(msg->type)), FLOE_F_I64("error", r));
		return r;
	}
	/* ROUTER_MANDATORY: a vanished peer gives EHOSTUNREACH instead of a silent drop */
	if (zmq_send(self->router, s->rid, s->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(self->router, self->buf, len, ZMQ_DONTWAIT) < 0) {
		r = -errno;
		self->stats.send_drops++;
	} else {
		self->stats.tx_msgs++;
	}
	sodium_memzero(self->buf, len); /* PSKs and ICE passwords */
	return r;
}

/* To a client, or to a gateway's worker 0. */
static int send_to(floe_portal_t *self, const session_t *s, const floe_signal_msg_t *msg)
{
	return send_link(self, link0(s), msg);
}

static void send_error(floe_portal_t *self, const uint8_t *rid, size_t rid_len, const char *reason)
{
	link_t tmp = { .online = true, .rid_len = rid_len };

	memcpy(tmp.rid, rid, rid_len);
	self->out.type = FLOE_SIGNAL_ERROR;
	snprintf(self->out.u.error.reason, sizeof(self->out.u.error.reason), "%s", reason);
	send_link(self, &tmp, &self->out);
	floe_signal_msg_wipe(&self->out);
}

static void deny(floe_portal_t *self, const session_t *client, const char *resource, const char *reason)
{
	floe_signal_msg_t *m = &self->out;

	memset(m, 0, sizeof(*m));
	m->type = FLOE_SIGNAL_FLOW_DENIED;
	snprintf(m->u.flow_denied.resource, sizeof(m->u.flow_denied.resource), "%s", resource);
	snprintf(m->u.flow_denied.reason, sizeof(m->u.flow_denied.reason), "%s", reason);
	send_to(self, client, m);
	self->stats.flows_denied++;
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Flow denied",
		 FLOE_F_STR("client_id", session_conf(self, client)->name), FLOE_F_STR("resource", resource),
		 FLOE_F_STR("reason", reason));
}

static void push_resources(floe_portal_t *self, const session_t *client, int64_t now_s)
{
	floe_signal_msg_t *m = &self->out;

	memset(m, 0, sizeof(*m));
	m->type = FLOE_SIGNAL_RESOURCES;
	client_resources(self->cfg, client->index, now_s, &m->u.resources.resources);
	send_to(self, client, m);
}

/* revoke (grant == NULL) or grant, to every online gateway serving the resource. */
static void push_to_gateways(floe_portal_t *self, const floe_portal_config_t *cfg, size_t client,
			     size_t resource, const floe_signal_resource_t *grant)
{
	floe_signal_msg_t *m = &self->out;

	for (size_t g = 0; g < cfg->n_gateways; g++) {
		session_t *s = session_by_key(self, cfg->gateways[g].public_key_b64);

		if (!s || !session_online(s) || !gateway_serves(&cfg->gateways[g], resource))
			continue;
		memset(m, 0, sizeof(*m));
		if (grant) {
			m->type = FLOE_SIGNAL_GRANT;
			peer_of(&cfg->clients[client], &m->u.grant.client);
			m->u.grant.resource = *grant;
		} else {
			m->type = FLOE_SIGNAL_REVOKE;
			peer_of(&cfg->clients[client], &m->u.revoke.client);
			memset(m->u.revoke.client.tunnel_ipv4, 0, sizeof(m->u.revoke.client.tunnel_ipv4));
			memset(m->u.revoke.client.tunnel_ipv6, 0, sizeof(m->u.revoke.client.tunnel_ipv6));
			memcpy(m->u.revoke.resource, cfg->resources[resource].res.id, FLOE_SIGNAL_ID_CAP);
		}
		/* every worker: policy is per gateway, whichever holds the flow */
		for (unsigned k = 0; k < s->n_workers; k++) {
			if (!s->links[k].online || send_link(self, &s->links[k], m) < 0)
				continue;
			if (grant)
				self->stats.grants_sent++;
			else
				self->stats.revokes_sent++;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Flows                                                               */

static uint64_t cid_tag(const char *cid)
{
	return fnv1a(cid) | 1;
}

static void flow_free(floe_portal_t *self, flow_t *f)
{
	self->flow_tags[f - self->flows] = 0;
	sodium_memzero(f, sizeof(*f));
}

static flow_t *flow_by_cid(floe_portal_t *self, const char *cid)
{
	uint64_t tag = cid_tag(cid);

	for (size_t i = 0; i < FLOE_PORTAL_MAX_FLOWS; i++) {
		if (self->flow_tags[i] == tag && !strcmp(self->flows[i].cid, cid))
			return &self->flows[i];
	}
	return NULL;
}

/* A free slot, tagged with cid (which the caller writes into it). */
static flow_t *flow_alloc(floe_portal_t *self, const char *cid)
{
	for (size_t n = 0; n < FLOE_PORTAL_MAX_FLOWS; n++) {
		size_t i = (self->flow_hint + n) % FLOE_PORTAL_MAX_FLOWS;

		if (!self->flow_tags[i]) {
			self->flow_tags[i] = cid_tag(cid);
			self->flow_hint = i + 1;
			return &self->flows[i];
		}
	}
	return NULL;
}

/* Forgets the flows of a (client, resource) pair whose grant went away. */
static void flows_drop_pair(floe_portal_t *self, const char *client_key, const char *resource)
{
	for (size_t i = 0; i < FLOE_PORTAL_MAX_FLOWS; i++) {
		flow_t *f = &self->flows[i];

		if (!self->flow_tags[i])
			continue;
		if (f->state != FLOW_FREE && !strcmp(f->client_key, client_key) &&
		    !strcmp(f->resource.id, resource))
			flow_free(self, f);
	}
}

unsigned floe_portal_place(const char *client_key_b64, unsigned workers)
{
	/* FNV-1a over the key's text: the same on every portal and every
	 * restart, so a client's flows always land on the same worker. */
	if (!client_key_b64 || workers <= 1)
		return 0;
	return (unsigned)(fnv1a(client_key_b64) % workers);
}

/*
 * Round-robin among gateways serving the resource whose worker for this
 * client (floe_portal_place) is online. A sharded gateway whose worker for
 * the client is down is passed over: the client is never moved to another
 * worker (its flows stay on one process); *worker_down says why none was
 * found, and the client asks again with its next packet.
 */
static session_t *pick_gateway(floe_portal_t *self, size_t resource, const char *client_key,
			       unsigned *worker, bool *worker_down)
{
	const floe_portal_config_t *cfg = self->cfg;

	*worker_down = false;
	for (size_t k = 0; k < cfg->n_gateways; k++) {
		size_t g = (self->rr_next + k) % cfg->n_gateways;
		session_t *s = session_by_key(self, cfg->gateways[g].public_key_b64);
		unsigned w;

		if (!s || !session_online(s) || !gateway_serves(&cfg->gateways[g], resource))
			continue;
		w = floe_portal_place(client_key, s->n_workers);
		if (!s->links[w].online) {
			*worker_down = true;
			continue;
		}
		self->rr_next = g + 1;
		*worker = w;
		return s;
	}
	return NULL;
}

static void on_request_flow(floe_portal_t *self, session_t *client, uint64_t now_ms)
{
	const floe_signal_msg_t *in = &self->in;
	const char *rid = in->u.request_flow.resource;
	floe_signal_msg_t *m = &self->out;
	uint8_t psk[FLOE_SIGNAL_PSK_LEN];
	floe_signal_resource_t granted;
	long ri = floe_portal_config_find_resource(self->cfg, rid);
	char cid[FLOE_SIGNAL_CID_CAP];
	unsigned worker = 0;
	bool worker_down;
	session_t *gw;
	flow_t *f;

	if (ri < 0 || !granted_resource(self->cfg, client->index, (size_t)ri, wall_now_s(), &granted)) {
		deny(self, client, rid, "no grant");
		return;
	}
	gw = pick_gateway(self, (size_t)ri, client->key_b64, &worker, &worker_down);
	if (!gw) {
		deny(self, client, rid, worker_down ? "gateway worker offline" : "no gateway online");
		return;
	}
	floe_signal_uuid_generate(cid);
	f = flow_alloc(self, cid);
	if (!f) {
		deny(self, client, rid, "portal busy");
		return;
	}
	memcpy(f->cid, cid, sizeof(f->cid));
	memcpy(f->client_key, client->key_b64, FLOE_SIGNAL_KEY_CAP);
	memcpy(f->gateway_key, gw->key_b64, FLOE_SIGNAL_KEY_CAP);
	f->worker = worker;
	f->resource = granted;
	/* A fresh PSK per flow: WireGuard's psk slot, so a flow's session
	 * keys depend on something only this portal handed out. */
	randombytes_buf(psk, sizeof(psk));
	sodium_bin2base64(f->psk, sizeof(f->psk), psk, sizeof(psk), sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(psk, sizeof(psk));
	f->deadline_ms = now_ms + FLOE_PORTAL_AUTHORIZE_TIMEOUT_MS;
	f->state = FLOW_AUTHORIZING;

	memset(m, 0, sizeof(*m));
	m->type = FLOE_SIGNAL_AUTHORIZE_FLOW;
	memcpy(m->u.authorize_flow.cid, f->cid, sizeof(f->cid));
	peer_of(session_conf(self, client), &m->u.authorize_flow.client);
	memcpy(m->u.authorize_flow.psk, f->psk, sizeof(f->psk));
	m->u.authorize_flow.resource = granted;
	m->u.authorize_flow.ice = in->u.request_flow.ice;
	if (send_link(self, &gw->links[worker], m) < 0) {
		floe_signal_msg_wipe(m);
		flow_free(self, f);
		deny(self, client, rid, "gateway unreachable");
		return;
	}
	floe_signal_msg_wipe(m);
	self->stats.flows_authorized++;
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Authorizing flow", FLOE_F_STR("cid", f->cid),
		 FLOE_F_STR("client_id", session_conf(self, client)->name), FLOE_F_STR("resource", rid),
		 FLOE_F_STR("gateway_id", session_conf(self, gw)->name), FLOE_F_U64("worker", worker));
}

/* flow_accepted / flow_rejected: only the flow's gateway worker, only once. */
static void on_gateway_answer(floe_portal_t *self, session_t *gw, unsigned worker, uint64_t now_ms)
{
	const floe_signal_msg_t *in = &self->in;
	bool accepted = in->type == FLOE_SIGNAL_FLOW_ACCEPTED;
	const char *cid = accepted ? in->u.flow_accepted.cid : in->u.flow_rejected.cid;
	flow_t *f = flow_by_cid(self, cid);
	floe_signal_msg_t *m = &self->out;
	session_t *client;

	if (!f || f->state != FLOW_AUTHORIZING || strcmp(f->gateway_key, gw->key_b64) || f->worker != worker) {
		self->stats.unexpected_msgs++;
		floe_log_ratelimited(FLOE_LOG_WARNING, LOG_TARGET, "Answer for a flow this gateway does not hold",
				     FLOE_F_STR("cid", cid), FLOE_F_STR("gateway_id", session_conf(self, gw)->name));
		return;
	}
	client = session_by_key(self, f->client_key);
	if (!client) {
		flow_free(self, f);
		return;
	}
	if (!accepted) {
		char reason[FLOE_SIGNAL_REASON_CAP + 32];

		snprintf(reason, sizeof(reason), "gateway rejected: %s", in->u.flow_rejected.reason);
		deny(self, client, f->resource.id, reason);
		flow_free(self, f);
		return;
	}
	memset(m, 0, sizeof(*m));
	m->type = FLOE_SIGNAL_FLOW_GRANTED;
	memcpy(m->u.flow_granted.cid, f->cid, sizeof(f->cid));
	m->u.flow_granted.resource = f->resource;
	peer_of(session_conf(self, gw), &m->u.flow_granted.gateway);
	memcpy(m->u.flow_granted.psk, f->psk, sizeof(f->psk));
	m->u.flow_granted.ice = in->u.flow_accepted.ice;
	send_to(self, client, m);
	floe_signal_msg_wipe(m);
	/* both parties have the PSK now: the portal forgets it */
	sodium_memzero(f->psk, sizeof(f->psk));
	f->deadline_ms = now_ms + FLOE_PORTAL_FLOW_IDLE_MS;
	f->state = FLOW_ESTABLISHED;
	self->stats.flows_granted++;
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Flow granted", FLOE_F_STR("cid", f->cid),
		 FLOE_F_STR("client_id", session_conf(self, client)->name),
		 FLOE_F_STR("resource", f->resource.id));
}

/* candidate / end_of_candidates: to the flow's other party only (a
 * gateway's: the worker holding the flow). */
static void on_candidate(floe_portal_t *self, session_t *from, unsigned worker, uint64_t now_ms)
{
	const char *cid = self->in.type == FLOE_SIGNAL_CANDIDATE ? self->in.u.candidate.cid
								  : self->in.u.end_of_candidates.cid;
	flow_t *f = flow_by_cid(self, cid);
	const char *other = NULL;
	session_t *to;

	if (f && !strcmp(f->client_key, from->key_b64))
		other = f->gateway_key;
	else if (f && !strcmp(f->gateway_key, from->key_b64) && f->worker == worker)
		other = f->client_key;
	if (!other) {
		self->stats.foreign_cid_drops++;
		floe_log_ratelimited(FLOE_LOG_WARNING, LOG_TARGET, "Candidate for a flow the sender is not party to",
				     FLOE_F_STR("cid", cid), FLOE_F_STR("node_id", session_conf(self, from)->name));
		return;
	}
	to = session_by_key(self, other);
	if (!to || (to->gateway && f->worker >= to->n_workers))
		return;
	if (f->state == FLOW_ESTABLISHED)
		f->deadline_ms = now_ms + FLOE_PORTAL_FLOW_IDLE_MS;
	send_link(self, to->gateway ? &to->links[f->worker] : link0(to), &self->in);
}

/*
 * A gateway (worker) that said hello with a new boot id is a new process:
 * every flow it served is gone with its connections. Tell each client at
 * once, so it replaces its connection now rather than when ICE consent on
 * the dead path runs out (~10 s). worker < 0: every worker's flows.
 */
static void s_gateway_restarted(floe_portal_t *self, session_t *gw, int worker)
{
	floe_signal_msg_t m;

	for (size_t i = 0; i < FLOE_PORTAL_MAX_FLOWS; i++) {
		flow_t *f = &self->flows[i];
		session_t *client;

		if (!self->flow_tags[i])
			continue; /* free: not even its page is touched */
		if (f->state == FLOW_FREE || strcmp(f->gateway_key, gw->key_b64) ||
		    (worker >= 0 && f->worker != (unsigned)worker))
			continue;
		client = session_by_key(self, f->client_key);
		if (client && session_online(client)) {
			memset(&m, 0, sizeof(m));
			m.type = FLOE_SIGNAL_FLOW_DENIED;
			memcpy(m.u.flow_denied.resource, f->resource.id, sizeof(m.u.flow_denied.resource));
			snprintf(m.u.flow_denied.reason, sizeof(m.u.flow_denied.reason), "%s",
				 FLOE_SIGNAL_REASON_GATEWAY_RESTARTED);
			send_to(self, client, &m);
		}
		flow_free(self, f);
	}
}

/*
 * A relay with a shared secret gets this node's own credential, valid for
 * its TTL from now (coturn's REST scheme, turn_rest.h); the node receives
 * a fresh one with every welcome. Others go out as configured.
 */
static int mint_relay(const floe_portal_relay_secret_t *sc, const char *node_id, floe_signal_relay_t *r)
{
	int rc;

	if (!sc->enabled)
		return 0;
	rc = floe_turn_rest_mint(sc->secret, sc->secret_len, wall_now_s() + sc->ttl_s, node_id, r->username,
				 sizeof(r->username), r->password, sizeof(r->password));
	if (rc < 0)
		floe_log(FLOE_LOG_ERROR, LOG_TARGET, "Cannot mint TURN credentials", FLOE_F_STR("node_id", node_id),
			 FLOE_F_STR("relay", r->host), FLOE_F_I64("error", rc));
	return rc;
}

/* Refuses a hello: an error to that connection, counted and logged. */
static void refuse_hello(floe_portal_t *self, const session_t *s, const uint8_t *rid, size_t rid_len,
			 const char *reason)
{
	self->stats.hellos_refused++;
	floe_log_ratelimited(FLOE_LOG_WARNING, LOG_TARGET, "Hello refused",
			     FLOE_F_STR("node_id", session_conf(self, s)->name), FLOE_F_STR("reason", reason));
	send_error(self, rid, rid_len, reason);
}

/*
 * The worker index of a hello (k of n; none said: 0 of 1), checked against
 * the session: only gateways shard, 1 <= n <= FLOE_PORTAL_MAX_WORKERS,
 * k < n, and n changes only while no other worker is online (a gateway
 * restarted with a new Workers value; its old flows end). Returns the
 * worker, or -1 after refusing the hello.
 */
static int hello_worker(floe_portal_t *self, session_t *s, const uint8_t *rid, size_t rid_len)
{
	const __typeof__(self->in.u.hello) *h = &self->in.u.hello;
	unsigned k = h->has_worker ? (unsigned)h->worker : 0, n = h->has_worker ? (unsigned)h->workers : 1;
	char why[FLOE_SIGNAL_REASON_CAP];
	link_t *links;

	if (h->has_worker && !s->gateway) {
		refuse_hello(self, s, rid, rid_len, "only a gateway has workers");
		return -1;
	}
	if (n == 0 || n > FLOE_PORTAL_MAX_WORKERS || k >= n) {
		snprintf(why, sizeof(why), "bad worker index %d/%d (want 0 <= k < n <= %d)", h->worker, h->workers,
			 FLOE_PORTAL_MAX_WORKERS);
		refuse_hello(self, s, rid, rid_len, why);
		return -1;
	}
	if (n == s->n_workers)
		return (int)k;
	for (unsigned i = 0; i < s->n_workers; i++) {
		const link_t *l = &s->links[i];

		if (l->online && !(l->rid_len == rid_len && !memcmp(l->rid, rid, rid_len))) {
			snprintf(why, sizeof(why), "worker count %u differs from the %u of this gateway's online workers",
				 n, s->n_workers);
			refuse_hello(self, s, rid, rid_len, why);
			return -1;
		}
	}
	links = calloc(n, sizeof(*links));
	if (!links) {
		refuse_hello(self, s, rid, rid_len, "out of memory");
		return -1;
	}
	/* flows were placed for the old count: they end */
	s_gateway_restarted(self, s, -1);
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Gateway workers changed", FLOE_F_STR("node_id", session_conf(self, s)->name),
		 FLOE_F_U64("from", s->n_workers), FLOE_F_U64("to", n));
	free(s->links);
	s->links = links;
	s->n_workers = n;
	return (int)k;
}

/* When this link's minted TURN credentials are due again (turn_refresh.h). */
static void schedule_relays(const floe_portal_t *self, link_t *l, uint64_t now_ms)
{
	uint32_t ttl_s = floe_turn_refresh_ttl_s(self->cfg);

	l->relays_due_ms = ttl_s ? now_ms + floe_turn_refresh_delay_ms(ttl_s, randombytes_random()) : 0;
}

/*
 * The welcome: the node's name, tunnel addresses, resources and relays
 * (credentials minted now). Sent on every hello, and again before minted
 * credentials expire (floe_portal_tick); a node takes it as a refresh.
 */
static void send_welcome(floe_portal_t *self, const session_t *s, link_t *l, uint64_t now_ms)
{
	const floe_portal_node_conf_t *nc = session_conf(self, s);
	floe_signal_msg_t *m = &self->out;

	memset(m, 0, sizeof(*m));
	m->type = FLOE_SIGNAL_WELCOME;
	memcpy(m->u.welcome.node_id, nc->name, sizeof(m->u.welcome.node_id));
	memcpy(m->u.welcome.tunnel_ipv4, nc->tunnel_ipv4, sizeof(m->u.welcome.tunnel_ipv4));
	memcpy(m->u.welcome.tunnel_ipv6, nc->tunnel_ipv6, sizeof(m->u.welcome.tunnel_ipv6));
	if (s->gateway) {
		for (size_t i = 0; i < nc->n_resources; i++)
			m->u.welcome.resources.items[i] = self->cfg->resources[nc->resources[i]].res;
		m->u.welcome.resources.n = nc->n_resources;
	} else {
		client_resources(self->cfg, s->index, wall_now_s(), &m->u.welcome.resources);
	}
	for (size_t i = 0; i < self->cfg->n_relays && i < FLOE_SIGNAL_MAX_RELAYS; i++) {
		floe_signal_relay_t *r = &m->u.welcome.relays[m->u.welcome.n_relays];

		*r = self->cfg->relays[i];
		if (mint_relay(&self->cfg->relay_secrets[i], nc->name, r) < 0)
			continue; /* logged; the node gets the other relays */
		m->u.welcome.n_relays++;
	}
	send_link(self, l, m);
	floe_signal_msg_wipe(m); /* relay passwords */
	schedule_relays(self, l, now_ms);
}

static void on_hello(floe_portal_t *self, session_t *s, const uint8_t *rid, size_t rid_len,
		     uint64_t now_ms)
{
	const floe_portal_node_conf_t *nc = session_conf(self, s);
	bool wants_gateway = self->in.u.hello.role == FLOE_SIGNAL_ROLE_GATEWAY;
	int worker;
	link_t *l;

	if (wants_gateway != s->gateway) {
		send_error(self, rid, rid_len, "role does not match the portal's configuration");
		return;
	}
	worker = hello_worker(self, s, rid, rid_len);
	if (worker < 0)
		return;
	l = &s->links[worker];
	if (s->gateway && l->boot_id[0] && strcmp(l->boot_id, self->in.u.hello.boot_id)) {
		floe_log(FLOE_LOG_INFO, LOG_TARGET, "Gateway restarted, ending its flows",
			 FLOE_F_STR("node_id", nc->name), FLOE_F_I64("worker", worker));
		s_gateway_restarted(self, s, worker);
	}
	memcpy(l->boot_id, self->in.u.hello.boot_id, sizeof(l->boot_id));
	memcpy(l->rid, rid, rid_len);
	l->rid_len = rid_len;
	l->last_seen_ms = now_ms;
	l->online = true;

	send_welcome(self, s, l, now_ms);
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Node connected", FLOE_F_STR("node_id", nc->name),
		 FLOE_F_STR("role", s->gateway ? "gateway" : "client"), FLOE_F_I64("worker", worker),
		 FLOE_F_U64("workers", s->n_workers));
}

static void dispatch(floe_portal_t *self, session_t *s, const uint8_t *rid, size_t rid_len,
		     uint64_t now_ms)
{
	int worker = link_by_rid(s, rid, rid_len);
	floe_signal_type_t t = self->in.type;

	if (t == FLOE_SIGNAL_HELLO) {
		on_hello(self, s, rid, rid_len, now_ms);
		return;
	}
	/* Anything else needs a hello on this very connection: after a portal
	 * restart, silence (no pong) makes the node redial and say hello. */
	if (worker < 0) {
		self->stats.unexpected_msgs++;
		return;
	}
	s->links[worker].last_seen_ms = now_ms;
	switch (t) {
	case FLOE_SIGNAL_PING:
		self->out.type = FLOE_SIGNAL_PONG;
		send_link(self, &s->links[worker], &self->out);
		return;
	case FLOE_SIGNAL_REQUEST_FLOW:
		if (!s->gateway) {
			on_request_flow(self, s, now_ms);
			return;
		}
		break;
	case FLOE_SIGNAL_FLOW_ACCEPTED:
	case FLOE_SIGNAL_FLOW_REJECTED:
		if (s->gateway) {
			on_gateway_answer(self, s, (unsigned)worker, now_ms);
			return;
		}
		break;
	case FLOE_SIGNAL_CANDIDATE:
	case FLOE_SIGNAL_END_OF_CANDIDATES:
		on_candidate(self, s, (unsigned)worker, now_ms);
		return;
	default:
		break;
	}
	self->stats.unexpected_msgs++;
	floe_log_ratelimited(FLOE_LOG_WARNING, LOG_TARGET, "Unexpected message",
			     FLOE_F_STR("type", floe_signal_type_name(t)),
			     FLOE_F_STR("node_id", session_conf(self, s)->name));
}

/* Receives one [routing id, payload] and handles it. -EAGAIN when none. */
static int handle_one(floe_portal_t *self, uint64_t now_ms)
{
	uint8_t rid[RID_MAX_BYTES];
	zmq_msg_t payload;
	const char *user;
	session_t *s;
	int n, more = 0, r = 0;
	size_t more_len = sizeof(more);

	n = zmq_recv(self->router, rid, sizeof(rid), ZMQ_DONTWAIT);
	if (n < 0)
		return -errno;
	if (n > (int)sizeof(rid))
		n = (int)sizeof(rid);
	zmq_msg_init(&payload);
	if (zmq_msg_recv(&payload, self->router, 0) < 0) {
		r = -errno;
		zmq_msg_close(&payload);
		return r;
	}
	/* nodes send one frame; drain any extra parts */
	zmq_getsockopt(self->router, ZMQ_RCVMORE, &more, &more_len);
	while (more) {
		zmq_msg_t extra;

		zmq_msg_init(&extra);
		zmq_msg_recv(&extra, self->router, 0);
		zmq_msg_close(&extra);
		zmq_getsockopt(self->router, ZMQ_RCVMORE, &more, &more_len);
	}
	self->stats.rx_msgs++;
	user = zmq_msg_gets(&payload, "User-Id");
	s = user ? session_by_key(self, user) : NULL;
	if (!s) {
		/* connected before a reload removed it */
		self->stats.unknown_sender_drops++;
		zmq_msg_close(&payload);
		send_error(self, rid, (size_t)n, "unknown node");
		return 0;
	}
	r = floe_signal_decode(zmq_msg_data(&payload), zmq_msg_size(&payload), &self->in);
	zmq_msg_close(&payload);
	if (r < 0) {
		self->stats.decode_errors++;
		floe_log_ratelimited(FLOE_LOG_WARNING, LOG_TARGET, "Malformed message dropped",
				     FLOE_F_STR("node_id", session_conf(self, s)->name), FLOE_F_I64("error", r));
		return 0;
	}
	dispatch(self, s, rid, (size_t)n, now_ms);
	floe_signal_msg_wipe(&self->in);
	return 0;
}

int floe_portal_handle(floe_portal_t *self, uint64_t now_ms)
{
	if (!self)
		return -EINVAL;
	for (int i = 0; i < FLOE_PORTAL_BATCH; i++) {
		int r = handle_one(self, now_ms);

		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Time: expiry, liveness, flow timeouts                               */

static void expire_grants(floe_portal_t *self, int64_t now_s)
{
	const floe_portal_config_t *cfg = self->cfg;

	for (size_t i = 0; i < cfg->n_grants; i++) {
		const floe_portal_grant_conf_t *g = &cfg->grants[i];
		floe_signal_resource_t still;
		session_t *client;

		if (grant_active(g, now_s) || self->grant_expired[i])
			continue;
		self->grant_expired[i] = true;
		floe_log(FLOE_LOG_INFO, LOG_TARGET, "Access to resource expired",
			 FLOE_F_STR("grant", g->name), FLOE_F_STR("client_id", cfg->clients[g->client].name),
			 FLOE_F_STR("resource", cfg->resources[g->resource].res.id));
		/* another grant may still cover the same pair */
		if (granted_resource(cfg, g->client, g->resource, now_s, &still))
			continue;
		push_to_gateways(self, cfg, g->client, g->resource, NULL);
		flows_drop_pair(self, cfg->clients[g->client].public_key_b64, cfg->resources[g->resource].res.id);
		client = session_by_key(self, cfg->clients[g->client].public_key_b64);
		if (client && session_online(client))
			push_resources(self, client, now_s);
	}
}

int floe_portal_tick(floe_portal_t *self, uint64_t now_ms)
{
	if (!self)
		return -EINVAL;
	expire_grants(self, wall_now_s());
	for (size_t i = 0; i < self->n_sessions; i++) {
		session_t *s = &self->sessions[i];

		for (unsigned k = 0; k < s->n_workers; k++) {
			link_t *l = &s->links[k];

			if (l->online && now_ms - l->last_seen_ms >= FLOE_PORTAL_NODE_DEAD_AFTER_MS) {
				l->online = false;
				floe_log(FLOE_LOG_INFO, LOG_TARGET, "Node disconnected",
					 FLOE_F_STR("node_id", session_conf(self, s)->name), FLOE_F_U64("worker", k));
			}
			if (l->online && l->relays_due_ms && now_ms >= l->relays_due_ms) {
				floe_log(FLOE_LOG_DEBUG, LOG_TARGET, "Re-issuing TURN credentials",
					 FLOE_F_STR("node_id", session_conf(self, s)->name), FLOE_F_U64("worker", k));
				self->stats.credentials_reissued++;
				send_welcome(self, s, l, now_ms);
			}
		}
	}
	for (size_t i = 0; i < FLOE_PORTAL_MAX_FLOWS; i++) {
		flow_t *f = &self->flows[i];
		session_t *client;

		if (!self->flow_tags[i])
			continue; /* free: not even its page is touched */
		if (f->state == FLOW_FREE || now_ms < f->deadline_ms)
			continue;
		if (f->state == FLOW_AUTHORIZING) {
			client = session_by_key(self, f->client_key);
			if (client)
				deny(self, client, f->resource.id, "gateway did not answer");
		}
		flow_free(self, f);
	}
	self->next_tick_ms = now_ms + FLOE_PORTAL_TICK_MS;
	return 0;
}

uint64_t floe_portal_next_deadline_ms(const floe_portal_t *self)
{
	return self ? self->next_tick_ms : UINT64_MAX;
}

/* ------------------------------------------------------------------ */
/* Reload                                                              */

int floe_portal_reload(floe_portal_t *self, floe_portal_config_t **cfg_p, uint64_t now_ms)
{
	floe_portal_config_t *old, *cfg;
	floe_signal_resource_t tmp;
	bool *expired;
	int64_t now_s = wall_now_s();
	int r;

	if (!self || !cfg_p || !*cfg_p)
		return -EINVAL;
	cfg = *cfg_p;
	expired = calloc(cfg->n_grants ? cfg->n_grants : 1, sizeof(*expired));
	if (!expired)
		return -ENOMEM;
	r = floe_portal_zap_allow(self->zap, cfg);
	if (r == 0)
		r = sessions_rebuild(self, cfg);
	if (r < 0) {
		free(expired);
		return r;
	}
	for (size_t i = 0; i < cfg->n_grants; i++)
		expired[i] = !grant_active(&cfg->grants[i], now_s);
	/* the bound socket and the CURVE key stay those of the first config */
	memcpy(cfg->listen, self->cfg->listen, sizeof(cfg->listen));
	memcpy(cfg->private_key, self->cfg->private_key, sizeof(cfg->private_key));
	memcpy(cfg->public_key, self->cfg->public_key, sizeof(cfg->public_key));
	old = self->cfg;
	self->cfg = cfg;
	*cfg_p = NULL;
	free(self->grant_expired);
	self->grant_expired = expired;
	self->rr_next = 0;

	/* Revoked pairs: granted before, not now (by client key and resource id). */
	for (size_t c = 0; c < old->n_clients; c++) {
		long nc = floe_portal_config_find_client(cfg, old->clients[c].public_key_b64);

		for (size_t r0 = 0; r0 < old->n_resources; r0++) {
			long nr = floe_portal_config_find_resource(cfg, old->resources[r0].res.id);

			if (!granted_resource(old, c, r0, now_s, &tmp))
				continue;
			if (nc >= 0 && nr >= 0 && granted_resource(cfg, (size_t)nc, (size_t)nr, now_s, &tmp))
				continue;
			floe_log(FLOE_LOG_INFO, LOG_TARGET, "Grant revoked",
				 FLOE_F_STR("client_id", old->clients[c].name),
				 FLOE_F_STR("resource", old->resources[r0].res.id));
			/* the gateways of the old configuration held it */
			push_to_gateways(self, old, c, r0, NULL);
			flows_drop_pair(self, old->clients[c].public_key_b64, old->resources[r0].res.id);
		}
	}
	/* New pairs, for clients online now; and every client's new routes. */
	for (size_t c = 0; c < cfg->n_clients; c++) {
		long oc = floe_portal_config_find_client(old, cfg->clients[c].public_key_b64);
		session_t *s = session_by_key(self, cfg->clients[c].public_key_b64);
		floe_signal_resource_list_t *before = &self->in.u.resources.resources;
		floe_signal_resource_list_t *after = &self->out.u.resources.resources;

		if (!s || !session_online(s))
			continue;
		for (size_t r1 = 0; r1 < cfg->n_resources; r1++) {
			long orr = floe_portal_config_find_resource(old, cfg->resources[r1].res.id);
			floe_signal_resource_t granted;

			if (!granted_resource(cfg, c, r1, now_s, &granted))
				continue;
			if (oc >= 0 && orr >= 0 && granted_resource(old, (size_t)oc, (size_t)orr, now_s, &tmp))
				continue;
			push_to_gateways(self, cfg, c, r1, &granted);
		}
		memset(before, 0, sizeof(*before));
		if (oc >= 0)
			client_resources(old, (size_t)oc, now_s, before);
		client_resources(cfg, c, now_s, after);
		if (memcmp(before, after, sizeof(*before)) != 0)
			push_resources(self, s, now_s);
	}
	/* Relays or their TTL may have changed: online nodes get credentials
	 * of the new configuration by the new schedule at the latest. */
	for (size_t i = 0; i < self->n_sessions; i++) {
		for (unsigned k = 0; k < self->sessions[i].n_workers; k++) {
			link_t *l = &self->sessions[i].links[k];
			uint64_t due = l->relays_due_ms;

			if (!l->online)
				continue;
			schedule_relays(self, l, now_ms);
			if (due && l->relays_due_ms && due < l->relays_due_ms)
				l->relays_due_ms = due;
		}
	}
	floe_signal_msg_wipe(&self->in);
	floe_signal_msg_wipe(&self->out);
	floe_portal_config_destroy(&old);
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Configuration reloaded", FLOE_F_STR("path", cfg->path),
		 FLOE_F_U64("gateways", cfg->n_gateways), FLOE_F_U64("clients", cfg->n_clients),
		 FLOE_F_U64("grants", cfg->n_grants));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

static int set_int(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof(v)) == 0 ? 0 : -errno;
}

floe_portal_t *floe_portal_new(floe_portal_config_t **cfg_p, uint64_t now_ms)
{
	floe_portal_t *self;
	size_t len;
	int r;

	if (!cfg_p || !*cfg_p) {
		errno = EINVAL;
		return NULL;
	}
	if (sodium_init() < 0) {
		errno = EIO;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->cfg = *cfg_p;
	r = -ENOMEM;
	self->flows = calloc(FLOE_PORTAL_MAX_FLOWS, sizeof(*self->flows));
	self->flow_tags = calloc(FLOE_PORTAL_MAX_FLOWS, sizeof(*self->flow_tags));
	self->grant_expired = calloc(self->cfg->n_grants ? self->cfg->n_grants : 1, sizeof(bool));
	if (!self->flows || !self->flow_tags || !self->grant_expired)
		goto err;
	for (size_t i = 0; i < self->cfg->n_grants; i++)
		self->grant_expired[i] = !grant_active(&self->cfg->grants[i], wall_now_s());
	if ((r = sessions_rebuild(self, self->cfg)) < 0)
		goto err;
	self->ctx = zmq_ctx_new();
	if (!self->ctx) {
		r = -errno;
		goto err;
	}
	/* The ZAP handler must be bound before the CURVE server exists:
	 * without one, libzmq lets every CURVE client in. */
	self->zap = floe_portal_zap_new(self->ctx, self->cfg);
	if (!self->zap) {
		r = -errno;
		goto err;
	}
	self->router = zmq_socket(self->ctx, ZMQ_ROUTER);
	if (!self->router) {
		r = -errno;
		goto err;
	}
	if ((r = set_int(self->router, ZMQ_LINGER, 0)) < 0 ||
	    (r = set_int(self->router, ZMQ_ROUTER_MANDATORY, 1)) < 0 ||
	    (r = set_int(self->router, ZMQ_SNDHWM, FLOE_PORTAL_ROUTER_HWM_MSGS)) < 0 ||
	    (r = set_int(self->router, ZMQ_RCVHWM, FLOE_PORTAL_ROUTER_HWM_MSGS)) < 0 ||
	    (r = set_int(self->router, ZMQ_CURVE_SERVER, 1)) < 0)
		goto err;
	if (zmq_setsockopt(self->router, ZMQ_CURVE_SECRETKEY, self->cfg->private_key,
			   FLOE_PORTAL_CONFIG_KEY_LEN) < 0 ||
	    zmq_bind(self->router, self->cfg->listen) < 0) {
		r = -errno;
		goto err;
	}
	len = sizeof(self->endpoint);
	if (zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &len) < 0) {
		r = -errno;
		goto err;
	}
	self->next_tick_ms = now_ms + FLOE_PORTAL_TICK_MS;
	*cfg_p = NULL;
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Portal listening", FLOE_F_STR("endpoint", self->endpoint),
		 FLOE_F_U64("gateways", self->cfg->n_gateways), FLOE_F_U64("clients", self->cfg->n_clients));
	return self;
err:
	self->cfg = NULL; /* still the caller's */
	floe_portal_destroy(&self);
	errno = -r;
	return NULL;
}

void floe_portal_destroy(floe_portal_t **self_p)
{
	floe_portal_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	if (self->router)
		zmq_close(self->router);
	if (self->ctx) {
		/* wakes the ZAP thread with ETERM; it closes its socket */
		zmq_ctx_shutdown(self->ctx);
		floe_portal_zap_destroy(&self->zap);
		zmq_ctx_term(self->ctx);
	}
	if (self->flows) {
		sodium_memzero(self->flows, FLOE_PORTAL_MAX_FLOWS * sizeof(*self->flows));
		free(self->flows);
	}
	free(self->flow_tags);
	free(self->session_index);
	free(self->grant_expired);
	sessions_free(self->sessions, self->n_sessions);
	floe_portal_config_destroy(&self->cfg);
	sodium_memzero(self->buf, sizeof(self->buf));
	free(self);
	*self_p = NULL;
}

const char *floe_portal_endpoint(const floe_portal_t *self)
{
	return self ? self->endpoint : NULL;
}

int floe_portal_pollitem(floe_portal_t *self, zmq_pollitem_t *item)
{
	if (!self || !item)
		return -EINVAL;
	item->socket = self->router;
	item->fd = 0;
	item->events = ZMQ_POLLIN;
	item->revents = 0;
	return 0;
}

floe_portal_stats_t floe_portal_stats(const floe_portal_t *self)
{
	floe_portal_stats_t st = { 0 };

	if (!self)
		return st;
	st = self->stats;
	st.zap_accepted = floe_portal_zap_accepted(self->zap);
	st.zap_refused = floe_portal_zap_refused(self->zap);
	return st;
}
