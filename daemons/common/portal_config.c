/*
 * Loading the portal's INI file. inih calls us once per key without a line
 * number (Debian builds it without INI_HANDLER_LINENO), so we feed it
 * through our own reader, which counts lines: inih handles each line as
 * soon as it has read it, so the count is the line of the current key.
 * References between sections (a grant's Client) are resolved after the
 * whole file is read, with the line of the key that named them.
 */
#include "daemons/common/portal_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport/wg/key.h"

typedef enum {
	SEC_NONE = 0,
	SEC_PORTAL,
	SEC_RELAY,
	SEC_GATEWAY,
	SEC_CLIENT,
	SEC_RESOURCE,
	SEC_GRANT,
} section_kind_t;

/* Raw references, resolved once every section is known. */
typedef struct {
	char value[1024];
	int line;
} ref_t;

typedef struct {
	ref_t gw_resources;  /* gateways: Resources */
	ref_t grant_client;
	ref_t grant_resource;
	int pub_line, v4_line, v6_line, expires_line;
	bool has_password;
	bool has_ttl;                    /* relays: TTL given */
	int line;                        /* relays: their section's line and name */
	char name[FLOE_SIGNAL_ID_CAP];
} pending_t;

struct parse {
	const char *path;
	FILE *file;
	int line;
	int section_line;
	bool new_header;     /* a [header] was read since the last key */
	floe_portal_config_t *cfg;
	char *err;
	bool failed;
	char section[256];
	section_kind_t kind;
	size_t index;        /* entry of the current section in its array */
	unsigned seen;       /* keys seen in the current section (bits) */
	bool have_portal;
	bool portal_key_set;
	pending_t *pend_gw, *pend_cl, *pend_grant, *pend_relay;
};

static int fail(struct parse *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->failed) {
		n = snprintf(p->err, FLOE_PORTAL_CONFIG_ERR_BYTES, "%s:%d: ", p->path, line);
		if (n > 0 && n < FLOE_PORTAL_CONFIG_ERR_BYTES) {
			va_start(ap, fmt);
			vsnprintf(p->err + n, FLOE_PORTAL_CONFIG_ERR_BYTES - (size_t)n, fmt, ap);
			va_end(ap);
		}
		p->failed = true;
	}
	return 0; /* inih: this line is an error */
}

static char *counting_reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char *r = fgets(str, num, p->file);
	const char *s = str;

	if (!r)
		return NULL;
	p->line++;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[') {
		p->section_line = p->line;
		p->new_header = true;
	}
	return r;
}

/* Grows an array of entries by one, zeroed; NULL at the bound or on ENOMEM. */
static void *grow(void **arr, size_t *n, size_t elem)
{
	void *a;

	if (*n >= FLOE_PORTAL_CONFIG_MAX_ENTRIES)
		return NULL;
	a = realloc(*arr, (*n + 1) * elem);
	if (!a)
		return NULL;
	*arr = a;
	memset((char *)a + *n * elem, 0, elem);
	return (char *)a + (*n)++ * elem;
}

/* Grows an entry array and, in step, its pending array (pend may be NULL). */
static void *add_entry(void **arr, size_t *n, size_t elem, pending_t **pend)
{
	size_t n_pend = *n;
	void *e = grow(arr, n, elem);

	if (e && pend && !grow((void **)pend, &n_pend, sizeof(pending_t))) {
		(*n)--;
		return NULL;
	}
	return e;
}

/* Resolves a secret file path relative to the configuration's directory. */
static void secret_path(const struct parse *p, const char *value, char *out, size_t cap)
{
	char dir[FLOE_PORTAL_CONFIG_PATH_BYTES];

	if (value[0] == '/') {
		snprintf(out, cap, "%s", value);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", p->path);
	snprintf(out, cap, "%s/%s", dirname(dir), value);
}

static int read_secret_line(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "re");
	size_t n;
	int r = 0;

	if (!f)
		return -errno;
	if (!fgets(out, (int)cap, f)) {
		r = -EINVAL;
		goto out;
	}
	n = strcspn(out, "\r\n");
	if (out[n] == '\0' && !feof(f) && fgetc(f) != EOF) {
		r = -E2BIG; /* longer than the field */
		goto out;
	}
	out[n] = '\0';
	if (n == 0)
		r = -EINVAL;
out:
	fclose(f);
	if (r < 0)
		sodium_memzero(out, cap);
	return r;
}

