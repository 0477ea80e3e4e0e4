/*
 * The configuration of floe-gateway and floe-client (docs/config.md): an INI
 * file turned into a floe_node_config_t plus what only the daemon uses (the
 * control socket, the gateway's metrics address).
 *
 *   [Interface]  PrivateKey | PrivateKeyFile, Name, MTU,
 *                Address (repeatable), Route (repeatable)
 *   [Portal]     Endpoint (tcp://HOST:PORT), PublicKey
 *   [ICE]        STUN, TURN (HOST:PORT), TURNUser, TURNPassword | TURNPasswordFile,
 *                LocalAddress (repeatable), FailureTimeout (ms)
 *   [Control]    Socket
 *   [Metrics]    Listen (HOST:PORT; gateway only)
 *   [Gateway]    Workers (1-64 processes sharing the connections; default 1)
 *
 * Keys and section names are case-insensitive. Every error is one line
 * "FILE:LINE: message" naming the key at fault. The private key and the TURN
 * password live only in the returned struct and are wiped by
 * floe_nodeconf_destroy.
 */
#ifndef FLOE_DAEMONS_NODECONF_H
#define FLOE_DAEMONS_NODECONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <floe/floe.h>

#include "daemons/common/control.h"

enum floe_nodeconf_limits {
	FLOE_NODECONF_MAX_LIST = 32,         /* Address, Route, LocalAddress entries each */
	FLOE_NODECONF_STR_MAX = 128,         /* bytes of a host, endpoint, user or password */
	FLOE_NODECONF_ERR_MAX = 512,
	FLOE_NODECONF_LINE_MAX = 200,        /* libinih's INI_MAX_LINE */
	FLOE_NODECONF_FILE_MAX_BYTES = 1 << 16,
	FLOE_NODECONF_MTU_MIN = 576,
	FLOE_NODECONF_MTU_MAX = 65535,
	FLOE_NODECONF_IFNAME_MAX = 15,
	FLOE_NODECONF_FAILURE_TIMEOUT_MAX_MS = 600000,
};

#define FLOE_NODECONF_CLIENT_IFNAME "floe0"
#define FLOE_NODECONF_GATEWAY_IFNAME "floe-gw0"

typedef struct {
	/* Ready for floe_node_new(): every pointer points into this struct. */
	floe_node_config_t node;
	/* Control socket path; "" = the default (/run/floe/<daemon>.sock). */
	char control_socket[FLOE_CONTROL_PATH_MAX];
	/* [Metrics] Listen (gateway only). */
	bool has_metrics;
	char metrics_host[FLOE_NODECONF_STR_MAX];
	uint16_t metrics_port;
	/* [Gateway] Workers (gateway only; 1: one process, today's gateway). */
	unsigned workers;

	/* Storage behind node's pointers. */
	char tun_name[FLOE_NODECONF_IFNAME_MAX + 1];
	char portal_endpoint[FLOE_NODECONF_STR_MAX];
	char stun_host[FLOE_NODECONF_STR_MAX];
	char turn_host[FLOE_NODECONF_STR_MAX];
	char turn_user[FLOE_NODECONF_STR_MAX];
	char turn_password[FLOE_NODECONF_STR_MAX];
	char addresses[FLOE_NODECONF_MAX_LIST][FLOE_NODECONF_STR_MAX];
	char routes[FLOE_NODECONF_MAX_LIST][FLOE_NODECONF_STR_MAX];
	char local_addrs[FLOE_NODECONF_MAX_LIST][FLOE_NODECONF_STR_MAX];
	const char *address_ptrs[FLOE_NODECONF_MAX_LIST];
	const char *route_ptrs[FLOE_NODECONF_MAX_LIST];
	const char *local_addr_ptrs[FLOE_NODECONF_MAX_LIST];
} floe_nodeconf_t;

/* Reads and parses path for role. NULL on error with the message in err. */
floe_nodeconf_t *floe_nodeconf_load(const char *path, floe_role_t role, char *err, size_t err_cap);
/* Parses text; name stands for the file in messages. */
floe_nodeconf_t *floe_nodeconf_parse(const char *text, size_t len, const char *name, floe_role_t role,
				     char *err, size_t err_cap);
/* Wipes the keys and the password, frees. Idempotent, accepts NULL. */
void floe_nodeconf_destroy(floe_nodeconf_t **self_p);

#endif
