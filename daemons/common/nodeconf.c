/*
 * floe-gateway / floe-client configuration: see nodeconf.h.
 *
 * Like wgconf.c, the text reaches libinih through our own line reader:
 * Debian's inih gives the handler no line number, and errors must name the
 * line. The reader counts lines and tracks the section header, so when the
 * handler runs st->ini.line is the key's line.
 */
#include "daemons/common/nodeconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>

#include "daemons/common/ini.h"
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "transport/net/addr.h"
#include "transport/wg/key.h"

typedef enum {
	SECTION_NONE = 0,
	SECTION_INTERFACE,
	SECTION_PORTAL,
	SECTION_ICE,
	SECTION_CONTROL,
	SECTION_METRICS,
	SECTION_GATEWAY,
} section_t;

/* Once-only keys, file-wide (each section appears once). */
enum {
	SEEN_PRIVATE_KEY = 1u << 0,
	SEEN_NAME = 1u << 1,
	SEEN_MTU = 1u << 2,
	SEEN_ENDPOINT = 1u << 3,
	SEEN_PORTAL_KEY = 1u << 4,
	SEEN_STUN = 1u << 5,
	SEEN_TURN = 1u << 6,
	SEEN_TURN_USER = 1u << 7,
	SEEN_TURN_PASSWORD = 1u << 8,
	SEEN_FAILURE_TIMEOUT = 1u << 9,
	SEEN_SOCKET = 1u << 10,
	SEEN_LISTEN = 1u << 11,
	SEEN_WORKERS = 1u << 12,
};

static const char *const section_names[] = {
	[SECTION_INTERFACE] = "Interface", [SECTION_PORTAL] = "Portal", [SECTION_ICE] = "ICE",
	[SECTION_CONTROL] = "Control",     [SECTION_METRICS] = "Metrics",
	[SECTION_GATEWAY] = "Gateway",
};

typedef struct {
	floe_ini_t ini;      /* text, line, first error */
	section_t section;
	int section_line[sizeof(section_names) / sizeof(section_names[0])];
	uint32_t seen;
	floe_role_t role;
	floe_nodeconf_t *conf;
} state_t;

/* Errors are "FILE:LINE: message"; the first one wins (ini.c). */
#define fail(st, ...) floe_ini_fail(&(st)->ini, __VA_ARGS__)

static void start_section(state_t *st, const char *name)
{
	for (size_t i = 1; i < sizeof(section_names) / sizeof(section_names[0]); i++) {
		if (strcasecmp(name, section_names[i]) != 0)
			continue;
		if (st->section_line[i]) {
			fail(st, "[%s] given twice (first at line %d)", section_names[i],
			     st->section_line[i]);
			return;
		}
		if ((i == SECTION_METRICS || i == SECTION_GATEWAY) && st->role != FLOE_ROLE_GATEWAY) {
			fail(st, "[%s] is for floe-gateway only", section_names[i]);
			return;
		}
		st->section = (section_t)i;
		st->section_line[i] = st->ini.line;
		return;
	}
	st->section = SECTION_NONE;
	fail(st, "unknown section [%s] (expected Interface, Portal, ICE, Control, Metrics or Gateway)", name);
}

static void on_section(void *user, const char *name)
{
	start_section(user, name);
}

static bool first_time(state_t *st, uint32_t bit, const char *key)
{
	if (st->seen & bit) {
		fail(st, "%s given twice", key);
		return false;
	}
	st->seen |= bit;
	return true;
}

static bool copy_str(state_t *st, const char *key, const char *value, char *out, size_t cap)
{
	size_t n = strlen(value);

	if (n == 0) {
		fail(st, "%s: empty value", key);
		return false;
	}
	if (n >= cap) {
		fail(st, "%s: value longer than %zu bytes", key, cap - 1);
		return false;
	}
	memcpy(out, value, n + 1);
	return true;
}

static bool parse_uint(const char *v, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	if (!isdigit((unsigned char)*v) || strlen(v) > 10)
		return false;
	errno = 0;
	*out = strtoul(v, &end, 10);
	return !errno && *end == '\0' && *out >= min && *out <= max;
}

/*
 * "HOST:PORT" or "[V6]:PORT" into host and port. numeric: HOST must be an
 * IP address (libnice takes no names for STUN/TURN).
 */
