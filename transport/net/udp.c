/* Batched non-blocking UDP: see udp.h. */
#include "transport/net/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct floe_udp {
	int fd;
	int family;
	uint16_t port;
	bool gso;       /* UDP_SEGMENT sends: on until the path refuses one */
};

static int open_socket(int family, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1, zero = 0, buf = FLOE_UDP_SOCKBUF_BYTES;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);

	if (fd < 0)
		return -errno;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		/* Dual-stack: one socket for IPv4 and IPv6 peers. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
			goto err;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_any;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(*s4);
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Bigger buffers absorb bursts between two wake-ups; the kernel caps
	 * them at net.core.*mem_max, which is fine. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto err;
	return fd;
err:
	one = -errno;
	close(fd);
	return one;
}

floe_udp_t *floe_udp_new(uint16_t port, int *err)
{
	floe_udp_t *self = calloc(1, sizeof(*self));
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd, e;

	if (!self) {
		e = -ENOMEM;
		goto err;
	}
	self->family = AF_INET6;
	fd = open_socket(AF_INET6, port);
	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL) {
		self->family = AF_INET;
		fd = open_socket(AF_INET, port);
	}
	if (fd < 0) {
		e = fd;
		goto err_free;
	}
	self->fd = fd;
	self->gso = true;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		e = -errno;
		goto err_close;
	}
	self->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						    : ((struct sockaddr_in *)&ss)->sin_port);
	return self;
err_close:
	close(self->fd);
err_free:
	free(self);
err:
	if (err)
		*err = e;
	return NULL;
}

void floe_udp_destroy(floe_udp_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	close((*self_p)->fd);
	free(*self_p);
	*self_p = NULL;
}

int floe_udp_fd(const floe_udp_t *self)
{
	return self->fd;
}

uint16_t floe_udp_port(const floe_udp_t *self)
{
	return self->port;
}

int floe_udp_family(const floe_udp_t *self)
{
	return self->family;
}

int floe_udp_recv_batch(floe_udp_t *self, floe_udp_dgram_t *d, size_t n)
{
	struct mmsghdr msgs[FLOE_UDP_BATCH_MAX];
	struct iovec iov[FLOE_UDP_BATCH_MAX];
	int got;

	if (!self || !d || n == 0 || n > FLOE_UDP_BATCH_MAX)
		return -EINVAL;
	memset(msgs, 0, n * sizeof(msgs[0]));
	for (size_t i = 0; i < n; i++) {
		iov[i] = (struct iovec){ .iov_base = d[i].buf, .iov_len = d[i].cap };
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &d[i].addr;
		msgs[i].msg_hdr.msg_namelen = sizeof(d[i].addr);
	}
	got = recvmmsg(self->fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
	if (got < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
	for (int i = 0; i < got; i++) {
		bool trunc = msgs[i].msg_hdr.msg_flags & MSG_TRUNC;

		d[i].len = trunc ? 0 : msgs[i].msg_len;
		d[i].addr_len = msgs[i].msg_hdr.msg_namelen;
	}
	return got;
}

/* A dual-stack socket cannot sendto an AF_INET address: map it. */
static socklen_t to_socket_family(const floe_udp_t *self, const struct sockaddr_storage *in,
				  socklen_t in_len, struct sockaddr_storage *out)
{
	if (self->family == AF_INET6 && in->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)in;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = s4->sin_port;
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
		return sizeof(*s6);
	}
	memcpy(out, in, in_len);
	return in_len;
}

/*
 * UDP GSO (UDP_SEGMENT): a run of datagrams to one address, all of one
 * length but the last (which may be shorter), goes down the stack as one
 * large datagram and is cut at the device or the receiver. That saves the
 * per-datagram route lookup, skb and netfilter work that dominates
 * sendmmsg (DESIGN.md: ~10x on loopback). The iovecs point into the
 * callers' buffers: nothing is copied.
 */
static bool gso_joins(const floe_udp_dgram_t *first, const floe_udp_dgram_t *d, size_t run,
		      size_t run_bytes)
{
	/* Only a shorter datagram may end a run: it cannot take more. */
	if (d[-1].len != first->len)
		return false;
	if (d->len == 0 || d->len > first->len || run >= FLOE_UDP_GSO_MAX_SEGMENTS ||
	    run_bytes + d->len > FLOE_UDP_GSO_MAX_BYTES)
		return false;
	return d->addr_len == first->addr_len && memcmp(&d->addr, &first->addr, d->addr_len) == 0;
}

/* The failures that mean "no GSO on this path": the route's device cannot
 * checksum for us (EIO), or the kernel does not know the option. */
static bool gso_unsupported(int e)
{
	return e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP;
}

