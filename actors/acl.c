/* The gateway's access policy: see acl.h and docs/gateway-policy.md. */
#include "actors/acl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "runtime/log.h"

#define LOG_TARGET "floe::acl"

/* IP protocol numbers (IANA) and header layouts (RFC 791, 8200, 793, 768, 792). */
enum {
	IPPROTO_NUM_HOPOPTS = 0,
	IPPROTO_NUM_ICMP = 1,
	IPPROTO_NUM_TCP = 6,
	IPPROTO_NUM_UDP = 17,
	IPPROTO_NUM_ROUTING = 43,
	IPPROTO_NUM_FRAGMENT = 44,
	IPPROTO_NUM_AH = 51,
	IPPROTO_NUM_ICMPV6 = 58,
	IPPROTO_NUM_DSTOPTS = 60,

	IPV4_TOTAL_LEN_OFFSET = 2,
	IPV4_FRAG_OFFSET = 6,
	IPV4_FRAG_MASK = 0x1fff,
	IPV4_PROTO_OFFSET = 9,
	IPV6_PAYLOAD_LEN_OFFSET = 4,
	IPV6_NEXT_HEADER_OFFSET = 6,
	IPV6_EXT_MIN_BYTES = 8, /* every extension header is a multiple of 8 bytes */
	IPV6_FRAG_HEADER_BYTES = 8,

	TCP_HEADER_MIN_BYTES = 20,
	UDP_HEADER_BYTES = 8,
	ICMP_HEADER_BYTES = 8,
	L4_DST_PORT_OFFSET = 2,
	TIME_STR_MAX = 32,
};

/* What floe_acl_check needs from a packet; pointers point into it. */
struct pkt_info {
	int family;
	const uint8_t *src;
	const uint8_t *dst;
	uint8_t proto;
	bool non_first_fragment; /* no transport header: ports unknown */
	uint16_t dport;          /* valid for a first TCP/UDP fragment */
};

struct grant {
	floe_acl_resource_t resource;
	int64_t expires_at_s; /* 0 = never */
};

/* The grants array grows by doubling up to FLOE_ACL_MAX_GRANTS_PER_CLIENT. */
struct client {
	char id[FLOE_ACL_ID_MAX];
	size_t n, cap;
	struct grant *grants;
};