static bool copy_str(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

static int set_key(struct parse *p, const char *sec, const char *name, const char *value,
		   floe_portal_node_conf_t *node)
{
	char b64[FLOE_SIGNAL_KEY_CAP + 8];

	if (floe_key_from_base64(node->public_key, value) < 0)
		return fail(p, p->line, "[%s] %s: not a base64 WireGuard key (44 characters)", sec, name);
	sodium_bin2base64(b64, sizeof(b64), node->public_key, FLOE_PORTAL_CONFIG_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	copy_str(node->public_key_b64, sizeof(node->public_key_b64), b64);
	return 1;
}

static int set_ip(struct parse *p, const char *sec, const char *name, const char *value,
		  int family, char *dst, size_t cap)
{
	uint8_t buf[16];

	if (inet_pton(family, value, buf) != 1 || !copy_str(dst, cap, value))
		return fail(p, p->line, "[%s] %s: not an %s address: '%s'", sec, name,
			    family == AF_INET ? "IPv4" : "IPv6", value);
	return 1;
}

static int set_ref(struct parse *p, const char *sec, const char *name, const char *value, ref_t *ref)
{
	if (!copy_str(ref->value, sizeof(ref->value), value))
		return fail(p, p->line, "[%s] %s: value too long", sec, name);
	ref->line = p->line;
	return 1;
}

static int handle_portal(struct parse *p, const char *name, const char *value)
{
	floe_portal_config_t *cfg = p->cfg;
	char path[FLOE_PORTAL_CONFIG_PATH_BYTES];
	int r;

	if (!strcasecmp(name, "ListenAddress")) {
		if (strncmp(value, "tcp://", 6) || !copy_str(cfg->listen, sizeof(cfg->listen), value))
			return fail(p, p->line, "[Portal] ListenAddress: expected tcp://HOST:PORT, got '%s'", value);
		return 1;
	}
	if (!strcasecmp(name, "PrivateKey") || !strcasecmp(name, "PrivateKeyFile")) {
		if (p->portal_key_set)
			return fail(p, p->line, "[Portal] %s: PrivateKey and PrivateKeyFile are exclusive", name);
		if (!strcasecmp(name, "PrivateKey")) {
			r = floe_key_from_base64(cfg->private_key, value);
			if (r < 0)
				return fail(p, p->line, "[Portal] PrivateKey: not a base64 WireGuard key");
		} else {
			secret_path(p, value, path, sizeof(path));
			r = floe_key_from_file(cfg->private_key, path);
			if (r < 0)
				return fail(p, p->line, "[Portal] PrivateKeyFile: cannot read a key from '%s': %s",
					    path, strerror(-r));
		}
		if (crypto_scalarmult_base(cfg->public_key, cfg->private_key) != 0)
			return fail(p, p->line, "[Portal] %s: weak key", name);
		p->portal_key_set = true;
		return 1;
	}
	return fail(p, p->line, "[Portal] %s: unknown key", name);
}

static int handle_relay(struct parse *p, const char *name, const char *value)
{
	floe_signal_relay_t *r = &p->cfg->relays[p->index];
	pending_t *pend = &p->pend_relay[p->index];
	char path[FLOE_PORTAL_CONFIG_PATH_BYTES];
	const char *sec = p->section;
	char *end;
	long port;
	int rc;

	if (!strcasecmp(name, "Host")) {
		if (!value[0] || !copy_str(r->host, sizeof(r->host), value))
			return fail(p, p->line, "[%s] Host: empty or too long", sec);
	} else if (!strcasecmp(name, "Port")) {
		errno = 0;
		port = strtol(value, &end, 10);
		if (errno || *end || port < 1 || port > 65535)
			return fail(p, p->line, "[%s] Port: expected 1..65535, got '%s'", sec, value);
		r->port = (uint16_t)port;
	} else if (!strcasecmp(name, "Username")) {
		if (!copy_str(r->username, sizeof(r->username), value))
			return fail(p, p->line, "[%s] Username: too long", sec);
	} else if (!strcasecmp(name, "Password") || !strcasecmp(name, "PasswordFile")) {
		if (pend->has_password)
			return fail(p, p->line, "[%s] %s: Password and PasswordFile are exclusive", sec, name);
		if (!strcasecmp(name, "Password")) {
			if (!copy_str(r->password, sizeof(r->password), value))
				return fail(p, p->line, "[%s] Password: too long", sec);
		} else {
			secret_path(p, value, path, sizeof(path));
			rc = read_secret_line(path, r->password, sizeof(r->password));
			if (rc < 0)
				return fail(p, p->line, "[%s] PasswordFile: cannot read '%s': %s", sec, path,
					    strerror(-rc));
		}
		pend->has_password = true;
	} else if (!strcasecmp(name, "Secret") || !strcasecmp(name, "SecretFile")) {
		floe_portal_relay_secret_t *sc;
		char text[FLOE_TURN_REST_SECRET_MAX_BYTES + 1];
		size_t len;

		if (p->index >= FLOE_SIGNAL_MAX_RELAYS)
			return fail(p, p->line, "[%s] %s: only the first %d relays reach the nodes", sec, name,
				    FLOE_SIGNAL_MAX_RELAYS);
		sc = &p->cfg->relay_secrets[p->index];
		if (sc->enabled)
			return fail(p, p->line, "[%s] %s: Secret and SecretFile are exclusive", sec, name);
		if (!strcasecmp(name, "Secret")) {
			rc = copy_str(text, sizeof(text), value) ? 0 : -ENAMETOOLONG;
		} else {
			secret_path(p, value, path, sizeof(path));
			rc = read_secret_line(path, text, sizeof(text));
			if (rc < 0) {
				sodium_memzero(text, sizeof(text));
				return fail(p, p->line, "[%s] SecretFile: cannot read '%s': %s", sec, path,
					    strerror(-rc));
			}
		}
		len = rc < 0 ? 0 : strlen(text);
		if (!len) {
			sodium_memzero(text, sizeof(text));
			return fail(p, p->line, "[%s] %s: empty or longer than %d bytes", sec, name,
				    FLOE_TURN_REST_SECRET_MAX_BYTES);
		}
		memcpy(sc->secret, text, len);
		sc->secret_len = len;
		sc->enabled = true;
		if (!sc->ttl_s)
			sc->ttl_s = FLOE_TURN_REST_TTL_DEFAULT_S;
		sodium_memzero(text, sizeof(text));
	} else if (!strcasecmp(name, "TTL")) {
		errno = 0;
		port = strtol(value, &end, 10);
		if (errno || *end || port < FLOE_TURN_REST_TTL_MIN_S || port > FLOE_TURN_REST_TTL_MAX_S)
			return fail(p, p->line, "[%s] TTL: expected %d..%d seconds, got '%s'", sec,
				    FLOE_TURN_REST_TTL_MIN_S, FLOE_TURN_REST_TTL_MAX_S, value);
		if (p->index >= FLOE_SIGNAL_MAX_RELAYS)
			return fail(p, p->line, "[%s] TTL: only the first %d relays reach the nodes", sec,
				    FLOE_SIGNAL_MAX_RELAYS);
		p->cfg->relay_secrets[p->index].ttl_s = (uint32_t)port;
		pend->has_ttl = true;
	} else {
		return fail(p, p->line, "[%s] %s: unknown key", sec, name);
	}
	return 1;
}

static int handle_node(struct parse *p, const char *name, const char *value, bool gateway)
{
	floe_portal_node_conf_t *n = gateway ? &p->cfg->gateways[p->index] : &p->cfg->clients[p->index];
	pending_t *pend = gateway ? &p->pend_gw[p->index] : &p->pend_cl[p->index];
	const char *sec = p->section;

	if (!strcasecmp(name, "PublicKey")) {
		pend->pub_line = p->line;
		return set_key(p, sec, name, value, n);
	}
	if (!strcasecmp(name, "TunnelIPv4")) {
		pend->v4_line = p->line;
		return set_ip(p, sec, name, value, AF_INET, n->tunnel_ipv4, sizeof(n->tunnel_ipv4));
	}
	if (!strcasecmp(name, "TunnelIPv6")) {
		pend->v6_line = p->line;
		return set_ip(p, sec, name, value, AF_INET6, n->tunnel_ipv6, sizeof(n->tunnel_ipv6));
	}
	if (gateway && !strcasecmp(name, "Resources"))
		return set_ref(p, sec, name, value, &pend->gw_resources);
	return fail(p, p->line, "[%s] %s: unknown key", sec, name);
}

static int handle_resource(struct parse *p, const char *name, const char *value)
{
	floe_signal_resource_t *r = &p->cfg->resources[p->index].res;
	floe_signal_port_range_t ranges[FLOE_SIGNAL_MAX_PORT_RANGES];
	uint8_t addr[16];
	unsigned prefix;
	size_t n;
	int family, rc;
	const char *sec = p->section;

	if (!strcasecmp(name, "CIDR")) {
		if (floe_signal_cidr_parse(value, &family, addr, &prefix) < 0 ||
		    !copy_str(r->cidr, sizeof(r->cidr), value))
			return fail(p, p->line, "[%s] CIDR: expected ADDRESS/PREFIX with no host bits, got '%s'",
				    sec, value);
	} else if (!strcasecmp(name, "Protocol")) {
		if (strcmp(value, "tcp") && strcmp(value, "udp") && strcmp(value, "icmp"))
			return fail(p, p->line, "[%s] Protocol: expected tcp, udp or icmp, got '%s'", sec, value);
		copy_str(r->protocol, sizeof(r->protocol), value);
	} else if (!strcasecmp(name, "Ports")) {
		rc = floe_signal_ports_parse(value, ranges, FLOE_ARRAY_LEN(ranges), &n);
		if (rc == -E2BIG)
			return fail(p, p->line, "[%s] Ports: more than %d ranges", sec, FLOE_SIGNAL_MAX_PORT_RANGES);
		if (rc < 0 || !copy_str(r->ports, sizeof(r->ports), value))
			return fail(p, p->line, "[%s] Ports: expected a list like 80,443,8000-8100, got '%s'",
				    sec, value);
	} else {
		return fail(p, p->line, "[%s] %s: unknown key", sec, name);
	}
	return 1;
}

static int handle_grant(struct parse *p, const char *name, const char *value)
{
	floe_portal_grant_conf_t *g = &p->cfg->grants[p->index];
	pending_t *pend = &p->pend_grant[p->index];
	const char *sec = p->section;

	if (!strcasecmp(name, "Client"))
		return set_ref(p, sec, name, value, &pend->grant_client);
	if (!strcasecmp(name, "Resource"))
		return set_ref(p, sec, name, value, &pend->grant_resource);
	if (!strcasecmp(name, "Expires")) {
		if (floe_signal_time_parse(value, &g->expires_s) < 0)
			return fail(p, p->line, "[%s] Expires: expected RFC 3339 like 2026-12-31T23:59:59Z, got '%s'",
				    sec, value);
		g->has_expiry = true;
		return 1;
	}
	return fail(p, p->line, "[%s] %s: unknown key", sec, name);
}

static const struct {
	const char *word;
	section_kind_t kind;
} section_kinds[] = {
	{ "Relay", SEC_RELAY },
	{ "Gateway", SEC_GATEWAY },
	{ "Client", SEC_CLIENT },
	{ "Resource", SEC_RESOURCE },
	{ "Grant", SEC_GRANT },
};

/* The name of the index-th entry of a kind, for duplicate checks. */
static const char *entry_name(const struct parse *p, section_kind_t kind, size_t i)
{
	switch (kind) {
	case SEC_GATEWAY: return p->cfg->gateways[i].name;
	case SEC_CLIENT: return p->cfg->clients[i].name;
	case SEC_RESOURCE: return p->cfg->resources[i].res.id;
	case SEC_GRANT: return p->cfg->grants[i].name;
	case SEC_RELAY: return p->pend_relay[i].name;
	default: return "";
	}
}

/* Starts a new section: its kind, its name, a fresh entry. Relays keep
 * their name nowhere else, so it lives in their pending slot. */
static int begin_section(struct parse *p, const char *section)
{
	floe_portal_config_t *cfg = p->cfg;
	char word[32];
	const char *sp = strchr(section, ' ');
	const char *name;
	size_t wlen, count = 0;
	void *entry = NULL;

	copy_str(p->section, sizeof(p->section), section);
	p->seen = 0;
	if (!strcasecmp(section, "Portal")) {
		if (p->have_portal)
			return fail(p, p->section_line, "[Portal]: duplicate section");
		p->have_portal = true;
		p->kind = SEC_PORTAL;
		return 1;
	}
	wlen = sp ? (size_t)(sp - section) : strlen(section);
	if (!sp || wlen >= sizeof(word))
		return fail(p, p->section_line, "[%s]: unknown section (expected Portal, or Relay, Gateway, "
			    "Client, Resource or Grant followed by a name)", section);
	memcpy(word, section, wlen);
	word[wlen] = '\0';
	name = sp + 1;
	p->kind = SEC_NONE;
	for (size_t i = 0; i < FLOE_ARRAY_LEN(section_kinds); i++) {
		if (!strcasecmp(word, section_kinds[i].word))
			p->kind = section_kinds[i].kind;
	}
	if (p->kind == SEC_NONE)
		return fail(p, p->section_line, "[%s]: unknown section kind '%s'", section, word);
	if (!floe_signal_id_valid(name))
		return fail(p, p->section_line, "[%s]: name must be 1-63 characters of A-Z a-z 0-9 . _ -",
			    section);
	switch (p->kind) {
	case SEC_GATEWAY: count = cfg->n_gateways; break;
	case SEC_CLIENT: count = cfg->n_clients; break;
	case SEC_RESOURCE: count = cfg->n_resources; break;
	case SEC_GRANT: count = cfg->n_grants; break;
	case SEC_RELAY: count = cfg->n_relays; break;
	default: break;
	}
	for (size_t i = 0; i < count; i++) {
		if (!strcmp(entry_name(p, p->kind, i), name))
			return fail(p, p->section_line, "[%s]: duplicate section", section);
	}
	switch (p->kind) {
	case SEC_RELAY:
		entry = add_entry((void **)&cfg->relays, &cfg->n_relays, sizeof(*cfg->relays), &p->pend_relay);
		if (entry) {
			p->index = cfg->n_relays - 1;
			p->pend_relay[p->index].line = p->section_line;
			copy_str(p->pend_relay[p->index].name, FLOE_SIGNAL_ID_CAP, name);
		}
		break;
	case SEC_GATEWAY:
	case SEC_CLIENT: {
		bool gw = p->kind == SEC_GATEWAY;
		size_t *n = gw ? &cfg->n_gateways : &cfg->n_clients;
		floe_portal_node_conf_t *nc = add_entry(gw ? (void **)&cfg->gateways : (void **)&cfg->clients,
							n, sizeof(*nc), gw ? &p->pend_gw : &p->pend_cl);

		entry = nc;
		if (nc) {
			copy_str(nc->name, FLOE_SIGNAL_ID_CAP, name);
			nc->line = p->section_line;
			p->index = *n - 1;
		}
		break;
	}
	case SEC_RESOURCE: {
		floe_portal_resource_conf_t *rc = add_entry((void **)&cfg->resources, &cfg->n_resources,
							    sizeof(*rc), NULL);

		entry = rc;
		if (rc) {
			copy_str(rc->res.id, FLOE_SIGNAL_ID_CAP, name);
			rc->line = p->section_line;
			p->index = cfg->n_resources - 1;
		}
		break;
	}
	case SEC_GRANT: {
		floe_portal_grant_conf_t *gc = add_entry((void **)&cfg->grants, &cfg->n_grants, sizeof(*gc),
							 &p->pend_grant);

		entry = gc;
		if (gc) {
			copy_str(gc->name, FLOE_SIGNAL_ID_CAP, name);
			gc->line = p->section_line;
			p->index = cfg->n_grants - 1;
		}
		break;
	}
	default:
		break;
	}
	if (!entry)
		return fail(p, p->section_line, "[%s]: too many sections or out of memory", section);
	return 1;
}

/* Keys known to any section, for duplicate detection by bit. */
static const char *const all_keys[] = {
	"ListenAddress", "PrivateKey", "PrivateKeyFile", "Host", "Port", "Username",
	"Password", "PasswordFile", "PublicKey", "Resources", "TunnelIPv4", "TunnelIPv6",
	"CIDR", "Protocol", "Ports", "Client", "Resource", "Expires",
};

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;

	if (p->failed)
		return 1; /* keep only the first error */
	if (section[0] == '\0')
		return fail(p, p->line, "%s: key outside any section", name);
	/* The header flag catches "[Resource a]" twice in a row, which inih
	 * reports as one section. */
	if (p->new_header || strcmp(section, p->section) != 0) {
		p->new_header = false;
		if (!begin_section(p, section))
			return 0;
	}
	for (size_t i = 0; i < FLOE_ARRAY_LEN(all_keys); i++) {
		if (!strcasecmp(name, all_keys[i])) {
			if (p->seen & (1u << i))
				return fail(p, p->line, "[%s] %s: duplicate key", section, name);
			p->seen |= 1u << i;
		}
	}
	switch (p->kind) {
	case SEC_PORTAL: return handle_portal(p, name, value);
	case SEC_RELAY: return handle_relay(p, name, value);
	case SEC_GATEWAY: return handle_node(p, name, value, true);
	case SEC_CLIENT: return handle_node(p, name, value, false);
	case SEC_RESOURCE: return handle_resource(p, name, value);
	case SEC_GRANT: return handle_grant(p, name, value);
	default: return 0;
	}
}

long floe_portal_config_find_resource(const floe_portal_config_t *cfg, const char *id)
{
	for (size_t i = 0; cfg && i < cfg->n_resources; i++) {
		if (!strcmp(cfg->resources[i].res.id, id))
			return (long)i;
	}
	return -1;
}

static long find_node(const floe_portal_node_conf_t *nodes, size_t n, const char *key_b64)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(nodes[i].public_key_b64, key_b64))
			return (long)i;
	}
	return -1;
}

