/*
 * floe-wg's configuration: a wg-quick-style INI file.
 *
 *   [Interface]
 *   PrivateKey = <base64>        (or PrivateKeyFile = /path)
 *   ListenPort = 51820           (optional; 0 or absent = any port)
 *   Address = 10.0.0.1/24, fd00::1/64   (repeatable, comma-separated)
 *   MTU = 1420                   (optional)
 *
 *   [Peer]                       (repeatable)
 *   PublicKey = <base64>
 *   PresharedKey = <base64>      (or PresharedKeyFile = /path)
 *   Endpoint = host:port | [v6]:port
 *   AllowedIPs = 10.0.0.2/32, fd00::2/128   (repeatable, comma-separated)
 *   PersistentKeepalive = 25 | off
 *
 * Keys and section names are case-insensitive, as in wg-quick. Every error
 * is one line "FILE:LINE: message" naming the key (or section) at fault.
 * The parsed config is plain data (wireguard-tools style HAS_ flags); its
 * keys are wiped by floe_wgconf_destroy.
 */
#ifndef FLOE_DAEMONS_WGCONF_H
#define FLOE_DAEMONS_WGCONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "transport/net/addr.h"
#include "transport/wg/key.h"

enum floe_wgconf_limits {
	FLOE_WGCONF_MAX_PEERS = 1024,
	FLOE_WGCONF_MAX_PREFIXES = 1024,   /* Address entries, or AllowedIPs per peer */
	FLOE_WGCONF_ERR_MAX = 512,         /* bytes of an error message */
	FLOE_WGCONF_LINE_MAX = 200,        /* bytes of one line (libinih's INI_MAX_LINE) */
	FLOE_WGCONF_FILE_MAX_BYTES = 1 << 20,
	FLOE_WGCONF_MTU_MIN = 576,
	FLOE_WGCONF_MTU_MAX = 65535,
	FLOE_WGCONF_IFNAME_MAX = 15,
};

enum floe_wgconf_iface_flags {
	FLOE_WGCONF_HAS_PRIVATE_KEY = 1u << 0,
	FLOE_WGCONF_HAS_LISTEN_PORT = 1u << 1,
	FLOE_WGCONF_HAS_MTU = 1u << 2,
};

enum floe_wgconf_peer_flags {
	FLOE_WGCONF_HAS_PUBLIC_KEY = 1u << 0,
	FLOE_WGCONF_HAS_PRESHARED_KEY = 1u << 1,
	FLOE_WGCONF_HAS_ENDPOINT = 1u << 2,
	FLOE_WGCONF_HAS_KEEPALIVE = 1u << 3,
};

typedef struct {
	uint32_t flags;
	int line; /* of its [Peer] header, for messages */
	uint8_t public_key[FLOE_KEY_LEN];
	uint8_t preshared_key[FLOE_KEY_LEN];
	struct sockaddr_storage endpoint;
	socklen_t endpoint_len;
	uint16_t persistent_keepalive_s;
	floe_cidr_t *allowed_ips;
	size_t n_allowed_ips;
} floe_wgconf_peer_t;

typedef struct {
	uint32_t flags;
	uint8_t private_key[FLOE_KEY_LEN];
	uint16_t listen_port;
	uint32_t mtu;
	floe_cidr_t *addresses;
	size_t n_addresses;
	floe_wgconf_peer_t *peers;
	size_t n_peers;
} floe_wgconf_t;

/* Reads and parses `path`. NULL on error, with the message in err. */
floe_wgconf_t *floe_wgconf_load(const char *path, char *err, size_t err_cap);
/* Parses text; `name` stands for the file in messages. */
floe_wgconf_t *floe_wgconf_parse(const char *text, size_t len, const char *name,
				 char *err, size_t err_cap);
/* Wipes every key and frees. Idempotent, accepts NULL. */
void floe_wgconf_destroy(floe_wgconf_t **self_p);

/*
 * The interface name wg-quick derives from a config path: the file name
 * without ".conf" ("/etc/wg/wg0.conf" -> "wg0"). -EINVAL when that is not a
 * valid interface name (1-15 of [A-Za-z0-9_=+.-]).
 */
int floe_wgconf_ifname_from_path(const char *path, char *out, size_t cap);

#endif
