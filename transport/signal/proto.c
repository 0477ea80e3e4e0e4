/*
 * The portal signalling protocol: jansson in, jansson out, every field
 * checked. See proto.h for the error contract and docs/signalling.md for
 * the messages.
 */
#include "transport/signal/proto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const type_names[FLOE_SIGNAL_TYPE_COUNT] = {
	[FLOE_SIGNAL_HELLO] = "hello",
	[FLOE_SIGNAL_WELCOME] = "welcome",
	[FLOE_SIGNAL_ERROR] = "error",
	[FLOE_SIGNAL_REQUEST_FLOW] = "request_flow",
	[FLOE_SIGNAL_AUTHORIZE_FLOW] = "authorize_flow",
	[FLOE_SIGNAL_FLOW_ACCEPTED] = "flow_accepted",
	[FLOE_SIGNAL_FLOW_REJECTED] = "flow_rejected",
	[FLOE_SIGNAL_FLOW_GRANTED] = "flow_granted",
	[FLOE_SIGNAL_FLOW_DENIED] = "flow_denied",
	[FLOE_SIGNAL_CANDIDATE] = "candidate",
	[FLOE_SIGNAL_END_OF_CANDIDATES] = "end_of_candidates",
	[FLOE_SIGNAL_REVOKE] = "revoke",
	[FLOE_SIGNAL_GRANT] = "grant",
	[FLOE_SIGNAL_RESOURCES] = "resources",
	[FLOE_SIGNAL_PING] = "ping",
	[FLOE_SIGNAL_PONG] = "pong",
};

const char *floe_signal_type_name(floe_signal_type_t type)
{
	if ((int)type <= FLOE_SIGNAL_NONE || type >= FLOE_SIGNAL_TYPE_COUNT)
		return NULL;
	return type_names[type];
}

/* ------------------------------------------------------------------ */
/* Semantic checks, shared by encode and decode                        */

static bool ip_valid(int family, const char *s, bool allow_empty)
{
	uint8_t buf[16];

	if (s[0] == '\0')
		return allow_empty;
	return inet_pton(family, s, buf) == 1;
}

static bool ice_valid(const floe_signal_ice_t *ice)
{
	size_t u = strlen(ice->ufrag), p = strlen(ice->pwd);

	/* RFC 8445 section 5.3: ufrag >= 4 and pwd >= 22 characters. */
	return u >= 4 && u < FLOE_SIGNAL_UFRAG_CAP && p >= 22 && p < FLOE_SIGNAL_PWD_CAP;
}

static bool resource_valid(const floe_signal_resource_t *r)
{
	floe_signal_port_range_t ranges[FLOE_SIGNAL_MAX_PORT_RANGES];
	uint8_t addr[16];
	unsigned prefix;
	size_t n;
	int family;
	int64_t t;
	const char *proto = r->protocol;

	if (!floe_signal_id_valid(r->id) ||
	    floe_signal_cidr_parse(r->cidr, &family, addr, &prefix) < 0)
		return false;
	if (proto[0] && strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "icmp"))
		return false;
	if (r->ports[0]) {
		/* ports only mean something for tcp and udp */
		if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
			return false;
		if (floe_signal_ports_parse(r->ports, ranges, FLOE_ARRAY_LEN(ranges), &n) < 0)
			return false;
	}
	if (r->expires[0] && floe_signal_time_parse(r->expires, &t) < 0)
		return false;
	return true;
}

/* full: every field of a peer; otherwise only id and public_key (revoke). */
static bool peer_valid(const floe_signal_peer_t *p, bool full)
{
	if (!floe_signal_id_valid(p->id) || !floe_signal_key_valid(p->public_key))
		return false;
	if (!full)
		return true;
	return ip_valid(AF_INET, p->tunnel_ipv4, true) && ip_valid(AF_INET6, p->tunnel_ipv6, true);
}

static bool resources_valid(const floe_signal_resource_list_t *l)
{
	if (l->n > FLOE_SIGNAL_MAX_RESOURCES)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		if (!resource_valid(&l->items[i]))
			return false;
	}
	return true;
}

static bool relay_valid(const floe_signal_relay_t *r)
{
	return r->host[0] != '\0' && r->port != 0;
}

