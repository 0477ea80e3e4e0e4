/*
 * The node's portal session (docs/signalling.md): welcome and resources,
 * flows on both sides, trickled candidates, grants and revocations.
 * Node thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "actors/node_priv.h"
#include "runtime/log.h"
#include "transport/signal/syntax.h"
#include "transport/wg/key.h"

static void portal_send(floe_node_t *self, const char *what, const char *cid)
{
	int rc = floe_portal_client_send(self->portal, &self->sig_out);

	if (rc < 0)
		floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Portal message not sent",
				     FLOE_F_STR("type", what), FLOE_F_STR("cid", cid),
				     FLOE_F_STR("error", strerror(-rc)));
	floe_signal_msg_wipe(&self->sig_out);
}

static void send_candidate(floe_node_t *self, const node_conn_t *c, const char *line)
{
	memset(&self->sig_out, 0, sizeof(self->sig_out));
	self->sig_out.type = FLOE_SIGNAL_CANDIDATE;
	snprintf(self->sig_out.u.candidate.cid, sizeof(self->sig_out.u.candidate.cid), "%s", c->cid);
	snprintf(self->sig_out.u.candidate.candidate, sizeof(self->sig_out.u.candidate.candidate), "%s", line);
	portal_send(self, "candidate", c->cid);
}

static void send_end_of_candidates(floe_node_t *self, const node_conn_t *c)
{
	memset(&self->sig_out, 0, sizeof(self->sig_out));
	self->sig_out.type = FLOE_SIGNAL_END_OF_CANDIDATES;
	snprintf(self->sig_out.u.end_of_candidates.cid, sizeof(self->sig_out.u.end_of_candidates.cid), "%s",
		 c->cid);
	portal_send(self, "end_of_candidates", c->cid);
}

void node_flow_local_candidate(floe_node_t *self, node_conn_t *c, const char *line)
{
	if (c->cid[0]) {
		send_candidate(self, c, line);
		return;
	}
	/* A client learns its cid from flow_granted: keep what comes before. */
	if (c->n_pending < NODE_PENDING_CANDIDATES)
		snprintf(c->pending[c->n_pending++], sizeof(c->pending[0]), "%s", line);
	else
		floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Too many candidates before the flow was granted",
				     FLOE_F_STR("cid", c->label));
}

void node_flow_gathering_done(floe_node_t *self, node_conn_t *c)
{
	if (c->cid[0])
		send_end_of_candidates(self, c);
	else
		c->gathering_done = true;
}

void node_flow_forget(floe_node_t *self, node_conn_t *c)
{
	for (size_t i = 0; i < self->n_resources; i++) {
		if (self->resources[i].conn == c)
			self->resources[i].conn = NULL;
	}
}

static node_resource_t *resource_by_id(floe_node_t *self, const char *id)
{
	for (size_t i = 0; i < self->n_resources; i++) {
		if (!strcmp(self->resources[i].id, id))
			return &self->resources[i];
	}
	return NULL;
}

void node_flow_replace_silent(floe_node_t *self, const char *resource, bool was_direct, uint64_t now_ms)
{
	node_resource_t *res = resource && resource[0] ? resource_by_id(self, resource) : NULL;

	if (!res || res->conn)
		return;
	res->direct_path_lost = was_direct;
	/* At once, not at the application's next packet: a TCP sender that
	 * has been unanswered for seconds retransmits late (its RTO doubled
	 * every time), and the new path takes a moment to come up. */
	res->last_request_ms = 0;
	/* Without a portal link the request is not sent: ask on the next
	 * welcome rather than at the next packet, up to a second later. */
	res->flow_wanted = !node_flow_request(self, res, now_ms) && !floe_portal_client_connected(self->portal);
}

/* ---- client ---- */

