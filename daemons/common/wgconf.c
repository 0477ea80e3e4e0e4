/*
 * wg-quick-style INI parser for floe-wg: see wgconf.h.
 *
 * libinih does the tokenising. Debian builds it without line numbers in the
 * handler and without a callback on a new section, and floe-wg needs both
 * (errors name the line; two [Peer] sections in a row are two peers). So the
 * text reaches inih through our own line reader, which counts lines and
 * notices section headers before inih sees them: when the handler runs for a
 * key, st->ini.line is that key's line and st->section is its section.
 */
#include "daemons/common/wgconf.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemons/common/ini.h"
#include "transport/net/udp.h"

typedef enum {
	SECTION_NONE = 0, /* before the first header */
	SECTION_INTERFACE,
	SECTION_PEER,
} section_t;

/* Per-section "key seen" bits, to refuse a key given twice. */
enum {
	SEEN_PRIVATE_KEY = 1u << 0,
	SEEN_LISTEN_PORT = 1u << 1,
	SEEN_MTU = 1u << 2,
	SEEN_PUBLIC_KEY = 1u << 3,
	SEEN_PRESHARED_KEY = 1u << 4,
	SEEN_ENDPOINT = 1u << 5,
	SEEN_KEEPALIVE = 1u << 6,
};

typedef struct {
	floe_ini_t ini;      /* text, line, first error */
	section_t section;
	uint32_t seen;
	int interface_line; /* 0 until [Interface] */
	floe_wgconf_t *conf;
} state_t;

/* Errors are "FILE:LINE: message"; the first one wins (ini.c). */
#define fail(st, ...) floe_ini_fail(&(st)->ini, __VA_ARGS__)

static void start_section(state_t *st, const char *name)
{
	floe_wgconf_t *c = st->conf;

	st->seen = 0;
	if (strcasecmp(name, "Interface") == 0) {
		if (st->interface_line) {
			st->section = SECTION_NONE;
			fail(st, "[Interface] given twice (first at line %d)", st->interface_line);
			return;
		}
		st->section = SECTION_INTERFACE;
		st->interface_line = st->ini.line;
	} else if (strcasecmp(name, "Peer") == 0) {
		floe_wgconf_peer_t *p;

		if (c->n_peers == FLOE_WGCONF_MAX_PEERS) {
			fail(st, "[Peer]: more than %d peers", FLOE_WGCONF_MAX_PEERS);
			return;
		}
		p = realloc(c->peers, (c->n_peers + 1) * sizeof(*p));
		if (!p) {
			fail(st, "out of memory");
			return;
		}
		c->peers = p;
		p = &c->peers[c->n_peers++];
		memset(p, 0, sizeof(*p));
		p->line = st->ini.line;
		st->section = SECTION_PEER;
	} else {
		st->section = SECTION_NONE;
		fail(st, "unknown section [%s] (expected [Interface] or [Peer])", name);
	}
}

static void on_section(void *user, const char *name)
{
	start_section(user, name);
}

static void parse_prefix_list(state_t *st, const char *key, const char *value,
			      floe_cidr_t **list, size_t *count)
{
	char buf[FLOE_WGCONF_LINE_MAX];
	char *save = NULL, *tok;

	if (strlen(value) >= sizeof(buf)) {
		fail(st, "%s: value too long", key);
		return;
	}
	strcpy(buf, value);
	if (!*floe_ini_trim(buf)) {
		fail(st, "%s: empty value", key);
		return;
	}
	/* strtok_r would silently skip an empty item ("a,,b"): walk by hand. */
	for (tok = buf; tok; tok = save) {
		floe_cidr_t c, *grown;

		save = strchr(tok, ',');
		if (save)
			*save++ = '\0';
		tok = floe_ini_trim(tok);
		if (floe_cidr_parse(tok, &c) != 0) {
			fail(st, "%s: malformed CIDR '%s' (expected ADDRESS/PREFIX)", key, tok);
			return;
		}
		if (*count == FLOE_WGCONF_MAX_PREFIXES) {
			fail(st, "%s: more than %d prefixes", key, FLOE_WGCONF_MAX_PREFIXES);
			return;
		}
		grown = realloc(*list, (*count + 1) * sizeof(c));
		if (!grown) {
			fail(st, "out of memory");
			return;
		}
		*list = grown;
		(*list)[(*count)++] = c;
	}
}

/* Parses a decimal number in [min, max]; "off" means 0 when allow_off. */
static bool parse_uint(const char *v, unsigned long min, unsigned long max, bool allow_off,
		       unsigned long *out)
{
	char *end;

	if (allow_off && strcasecmp(v, "off") == 0) {
		*out = 0;
		return true;
	}
	if (!isdigit((unsigned char)*v) || strlen(v) > 10)
		return false;
	errno = 0;
	*out = strtoul(v, &end, 10);
	return !errno && *end == '\0' && *out >= min && *out <= max;
}

