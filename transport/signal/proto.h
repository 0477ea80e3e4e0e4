/*
 * The portal signalling protocol, version 1 (docs/signalling.md).
 *
 * One JSON object per ZeroMQ frame, built and parsed with jansson. Every
 * message kind is a C struct in one tagged union (floe_signal_msg_t), so the
 * node code switches on msg.type. The structs are plain data with bounded
 * inline strings: decoding never allocates on the caller's behalf and a
 * message can be copied, zeroed and sent between threads as bytes.
 *
 * Decoding is the boundary with remote input: it checks the type and the
 * length of every field and the syntax of keys, addresses, CIDRs, ports,
 * UUIDs and times. Malformed JSON, a wrong type, a missing field, an
 * oversized string or an unknown message type gives -EPROTO; a field of the
 * right type whose value is not acceptable gives -EINVAL. Callers count
 * both and drop the frame.
 *
 * Messages that carry a preshared key (authorize_flow, flow_granted) hold a
 * secret: wipe them with floe_signal_msg_wipe() and wipe encode buffers with
 * sodium_memzero() once sent.
 */
#ifndef FLOE_TRANSPORT_SIGNAL_PROTO_H
#define FLOE_TRANSPORT_SIGNAL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"
#include "transport/signal/syntax.h"

enum floe_signal_limits {
	FLOE_SIGNAL_VERSION = 1,
	/* A frame larger than this is dropped before jansson sees it. */
	FLOE_SIGNAL_MAX_FRAME_BYTES = 64 * 1024,
	/* Bounds of the inline strings; each *_CAP includes the NUL (more in syntax.h). */
	FLOE_SIGNAL_IPV4_CAP = 16,        /* INET_ADDRSTRLEN */
	FLOE_SIGNAL_IPV6_CAP = 46,        /* INET6_ADDRSTRLEN */
	FLOE_SIGNAL_PROTOCOL_CAP = 8,     /* "", "tcp", "udp", "icmp" */
	FLOE_SIGNAL_PORTS_CAP = 128,      /* "80,443,8000-8100" */
	FLOE_SIGNAL_UFRAG_CAP = 257,      /* RFC 8445: ufrag 4..256 chars */
	FLOE_SIGNAL_PWD_CAP = 257,        /* RFC 8445: pwd 22..256 chars */
	FLOE_SIGNAL_CANDIDATE_CAP = 512,
	FLOE_SIGNAL_REASON_CAP = 256,
	FLOE_SIGNAL_BOOT_ID_CAP = 33,     /* 32 hex digits */
	FLOE_SIGNAL_HOST_CAP = 256,
	FLOE_SIGNAL_CRED_CAP = 256,       /* TURN username / password */
	FLOE_SIGNAL_MAX_RESOURCES = 64,   /* per welcome / resources message */
	FLOE_SIGNAL_MAX_RELAYS = 8,
};

typedef enum {
	FLOE_SIGNAL_NONE = 0,
	FLOE_SIGNAL_HELLO,
	FLOE_SIGNAL_WELCOME,
	FLOE_SIGNAL_ERROR,
	FLOE_SIGNAL_REQUEST_FLOW,
	FLOE_SIGNAL_AUTHORIZE_FLOW,
	FLOE_SIGNAL_FLOW_ACCEPTED,
	FLOE_SIGNAL_FLOW_REJECTED,
	FLOE_SIGNAL_FLOW_GRANTED,
	FLOE_SIGNAL_FLOW_DENIED,
	FLOE_SIGNAL_CANDIDATE,
	FLOE_SIGNAL_END_OF_CANDIDATES,
	FLOE_SIGNAL_REVOKE,
	FLOE_SIGNAL_GRANT,
	FLOE_SIGNAL_RESOURCES,
	FLOE_SIGNAL_PING,
	FLOE_SIGNAL_PONG,
	FLOE_SIGNAL_TYPE_COUNT,
} floe_signal_type_t;

typedef enum {
	FLOE_SIGNAL_ROLE_CLIENT = 1,
	FLOE_SIGNAL_ROLE_GATEWAY = 2,
} floe_signal_role_t;

typedef struct {
	char ufrag[FLOE_SIGNAL_UFRAG_CAP];
	char pwd[FLOE_SIGNAL_PWD_CAP];
} floe_signal_ice_t;

/* protocol, ports and expires are "" when absent (JSON null). */
typedef struct {
	char id[FLOE_SIGNAL_ID_CAP];
	char cidr[FLOE_SIGNAL_CIDR_CAP];
	char protocol[FLOE_SIGNAL_PROTOCOL_CAP];
	char ports[FLOE_SIGNAL_PORTS_CAP];
	char expires[FLOE_SIGNAL_TIME_CAP];
} floe_signal_resource_t;