void node_flow_roam(floe_node_t *self, uint64_t now_ms)
{
	char ids[NODE_MAX_RESOURCES][FLOE_SIGNAL_ID_CAP];
	bool direct[NODE_MAX_RESOURCES];
	size_t n = 0;

	/* Collect first: reaping rewrites the resources' connections. */
	for (size_t i = 0; i < self->n_resources && n < NODE_MAX_RESOURCES; i++) {
		node_conn_t *c = self->resources[i].conn;

		if (!c)
			continue;
		snprintf(ids[n], sizeof(ids[n]), "%s", self->resources[i].id);
		direct[n++] = c->has_path && c->path.local_type != FLOE_ICE_CAND_RELAY &&
			      c->path.remote_type != FLOE_ICE_CAND_RELAY;
	}
	/* Our TCP connection to the portal may leave from an address that is
	 * gone: silence would tell in FLOE_PORTAL_DEAD_AFTER_MS, and the flow
	 * requests sent meanwhile would be lost. Their replacements are asked
	 * for once welcomed again (flow_wanted). */
	(void)floe_portal_client_redial(self->portal, now_ms);
	if (!n)
		return;
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Local addresses changed: replacing connections",
		 FLOE_F_U64("resources", n));
	for (size_t i = 0; i < n; i++) {
		node_resource_t *res = resource_by_id(self, ids[i]);

		if (res && res->conn)
			node_conn_reap(self, res->conn, "local addresses changed");
	}
	for (size_t i = 0; i < n; i++)
		node_flow_replace_silent(self, ids[i], direct[i], now_ms);
}

node_conn_t *node_flow_request(floe_node_t *self, node_resource_t *res, uint64_t now_ms)
{
	floe_ice_turn_server_t turn[FLOE_NODE_MAX_TURN];
	floe_conn_config_t base = { .role = FLOE_ROLE_CLIENT, .defer_peer = true };
	node_conn_t ident;
	node_conn_t *c;

	/* One request per resource per second: a dead gateway costs the
	 * portal one message a second, not one per packet. */
	if (res->last_request_ms && now_ms - res->last_request_ms < NODE_FLOW_RETRY_MS)
		return NULL;
	res->last_request_ms = now_ms;
	if (!floe_portal_client_connected(self->portal)) {
		floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "No portal: cannot ask for a flow",
				     FLOE_F_STR("resource", res->id));
		return NULL;
	}
	memset(&ident, 0, sizeof(ident));
	snprintf(ident.label, sizeof(ident.label), "flow-%s", res->id);
	snprintf(ident.resource, sizeof(ident.resource), "%s", res->id);
	node_fill_ice(self, &base.ice, turn);
	base.replaces_direct_path = res->direct_path_lost;
	res->direct_path_lost = false;
	c = node_conn_start(self, &base, &ident);
	if (!c)
		return NULL;
	memset(&self->sig_out, 0, sizeof(self->sig_out));
	self->sig_out.type = FLOE_SIGNAL_REQUEST_FLOW;
	snprintf(self->sig_out.u.request_flow.resource, sizeof(self->sig_out.u.request_flow.resource), "%s",
		 res->id);
	snprintf(self->sig_out.u.request_flow.ice.ufrag, sizeof(self->sig_out.u.request_flow.ice.ufrag), "%s",
		 floe_conn_local_ufrag(c->conn));
	snprintf(self->sig_out.u.request_flow.ice.pwd, sizeof(self->sig_out.u.request_flow.ice.pwd), "%s",
		 floe_conn_local_pwd(c->conn));
	if (floe_portal_client_send(self->portal, &self->sig_out) < 0) {
		floe_signal_msg_wipe(&self->sig_out);
		node_conn_reap(self, c, "portal refused the flow request");
		return NULL;
	}
	floe_signal_msg_wipe(&self->sig_out);
	res->conn = c;
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Requesting flow", FLOE_F_STR("resource", res->id),
		 FLOE_F_STR("cid", c->label));
	return c;
}

static void flow_granted(floe_node_t *self, const floe_signal_msg_t *msg)
{
	const __typeof__(msg->u.flow_granted) *g = &msg->u.flow_granted;
	node_resource_t *res = resource_by_id(self, g->resource.id);
	node_conn_t *c = res ? res->conn : NULL;
	node_conn_t *old;
	floe_conn_peer_t peer = { 0 };

	if (!c || c->has_peer) {
		floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Flow granted for no pending request",
				     FLOE_F_STR("cid", g->cid), FLOE_F_STR("resource", g->resource.id));
		return;
	}
	if (floe_key_from_base64(peer.public_key, g->gateway.public_key) < 0 ||
	    floe_key_from_base64(peer.preshared_key, g->psk) < 0) {
		node_conn_reap(self, c, "flow granted with a malformed key");
		goto out;
	}
	/* One connection per gateway on both ends: the gateway replaces its
	 * connection to us with this flow's, so we do the same. The old one
	 * goes first, because a peer key may exist once per device. */
	old = node_conn_by_peer(self, peer.public_key);
	if (old) {
		for (size_t i = 0; i < self->n_resources; i++) {
			if (self->resources[i].conn == old)
				self->resources[i].conn = c;
		}
		node_conn_reap(self, old, "replaced by a new connection");
	}
	node_table_lock(self);
	snprintf(c->cid, sizeof(c->cid), "%s", g->cid);
	snprintf(c->label, sizeof(c->label), "%s", g->cid);
	memcpy(c->peer_key, peer.public_key, FLOE_WG_KEY_LEN);
	c->has_peer = true;
	node_table_unlock(self);
	node_conn_send(self, c, floe_conn_msg_set_peer(&peer));
	node_conn_send(self, c, floe_conn_msg_credentials(g->ice.ufrag, g->ice.pwd));
	for (size_t i = 0; i < c->n_pending; i++)
		send_candidate(self, c, c->pending[i]);
	c->n_pending = 0;
	if (c->gathering_done)
		send_end_of_candidates(self, c);
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Flow granted", FLOE_F_STR("cid", g->cid),
		 FLOE_F_STR("resource", g->resource.id), FLOE_F_STR("gateway_id", g->gateway.id));