static bool parse_host_port(state_t *st, const char *key, const char *value, bool numeric,
			    char *host, size_t cap, uint16_t *port)
{
	const char *colon, *h = value;
	size_t hlen;
	unsigned long p;
	uint8_t buf[16];

	if (*value == '[') {
		const char *close_b = strchr(value, ']');

		if (!close_b || close_b[1] != ':') {
			fail(st, "%s: bad endpoint '%s' (expected HOST:PORT or [IPV6]:PORT)", key, value);
			return false;
		}
		h = value + 1;
		hlen = (size_t)(close_b - h);
		colon = close_b + 1;
	} else {
		colon = strrchr(value, ':');
		if (!colon || strchr(value, ':') != colon) {
			fail(st, "%s: bad endpoint '%s' (expected HOST:PORT or [IPV6]:PORT)", key, value);
			return false;
		}
		hlen = (size_t)(colon - value);
	}
	if (hlen == 0 || hlen >= cap) {
		fail(st, "%s: bad endpoint '%s': no host or host too long", key, value);
		return false;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (numeric && inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
		fail(st, "%s: bad endpoint '%s': '%s' is not an IP address", key, value, host);
		return false;
	}
	if (!parse_uint(colon + 1, 1, 65535, &p)) {
		fail(st, "%s: bad port '%s' (expected 1-65535)", key, colon + 1);
		return false;
	}
	*port = (uint16_t)p;
	return true;
}

static void read_key(state_t *st, const char *key, const char *value, bool from_file, uint8_t *out)
{
	int r;

	if (from_file) {
		r = floe_key_from_file(out, value);
		if (r == -EINVAL)
			fail(st, "%s: '%s' does not hold a valid key (44 characters of base64)", key, value);
		else if (r)
			fail(st, "%s: cannot read '%s': %s", key, value, strerror(-r));
	} else if (floe_key_from_base64(out, value) != 0) {
		fail(st, "%s: not a valid key (expected 44 characters of base64, got %zu)", key,
		     strlen(value));
	}
	if (st->ini.failed)
		sodium_memzero(out, FLOE_KEY_LEN);
}

/* Reads a one-line secret (the TURN password) from a file. */
static void read_secret_file(state_t *st, const char *key, const char *path, char *out, size_t cap)
{
	char buf[FLOE_NODECONF_STR_MAX + 2];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fail(st, "%s: cannot read '%s': %s", key, path, strerror(errno));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		fail(st, "%s: cannot read '%s': %s", key, path, strerror(errno));
		return;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0 || (size_t)n >= cap || memchr(buf, '\n', (size_t)n))
		fail(st, "%s: '%s' must hold one non-empty line under %zu bytes", key, path, cap);
	else
		memcpy(out, buf, (size_t)n + 1);
	sodium_memzero(buf, sizeof(buf));
}

static void add_cidr(state_t *st, const char *key, const char *value, char (*list)[FLOE_NODECONF_STR_MAX],
		     const char **ptrs, size_t *count)
{
	floe_cidr_t c;

	if (floe_cidr_parse(value, &c) != 0) {
		fail(st, "%s: malformed CIDR '%s' (expected ADDRESS/PREFIX)", key, value);
		return;
	}
	if (*count == FLOE_NODECONF_MAX_LIST) {
		fail(st, "%s: more than %d entries", key, FLOE_NODECONF_MAX_LIST);
		return;
	}
	if (!copy_str(st, key, value, list[*count], FLOE_NODECONF_STR_MAX))
		return;
	ptrs[*count] = list[*count];
	(*count)++;
}

static void interface_key(state_t *st, const char *key, const char *value)
{
	floe_nodeconf_t *c = st->conf;
	unsigned long v;

	if (!strcasecmp(key, "PrivateKey") || !strcasecmp(key, "PrivateKeyFile")) {
		if (first_time(st, SEEN_PRIVATE_KEY, "PrivateKey/PrivateKeyFile"))
			read_key(st, key, value, !strcasecmp(key, "PrivateKeyFile"), c->node.private_key);
	} else if (!strcasecmp(key, "Name")) {
		if (!first_time(st, SEEN_NAME, key))
			return;
		if (strlen(value) == 0 || strlen(value) > FLOE_NODECONF_IFNAME_MAX ||
		    strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
			    strlen(value)) {
			fail(st, "Name: '%s' is not an interface name (1-15 of A-Z a-z 0-9 _ . -)", value);
			return;
		}
		strcpy(c->tun_name, value);
	} else if (!strcasecmp(key, "MTU")) {
		if (!first_time(st, SEEN_MTU, key))
			return;
		if (!parse_uint(value, FLOE_NODECONF_MTU_MIN, FLOE_NODECONF_MTU_MAX, &v))
			fail(st, "MTU: '%s' is not a number in %d-%d", value, FLOE_NODECONF_MTU_MIN,
			     FLOE_NODECONF_MTU_MAX);
		c->node.mtu = (uint32_t)v;
	} else if (!strcasecmp(key, "Address")) {
		add_cidr(st, key, value, c->addresses, c->address_ptrs, &c->node.n_tun_addresses);
	} else if (!strcasecmp(key, "Route")) {
		add_cidr(st, key, value, c->routes, c->route_ptrs, &c->node.n_tun_routes);
	} else {
		fail(st, "unknown key '%s' in [Interface]", key);
	}
}

