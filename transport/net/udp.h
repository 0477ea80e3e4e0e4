/*
 * A non-blocking UDP socket for WireGuard datagrams, with batched receive
 * and send (recvmmsg / sendmmsg).
 *
 * The socket is IPv6 dual-stack when the host allows it (IPV6_V6ONLY off):
 * IPv4 peers then appear as v4-mapped IPv6 source addresses, and IPv4
 * destinations are mapped before sending. Without IPv6 it falls back to an
 * IPv4 socket. Addresses are struct sockaddr_storage throughout.
 */
#ifndef FLOE_TRANSPORT_NET_UDP_H
#define FLOE_TRANSPORT_NET_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "runtime/common.h"

enum floe_udp_limits {
	FLOE_UDP_BATCH_MAX = 32,         /* datagrams per recvmmsg / sendmmsg call */
	FLOE_UDP_ENDPOINT_STR_MAX = 64,  /* "[v6]:port" and a NUL */
	FLOE_UDP_SOCKBUF_BYTES = 4 << 20, /* requested SO_RCVBUF / SO_SNDBUF */
	/* One UDP GSO send: at most this many datagrams (the kernel's
	 * UDP_MAX_SEGMENTS is 64 on older kernels) and this many payload
	 * bytes (an IPv4 datagram's 65,535 less its headers, with margin). */
	FLOE_UDP_GSO_MAX_SEGMENTS = 64,
	FLOE_UDP_GSO_MAX_BYTES = 65000,
};

typedef struct floe_udp floe_udp_t;

/* One datagram of a batch: buf/cap are the caller's, len and addr are filled
 * by receive (for send, the caller fills them). */
typedef struct {
	uint8_t *buf;
	size_t cap;
	size_t len;
	struct sockaddr_storage addr;
	socklen_t addr_len;
} floe_udp_dgram_t;

/* Binds port (0 = any) on every local address. NULL with *err = -errno. */
floe_udp_t *floe_udp_new(uint16_t port, int *err);
void floe_udp_destroy(floe_udp_t **self_p);
int floe_udp_fd(const floe_udp_t *self);
/* The bound port (useful after binding 0). */
uint16_t floe_udp_port(const floe_udp_t *self);
/* AF_INET6 (dual-stack) or AF_INET. */
int floe_udp_family(const floe_udp_t *self);

/*
 * Receives up to n (<= FLOE_UDP_BATCH_MAX) datagrams without blocking.
 * Returns how many were received (0 when none was waiting) or -errno.
 * A datagram longer than its cap is truncated and reported with len = 0
 * (the caller drops it).
 */
int floe_udp_recv_batch(floe_udp_t *self, floe_udp_dgram_t *d, size_t n);
/*
 * Sends up to n (<= FLOE_UDP_BATCH_MAX) datagrams. Returns how many the
 * kernel took (a full socket buffer ends the batch early: the rest is the
 * caller's to drop or retry) or -errno if none was sent.
 * Consecutive datagrams to the same address with the same length (the
 * last of a run may be shorter) leave as one UDP GSO send (UDP_SEGMENT);
 * the receiver still sees separate datagrams. If the path refuses GSO the
 * socket falls back to one datagram per message for good.
 */
int floe_udp_send_batch(floe_udp_t *self, floe_udp_dgram_t *d, size_t n);
/* One datagram; 0 or -errno. */
int floe_udp_send(floe_udp_t *self, const void *buf, size_t len,
		  const struct sockaddr_storage *addr, socklen_t addr_len);

/*
 * Parses an endpoint "host:port" or "[v6]:port" (host may be a name,
 * resolved with getaddrinfo). Port must be 1..65535. 0 or -EINVAL.
 */
int floe_udp_endpoint_parse(const char *s, struct sockaddr_storage *out, socklen_t *out_len);
/* Writes "a.b.c.d:port" or "[v6]:port" (v4-mapped shown as IPv4). */
void floe_udp_endpoint_format(const struct sockaddr_storage *a, char *buf, size_t cap);
/* true when both addresses are the same IP and port (v4-mapped == IPv4). */
FLOE_MUST_CHECK bool floe_udp_endpoint_equal(const struct sockaddr_storage *a,
					     const struct sockaddr_storage *b);

#endif