out:
	sodium_memzero(&peer, sizeof(peer));
}

static void flow_denied(floe_node_t *self, const floe_signal_msg_t *msg)
{
	node_resource_t *res = resource_by_id(self, msg->u.flow_denied.resource);

	floe_log(FLOE_LOG_INFO, NODE_LOG, "Flow denied", FLOE_F_STR("resource", msg->u.flow_denied.resource),
		 FLOE_F_STR("reason", msg->u.flow_denied.reason));
	/* A pending flow is over; an established one too when the portal
	 * says its gateway restarted: the next packet asks for a new one. */
	if (res && res->conn && (!res->conn->has_peer || !strcmp(msg->u.flow_denied.reason, FLOE_SIGNAL_REASON_GATEWAY_RESTARTED)))
		node_conn_reap(self, res->conn, "flow denied");
}

/* The client's routes: one entry per resource, connections kept by id. */
static void set_resources(floe_node_t *self, const floe_signal_resource_list_t *list)
{
	node_resource_t next[NODE_MAX_RESOURCES];
	size_t n = 0;

	for (size_t i = 0; i < list->n && n < NODE_MAX_RESOURCES; i++) {
		node_resource_t *r = &next[n], *old;

		memset(r, 0, sizeof(*r));
		if (floe_cidr_parse(list->items[i].cidr, &r->cidr) < 0)
			continue;
		snprintf(r->id, sizeof(r->id), "%s", list->items[i].id);
		old = resource_by_id(self, r->id);
		if (old) {
			r->conn = old->conn;
			r->last_request_ms = old->last_request_ms;
			r->flow_wanted = old->flow_wanted;
			r->direct_path_lost = old->direct_path_lost;
		}
		if (self->tun) {
			floe_cidr_t route = r->cidr;

			floe_cidr_mask(&route);
			floe_tun_add_route(self->tun, &route);
		}
		n++;
	}
	memcpy(self->resources, next, n * sizeof(next[0]));
	self->n_resources = n;
	/* Rebuilt whole: owners point into self->resources, which moved. */
	floe_allowedips_destroy(&self->routes);
	self->routes = floe_allowedips_new();
	for (size_t i = 0; self->routes && i < n; i++)
		floe_allowedips_insert(self->routes, &self->resources[i].cidr, &self->resources[i]);
	if (!self->routes) {
		floe_log(FLOE_LOG_ERROR, NODE_LOG, "Out of memory for routes");
		self->routes = floe_allowedips_new();
	}
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Resources updated", FLOE_F_U64("count", n));
}

static void welcome(floe_node_t *self, const floe_signal_msg_t *msg)
{
	const __typeof__(msg->u.welcome) *w = &msg->u.welcome;

	snprintf(self->tunnel_v4, sizeof(self->tunnel_v4), "%s", w->tunnel_ipv4);
	snprintf(self->tunnel_v6, sizeof(self->tunnel_v6), "%s", w->tunnel_ipv6);
	self->n_relays = w->n_relays < FLOE_SIGNAL_MAX_RELAYS ? w->n_relays : FLOE_SIGNAL_MAX_RELAYS;
	memcpy(self->relays, w->relays, self->n_relays * sizeof(self->relays[0]));
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Welcomed by the portal", FLOE_F_STR("node_id", w->node_id),
		 FLOE_F_STR("tunnel_ipv4", w->tunnel_ipv4[0] ? w->tunnel_ipv4 : NULL),
		 FLOE_F_U64("relays", self->n_relays));
	if (self->cfg.role != FLOE_ROLE_CLIENT)
		return;
	if (self->tun) {
		const char *mine[2] = { self->tunnel_v4, self->tunnel_v6 };

		for (int i = 0; i < 2; i++) {
			floe_cidr_t a;

			if (mine[i][0] && floe_cidr_parse(mine[i], &a) == 0)
				floe_tun_add_address(self->tun, &a);
		}
	}
	set_resources(self, &w->resources);
}