static bool msg_valid(const floe_signal_msg_t *m)
{
	switch (m->type) {
	case FLOE_SIGNAL_HELLO:
		return (m->u.hello.role == FLOE_SIGNAL_ROLE_CLIENT ||
			m->u.hello.role == FLOE_SIGNAL_ROLE_GATEWAY) &&
		       m->u.hello.version >= 1 && m->u.hello.worker >= 0 && m->u.hello.workers >= 0;
	case FLOE_SIGNAL_WELCOME:
		if (!floe_signal_id_valid(m->u.welcome.node_id) ||
		    !ip_valid(AF_INET, m->u.welcome.tunnel_ipv4, true) ||
		    !ip_valid(AF_INET6, m->u.welcome.tunnel_ipv6, true) ||
		    !resources_valid(&m->u.welcome.resources) ||
		    m->u.welcome.n_relays > FLOE_SIGNAL_MAX_RELAYS)
			return false;
		for (size_t i = 0; i < m->u.welcome.n_relays; i++) {
			if (!relay_valid(&m->u.welcome.relays[i]))
				return false;
		}
		return true;
	case FLOE_SIGNAL_ERROR:
		return true;
	case FLOE_SIGNAL_REQUEST_FLOW:
		return floe_signal_id_valid(m->u.request_flow.resource) &&
		       ice_valid(&m->u.request_flow.ice);
	case FLOE_SIGNAL_AUTHORIZE_FLOW:
		return floe_signal_uuid_valid(m->u.authorize_flow.cid) &&
		       peer_valid(&m->u.authorize_flow.client, true) &&
		       floe_signal_key_valid(m->u.authorize_flow.psk) &&
		       resource_valid(&m->u.authorize_flow.resource) &&
		       ice_valid(&m->u.authorize_flow.ice);
	case FLOE_SIGNAL_FLOW_ACCEPTED:
		return floe_signal_uuid_valid(m->u.flow_accepted.cid) &&
		       ice_valid(&m->u.flow_accepted.ice);
	case FLOE_SIGNAL_FLOW_REJECTED:
		return floe_signal_uuid_valid(m->u.flow_rejected.cid);
	case FLOE_SIGNAL_FLOW_GRANTED:
		return floe_signal_uuid_valid(m->u.flow_granted.cid) &&
		       resource_valid(&m->u.flow_granted.resource) &&
		       peer_valid(&m->u.flow_granted.gateway, true) &&
		       floe_signal_key_valid(m->u.flow_granted.psk) &&
		       ice_valid(&m->u.flow_granted.ice);
	case FLOE_SIGNAL_FLOW_DENIED:
		return floe_signal_id_valid(m->u.flow_denied.resource);
	case FLOE_SIGNAL_CANDIDATE:
		return floe_signal_uuid_valid(m->u.candidate.cid) &&
		       m->u.candidate.candidate[0] != '\0';
	case FLOE_SIGNAL_END_OF_CANDIDATES:
		return floe_signal_uuid_valid(m->u.end_of_candidates.cid);
	case FLOE_SIGNAL_REVOKE:
		return peer_valid(&m->u.revoke.client, false) &&
		       floe_signal_id_valid(m->u.revoke.resource);
	case FLOE_SIGNAL_GRANT:
		return peer_valid(&m->u.grant.client, true) &&
		       resource_valid(&m->u.grant.resource);
	case FLOE_SIGNAL_RESOURCES:
		return resources_valid(&m->u.resources.resources);
	case FLOE_SIGNAL_PING:
	case FLOE_SIGNAL_PONG:
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */

/* A string, or JSON null for "" (optional fields). */
static json_t *str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

/* json_object_set_new that remembers failure instead of checking each call. */
static void put(json_t *obj, const char *key, json_t *value, bool *ok)
{
	if (!value || json_object_set_new(obj, key, value) < 0)
		*ok = false;
}

static json_t *ice_to_json(const floe_signal_ice_t *ice, bool *ok)
{
	json_t *o = json_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	put(o, "ufrag", json_string(ice->ufrag), ok);
	put(o, "pwd", json_string(ice->pwd), ok);
	return o;
}

static json_t *resource_to_json(const floe_signal_resource_t *r, bool *ok)
{
	json_t *o = json_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	put(o, "id", json_string(r->id), ok);
	put(o, "cidr", json_string(r->cidr), ok);
	put(o, "protocol", str_or_null(r->protocol), ok);
	put(o, "ports", str_or_null(r->ports), ok);
	put(o, "expires", str_or_null(r->expires), ok);
	return o;
}

static json_t *resources_to_json(const floe_signal_resource_list_t *l, bool *ok)
{
	json_t *a = json_array();

	if (!a) {
		*ok = false;
		return NULL;
	}
	for (size_t i = 0; i < l->n; i++) {
		json_t *r = resource_to_json(&l->items[i], ok);
		if (!r || json_array_append_new(a, r) < 0)
			*ok = false;
	}
	return a;
}

static json_t *peer_to_json(const floe_signal_peer_t *p, bool full, bool *ok)
{
	json_t *o = json_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	put(o, "id", json_string(p->id), ok);
	put(o, "public_key", json_string(p->public_key), ok);
	if (full) {
		put(o, "tunnel_ipv4", str_or_null(p->tunnel_ipv4), ok);
		put(o, "tunnel_ipv6", str_or_null(p->tunnel_ipv6), ok);
	}
	return o;
}

static json_t *relays_to_json(const floe_signal_relay_t *relays, size_t n, bool *ok)
{
	json_t *a = json_array();

	if (!a) {
		*ok = false;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		if (!o || json_array_append_new(a, o) < 0) {
			*ok = false;
			continue;
		}
		put(o, "host", json_string(relays[i].host), ok);
		put(o, "port", json_integer(relays[i].port), ok);
		put(o, "username", json_string(relays[i].username), ok);
		put(o, "password", json_string(relays[i].password), ok);
	}
	return a;
}

static json_t *msg_to_json(const floe_signal_msg_t *m, bool *ok)
{
	json_t *o = json_object();

	if (!o) {
		*ok = false;
		return NULL;
	}
	put(o, "type", json_string(floe_signal_type_name(m->type)), ok);
	switch (m->type) {
	case FLOE_SIGNAL_HELLO:
		put(o, "role", json_string(m->u.hello.role == FLOE_SIGNAL_ROLE_CLIENT ? "client" : "gateway"), ok);
		put(o, "version", json_integer(m->u.hello.version), ok);
		if (m->u.hello.boot_id[0])
			put(o, "boot_id", json_string(m->u.hello.boot_id), ok);
		if (m->u.hello.has_worker) {
			put(o, "worker", json_integer(m->u.hello.worker), ok);
			put(o, "workers", json_integer(m->u.hello.workers), ok);
		}
		break;
	case FLOE_SIGNAL_WELCOME:
		put(o, "node_id", json_string(m->u.welcome.node_id), ok);
		put(o, "tunnel_ipv4", str_or_null(m->u.welcome.tunnel_ipv4), ok);
		put(o, "tunnel_ipv6", str_or_null(m->u.welcome.tunnel_ipv6), ok);
		put(o, "resources", resources_to_json(&m->u.welcome.resources, ok), ok);
		put(o, "relays", relays_to_json(m->u.welcome.relays, m->u.welcome.n_relays, ok), ok);
		break;
	case FLOE_SIGNAL_ERROR:
		put(o, "reason", json_string(m->u.error.reason), ok);
		break;
	case FLOE_SIGNAL_REQUEST_FLOW:
		put(o, "resource", json_string(m->u.request_flow.resource), ok);
		put(o, "ice", ice_to_json(&m->u.request_flow.ice, ok), ok);
		break;
	case FLOE_SIGNAL_AUTHORIZE_FLOW:
		put(o, "cid", json_string(m->u.authorize_flow.cid), ok);
		put(o, "client", peer_to_json(&m->u.authorize_flow.client, true, ok), ok);
		put(o, "psk", json_string(m->u.authorize_flow.psk), ok);
		put(o, "resource", resource_to_json(&m->u.authorize_flow.resource, ok), ok);
		put(o, "ice", ice_to_json(&m->u.authorize_flow.ice, ok), ok);
		break;
	case FLOE_SIGNAL_FLOW_ACCEPTED:
		put(o, "cid", json_string(m->u.flow_accepted.cid), ok);
		put(o, "ice", ice_to_json(&m->u.flow_accepted.ice, ok), ok);
		break;
	case FLOE_SIGNAL_FLOW_REJECTED:
		put(o, "cid", json_string(m->u.flow_rejected.cid), ok);
		put(o, "reason", json_string(m->u.flow_rejected.reason), ok);
		break;
	case FLOE_SIGNAL_FLOW_GRANTED:
		put(o, "cid", json_string(m->u.flow_granted.cid), ok);
		put(o, "resource", resource_to_json(&m->u.flow_granted.resource, ok), ok);
		put(o, "gateway", peer_to_json(&m->u.flow_granted.gateway, true, ok), ok);
		put(o, "psk", json_string(m->u.flow_granted.psk), ok);
		put(o, "ice", ice_to_json(&m->u.flow_granted.ice, ok), ok);
		break;
	case FLOE_SIGNAL_FLOW_DENIED:
		put(o, "resource", json_string(m->u.flow_denied.resource), ok);
		put(o, "reason", json_string(m->u.flow_denied.reason), ok);
		break;
	case FLOE_SIGNAL_CANDIDATE:
		put(o, "cid", json_string(m->u.candidate.cid), ok);
		put(o, "candidate", json_string(m->u.candidate.candidate), ok);
		break;
	case FLOE_SIGNAL_END_OF_CANDIDATES:
		put(o, "cid", json_string(m->u.end_of_candidates.cid), ok);
		break;
	case FLOE_SIGNAL_REVOKE:
		put(o, "client", peer_to_json(&m->u.revoke.client, false, ok), ok);
		put(o, "resource", json_string(m->u.revoke.resource), ok);
		break;
	case FLOE_SIGNAL_GRANT:
		put(o, "client", peer_to_json(&m->u.grant.client, true, ok), ok);
		put(o, "resource", resource_to_json(&m->u.grant.resource, ok), ok);
		break;
	case FLOE_SIGNAL_RESOURCES:
		put(o, "resources", resources_to_json(&m->u.resources.resources, ok), ok);
		break;
	default:
		break;
	}
	return o;
}

int floe_signal_encode(const floe_signal_msg_t *msg, char *buf, size_t cap, size_t *len)
{
	bool ok = true;
	json_t *o;
	size_t n;

	if (!msg || !buf || !len || !msg_valid(msg))
		return -EINVAL;
	o = msg_to_json(msg, &ok);
	if (!o || !ok) {
		json_decref(o);
		return -ENOMEM;
	}
	n = json_dumpb(o, buf, cap, JSON_COMPACT);
	json_decref(o);
	if (n == 0)
		return -ENOMEM;
	if (n > cap) {
		/* json_dumpb wrote a prefix: do not leave half a PSK behind */
		sodium_memzero(buf, cap);
		return -EMSGSIZE;
	}
	*len = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */

enum str_flags {
	STR_REQUIRED = 0,  /* a JSON string must be present */
	STR_NULLABLE = 1,  /* absent or null reads as "" */
};

/*
 * Copies obj[key] into dst. -EPROTO when missing, not a string, too long
 * for dst, or holding a NUL or another control character (these strings
 * end up in logs and in libnice).
 */
static int get_str(const json_t *obj, const char *key, char *dst, size_t cap, int flags)
{
	const json_t *v = json_object_get(obj, key);
	const char *s;
	size_t n;

	dst[0] = '\0';
	if (!v || json_is_null(v))
		return (flags & STR_NULLABLE) ? 0 : -EPROTO;
	if (!json_is_string(v))
		return -EPROTO;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= cap)
		return -EPROTO;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -EPROTO;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

#define GET_STR(obj, key, field, flags)                                             \
	do {                                                                        \
		int r_ = get_str((obj), (key), (field), sizeof(field), (flags));    \
		if (r_ < 0)                                                         \
			return r_;                                                  \
	} while (0)

static const json_t *get_obj(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_object(v) ? v : NULL;
}

static int ice_from_json(const json_t *o, floe_signal_ice_t *ice)
{
	if (!o)
		return -EPROTO;
	GET_STR(o, "ufrag", ice->ufrag, STR_REQUIRED);
	GET_STR(o, "pwd", ice->pwd, STR_REQUIRED);
	return 0;
}

static int resource_from_json(const json_t *o, floe_signal_resource_t *r)
{
	if (!o)
		return -EPROTO;
	GET_STR(o, "id", r->id, STR_REQUIRED);
	GET_STR(o, "cidr", r->cidr, STR_REQUIRED);
	GET_STR(o, "protocol", r->protocol, STR_NULLABLE);
	GET_STR(o, "ports", r->ports, STR_NULLABLE);
	GET_STR(o, "expires", r->expires, STR_NULLABLE);
	return 0;
}

static int resources_from_json(const json_t *a, floe_signal_resource_list_t *l)
{
	size_t i;
	const json_t *v;

	if (!json_is_array(a) || json_array_size(a) > FLOE_SIGNAL_MAX_RESOURCES)
		return -EPROTO;
	json_array_foreach(a, i, v) {
		int r = resource_from_json(json_is_object(v) ? v : NULL, &l->items[i]);
		if (r < 0)
			return r;
	}
	l->n = json_array_size(a);
	return 0;
}

static int peer_from_json(const json_t *o, floe_signal_peer_t *p, bool full)
{
	if (!o)
		return -EPROTO;
	GET_STR(o, "id", p->id, STR_REQUIRED);
	GET_STR(o, "public_key", p->public_key, STR_REQUIRED);
	if (full) {
		GET_STR(o, "tunnel_ipv4", p->tunnel_ipv4, STR_NULLABLE);
		GET_STR(o, "tunnel_ipv6", p->tunnel_ipv6, STR_NULLABLE);
	}
	return 0;
}

static int relays_from_json(const json_t *a, floe_signal_relay_t *relays, size_t *n)
{
	size_t i;
	const json_t *v;

	if (!json_is_array(a) || json_array_size(a) > FLOE_SIGNAL_MAX_RELAYS)
		return -EPROTO;
	json_array_foreach(a, i, v) {
		const json_t *port = json_object_get(v, "port");

		if (!json_is_object(v) || !json_is_integer(port) ||
		    json_integer_value(port) < 1 || json_integer_value(port) > 65535)
			return -EPROTO;
		relays[i].port = (uint16_t)json_integer_value(port);
		GET_STR(v, "host", relays[i].host, STR_REQUIRED);
		GET_STR(v, "username", relays[i].username, STR_NULLABLE);
		GET_STR(v, "password", relays[i].password, STR_NULLABLE);
	}
	*n = json_array_size(a);
	return 0;
}

/* "worker" and "workers" come together or not at all. */
static int hello_worker_from_json(const json_t *o, floe_signal_msg_t *m)
{
	const json_t *k = json_object_get(o, "worker");
	const json_t *n = json_object_get(o, "workers");

	if (!k && !n)
		return 0;
	if (!json_is_integer(k) || !json_is_integer(n))
		return -EPROTO;
	if (json_integer_value(k) < 0 || json_integer_value(k) > INT_MAX || json_integer_value(n) < 0 ||
	    json_integer_value(n) > INT_MAX)
		return -EINVAL;
	m->u.hello.has_worker = true;
	m->u.hello.worker = (int)json_integer_value(k);
	m->u.hello.workers = (int)json_integer_value(n);
	return 0;
}

static int hello_from_json(const json_t *o, floe_signal_msg_t *m)
{
	char role[16];
	const json_t *version = json_object_get(o, "version");

	GET_STR(o, "role", role, STR_REQUIRED);
	if (!json_is_integer(version))
		return -EPROTO;
	if (!strcmp(role, "client"))
		m->u.hello.role = FLOE_SIGNAL_ROLE_CLIENT;
	else if (!strcmp(role, "gateway"))
		m->u.hello.role = FLOE_SIGNAL_ROLE_GATEWAY;
	else
		return -EINVAL;
	if (json_integer_value(version) < 1 || json_integer_value(version) > 1000)
		return -EINVAL;
	m->u.hello.version = (int)json_integer_value(version);
	GET_STR(o, "boot_id", m->u.hello.boot_id, STR_NULLABLE);
	for (const char *c = m->u.hello.boot_id; *c; c++) {
		if (!isxdigit((unsigned char)*c))
			return -EINVAL;
	}
	return hello_worker_from_json(o, m);
}

static int body_from_json(const json_t *o, floe_signal_msg_t *m)
{
	int r = 0;

	switch (m->type) {
	case FLOE_SIGNAL_HELLO:
		return hello_from_json(o, m);
	case FLOE_SIGNAL_WELCOME:
		GET_STR(o, "node_id", m->u.welcome.node_id, STR_REQUIRED);
		GET_STR(o, "tunnel_ipv4", m->u.welcome.tunnel_ipv4, STR_NULLABLE);
		GET_STR(o, "tunnel_ipv6", m->u.welcome.tunnel_ipv6, STR_NULLABLE);
		r = resources_from_json(json_object_get(o, "resources"), &m->u.welcome.resources);
		if (r == 0)
			r = relays_from_json(json_object_get(o, "relays"), m->u.welcome.relays,
					     &m->u.welcome.n_relays);
		return r;
	case FLOE_SIGNAL_ERROR:
		GET_STR(o, "reason", m->u.error.reason, STR_REQUIRED);
		return 0;
	case FLOE_SIGNAL_REQUEST_FLOW:
		GET_STR(o, "resource", m->u.request_flow.resource, STR_REQUIRED);
		return ice_from_json(get_obj(o, "ice"), &m->u.request_flow.ice);
	case FLOE_SIGNAL_AUTHORIZE_FLOW:
		GET_STR(o, "cid", m->u.authorize_flow.cid, STR_REQUIRED);
		GET_STR(o, "psk", m->u.authorize_flow.psk, STR_REQUIRED);
		r = peer_from_json(get_obj(o, "client"), &m->u.authorize_flow.client, true);
		if (r == 0)
			r = resource_from_json(get_obj(o, "resource"), &m->u.authorize_flow.resource);
		if (r == 0)
			r = ice_from_json(get_obj(o, "ice"), &m->u.authorize_flow.ice);
		return r;
	case FLOE_SIGNAL_FLOW_ACCEPTED:
		GET_STR(o, "cid", m->u.flow_accepted.cid, STR_REQUIRED);
		return ice_from_json(get_obj(o, "ice"), &m->u.flow_accepted.ice);
	case FLOE_SIGNAL_FLOW_REJECTED:
		GET_STR(o, "cid", m->u.flow_rejected.cid, STR_REQUIRED);
		GET_STR(o, "reason", m->u.flow_rejected.reason, STR_REQUIRED);
		return 0;
	case FLOE_SIGNAL_FLOW_GRANTED:
		GET_STR(o, "cid", m->u.flow_granted.cid, STR_REQUIRED);
		GET_STR(o, "psk", m->u.flow_granted.psk, STR_REQUIRED);
		r = resource_from_json(get_obj(o, "resource"), &m->u.flow_granted.resource);
		if (r == 0)
			r = peer_from_json(get_obj(o, "gateway"), &m->u.flow_granted.gateway, true);
		if (r == 0)
			r = ice_from_json(get_obj(o, "ice"), &m->u.flow_granted.ice);
		return r;
	case FLOE_SIGNAL_FLOW_DENIED:
		GET_STR(o, "resource", m->u.flow_denied.resource, STR_REQUIRED);
		GET_STR(o, "reason", m->u.flow_denied.reason, STR_REQUIRED);
		return 0;
	case FLOE_SIGNAL_CANDIDATE:
		GET_STR(o, "cid", m->u.candidate.cid, STR_REQUIRED);
		GET_STR(o, "candidate", m->u.candidate.candidate, STR_REQUIRED);
		return 0;
	case FLOE_SIGNAL_END_OF_CANDIDATES:
		GET_STR(o, "cid", m->u.end_of_candidates.cid, STR_REQUIRED);
		return 0;
	case FLOE_SIGNAL_REVOKE:
		GET_STR(o, "resource", m->u.revoke.resource, STR_REQUIRED);
		return peer_from_json(get_obj(o, "client"), &m->u.revoke.client, false);
	case FLOE_SIGNAL_GRANT:
		r = peer_from_json(get_obj(o, "client"), &m->u.grant.client, true);
		if (r == 0)
			r = resource_from_json(get_obj(o, "resource"), &m->u.grant.resource);
		return r;
	case FLOE_SIGNAL_RESOURCES:
		return resources_from_json(json_object_get(o, "resources"),
					   &m->u.resources.resources);
	case FLOE_SIGNAL_PING:
	case FLOE_SIGNAL_PONG:
		return 0;
	default:
		return -EPROTO;
	}
}

int floe_signal_decode(const void *data, size_t len, floe_signal_msg_t *out)
{
	char type[32];
	json_error_t jerr;
	json_t *o;
	int r;

	if (!out)
		return -EINVAL;
	sodium_memzero(out, sizeof(*out));
	if (!data || len == 0 || len > FLOE_SIGNAL_MAX_FRAME_BYTES)
		return -EPROTO;
	/* Duplicate keys would make "which psk?" ambiguous: refuse them. */
	o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return -EPROTO;
	r = -EPROTO;
	if (!json_is_object(o) || get_str(o, "type", type, sizeof(type), STR_REQUIRED) < 0)
		goto out;
	for (int t = FLOE_SIGNAL_NONE + 1; t < FLOE_SIGNAL_TYPE_COUNT; t++) {
		if (!strcmp(type, type_names[t])) {
			out->type = (floe_signal_type_t)t;
			break;
		}
	}
	if (out->type == FLOE_SIGNAL_NONE)
		goto out;
	r = body_from_json(o, out);
	if (r == 0 && !msg_valid(out))
		r = -EINVAL;
out:
	json_decref(o);
	if (r < 0)
		floe_signal_msg_wipe(out);
	return r;
}

void floe_signal_msg_wipe(floe_signal_msg_t *msg)
{
	if (msg)
		sodium_memzero(msg, sizeof(*msg));
}
