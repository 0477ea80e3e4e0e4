/*
 * Syntax of the signalling protocol's fields, shared by decoding
 * (proto.c), the portal's configuration and the gateway's policy.
 */
#ifndef FLOE_TRANSPORT_SIGNAL_SYNTAX_H
#define FLOE_TRANSPORT_SIGNAL_SYNTAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/common.h"

enum floe_signal_syntax_limits {
	/* Bounds of the inline strings; each *_CAP includes the NUL. */
	FLOE_SIGNAL_ID_CAP = 64,          /* node, resource ids: [A-Za-z0-9._-] */
	FLOE_SIGNAL_CID_CAP = 37,         /* UUID v4, 36 chars */
	FLOE_SIGNAL_KEY_CAP = 45,         /* base64 of 32 bytes, 44 chars */
	FLOE_SIGNAL_TIME_CAP = 40,        /* RFC 3339 */
	FLOE_SIGNAL_CIDR_CAP = 50,        /* address + "/128" */
	FLOE_SIGNAL_PSK_LEN = 32,
	FLOE_SIGNAL_MAX_PORT_RANGES = 32, /* per resource */
};

typedef struct {
	uint16_t lo;
	uint16_t hi;
} floe_signal_port_range_t;

/*
 * Parses "80,443,8000-8100" (spaces around items allowed) into at most cap
 * ranges; *n is their number. Ports are 1..65535, lo <= hi. -EINVAL on
 * bad syntax or an empty list, -E2BIG when more than cap ranges.
 */
int floe_signal_ports_parse(const char *s, floe_signal_port_range_t *out, size_t cap, size_t *n);

/* "10.0.0.0/8" or "fd00::/64": address, prefix within the family's bits,
 * and no host bits set. *family is AF_INET / AF_INET6. */
int floe_signal_cidr_parse(const char *s, int *family, uint8_t addr[16], unsigned *prefix);

/* RFC 3339 date-time ("2026-11-26T15:36:46Z", "...+02:00", fraction
 * allowed and ignored) to Unix seconds. -EINVAL on anything else. */
int floe_signal_time_parse(const char *s, int64_t *unix_s);

/* Unix seconds as "YYYY-MM-DDTHH:MM:SSZ"; -EINVAL if out of range. */
int floe_signal_time_format(int64_t unix_s, char out[FLOE_SIGNAL_TIME_CAP]);

/* A fresh random UUID v4 string (36 chars + NUL). */
void floe_signal_uuid_generate(char out[FLOE_SIGNAL_CID_CAP]);

/* Syntax checks used by decoding. */
FLOE_MUST_CHECK bool floe_signal_id_valid(const char *s);
FLOE_MUST_CHECK bool floe_signal_key_valid(const char *b64);
FLOE_MUST_CHECK bool floe_signal_uuid_valid(const char *s);

#endif
