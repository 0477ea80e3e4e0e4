/*
 * Symmetric NAT detection from ICE candidates (see natdetect.h for the
 * rule and why it is sound).
 */
#include "transport/ice/natdetect.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

void floe_ice_nat_reset(floe_ice_nat_t *self)
{
	if (self)
		memset(self, 0, sizeof(*self));
}

static size_t s_addr_len(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (sa->sa_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

static bool s_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
}

static in_port_t s_port(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_port;
	return ((const struct sockaddr_in6 *)(const void *)a)->sin6_port;
}

static bool s_same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return s_same_ip(a, b) && s_port(a) == s_port(b);
}

int floe_ice_nat_observe(floe_ice_nat_t *self, floe_ice_nat_side_t side, floe_ice_cand_type_t type,
			 const struct sockaddr *addr, const struct sockaddr *base)
{
	floe_ice_nat_side_state_t *s;
	floe_ice_nat_reflexive_t *r;
	size_t len = s_addr_len(addr), blen = s_addr_len(base);

	if (!self || (side != FLOE_ICE_NAT_LOCAL && side != FLOE_ICE_NAT_REMOTE) || !len)
		return -EINVAL;
	s = &self->side[side];
	switch (type) {
	case FLOE_ICE_CAND_HOST:
		if (addr->sa_family == AF_INET)
			s->n_host_v4++;
		else
			s->n_host_v6++;
		return 0;
	case FLOE_ICE_CAND_SRFLX:
	case FLOE_ICE_CAND_PRFLX:
		break;
	case FLOE_ICE_CAND_RELAY:
	default:
		return 0;
	}
	if (s->n_refl >= FLOE_ICE_NAT_MAX_REFLEXIVE) {
		s->ignored++;
		return 0;
	}
	r = &s->refl[s->n_refl];
	memset(r, 0, sizeof(*r));
	memcpy(&r->addr, addr, len);
	/* A base of another family than the address is not a base of it. */
	if (blen && base->sa_family == addr->sa_family)
		memcpy(&r->base, base, blen);
	for (size_t i = 0; i < s->n_refl; i++) {
		const floe_ice_nat_reflexive_t *o = &s->refl[i];

		/* libnice re-announces candidates; duplicates add nothing. */
		if (s_same_endpoint(&o->addr, &r->addr) &&
		    (o->base.ss_family == 0 || r->base.ss_family == 0 ||
		     s_same_endpoint(&o->base, &r->base)))
			return 0;
	}
	s->n_refl++;
	return 0;
}

/* Two mappings behind one socket? A base is unknown only for a peer's
 * prflx; then the peer must have a single socket of that family. */
static bool s_one_socket(const floe_ice_nat_side_state_t *s, const floe_ice_nat_reflexive_t *a,
			 const floe_ice_nat_reflexive_t *b)
{
	size_t hosts;

	if (a->base.ss_family && b->base.ss_family)
		return s_same_endpoint(&a->base, &b->base);
	hosts = a->addr.ss_family == AF_INET ? s->n_host_v4 : s->n_host_v6;
	return hosts == 1;
}

/*
 * A mapping whose socket is unknown (a peer's prflx) that matches none of
 * the side's srflx ports on that IP, while every socket of that family has
 * its srflx there: under endpoint-independent mapping it would equal the
 * srflx of the socket it came from, whichever that was.
 */
static bool s_unmatched_mapping(const floe_ice_nat_side_state_t *s, const floe_ice_nat_reflexive_t *r)
{
	size_t hosts = r->addr.ss_family == AF_INET ? s->n_host_v4 : s->n_host_v6, with_base = 0;

	for (size_t i = 0; i < s->n_refl; i++) {
		const floe_ice_nat_reflexive_t *o = &s->refl[i];

		if (o == r || !o->base.ss_family || !s_same_ip(&o->addr, &r->addr))
			continue;
		if (s_port(&o->addr) == s_port(&r->addr))
			return false;
		with_base++;
	}
	return with_base > 0 && with_base == hosts;
}

bool floe_ice_nat_symmetric(const floe_ice_nat_t *self, floe_ice_nat_side_t side)
{
	const floe_ice_nat_side_state_t *s;

	if (!self || (side != FLOE_ICE_NAT_LOCAL && side != FLOE_ICE_NAT_REMOTE))
		return false;
	s = &self->side[side];
	for (size_t i = 0; i < s->n_refl; i++) {
		if (!s->refl[i].base.ss_family && s_unmatched_mapping(s, &s->refl[i]))
			return true;
		for (size_t j = i + 1; j < s->n_refl; j++) {
			const floe_ice_nat_reflexive_t *a = &s->refl[i], *b = &s->refl[j];

			if (s_same_ip(&a->addr, &b->addr) && s_port(&a->addr) != s_port(&b->addr) &&
			    s_one_socket(s, a, b))
				return true;
		}
	}
	return false;
}