/* Once-only keys: refuse a repeat instead of silently taking the last. */
static bool first_time(state_t *st, uint32_t bit, const char *key)
{
	if (st->seen & bit) {
		fail(st, "%s given twice in this section", key);
		return false;
	}
	st->seen |= bit;
	return true;
}

static void read_key(state_t *st, const char *key, const char *value, bool from_file,
		     uint8_t out[FLOE_KEY_LEN])
{
	int r;

	if (from_file) {
		r = floe_key_from_file(out, value);
		if (r == -EINVAL)
			fail(st, "%s: '%s' does not hold a valid key (44 characters of base64)",
			     key, value);
		else if (r)
			fail(st, "%s: cannot read '%s': %s", key, value, strerror(-r));
	} else if (floe_key_from_base64(out, value) != 0) {
		fail(st, "%s: not a valid key (expected 44 characters of base64, got %zu)",
		     key, strlen(value));
	}
	if (st->ini.failed)
		sodium_memzero(out, FLOE_KEY_LEN);
}

static void interface_key(state_t *st, const char *key, const char *value)
{
	floe_wgconf_t *c = st->conf;
	unsigned long v;

	if (strcasecmp(key, "PrivateKey") == 0 || strcasecmp(key, "PrivateKeyFile") == 0) {
		if (!first_time(st, SEEN_PRIVATE_KEY, "PrivateKey"))
			return;
		read_key(st, key, value, strcasecmp(key, "PrivateKeyFile") == 0, c->private_key);
		c->flags |= FLOE_WGCONF_HAS_PRIVATE_KEY;
	} else if (strcasecmp(key, "ListenPort") == 0) {
		if (!first_time(st, SEEN_LISTEN_PORT, key))
			return;
		if (!parse_uint(value, 0, 65535, false, &v)) {
			fail(st, "ListenPort: invalid port '%s' (expected 0-65535)", value);
			return;
		}
		c->listen_port = (uint16_t)v;
		c->flags |= FLOE_WGCONF_HAS_LISTEN_PORT;
	} else if (strcasecmp(key, "MTU") == 0) {
		if (!first_time(st, SEEN_MTU, key))
			return;
		if (!parse_uint(value, FLOE_WGCONF_MTU_MIN, FLOE_WGCONF_MTU_MAX, false, &v)) {
			fail(st, "MTU: invalid value '%s' (expected %d-%d)", value,
			     FLOE_WGCONF_MTU_MIN, FLOE_WGCONF_MTU_MAX);
			return;
		}
		c->mtu = (uint32_t)v;
		c->flags |= FLOE_WGCONF_HAS_MTU;
	} else if (strcasecmp(key, "Address") == 0) {
		parse_prefix_list(st, "Address", value, &c->addresses, &c->n_addresses);
	} else {
		fail(st, "unknown key '%s' in [Interface]", key);
	}
}

static void peer_key(state_t *st, const char *key, const char *value)
{
	floe_wgconf_t *c = st->conf;
	floe_wgconf_peer_t *p = &c->peers[c->n_peers - 1];
	unsigned long v;

	if (strcasecmp(key, "PublicKey") == 0) {
		if (!first_time(st, SEEN_PUBLIC_KEY, key))
			return;
		read_key(st, key, value, false, p->public_key);
		if (st->ini.failed)
			return;
		for (size_t i = 0; i + 1 < c->n_peers; i++) {
			if (sodium_memcmp(c->peers[i].public_key, p->public_key, FLOE_KEY_LEN) == 0) {
				fail(st, "PublicKey: duplicate peer (same key as the [Peer] at line %d)",
				     c->peers[i].line);
				return;
			}
		}
		p->flags |= FLOE_WGCONF_HAS_PUBLIC_KEY;
	} else if (strcasecmp(key, "PresharedKey") == 0 || strcasecmp(key, "PresharedKeyFile") == 0) {
		if (!first_time(st, SEEN_PRESHARED_KEY, "PresharedKey"))
			return;
		read_key(st, key, value, strcasecmp(key, "PresharedKeyFile") == 0, p->preshared_key);
		p->flags |= FLOE_WGCONF_HAS_PRESHARED_KEY;
	} else if (strcasecmp(key, "Endpoint") == 0) {
		if (!first_time(st, SEEN_ENDPOINT, key))
			return;
		if (floe_udp_endpoint_parse(value, &p->endpoint, &p->endpoint_len) != 0) {
			fail(st, "Endpoint: invalid '%s' (expected host:port or [v6]:port)", value);
			return;
		}
		p->flags |= FLOE_WGCONF_HAS_ENDPOINT;
	} else if (strcasecmp(key, "AllowedIPs") == 0) {
		parse_prefix_list(st, "AllowedIPs", value, &p->allowed_ips, &p->n_allowed_ips);
	} else if (strcasecmp(key, "PersistentKeepalive") == 0) {
		if (!first_time(st, SEEN_KEEPALIVE, key))
			return;
		if (!parse_uint(value, 0, 65535, true, &v)) {
			fail(st, "PersistentKeepalive: invalid value '%s' (expected off or 0-65535 seconds)",
			     value);
			return;
		}
		p->persistent_keepalive_s = (uint16_t)v;
		if (v)
			p->flags |= FLOE_WGCONF_HAS_KEEPALIVE;
	} else {
		fail(st, "unknown key '%s' in [Peer]", key);
	}
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	state_t *st = user;

	(void)section; /* the reader tracked it, with the line */
	if (st->ini.failed)
		return 0;
	switch (st->section) {
	case SECTION_INTERFACE:
		interface_key(st, key, value);
		break;
	case SECTION_PEER:
		peer_key(st, key, value);
		break;
	case SECTION_NONE:
		fail(st, "key '%s' outside of [Interface] or [Peer]", key);
		break;
	}
	return st->ini.failed ? 0 : 1;
}