/* Clients sorted by id: a packet costs a binary search, a grant a memmove. */
struct floe_acl {
	size_t n, cap;
	struct client **clients;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static bool id_valid(const char *id)
{
	return id && id[0] && strnlen(id, FLOE_ACL_ID_MAX) < FLOE_ACL_ID_MAX;
}

static bool expired(const struct grant *g, int64_t now_s)
{
	return g->expires_at_s != 0 && now_s >= g->expires_at_s;
}

/* The transport header at l4 (l4_len bytes up to the packet's end) must be
 * whole for the protocols we read ports or types from. */
static bool parse_transport(const uint8_t *l4, size_t l4_len, struct pkt_info *pi)
{
	if (pi->non_first_fragment)
		return true;
	switch (pi->proto) {
	case IPPROTO_NUM_TCP: {
		size_t doff;

		if (l4_len < TCP_HEADER_MIN_BYTES)
			return false;
		doff = (size_t)(l4[12] >> 4) * 4;
		if (doff < TCP_HEADER_MIN_BYTES || doff > l4_len)
			return false;
		pi->dport = be16(l4 + L4_DST_PORT_OFFSET);
		return true;
	}
	case IPPROTO_NUM_UDP:
		if (l4_len < UDP_HEADER_BYTES)
			return false;
		pi->dport = be16(l4 + L4_DST_PORT_OFFSET);
		return true;
	case IPPROTO_NUM_ICMP:
	case IPPROTO_NUM_ICMPV6:
		return l4_len >= ICMP_HEADER_BYTES;
	default:
		return true; /* other protocols: address and protocol only */
	}
}

static bool parse_ipv4(const uint8_t *pkt, size_t len, struct pkt_info *pi)
{
	size_t ihl, total;

	if (len < FLOE_IPV4_HEADER_MIN_BYTES)
		return false;
	ihl = (size_t)(pkt[0] & 0x0f) * 4;
	total = be16(pkt + IPV4_TOTAL_LEN_OFFSET);
	/* The TUN hands us whole packets: a total length beyond the buffer is
	 * truncation, below the header nonsense. Bytes after total are padding. */
	if (ihl < FLOE_IPV4_HEADER_MIN_BYTES || total < ihl || total > len)
		return false;
	pi->family = AF_INET;
	pi->src = pkt + 12;
	pi->dst = pkt + 16;
	pi->proto = pkt[IPV4_PROTO_OFFSET];
	pi->non_first_fragment = (be16(pkt + IPV4_FRAG_OFFSET) & IPV4_FRAG_MASK) != 0;
	return parse_transport(pkt + ihl, total - ihl, pi);
}

static bool parse_ipv6(const uint8_t *pkt, size_t len, struct pkt_info *pi)
{
	size_t end, off = FLOE_IPV6_HEADER_BYTES;
	uint8_t nh;
	int hops;

	if (len < FLOE_IPV6_HEADER_BYTES)
		return false;
	/* Payload length 0 is a jumbogram (RFC 2675), which a TUN never carries. */
	end = FLOE_IPV6_HEADER_BYTES + be16(pkt + IPV6_PAYLOAD_LEN_OFFSET);
	if (end == FLOE_IPV6_HEADER_BYTES || end > len)
		return false;
	pi->family = AF_INET6;
	pi->src = pkt + 8;
	pi->dst = pkt + 24;
	pi->non_first_fragment = false;
	nh = pkt[IPV6_NEXT_HEADER_OFFSET];

	/* Skip a bounded number of extension headers, each checked against end
	 * before any of its bytes is read. */
	for (hops = 0;; hops++) {
		size_t hlen;

		if (hops > FLOE_ACL_MAX_IPV6_EXT_HEADERS)
			return false; /* a longer chain than any real traffic uses */
		switch (nh) {
		case IPPROTO_NUM_HOPOPTS:
		case IPPROTO_NUM_ROUTING:
		case IPPROTO_NUM_DSTOPTS:
			if (end - off < IPV6_EXT_MIN_BYTES)
				return false;
			hlen = ((size_t)pkt[off + 1] + 1) * 8;
			break;
		case IPPROTO_NUM_AH:
			if (end - off < IPV6_EXT_MIN_BYTES)
				return false;
			hlen = ((size_t)pkt[off + 1] + 2) * 4;
			break;
		case IPPROTO_NUM_FRAGMENT:
			if (end - off < IPV6_FRAG_HEADER_BYTES)
				return false;
			hlen = IPV6_FRAG_HEADER_BYTES;
			/* Offset is the top 13 bits of bytes 2..3. */
			if ((be16(pkt + off + 2) >> 3) != 0)
				pi->non_first_fragment = true;
			break;
		default:
			pi->proto = nh;
			return parse_transport(pkt + off, end - off, pi);
		}
		if (hlen > end - off)
			return false;
		nh = pkt[off];
		off += hlen;
		if (pi->non_first_fragment) {
			pi->proto = nh;
			return true;
		}
	}
}

static bool parse_packet(const uint8_t *pkt, size_t len, struct pkt_info *pi)
{
	if (!pkt || len < 1)
		return false;
	switch (pkt[0] >> 4) {
	case 4:
		return parse_ipv4(pkt, len, pi);
	case 6:
		return parse_ipv6(pkt, len, pi);
	default:
		return false;
	}
}

static bool proto_matches(floe_acl_proto_t want, const struct pkt_info *pi)
{
	switch (want) {
	case FLOE_ACL_PROTO_ANY:
		return true;
	case FLOE_ACL_PROTO_TCP:
		return pi->proto == IPPROTO_NUM_TCP;
	case FLOE_ACL_PROTO_UDP:
		return pi->proto == IPPROTO_NUM_UDP;
	case FLOE_ACL_PROTO_ICMP:
		return pi->proto == (pi->family == AF_INET ? IPPROTO_NUM_ICMP : IPPROTO_NUM_ICMPV6);
	}
	return false;
}

/* How far one grant gets with a packet whose source is already checked. */
static floe_acl_verdict_t grant_verdict(const struct grant *g, const struct pkt_info *pi,
					int64_t now_s)
{
	const floe_acl_resource_t *r = &g->resource;
	size_t i;

	if (!floe_cidr_contains(&r->cidr, pi->family, pi->dst))
		return FLOE_ACL_DENY_NO_GRANT;
	if (expired(g, now_s))
		return FLOE_ACL_DENY_EXPIRED;
	if (!proto_matches(r->proto, pi))
		return FLOE_ACL_DENY_PROTOCOL;
	if (r->n_ports == 0)
		return FLOE_ACL_ALLOW;
	/* Port ranges restrict the grant to TCP and UDP. */
	if (pi->proto != IPPROTO_NUM_TCP && pi->proto != IPPROTO_NUM_UDP)
		return FLOE_ACL_DENY_PROTOCOL;
	if (pi->non_first_fragment)
		return FLOE_ACL_ALLOW; /* ports were checked on the first fragment (acl.h) */
	for (i = 0; i < r->n_ports; i++)
		if (pi->dport >= r->ports[i].first && pi->dport <= r->ports[i].last)
			return FLOE_ACL_ALLOW;
	return FLOE_ACL_DENY_PORT;
}

/* Binary search; *pos is where the client is or would be inserted. */
static struct client *find_client(const floe_acl_t *self, const char *id, size_t *pos)
{
	size_t lo = 0, hi = self->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(self->clients[mid]->id, id);