/* ---- gateway ---- */

static int parse_resource(const floe_signal_resource_t *r, floe_acl_resource_t *out, int64_t *expires)
{
	floe_signal_port_range_t ranges[FLOE_ACL_MAX_PORT_RANGES];
	int rc;

	memset(out, 0, sizeof(*out));
	*expires = 0;
	snprintf(out->id, sizeof(out->id), "%s", r->id);
	rc = floe_cidr_parse(r->cidr, &out->cidr);
	if (rc < 0)
		return rc;
	if (!r->protocol[0])
		out->proto = FLOE_ACL_PROTO_ANY;
	else if (!strcmp(r->protocol, "tcp"))
		out->proto = FLOE_ACL_PROTO_TCP;
	else if (!strcmp(r->protocol, "udp"))
		out->proto = FLOE_ACL_PROTO_UDP;
	else if (!strcmp(r->protocol, "icmp"))
		out->proto = FLOE_ACL_PROTO_ICMP;
	else
		return -EINVAL;
	if (r->ports[0]) {
		rc = floe_signal_ports_parse(r->ports, ranges, FLOE_ACL_MAX_PORT_RANGES, &out->n_ports);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < out->n_ports; i++)
			out->ports[i] = (floe_acl_port_range_t){ ranges[i].lo, ranges[i].hi };
	}
	if (r->expires[0])
		return floe_signal_time_parse(r->expires, expires);
	return 0;
}

static int grant(floe_node_t *self, const char *client_id, const floe_signal_resource_t *r)
{
	floe_acl_resource_t res;
	int64_t expires;
	int rc = parse_resource(r, &res, &expires);

	return rc < 0 ? rc : floe_acl_grant(self->acl, client_id, &res, expires);
}

static void reject(floe_node_t *self, const char *cid, const char *reason)
{
	memset(&self->sig_out, 0, sizeof(self->sig_out));
	self->sig_out.type = FLOE_SIGNAL_FLOW_REJECTED;
	snprintf(self->sig_out.u.flow_rejected.cid, sizeof(self->sig_out.u.flow_rejected.cid), "%s", cid);
	snprintf(self->sig_out.u.flow_rejected.reason, sizeof(self->sig_out.u.flow_rejected.reason), "%s",
		 reason);
	floe_log(FLOE_LOG_WARNING, NODE_LOG, "Flow rejected", FLOE_F_STR("cid", cid), FLOE_F_STR("reason", reason));
	portal_send(self, "flow_rejected", cid);
}

static void route_client(floe_node_t *self, node_conn_t *c)
{
	floe_cidr_t host = { .family = AF_INET, .prefix = 32 };

	if (c->has_v4) {
		memcpy(host.addr, c->tun_v4, FLOE_ADDR_V4_LEN);
		floe_allowedips_insert(self->routes, &host, c);
	}
	if (c->has_v6) {
		host = (floe_cidr_t){ .family = AF_INET6, .prefix = 128 };
		memcpy(host.addr, c->tun_v6, FLOE_ADDR_V6_LEN);
		floe_allowedips_insert(self->routes, &host, c);
	}
}

/*
 * A sharded gateway's worker: the client's tunnel addresses route to this
 * worker's TUN while it holds the client (present), and no longer after
 * (the route is removed only where it still leads here). A failure is
 * logged: the client still connects, but resources' packets to it go to
 * whichever device the broader route names.
 */
void node_flow_host_routes(floe_node_t *self, const node_conn_t *c, bool present)
{
	floe_cidr_t host;
	int r = 0;

	if (!self->cfg.workers || !self->tun)
		return;
	for (int v6 = 0; v6 <= 1; v6++) {
		if (!(v6 ? c->has_v6 : c->has_v4))
			continue;
		host = (floe_cidr_t){ .family = v6 ? AF_INET6 : AF_INET, .prefix = v6 ? 128 : 32 };
		memcpy(host.addr, v6 ? c->tun_v6 : c->tun_v4, v6 ? FLOE_ADDR_V6_LEN : FLOE_ADDR_V4_LEN);
		r = floe_tun_set_host_route(self->tun, &host, present);
		if (r < 0 && r != -ESRCH)
			floe_log_ratelimited(FLOE_LOG_WARNING, NODE_LOG,
					     present ? "Cannot add host route" : "Cannot remove host route",
					     FLOE_F_STR("cid", c->label), FLOE_F_STR("error", strerror(-r)));
	}
}