static void portal_key(state_t *st, const char *key, const char *value)
{
	floe_nodeconf_t *c = st->conf;
	char host[FLOE_NODECONF_STR_MAX];
	uint16_t port;

	if (!strcasecmp(key, "Endpoint")) {
		if (!first_time(st, SEEN_ENDPOINT, key))
			return;
		if (strncmp(value, "tcp://", 6) != 0) {
			fail(st, "Endpoint: bad endpoint '%s' (expected tcp://HOST:PORT)", value);
			return;
		}
		if (parse_host_port(st, key, value + 6, false, host, sizeof(host), &port))
			copy_str(st, key, value, c->portal_endpoint, sizeof(c->portal_endpoint));
	} else if (!strcasecmp(key, "PublicKey")) {
		if (first_time(st, SEEN_PORTAL_KEY, key))
			read_key(st, key, value, false, c->node.portal_public_key);
	} else {
		fail(st, "unknown key '%s' in [Portal]", key);
	}
}

static void ice_key(state_t *st, const char *key, const char *value)
{
	floe_nodeconf_t *c = st->conf;
	unsigned long v;

	if (!strcasecmp(key, "STUN")) {
		if (first_time(st, SEEN_STUN, key) &&
		    parse_host_port(st, key, value, true, c->stun_host, sizeof(c->stun_host),
				    &c->node.stun_port))
			c->node.stun_host = c->stun_host;
	} else if (!strcasecmp(key, "TURN")) {
		if (first_time(st, SEEN_TURN, key) &&
		    parse_host_port(st, key, value, true, c->turn_host, sizeof(c->turn_host),
				    &c->node.turn[0].port)) {
			c->node.turn[0].host = c->turn_host;
			c->node.n_turn = 1;
		}
	} else if (!strcasecmp(key, "TURNUser")) {
		if (first_time(st, SEEN_TURN_USER, key))
			copy_str(st, key, value, c->turn_user, sizeof(c->turn_user));
	} else if (!strcasecmp(key, "TURNPassword")) {
		if (first_time(st, SEEN_TURN_PASSWORD, "TURNPassword/TURNPasswordFile"))
			copy_str(st, key, value, c->turn_password, sizeof(c->turn_password));
	} else if (!strcasecmp(key, "TURNPasswordFile")) {
		if (first_time(st, SEEN_TURN_PASSWORD, "TURNPassword/TURNPasswordFile"))
			read_secret_file(st, key, value, c->turn_password, sizeof(c->turn_password));
	} else if (!strcasecmp(key, "LocalAddress")) {
		uint8_t buf[16];
		size_t *n = &c->node.n_local_addrs;

		if (inet_pton(AF_INET, value, buf) != 1 && inet_pton(AF_INET6, value, buf) != 1)
			fail(st, "LocalAddress: '%s' is not an IP address", value);
		else if (*n == FLOE_NODECONF_MAX_LIST)
			fail(st, "LocalAddress: more than %d entries", FLOE_NODECONF_MAX_LIST);
		else if (copy_str(st, key, value, c->local_addrs[*n], FLOE_NODECONF_STR_MAX))
			c->local_addr_ptrs[*n] = c->local_addrs[*n], (*n)++;
	} else if (!strcasecmp(key, "FailureTimeout")) {
		if (!first_time(st, SEEN_FAILURE_TIMEOUT, key))
			return;
		if (!parse_uint(value, 1, FLOE_NODECONF_FAILURE_TIMEOUT_MAX_MS, &v))
			fail(st, "FailureTimeout: '%s' is not a number of ms in 1-%d", value,
			     FLOE_NODECONF_FAILURE_TIMEOUT_MAX_MS);
		c->node.ice_failure_timeout_ms = (uint32_t)v;
	} else {
		fail(st, "unknown key '%s' in [ICE]", key);
	}
}