/* A client or a gateway as the other side sees it; tunnel IPs may be "". */
typedef struct {
	char id[FLOE_SIGNAL_ID_CAP];
	char public_key[FLOE_SIGNAL_KEY_CAP];
	char tunnel_ipv4[FLOE_SIGNAL_IPV4_CAP];
	char tunnel_ipv6[FLOE_SIGNAL_IPV6_CAP];
} floe_signal_peer_t;

typedef struct {
	char host[FLOE_SIGNAL_HOST_CAP];
	uint16_t port;
	char username[FLOE_SIGNAL_CRED_CAP];
	char password[FLOE_SIGNAL_CRED_CAP];
} floe_signal_relay_t;

typedef struct {
	size_t n;
	floe_signal_resource_t items[FLOE_SIGNAL_MAX_RESOURCES];
} floe_signal_resource_list_t;

typedef struct {
	floe_signal_type_t type;
	union {
		struct {
			floe_signal_role_t role;
			int version;
			/* Random per process (hex), optional: a gateway whose boot
			 * id changed restarted, and its clients' flows are gone. */
			char boot_id[FLOE_SIGNAL_BOOT_ID_CAP];
			/* Optional: a sharded gateway's processes each say
			 * hello under the one key as worker `worker` of
			 * `workers` (docs/perf.md). !has_worker: absent, which
			 * the portal takes as worker 0 of 1. Decoded as any
			 * integer >= 0; the portal judges the range. */
			bool has_worker;
			int worker;
			int workers;
		} hello;
		struct {
			char node_id[FLOE_SIGNAL_ID_CAP];
			char tunnel_ipv4[FLOE_SIGNAL_IPV4_CAP];
			char tunnel_ipv6[FLOE_SIGNAL_IPV6_CAP];
			floe_signal_resource_list_t resources;
			size_t n_relays;
			floe_signal_relay_t relays[FLOE_SIGNAL_MAX_RELAYS];
		} welcome;
		struct {
			char reason[FLOE_SIGNAL_REASON_CAP];
		} error;
		struct {
			char resource[FLOE_SIGNAL_ID_CAP];
			floe_signal_ice_t ice;
		} request_flow;
		struct {
			char cid[FLOE_SIGNAL_CID_CAP];
			floe_signal_peer_t client;
			char psk[FLOE_SIGNAL_KEY_CAP];
			floe_signal_resource_t resource;
			floe_signal_ice_t ice;
		} authorize_flow;
		struct {
			char cid[FLOE_SIGNAL_CID_CAP];
			floe_signal_ice_t ice;
		} flow_accepted;
		struct {
			char cid[FLOE_SIGNAL_CID_CAP];
			char reason[FLOE_SIGNAL_REASON_CAP];
		} flow_rejected;
		struct {
			char cid[FLOE_SIGNAL_CID_CAP];
			floe_signal_resource_t resource;
			floe_signal_peer_t gateway;
			char psk[FLOE_SIGNAL_KEY_CAP];
			floe_signal_ice_t ice;
		} flow_granted;
		struct {
			char resource[FLOE_SIGNAL_ID_CAP];
			char reason[FLOE_SIGNAL_REASON_CAP];
		} flow_denied;
		struct {
			char cid[FLOE_SIGNAL_CID_CAP];
			char candidate[FLOE_SIGNAL_CANDIDATE_CAP];
		} candidate;
		struct {
			char cid[FLOE_SIGNAL_CID_CAP];
		} end_of_candidates;
		struct {
			floe_signal_peer_t client; /* id and public_key only */
			char resource[FLOE_SIGNAL_ID_CAP];
		} revoke;
		struct {
			floe_signal_peer_t client;
			floe_signal_resource_t resource;
		} grant;
		struct {
			floe_signal_resource_list_t resources;
		} resources;
	} u;
} floe_signal_msg_t;

/* Wire name of a type ("request_flow"), or NULL for an unknown value. */
const char *floe_signal_type_name(floe_signal_type_t type);

/* flow_denied's reason when the portal ends a flow because its gateway
 * restarted (a new boot id): the client drops that connection at once. */
#define FLOE_SIGNAL_REASON_GATEWAY_RESTARTED "gateway restarted"

/*
 * Encodes msg as compact JSON into buf (not NUL-terminated); *len is its
 * size. -EINVAL if msg does not validate (the same checks as decoding, so
 * a peer never receives what it would reject), -EMSGSIZE if buf is short.
 */
int floe_signal_encode(const floe_signal_msg_t *msg, char *buf, size_t cap, size_t *len);

/* Decodes one frame into *out (zeroed first). -EPROTO / -EINVAL: see above. */
int floe_signal_decode(const void *data, size_t len, floe_signal_msg_t *out);

/* Zeroes the whole message with sodium_memzero (it may hold a PSK). */
void floe_signal_msg_wipe(floe_signal_msg_t *msg);

#endif
