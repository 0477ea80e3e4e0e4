/*
 * The portal's configuration file (docs/portal.md): INI, read with inih.
 *
 *   [Portal]            ListenAddress, PrivateKey | PrivateKeyFile
 *   [Relay <name>]      Host, Port, Username, Password | PasswordFile,
 *                       or Secret | SecretFile + TTL (coturn's shared secret:
 *                       the portal mints each node's credentials, docs/nat.md)
 *   [Gateway <name>]    PublicKey, Resources (comma list), TunnelIPv4, TunnelIPv6
 *   [Client <name>]     PublicKey, TunnelIPv4, TunnelIPv6
 *   [Resource <name>]   CIDR, Protocol (tcp|udp|icmp), Ports ("80,443,8000-8100")
 *   [Grant <name>]      Client, Resource, Expires (RFC 3339)
 *
 * Every error is one line "FILE:LINE: message" naming the section and key;
 * the first error stops loading. Secret files (PrivateKeyFile,
 * PasswordFile) are read relative to the configuration's directory, so a
 * configuration can be world-readable while its secrets are not.
 *
 * The loaded object is plain data (transparent, like wireguard-tools'
 * wg_device); references between sections are resolved to indices.
 */
#ifndef FLOE_DAEMONS_PORTAL_CONFIG_H
#define FLOE_DAEMONS_PORTAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"
#include "daemons/common/turn_rest.h"
#include "transport/signal/proto.h"

enum floe_portal_config_limits {
	FLOE_PORTAL_CONFIG_MAX_ENTRIES = 10000, /* per section kind */
	FLOE_PORTAL_CONFIG_ERR_BYTES = 512,
	FLOE_PORTAL_CONFIG_PATH_BYTES = 4096,
	FLOE_PORTAL_CONFIG_LISTEN_BYTES = 256,
	FLOE_PORTAL_CONFIG_KEY_LEN = 32,
};

#define FLOE_PORTAL_DEFAULT_LISTEN "tcp://0.0.0.0:7878"

/* A gateway or a client. */
typedef struct {
	char name[FLOE_SIGNAL_ID_CAP];
	uint8_t public_key[FLOE_PORTAL_CONFIG_KEY_LEN];
	char public_key_b64[FLOE_SIGNAL_KEY_CAP]; /* canonical base64 (the ZAP User-Id) */
	char tunnel_ipv4[FLOE_SIGNAL_IPV4_CAP];
	char tunnel_ipv6[FLOE_SIGNAL_IPV6_CAP];
	size_t n_resources;                       /* gateways: resources served */
	size_t resources[FLOE_SIGNAL_MAX_RESOURCES];
	int line;
} floe_portal_node_conf_t;

typedef struct {
	floe_signal_resource_t res; /* res.expires is always "" here */
	int line;
} floe_portal_resource_conf_t;

typedef struct {
	char name[FLOE_SIGNAL_ID_CAP];
	size_t client;       /* index into clients */
	size_t resource;     /* index into resources */
	bool has_expiry;
	int64_t expires_s;   /* Unix seconds, when has_expiry */
	int line;
} floe_portal_grant_conf_t;

/* A relay whose credentials the portal mints (coturn use-auth-secret). */
typedef struct {
	bool enabled;
	uint8_t secret[FLOE_TURN_REST_SECRET_MAX_BYTES]; /* wiped by destroy */
	size_t secret_len;
	uint32_t ttl_s;
} floe_portal_relay_secret_t;

typedef struct {
	char path[FLOE_PORTAL_CONFIG_PATH_BYTES];
	char listen[FLOE_PORTAL_CONFIG_LISTEN_BYTES];
	uint8_t private_key[FLOE_PORTAL_CONFIG_KEY_LEN]; /* wiped by destroy */
	uint8_t public_key[FLOE_PORTAL_CONFIG_KEY_LEN];
	floe_portal_node_conf_t *gateways;
	size_t n_gateways;
	floe_portal_node_conf_t *clients;
	size_t n_clients;
	floe_portal_resource_conf_t *resources;
	size_t n_resources;
	floe_portal_grant_conf_t *grants;
	size_t n_grants;
	floe_signal_relay_t *relays;                     /* passwords wiped by destroy */
	size_t n_relays;
	/* By relay index; only the first FLOE_SIGNAL_MAX_RELAYS relays reach
	 * the nodes, so only they may have a secret. */
	floe_portal_relay_secret_t relay_secrets[FLOE_SIGNAL_MAX_RELAYS];
} floe_portal_config_t;

/*
 * Loads path. 0 with *out set, or -errno with err holding
 * "FILE:LINE: message" (LINE 0 when the file cannot be opened).
 */
FLOE_EXPORT int floe_portal_config_load(const char *path, floe_portal_config_t **out,
					char err[FLOE_PORTAL_CONFIG_ERR_BYTES]);
FLOE_EXPORT void floe_portal_config_destroy(floe_portal_config_t **self_p);

/* Index of the gateway / client with this canonical base64 key, or -1. */
FLOE_EXPORT long floe_portal_config_find_gateway(const floe_portal_config_t *cfg, const char *key_b64);
FLOE_EXPORT long floe_portal_config_find_client(const floe_portal_config_t *cfg, const char *key_b64);
/* Index of the resource with this id, or -1. */
FLOE_EXPORT long floe_portal_config_find_resource(const floe_portal_config_t *cfg, const char *id);

#endif