/* [Gateway] Workers: processes that share the gateway's connections. */
static void gateway_key(state_t *st, const char *key, const char *value)
{
	unsigned long v;

	if (strcasecmp(key, "Workers") != 0) {
		fail(st, "unknown key '%s' in [Gateway]", key);
		return;
	}
	if (!first_time(st, SEEN_WORKERS, key))
		return;
	if (!parse_uint(value, 1, FLOE_NODE_MAX_WORKERS, &v)) {
		fail(st, "Workers: '%s' is not a number in 1-%d", value, FLOE_NODE_MAX_WORKERS);
		return;
	}
	st->conf->workers = (unsigned)v;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	state_t *st = user;

	(void)section; /* the reader tracked it, with its line */
	if (st->ini.failed)
		return 0;
	switch (st->section) {
	case SECTION_INTERFACE:
		interface_key(st, key, value);
		break;
	case SECTION_PORTAL:
		portal_key(st, key, value);
		break;
	case SECTION_ICE:
		ice_key(st, key, value);
		break;
	case SECTION_CONTROL:
		if (strcasecmp(key, "Socket") != 0)
			fail(st, "unknown key '%s' in [Control]", key);
		else if (first_time(st, SEEN_SOCKET, key))
			copy_str(st, key, value, st->conf->control_socket, sizeof(st->conf->control_socket));
		break;
	case SECTION_METRICS:
		if (strcasecmp(key, "Listen") != 0)
			fail(st, "unknown key '%s' in [Metrics]", key);
		else if (first_time(st, SEEN_LISTEN, key) &&
			 parse_host_port(st, key, value, true, st->conf->metrics_host,
					 sizeof(st->conf->metrics_host), &st->conf->metrics_port))
			st->conf->has_metrics = true;
		break;
	case SECTION_GATEWAY:
		gateway_key(st, key, value);
		break;
	default:
		fail(st, "key '%s' outside a section", key);
		break;
	}
	return st->ini.failed ? 0 : 1;
}

static void check_complete(state_t *st)
{
	floe_nodeconf_t *c = st->conf;

	if (!(st->seen & SEEN_PRIVATE_KEY))
		fail(st, "[Interface] PrivateKey or PrivateKeyFile is required");
	else if (!(st->seen & SEEN_ENDPOINT))
		fail(st, "[Portal] Endpoint is required");
	else if (!(st->seen & SEEN_PORTAL_KEY))
		fail(st, "[Portal] PublicKey is required");
	else if (!!(st->seen & SEEN_TURN_USER) != !!(st->seen & SEEN_TURN_PASSWORD) ||
		 (!(st->seen & SEEN_TURN) && (st->seen & SEEN_TURN_USER)))
		fail(st, "[ICE] TURN, TURNUser and TURNPassword go together");
	if (c->node.n_turn) {
		c->node.turn[0].username = c->turn_user;
		c->node.turn[0].password = c->turn_password;
	}
}

floe_nodeconf_t *floe_nodeconf_parse(const char *text, size_t len, const char *name, floe_role_t role,
				     char *err, size_t err_cap)
{
	state_t st = {
		.ini = { .name = name, .text = text, .len = len, .err = err, .err_cap = err_cap,
			 .on_section = on_section },
		.role = role,
	};
	floe_nodeconf_t *c;
	int r;

	st.ini.user = &st;
	if (err && err_cap)
		err[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c) {
		if (err)
			snprintf(err, err_cap, "%s: out of memory", name);
		return NULL;
	}
	st.conf = c;
	c->node.role = role;
	c->workers = 1;
	c->node.device = FLOE_NODE_DEVICE_TUN;
	strcpy(c->tun_name, role == FLOE_ROLE_GATEWAY ? FLOE_NODECONF_GATEWAY_IFNAME
						       : FLOE_NODECONF_CLIENT_IFNAME);
	c->node.tun_name = c->tun_name;
	c->node.portal_endpoint = c->portal_endpoint;
	c->node.tun_addresses = c->address_ptrs;
	c->node.tun_routes = c->route_ptrs;
	c->node.local_addrs = c->local_addr_ptrs;
	r = ini_parse_stream(floe_ini_reader, &st.ini, handler, &st);
	if (!st.ini.failed && r > 0)
		fail(&st, "syntax error (expected KEY = VALUE or [Section])");
	if (!st.ini.failed)
		check_complete(&st);
	if (st.ini.failed)
		floe_nodeconf_destroy(&c);
	return c;
}

floe_nodeconf_t *floe_nodeconf_load(const char *path, floe_role_t role, char *err, size_t err_cap)
{
	floe_nodeconf_t *c;
	size_t len = 0;
	char *buf = floe_ini_read_file(path, FLOE_NODECONF_FILE_MAX_BYTES, ":0", &len, err, err_cap);

	if (!buf)
		return NULL;
	c = floe_nodeconf_parse(buf, len, path, role, err, err_cap);
	/* The text holds the private key in base64. */
	sodium_memzero(buf, len);
	free(buf);
	return c;
}

void floe_nodeconf_destroy(floe_nodeconf_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	sodium_memzero(*self_p, sizeof(**self_p));
	free(*self_p);
	*self_p = NULL;
}
