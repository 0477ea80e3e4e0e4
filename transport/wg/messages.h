/*
 * The four WireGuard messages (whitepaper 5.4.2 - 5.4.7) as byte offsets:
 * every multi-byte field is little endian and read with the helpers below,
 * so no packed struct is ever cast over untrusted, possibly unaligned input.
 */
#ifndef FLOE_TRANSPORT_WG_MESSAGES_H
#define FLOE_TRANSPORT_WG_MESSAGES_H

#include <stdint.h>

#include "transport/wg/wg.h"

enum floe_wg_msg_offsets {
	/* Common header: type (1 byte), reserved (3 zero bytes). */
	FLOE_WG_OFF_TYPE = 0,
	FLOE_WG_OFF_RESERVED = 1,
	FLOE_WG_RESERVED_LEN = 3,
	FLOE_WG_HEADER_LEN = 4,

	/* Handshake initiation, 148 bytes. */
	FLOE_WG_INIT_OFF_SENDER = 4,
	FLOE_WG_INIT_OFF_EPHEMERAL = 8,
	FLOE_WG_INIT_OFF_STATIC = 40,     /* 32 + 16 tag */
	FLOE_WG_INIT_OFF_TIMESTAMP = 88,  /* 12 + 16 tag */
	FLOE_WG_INIT_OFF_MAC1 = 116,
	FLOE_WG_INIT_OFF_MAC2 = 132,

	/* Handshake response, 92 bytes. */
	FLOE_WG_RESP_OFF_SENDER = 4,
	FLOE_WG_RESP_OFF_RECEIVER = 8,
	FLOE_WG_RESP_OFF_EPHEMERAL = 12,
	FLOE_WG_RESP_OFF_EMPTY = 44,      /* 0 + 16 tag */
	FLOE_WG_RESP_OFF_MAC1 = 60,
	FLOE_WG_RESP_OFF_MAC2 = 76,

	/* Cookie reply, 64 bytes. */
	FLOE_WG_COOKIE_OFF_RECEIVER = 4,
	FLOE_WG_COOKIE_OFF_NONCE = 8,     /* 24 bytes */
	FLOE_WG_COOKIE_OFF_COOKIE = 32,   /* 16 + 16 tag */

	/* Transport data, 32 bytes and more. */
	FLOE_WG_DATA_OFF_RECEIVER = 4,
	FLOE_WG_DATA_OFF_COUNTER = 8,
	FLOE_WG_DATA_OFF_PAYLOAD = 16,
	FLOE_WG_DATA_MIN_LEN = FLOE_WG_DATA_HEADER_LEN + FLOE_WG_DATA_TAG_LEN,

	/* Initiations accepted per second per peer (flood protection). */
	FLOE_WG_INITIATIONS_PER_SECOND = 50,
};

static inline uint32_t floe_wg_le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void floe_wg_le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t floe_wg_le64_get(const uint8_t *p)
{
	return (uint64_t)floe_wg_le32_get(p) | (uint64_t)floe_wg_le32_get(p + 4) << 32;
}

static inline void floe_wg_le64_put(uint8_t *p, uint64_t v)
{
	floe_wg_le32_put(p, (uint32_t)v);
	floe_wg_le32_put(p + 4, (uint32_t)(v >> 32));
}

/* Writes the type byte and the three reserved zero bytes. */
static inline void floe_wg_header_put(uint8_t *p, enum floe_wg_msg_type type)
{
	floe_wg_le32_put(p, (uint32_t)type);
}

#endif