long floe_portal_config_find_gateway(const floe_portal_config_t *cfg, const char *key_b64)
{
	return cfg ? find_node(cfg->gateways, cfg->n_gateways, key_b64) : -1;
}

long floe_portal_config_find_client(const floe_portal_config_t *cfg, const char *key_b64)
{
	return cfg ? find_node(cfg->clients, cfg->n_clients, key_b64) : -1;
}

static int resolve_gateway_resources(struct parse *p, size_t gi)
{
	floe_portal_node_conf_t *g = &p->cfg->gateways[gi];
	const ref_t *ref = &p->pend_gw[gi].gw_resources;
	char buf[sizeof(ref->value)];
	char *save = NULL;

	copy_str(buf, sizeof(buf), ref->value);
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		long ri = floe_portal_config_find_resource(p->cfg, tok);

		if (ri < 0)
			return fail(p, ref->line, "[Gateway %s] Resources: unknown resource '%s'", g->name, tok);
		if (g->n_resources == FLOE_SIGNAL_MAX_RESOURCES)
			return fail(p, ref->line, "[Gateway %s] Resources: more than %d", g->name,
				    FLOE_SIGNAL_MAX_RESOURCES);
		g->resources[g->n_resources++] = (size_t)ri;
	}
	return 1;
}

static int check_nodes(struct parse *p, floe_portal_node_conf_t *nodes, size_t n, const pending_t *pend,
		       const char *kind, bool need_ipv4)
{
	for (size_t i = 0; i < n; i++) {
		const floe_portal_node_conf_t *a = &nodes[i];

		if (!pend[i].pub_line)
			return fail(p, a->line, "[%s %s]: missing PublicKey", kind, a->name);
		if (need_ipv4 && !a->tunnel_ipv4[0])
			return fail(p, a->line, "[%s %s]: missing TunnelIPv4", kind, a->name);
		for (size_t j = 0; j < i; j++) {
			const floe_portal_node_conf_t *b = &nodes[j];

			if (a->tunnel_ipv4[0] && !strcmp(a->tunnel_ipv4, b->tunnel_ipv4))
				return fail(p, pend[i].v4_line, "[%s %s] TunnelIPv4: %s is also %s's", kind,
					    a->name, a->tunnel_ipv4, b->name);
			if (a->tunnel_ipv6[0] && !strcmp(a->tunnel_ipv6, b->tunnel_ipv6))
				return fail(p, pend[i].v6_line, "[%s %s] TunnelIPv6: %s is also %s's", kind,
					    a->name, a->tunnel_ipv6, b->name);
		}
	}
	return 1;
}