int floe_udp_send_batch(floe_udp_t *self, floe_udp_dgram_t *d, size_t n)
{
	struct mmsghdr msgs[FLOE_UDP_BATCH_MAX];
	struct iovec iov[FLOE_UDP_BATCH_MAX];
	struct sockaddr_storage addrs[FLOE_UDP_BATCH_MAX];
	/* One UDP_SEGMENT control message per GSO message. */
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[FLOE_UDP_BATCH_MAX];
	size_t segs[FLOE_UDP_BATCH_MAX];
	size_t m = 0, taken = 0;
	bool retried = false;
	int sent;

	if (!self || !d || n > FLOE_UDP_BATCH_MAX)
		return -EINVAL;
	if (n == 0)
		return 0;
again:
	memset(msgs, 0, n * sizeof(msgs[0]));
	m = 0;
	for (size_t i = 0; i < n; m++) {
		size_t run = 1, bytes = d[i].len;

		iov[i] = (struct iovec){ .iov_base = d[i].buf, .iov_len = d[i].len };
		if (self->gso)
			while (i + run < n && gso_joins(&d[i], &d[i + run], run, bytes)) {
				iov[i + run] = (struct iovec){ .iov_base = d[i + run].buf,
							       .iov_len = d[i + run].len };
				bytes += d[i + run].len;
				run++;
			}
		msgs[m].msg_hdr.msg_iov = &iov[i];
		msgs[m].msg_hdr.msg_iovlen = run;
		msgs[m].msg_hdr.msg_name = &addrs[m];
		msgs[m].msg_hdr.msg_namelen = to_socket_family(self, &d[i].addr, d[i].addr_len,
								&addrs[m]);
		if (run > 1) {
			struct cmsghdr *c;
			uint16_t seg = (uint16_t)d[i].len;

			memset(&ctl[m], 0, sizeof(ctl[m]));
			msgs[m].msg_hdr.msg_control = ctl[m].buf;
			msgs[m].msg_hdr.msg_controllen = sizeof(ctl[m].buf);
			c = CMSG_FIRSTHDR(&msgs[m].msg_hdr);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		}
		segs[m] = run;
		i += run;
	}
	sent = sendmmsg(self->fd, msgs, (unsigned)m, MSG_DONTWAIT);
	if (sent < 0) {
		int e = errno;

		/* The first message failed. If it was a GSO one and the path
		 * cannot take GSO, turn it off for this socket and resend
		 * the whole batch datagram by datagram. */
		if (segs[0] > 1 && gso_unsupported(e)) {
			self->gso = false;
			retried = true;
			goto again;
		}
		/* Refused without GSO too: the datagrams were at fault, not
		 * GSO; keep it for the next batch. */
		if (retried)
			self->gso = true;
		return -e;
	}
	/* A GSO message is taken whole or not at all. */
	for (int k = 0; k < sent; k++)
		taken += segs[k];
	return (int)taken;
}

int floe_udp_send(floe_udp_t *self, const void *buf, size_t len,
		  const struct sockaddr_storage *addr, socklen_t addr_len)
{
	floe_udp_dgram_t d = { .buf = (uint8_t *)buf, .cap = len, .len = len, .addr_len = addr_len };
	int r;

	memcpy(&d.addr, addr, addr_len);
	r = floe_udp_send_batch(self, &d, 1);
	return r == 1 ? 0 : (r < 0 ? r : -EAGAIN);
}

int floe_udp_endpoint_parse(const char *s, struct sockaddr_storage *out, socklen_t *out_len)
{
	char host[FLOE_UDP_ENDPOINT_STR_MAX];
	const char *port_s, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char *end;
	unsigned long port;
	size_t hlen;

	if (!s || !out || !out_len)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close_b = strchr(s, ']');

		if (!close_b || close_b[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close_b - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		port_s = close_b + 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	} else {
		colon = strrchr(s, ':');
		/* A bare IPv6 address has several colons: it needs brackets. */
		if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		port_s = colon + 1;
		hints.ai_family = AF_UNSPEC;
	}
	host[hlen] = '\0';
	if (port_s[0] < '0' || port_s[0] > '9' || strlen(port_s) > 5)
		return -EINVAL;
	port = strtoul(port_s, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return -EINVAL;
	if (getaddrinfo(host, port_s, &hints, &res) != 0 || !res)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*out_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* An IPv4 address inside a v4-mapped IPv6 one, or NULL. */
static const uint8_t *mapped_v4(const struct sockaddr_in6 *s6)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(s6->sin6_addr.s6_addr, prefix, sizeof(prefix)) == 0
		       ? &s6->sin6_addr.s6_addr[12] : NULL;
}

/* Reduces an address to (family, ip bytes, port), unmapping v4-mapped. */
static int endpoint_key(const struct sockaddr_storage *a, const uint8_t **ip, uint16_t *port)
{
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;

		*ip = (const uint8_t *)&s4->sin_addr;
		*port = ntohs(s4->sin_port);
		return AF_INET;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;
		const uint8_t *v4 = mapped_v4(s6);

		*port = ntohs(s6->sin6_port);
		*ip = v4 ? v4 : s6->sin6_addr.s6_addr;
		return v4 ? AF_INET : AF_INET6;
	}
	return 0;
}

void floe_udp_endpoint_format(const struct sockaddr_storage *a, char *buf, size_t cap)
{
	const uint8_t *ip = NULL;
	uint16_t port = 0;
	char s[INET6_ADDRSTRLEN];
	int fam = endpoint_key(a, &ip, &port);

	if (!fam || !inet_ntop(fam, ip, s, sizeof(s))) {
		snprintf(buf, cap, "(none)");
		return;
	}
	if (fam == AF_INET6)
		snprintf(buf, cap, "[%s]:%u", s, port);
	else
		snprintf(buf, cap, "%s:%u", s, port);
}

bool floe_udp_endpoint_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const uint8_t *ia = NULL, *ib = NULL;
	uint16_t pa = 0, pb = 0;
	int fa = endpoint_key(a, &ia, &pa), fb = endpoint_key(b, &ib, &pb);

	if (!fa || fa != fb || pa != pb)
		return false;
	return memcmp(ia, ib, fa == AF_INET ? 4 : 16) == 0;
}
