/*
 * Address and link change notifications (addrwatch.h).
 */
#include "transport/net/addrwatch.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
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

struct floe_addrwatch {
	struct mnl_socket *nl;
	int ignore_ifindex;
	uint8_t buf[BUF_BYTES];
};

floe_addrwatch_t *floe_addrwatch_new(int *err)
{
	floe_addrwatch_t *self = calloc(1, sizeof(*self));
	unsigned int groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
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

/* Is this notification a change that can move our ICE candidates? */
static bool s_relevant(const floe_addrwatch_t *self, const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_type == RTM_NEWADDR || nlh->nlmsg_type == RTM_DELADDR) {
		const struct ifaddrmsg *ifa;

		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
			return false;
		ifa = mnl_nlmsg_get_payload(nlh);
		return !(self->ignore_ifindex && (int)ifa->ifa_index == self->ignore_ifindex);
	}
	if (nlh->nlmsg_type == RTM_NEWLINK || nlh->nlmsg_type == RTM_DELLINK) {
		const struct ifinfomsg *ifi;

		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
			return false;
		ifi = mnl_nlmsg_get_payload(nlh);
		if (self->ignore_ifindex && ifi->ifi_index == self->ignore_ifindex)
			return false;
		/* A link that is not running carries no path; one coming up
		 * changes nothing until it has an address (RTM_NEWADDR). */
		return nlh->nlmsg_type == RTM_DELLINK || !(ifi->ifi_flags & IFF_RUNNING);
	}
	return false;
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