static void authorize_flow(floe_node_t *self, const floe_signal_msg_t *msg)
{
	const __typeof__(msg->u.authorize_flow) *a = &msg->u.authorize_flow;
	floe_ice_turn_server_t turn[FLOE_NODE_MAX_TURN];
	floe_conn_config_t base = { .role = FLOE_ROLE_GATEWAY };
	node_conn_t ident;
	node_conn_t *c, *old;
	int rc;

	memset(&ident, 0, sizeof(ident));
	snprintf(ident.cid, sizeof(ident.cid), "%s", a->cid);
	snprintf(ident.label, sizeof(ident.label), "%s", a->cid);
	snprintf(ident.client_id, sizeof(ident.client_id), "%s", a->client.id);
	snprintf(ident.resource, sizeof(ident.resource), "%s", a->resource.id);
	ident.has_v4 = a->client.tunnel_ipv4[0] && inet_pton(AF_INET, a->client.tunnel_ipv4, ident.tun_v4) == 1;
	ident.has_v6 = a->client.tunnel_ipv6[0] && inet_pton(AF_INET6, a->client.tunnel_ipv6, ident.tun_v6) == 1;
	if (floe_key_from_base64(base.peer_public_key, a->client.public_key) < 0 ||
	    floe_key_from_base64(base.preshared_key, a->psk) < 0) {
		reject(self, a->cid, "malformed key");
		goto out;
	}
	rc = grant(self, a->client.id, &a->resource);
	if (rc < 0) {
		reject(self, a->cid, "bad resource");
		goto out;
	}
	memcpy(ident.peer_key, base.peer_public_key, FLOE_WG_KEY_LEN);
	ident.has_peer = true;
	/* A new connection for the same client replaces the old one (first:
	 * its peer key may exist once per device). The grants stay. */
	old = node_conn_by_client(self, a->client.id);
	if (!old)
		old = node_conn_by_peer(self, base.peer_public_key);
	if (old)
		node_conn_reap(self, old, "replaced by a new connection");
	node_fill_ice(self, &base.ice, turn);
	c = node_conn_start(self, &base, &ident);
	if (!c) {
		reject(self, a->cid, "cannot create connection");
		goto out;
	}
	route_client(self, c);
	node_flow_host_routes(self, c, true);
	node_conn_send(self, c, floe_conn_msg_credentials(a->ice.ufrag, a->ice.pwd));
	memset(&self->sig_out, 0, sizeof(self->sig_out));
	self->sig_out.type = FLOE_SIGNAL_FLOW_ACCEPTED;
	snprintf(self->sig_out.u.flow_accepted.cid, sizeof(self->sig_out.u.flow_accepted.cid), "%s", a->cid);
	snprintf(self->sig_out.u.flow_accepted.ice.ufrag, sizeof(self->sig_out.u.flow_accepted.ice.ufrag), "%s",
		 floe_conn_local_ufrag(c->conn));
	snprintf(self->sig_out.u.flow_accepted.ice.pwd, sizeof(self->sig_out.u.flow_accepted.ice.pwd), "%s",
		 floe_conn_local_pwd(c->conn));
	portal_send(self, "flow_accepted", a->cid);
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Created new connection", FLOE_F_STR("cid", a->cid),
		 FLOE_F_STR("client_id", a->client.id), FLOE_F_STR("resource", a->resource.id));
out:
	sodium_memzero(&base, sizeof(base));
}

/* ---- both ---- */

static void to_conn(floe_node_t *self, const char *cid, floe_msg_t *m)
{
	node_conn_t *c = node_conn_by_cid(self, cid);

	if (!c) {
		floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Signalling for an unknown connection",
				     FLOE_F_STR("cid", cid));
		floe_msg_destroy(&m);
		return;
	}
	node_conn_send(self, c, m);
}