/* Everything that needs the whole file: required keys, references, clashes. */
static int check(struct parse *p)
{
	floe_portal_config_t *cfg = p->cfg;

	if (!p->have_portal || !p->portal_key_set)
		return fail(p, p->line, "[Portal]: missing PrivateKey or PrivateKeyFile");
	for (size_t i = 0; i < cfg->n_relays; i++) {
		if (!cfg->relays[i].host[0] || !cfg->relays[i].port)
			return fail(p, p->pend_relay[i].line, "[Relay %s]: needs Host and Port",
				    p->pend_relay[i].name);
		if (i < FLOE_SIGNAL_MAX_RELAYS && cfg->relay_secrets[i].enabled &&
		    (cfg->relays[i].username[0] || p->pend_relay[i].has_password))
			return fail(p, p->pend_relay[i].line,
				    "[Relay %s]: Secret mints Username and Password; give one or the other",
				    p->pend_relay[i].name);
		if (p->pend_relay[i].has_ttl && !(i < FLOE_SIGNAL_MAX_RELAYS && cfg->relay_secrets[i].enabled))
			return fail(p, p->pend_relay[i].line, "[Relay %s]: TTL needs Secret or SecretFile",
				    p->pend_relay[i].name);
	}
	for (size_t i = 0; i < cfg->n_resources; i++) {
		const floe_signal_resource_t *r = &cfg->resources[i].res;

		if (!r->cidr[0])
			return fail(p, cfg->resources[i].line, "[Resource %s]: missing CIDR", r->id);
		if (r->ports[0] && strcmp(r->protocol, "tcp") && strcmp(r->protocol, "udp"))
			return fail(p, cfg->resources[i].line, "[Resource %s]: Ports needs Protocol tcp or udp",
				    r->id);
	}
	if (!check_nodes(p, cfg->gateways, cfg->n_gateways, p->pend_gw, "Gateway", false) ||
	    !check_nodes(p, cfg->clients, cfg->n_clients, p->pend_cl, "Client", true))
		return 0;
	for (size_t i = 0; i < cfg->n_gateways; i++) {
		if (!resolve_gateway_resources(p, i))
			return 0;
		/* one key, one identity: the ZAP User-Id must name one node */
		for (size_t j = 0; j < cfg->n_clients; j++) {
			if (!strcmp(cfg->gateways[i].public_key_b64, cfg->clients[j].public_key_b64))
				return fail(p, p->pend_cl[j].pub_line, "[Client %s] PublicKey: also gateway %s's",
					    cfg->clients[j].name, cfg->gateways[i].name);
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(cfg->gateways[i].public_key_b64, cfg->gateways[j].public_key_b64))
				return fail(p, p->pend_gw[i].pub_line, "[Gateway %s] PublicKey: also gateway %s's",
					    cfg->gateways[i].name, cfg->gateways[j].name);
		}
	}
	for (size_t i = 0; i < cfg->n_clients; i++) {
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(cfg->clients[i].public_key_b64, cfg->clients[j].public_key_b64))
				return fail(p, p->pend_cl[i].pub_line, "[Client %s] PublicKey: also client %s's",
					    cfg->clients[i].name, cfg->clients[j].name);
		}
	}
	for (size_t i = 0; i < cfg->n_grants; i++) {
		floe_portal_grant_conf_t *g = &cfg->grants[i];
		const pending_t *pend = &p->pend_grant[i];
		long ci = -1, ri;
		size_t per_client = 0;

		if (!pend->grant_client.line || !pend->grant_resource.line)
			return fail(p, g->line, "[Grant %s]: needs Client and Resource", g->name);
		for (size_t j = 0; j < cfg->n_clients; j++) {
			if (!strcmp(cfg->clients[j].name, pend->grant_client.value))
				ci = (long)j;
		}
		if (ci < 0)
			return fail(p, pend->grant_client.line, "[Grant %s] Client: unknown client '%s'", g->name,
				    pend->grant_client.value);
		ri = floe_portal_config_find_resource(cfg, pend->grant_resource.value);
		if (ri < 0)
			return fail(p, pend->grant_resource.line, "[Grant %s] Resource: unknown resource '%s'",
				    g->name, pend->grant_resource.value);
		g->client = (size_t)ci;
		g->resource = (size_t)ri;
		/* a welcome carries at most FLOE_SIGNAL_MAX_RESOURCES routes */
		for (size_t j = 0; j <= i; j++)
			per_client += cfg->grants[j].client == g->client;
		if (per_client > FLOE_SIGNAL_MAX_RESOURCES)
			return fail(p, g->line, "[Grant %s]: client %s has more than %d grants", g->name,
				    cfg->clients[ci].name, FLOE_SIGNAL_MAX_RESOURCES);
	}
	return 1;
}

