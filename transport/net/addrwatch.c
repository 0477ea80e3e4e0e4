/*
 * Address and link change notifications (addrwatch.h).
 */
#include "transport/net/addrwatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
	/* Notifications read per call at most: a flood of them cannot keep
	 * the caller's thread (the node's loop) busy for long. */
	MAX_READS = 64,
	/* libmnl suggests a page but at least 8 KiB (MNL_SOCKET_BUFFER_SIZE
	 * is not a constant): one read holds many notifications. */
	BUF_BYTES = 8192,
};

/* A pinned address: family and 4 or 16 bytes. */
typedef struct {
	int family;
	uint8_t bytes[16];
} pinned_t;

struct floe_addrwatch {
	struct mnl_socket *nl;
	int ignore_ifindex;
	pinned_t only[FLOE_ADDRWATCH_MAX_ONLY];
	size_t n_only;
	uint8_t buf[BUF_BYTES];
};

floe_addrwatch_t *floe_addrwatch_new(int *err)
{
	floe_addrwatch_t *self = calloc(1, sizeof(*self));
	unsigned int groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
	int rc = -ENOMEM;

	if (!self)
		goto fail;
	self->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!self->nl) {
		rc = -errno;
		goto fail;
	}
	if (mnl_socket_bind(self->nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		goto fail;
	}
	return self;
fail:
	if (self && self->nl)
		mnl_socket_close(self->nl);
	free(self);
	if (err)
		*err = rc;
	return NULL;
}

void floe_addrwatch_destroy(floe_addrwatch_t **self_p)
{
	floe_addrwatch_t *self = self_p ? *self_p : NULL;

	if (!self)
		return;
	mnl_socket_close(self->nl);
	free(self);
	*self_p = NULL;
}

int floe_addrwatch_fd(const floe_addrwatch_t *self)
{
	return self ? mnl_socket_get_fd(self->nl) : -1;
}

void floe_addrwatch_ignore(floe_addrwatch_t *self, int ifindex)
{
	if (self)
		self->ignore_ifindex = ifindex;
}

int floe_addrwatch_only(floe_addrwatch_t *self, const char *const *addrs, size_t n)
{
	pinned_t only[FLOE_ADDRWATCH_MAX_ONLY];

	if (!self || (n && !addrs) || n > FLOE_ADDRWATCH_MAX_ONLY)
		return -EINVAL;
	memset(only, 0, sizeof(only));
	for (size_t i = 0; i < n; i++) {
		if (!addrs[i])
			return -EINVAL;
		if (inet_pton(AF_INET, addrs[i], only[i].bytes) == 1)
			only[i].family = AF_INET;
		else if (inet_pton(AF_INET6, addrs[i], only[i].bytes) == 1)
			only[i].family = AF_INET6;
		else
			return -EINVAL;
	}
	memcpy(self->only, only, sizeof(only));
	self->n_only = n;
	return 0;
}

/* IFA_LOCAL is the interface's own address on point-to-point links;
 * IFA_ADDRESS otherwise (and the peer's there). */
static const struct nlattr *s_ifa_local(const struct nlmsghdr *nlh, const struct nlattr **address)
{
	const struct nlattr *local = NULL, *attr;

	*address = NULL;
	mnl_attr_for_each(attr, nlh, sizeof(struct ifaddrmsg)) {
		if (mnl_attr_get_type(attr) == IFA_LOCAL)
			local = attr;
		else if (mnl_attr_get_type(attr) == IFA_ADDRESS)
			*address = attr;
	}
	return local;
}

static bool s_pinned(const floe_addrwatch_t *self, int family, const struct nlattr *attr)
{
	size_t len = family == AF_INET ? 4 : 16;

	if (!attr || mnl_attr_get_payload_len(attr) != len)
		return false;
	for (size_t i = 0; i < self->n_only; i++)
		if (self->only[i].family == family && !memcmp(self->only[i].bytes, mnl_attr_get_payload(attr), len))
			return true;
	return false;
}

/* Is this notification a change that can move our ICE candidates? */
static bool s_relevant(const floe_addrwatch_t *self, const struct nlmsghdr *nlh)
{
	const struct ifaddrmsg *ifa;
	const struct nlattr *local, *address;

	if (nlh->nlmsg_type != RTM_NEWADDR && nlh->nlmsg_type != RTM_DELADDR)
		return false;
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return false;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (self->ignore_ifindex && (int)ifa->ifa_index == self->ignore_ifindex)
		return false;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return false;
	if (!self->n_only)
		return ifa->ifa_scope == RT_SCOPE_UNIVERSE;
	local = s_ifa_local(nlh, &address);
	return s_pinned(self, ifa->ifa_family, local) || s_pinned(self, ifa->ifa_family, address);
}

int floe_addrwatch_read(floe_addrwatch_t *self)
{
	bool changed = false;

	if (!self)
		return -EINVAL;
	for (int i = 0; i < MAX_READS; i++) {
		ssize_t n = mnl_socket_recvfrom(self->nl, self->buf, sizeof(self->buf));
		const struct nlmsghdr *nlh;
		int left;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				changed = true; /* lost notifications: assume a change */
				continue;
			}
			return -errno;
		}
		left = (int)n;
		for (nlh = (const struct nlmsghdr *)self->buf; mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left))
			changed |= s_relevant(self, nlh);
	}
	return changed ? 1 : 0;
}