static void dispatch(floe_node_t *self, const floe_signal_msg_t *msg)
{
	bool gw = self->cfg.role == FLOE_ROLE_GATEWAY;
	int rc;

	switch (msg->type) {
	case FLOE_SIGNAL_WELCOME:
		welcome(self, msg);
		break;
	case FLOE_SIGNAL_ERROR:
		floe_log(FLOE_LOG_WARNING, NODE_LOG, "Portal error", FLOE_F_STR("reason", msg->u.error.reason));
		break;
	case FLOE_SIGNAL_RESOURCES:
		if (!gw)
			set_resources(self, &msg->u.resources.resources);
		break;
	case FLOE_SIGNAL_FLOW_GRANTED:
		if (!gw)
			flow_granted(self, msg);
		break;
	case FLOE_SIGNAL_FLOW_DENIED:
		if (!gw)
			flow_denied(self, msg);
		break;
	case FLOE_SIGNAL_AUTHORIZE_FLOW:
		if (gw)
			authorize_flow(self, msg);
		break;
	case FLOE_SIGNAL_CANDIDATE:
		to_conn(self, msg->u.candidate.cid, floe_conn_msg_candidate(msg->u.candidate.candidate));
		break;
	case FLOE_SIGNAL_END_OF_CANDIDATES:
		to_conn(self, msg->u.end_of_candidates.cid,
			floe_msg_new_heap(FLOE_CONN_REMOTE_GATHERING_DONE, 0));
		break;
	case FLOE_SIGNAL_REVOKE:
		if (!gw)
			break;
		rc = floe_acl_revoke(self->acl, msg->u.revoke.client.id, msg->u.revoke.resource);
		floe_log(FLOE_LOG_INFO, NODE_LOG, "Access revoked", FLOE_F_STR("client_id", msg->u.revoke.client.id),
			 FLOE_F_STR("resource", msg->u.revoke.resource), FLOE_F_BOOL("had_grant", rc == 0));
		break;
	case FLOE_SIGNAL_GRANT:
		if (gw && grant(self, msg->u.grant.client.id, &msg->u.grant.resource) < 0)
			floe_log(FLOE_LOG_WARNING, NODE_LOG, "Grant refused",
				 FLOE_F_STR("client_id", msg->u.grant.client.id),
				 FLOE_F_STR("resource", msg->u.grant.resource.id));
		break;
	default:
		floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Unexpected portal message",
				     FLOE_F_STR("type", floe_signal_type_name(msg->type)));
		break;
	}
}

void node_flow_handle_portal(floe_node_t *self)
{
	for (int i = 0; i < NODE_PORTAL_BATCH; i++) {
		int rc = floe_portal_client_handle(self->portal, node_now_ms(), &self->sig_in);

		if (rc == -EAGAIN || rc == -ENOTCONN)
			break;
		if (rc == 0)
			dispatch(self, &self->sig_in);
		floe_signal_msg_wipe(&self->sig_in);
	}
}

/*
 * Client, on a welcome: the replacements that found no portal link, and the
 * requests still waiting for their grant. Those went out on the link that
 * was lost (a roaming client's old address or NAT mapping): the portal most
 * likely never saw them, and nothing else would ask again while the pending
 * connection holds the resource. (Should a grant for the old request still
 * come, the new connection takes it with the wrong ICE credentials, fails
 * and is replaced: slower, not stuck.)
 */
static void request_wanted(floe_node_t *self, uint64_t now_ms)
{
	for (size_t i = 0; i < self->n_resources; i++) {
		node_resource_t *res = &self->resources[i];

		if (res->conn && !res->conn->has_peer) {
			node_conn_reap(self, res->conn, "portal link lost before the grant");
			res->flow_wanted = true;
		}
		if (!res->flow_wanted || res->conn)
			continue;
		res->flow_wanted = false;
		res->last_request_ms = 0;
		(void)node_flow_request(self, res, now_ms);
	}
}

void node_flow_tick(floe_node_t *self, uint64_t now_ms)
{
	floe_portal_event_t ev;

	if (now_ms >= floe_portal_client_next_deadline_ms(self->portal))
		floe_portal_client_tick(self->portal, now_ms);
	while ((ev = floe_portal_client_next_event(self->portal)) != FLOE_PORTAL_EVENT_NONE) {
		bool up = ev == FLOE_PORTAL_EVENT_CONNECTED;

		atomic_store(&self->portal_up, up);
		if (up) {
			floe_log(FLOE_LOG_INFO, NODE_LOG, "Connected to portal");
			request_wanted(self, now_ms);
		} else
			floe_log(FLOE_LOG_WARNING, NODE_LOG,
				 "Lost the portal; tunnels keep working, reconnecting with backoff");
	}
}