int floe_portal_config_load(const char *path, floe_portal_config_t **out,
			    char err[FLOE_PORTAL_CONFIG_ERR_BYTES])
{
	struct parse p = { .path = path, .err = err };
	int rc, r = -EINVAL;

	err[0] = '\0';
	*out = NULL;
	p.cfg = calloc(1, sizeof(*p.cfg));
	if (!p.cfg) {
		snprintf(err, FLOE_PORTAL_CONFIG_ERR_BYTES, "%s:0: out of memory", path);
		return -ENOMEM;
	}
	copy_str(p.cfg->path, sizeof(p.cfg->path), path);
	copy_str(p.cfg->listen, sizeof(p.cfg->listen), FLOE_PORTAL_DEFAULT_LISTEN);
	p.file = fopen(path, "re");
	if (!p.file) {
		r = -errno;
		snprintf(err, FLOE_PORTAL_CONFIG_ERR_BYTES, "%s:0: cannot open: %s", path, strerror(errno));
		goto out;
	}
	rc = ini_parse_stream(counting_reader, &p, handler, &p);
	if (rc > 0 && !p.failed)
		fail(&p, rc, "syntax error (expected [Section] or Key = Value)");
	else if (rc < 0 && !p.failed)
		fail(&p, p.line, "cannot parse (out of memory)");
	if (!p.failed)
		check(&p);
	if (!p.failed)
		r = 0;
out:
	if (p.file)
		fclose(p.file);
	free(p.pend_gw);
	free(p.pend_cl);
	free(p.pend_grant);
	free(p.pend_relay);
	if (r < 0) {
		floe_portal_config_destroy(&p.cfg);
		return r;
	}
	*out = p.cfg;
	return 0;
}

void floe_portal_config_destroy(floe_portal_config_t **self_p)
{
	floe_portal_config_t *cfg;

	if (!self_p || !*self_p)
		return;
	cfg = *self_p;
	sodium_memzero(cfg->private_key, sizeof(cfg->private_key));
	if (cfg->relays)
		sodium_memzero(cfg->relays, cfg->n_relays * sizeof(*cfg->relays));
	sodium_memzero(cfg->relay_secrets, sizeof(cfg->relay_secrets));
	free(cfg->relays);
	free(cfg->gateways);
	free(cfg->clients);
	free(cfg->resources);
	free(cfg->grants);
	free(cfg);
	*self_p = NULL;
}