/* What a whole file must have, checked after the last line. */
static void check_complete(state_t *st)
{
	floe_wgconf_t *c = st->conf;

	if (!st->interface_line) {
		st->ini.line = 1;
		fail(st, "no [Interface] section");
		return;
	}
	if (!(c->flags & FLOE_WGCONF_HAS_PRIVATE_KEY)) {
		st->ini.line = st->interface_line;
		fail(st, "[Interface] has no PrivateKey (or PrivateKeyFile)");
		return;
	}
	for (size_t i = 0; i < c->n_peers; i++) {
		if (!(c->peers[i].flags & FLOE_WGCONF_HAS_PUBLIC_KEY)) {
			st->ini.line = c->peers[i].line;
			fail(st, "[Peer] has no PublicKey");
			return;
		}
	}
}

floe_wgconf_t *floe_wgconf_parse(const char *text, size_t len, const char *name,
				 char *err, size_t err_cap)
{
	state_t st = { .ini = { .name = name ? name : "(config)", .text = text, .len = len,
				.err = err, .err_cap = err_cap, .on_section = on_section } };
	int r;

	st.ini.user = &st;
	if (err && err_cap)
		err[0] = '\0';
	st.conf = calloc(1, sizeof(*st.conf));
	if (!st.conf) {
		fail(&st, "out of memory");
		return NULL;
	}
	if (!text)
		st.ini.len = 0;
	r = ini_parse_stream(floe_ini_reader, &st.ini, handler, &st);
	if (r > 0 && !st.ini.failed) {
		/* inih's own complaint: a line that is neither header, key nor
		 * comment. r is that line. */
		st.ini.line = r;
		fail(&st, "syntax error (expected [Section] or Key = Value)");
	} else if (r < 0 && !st.ini.failed) {
		fail(&st, "out of memory");
	}
	if (!st.ini.failed)
		check_complete(&st);
	if (st.ini.failed)
		floe_wgconf_destroy(&st.conf);
	return st.conf;
}

floe_wgconf_t *floe_wgconf_load(const char *path, char *err, size_t err_cap)
{
	floe_wgconf_t *c;
	size_t len = 0;
	char *buf = floe_ini_read_file(path, FLOE_WGCONF_FILE_MAX_BYTES, "", &len, err, err_cap);

	if (!buf)
		return NULL;
	c = floe_wgconf_parse(buf, len, path, err, err_cap);
	/* The text holds the keys in base64. */
	sodium_memzero(buf, len);
	free(buf);
	return c;
}

void floe_wgconf_destroy(floe_wgconf_t **self_p)
{
	floe_wgconf_t *c;

	if (!self_p || !*self_p)
		return;
	c = *self_p;
	for (size_t i = 0; i < c->n_peers; i++) {
		free(c->peers[i].allowed_ips);
		sodium_memzero(&c->peers[i], sizeof(c->peers[i]));
	}
	free(c->peers);
	free(c->addresses);
	sodium_memzero(c, sizeof(*c));
	free(c);
	*self_p = NULL;
}

int floe_wgconf_ifname_from_path(const char *path, char *out, size_t cap)
{
	const char *base, *dot;
	size_t n;

	if (!path || !out)
		return -EINVAL;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	n = (dot && strcmp(dot, ".conf") == 0) ? (size_t)(dot - base) : strlen(base);
	if (n == 0 || n > FLOE_WGCONF_IFNAME_MAX || n + 1 > cap)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)base[i]) && !strchr("_=+.-", base[i]))
			return -EINVAL;
	memcpy(out, base, n);
	out[n] = '\0';
	return 0;
}