		if (c == 0) {
			if (pos)
				*pos = mid;
			return self->clients[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return NULL;
}

static void remove_client_at(floe_acl_t *self, size_t pos)
{
	struct client *c = self->clients[pos];

	free(c->grants);
	free(c);
	memmove(&self->clients[pos], &self->clients[pos + 1],
		(self->n - pos - 1) * sizeof(self->clients[0]));
	self->n--;
}

static struct client *add_client(floe_acl_t *self, const char *id, size_t pos)
{
	struct client *c;

	if (self->n == FLOE_ACL_MAX_CLIENTS)
		return NULL;
	if (self->n == self->cap) {
		size_t cap = self->cap ? self->cap * 2 : 16;
		struct client **p = realloc(self->clients, cap * sizeof(*p));

		if (!p)
			return NULL;
		self->clients = p;
		self->cap = cap;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	strcpy(c->id, id); /* id_valid() bounded it */
	memmove(&self->clients[pos + 1], &self->clients[pos],
		(self->n - pos) * sizeof(self->clients[0]));
	self->clients[pos] = c;
	self->n++;
	return c;
}

static void format_time(int64_t t, char buf[TIME_STR_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, TIME_STR_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm))
		buf[0] = '\0';
}

static int resource_check(const floe_acl_resource_t *r)
{
	size_t i;

	if (!r || !id_valid(r->id) || !floe_addr_len(r->cidr.family) ||
	    r->cidr.prefix > floe_addr_len(r->cidr.family) * 8)
		return -EINVAL;
	if ((unsigned)r->proto > FLOE_ACL_PROTO_ICMP || r->n_ports > FLOE_ACL_MAX_PORT_RANGES)
		return -EINVAL;
	if (r->n_ports && r->proto == FLOE_ACL_PROTO_ICMP)
		return -EINVAL;
	for (i = 0; i < r->n_ports; i++)
		if (r->ports[i].first > r->ports[i].last)
			return -EINVAL;
	return 0;
}

floe_acl_t *floe_acl_new(void)
{
	return calloc(1, sizeof(floe_acl_t));
}

void floe_acl_destroy(floe_acl_t **self_p)
{
	floe_acl_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	while (self->n)
		remove_client_at(self, self->n - 1);
	free(self->clients);
	free(self);
	*self_p = NULL;
}

int floe_acl_grant(floe_acl_t *self, const char *client_id, const floe_acl_resource_t *resource,
		   int64_t expires_at_s)
{
	struct client *c;
	struct grant *g = NULL;
	size_t pos, i;
	char cidr[FLOE_CIDR_STR_MAX], expires[TIME_STR_MAX];

	if (!self || !id_valid(client_id) || resource_check(resource) < 0 || expires_at_s < 0)
		return -EINVAL;
	c = find_client(self, client_id, &pos);
	if (c) {
		for (i = 0; i < c->n && !g; i++)
			if (strcmp(c->grants[i].resource.id, resource->id) == 0)
				g = &c->grants[i];
	} else {
		if (self->n == FLOE_ACL_MAX_CLIENTS)
			return -ENOSPC;
		c = add_client(self, client_id, pos);
		if (!c)
			return -ENOMEM;
	}
	if (!g) {
		if (c->n == FLOE_ACL_MAX_GRANTS_PER_CLIENT)
			return -ENOSPC;
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 4;
			struct grant *p = realloc(c->grants, cap * sizeof(*p));

			if (!p) {
				if (c->n == 0)
					remove_client_at(self, pos);
				return -ENOMEM;
			}
			c->grants = p;
			c->cap = cap;
		}
		g = &c->grants[c->n++];
	}
	g->resource = *resource;
	g->expires_at_s = expires_at_s;

	floe_cidr_format(&resource->cidr, cidr, sizeof(cidr));
	format_time(expires_at_s, expires);
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Allowing access to resource",
		 FLOE_F_STR("client_id", client_id), FLOE_F_STR("resource", resource->id),
		 FLOE_F_STR("cidr", cidr), FLOE_F_STR("protocol", floe_acl_proto_name(resource->proto)),
		 FLOE_F_STR("expires", expires_at_s ? expires : NULL));
	return 0;
}

int floe_acl_revoke(floe_acl_t *self, const char *client_id, const char *resource_id)
{
	struct client *c;
	size_t pos, i;

	if (!self || !client_id || !resource_id)
		return -EINVAL;
	c = find_client(self, client_id, &pos);
	if (!c)
		return -ENOENT;
	for (i = 0; i < c->n; i++) {
		if (strcmp(c->grants[i].resource.id, resource_id) != 0)
			continue;
		c->grants[i] = c->grants[--c->n];
		if (c->n == 0)
			remove_client_at(self, pos);
		return 0;
	}
	return -ENOENT;
}

int floe_acl_revoke_client(floe_acl_t *self, const char *client_id)
{
	size_t pos;

	if (!self || !client_id)
		return -EINVAL;
	if (!find_client(self, client_id, &pos))
		return -ENOENT;
	remove_client_at(self, pos);
	return 0;
}

size_t floe_acl_count(const floe_acl_t *self, const char *client_id, int64_t now_s)
{
	const struct client *c;
	size_t i, n = 0;

	if (!self || !client_id)
		return 0;
	c = find_client(self, client_id, NULL);
	for (i = 0; c && i < c->n; i++)
		n += !expired(&c->grants[i], now_s);
	return n;
}

int64_t floe_acl_next_expiry(const floe_acl_t *self)
{
	int64_t next = 0;
	size_t k, i;

	for (k = 0; self && k < self->n; k++) {
		const struct client *c = self->clients[k];

		for (i = 0; i < c->n; i++) {
			int64_t e = c->grants[i].expires_at_s;

			if (e && (!next || e < next))
				next = e;
		}
	}
	return next;
}

floe_acl_verdict_t floe_acl_check(const floe_acl_t *self, const char *client_id,
				  const uint8_t *tunnel_v4, const uint8_t *tunnel_v6,
				  const uint8_t *pkt, size_t len, int64_t now_s)
{
	struct pkt_info pi = { 0 };
	const struct client *c;
	const uint8_t *tunnel;
	floe_acl_verdict_t best = FLOE_ACL_DENY_NO_GRANT;
	size_t i;

	if (!parse_packet(pkt, len, &pi))
		return FLOE_ACL_DENY_MALFORMED;
	tunnel = pi.family == AF_INET ? tunnel_v4 : tunnel_v6;
	if (!tunnel || memcmp(tunnel, pi.src, floe_addr_len(pi.family)) != 0)
		return FLOE_ACL_DENY_SPOOFED;
	if (!self || !client_id)
		return FLOE_ACL_DENY_NO_GRANT;
	c = find_client(self, client_id, NULL);
	for (i = 0; c && i < c->n; i++) {
		floe_acl_verdict_t v = grant_verdict(&c->grants[i], &pi, now_s);

		if (v == FLOE_ACL_ALLOW)
			return FLOE_ACL_ALLOW;
		/* The enum orders the denials by how close the grant came. */
		if (v > best)
			best = v;
	}
	return best;
}

size_t floe_acl_expire(floe_acl_t *self, int64_t now_s, floe_acl_expired_fn *fn, void *user)
{
	size_t k, i, removed = 0;

	if (!self)
		return 0;
	for (k = self->n; k-- > 0;) {
		struct client *c = self->clients[k];

		for (i = c->n; i-- > 0;) {
			struct grant g = c->grants[i];

			if (!expired(&g, now_s))
				continue;
			c->grants[i] = c->grants[--c->n];
			removed++;
			floe_log(FLOE_LOG_INFO, LOG_TARGET, "Access to resource expired",
				 FLOE_F_STR("client_id", c->id), FLOE_F_STR("resource", g.resource.id));
			if (fn)
				fn(user, c->id, &g.resource);
		}
		if (c->n == 0)
			remove_client_at(self, k);
	}
	return removed;
}

const char *floe_acl_verdict_name(floe_acl_verdict_t v)
{
	switch (v) {
	case FLOE_ACL_ALLOW:
		return "allow";
	case FLOE_ACL_DENY_MALFORMED:
		return "malformed_packet";
	case FLOE_ACL_DENY_SPOOFED:
		return "spoofed_source";
	case FLOE_ACL_DENY_NO_GRANT:
		return "no_grant";
	case FLOE_ACL_DENY_EXPIRED:
		return "expired";
	case FLOE_ACL_DENY_PROTOCOL:
		return "protocol_not_granted";
	case FLOE_ACL_DENY_PORT:
		return "port_not_granted";
	}
	return "unknown";
}

const char *floe_acl_proto_name(floe_acl_proto_t p)
{
	switch (p) {
	case FLOE_ACL_PROTO_ANY:
		return "any";
	case FLOE_ACL_PROTO_TCP:
		return "tcp";
	case FLOE_ACL_PROTO_UDP:
		return "udp";
	case FLOE_ACL_PROTO_ICMP:
		return "icmp";
	}
	return "unknown";
}
