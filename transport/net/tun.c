/* Linux TUN device: see tun.h. */
#include "transport/net/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "transport/net/netlink.h"

struct floe_tun {
	int fd;
	int ifindex;
	bool offload;   /* IFF_VNET_HDR: reads and writes carry a virtio-net header */
	char name[IFNAMSIZ];
};

floe_tun_t *floe_tun_new(const char *name, int *err)
{
	return floe_tun_new_flags(name, 0, err);
}

floe_tun_t *floe_tun_new_flags(const char *name, unsigned flags, int *err)
{
	struct ifreq ifr = { 0 };
	floe_tun_t *self;
	int e;

	if (name && strlen(name) > FLOE_TUN_NAME_MAX) {
		e = -EINVAL;
		goto err;
	}
	self = calloc(1, sizeof(*self));
	if (!self) {
		e = -ENOMEM;
		goto err;
	}
	self->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (self->fd < 0) {
		e = -errno;
		goto err_free;
	}
	/* IFF_NO_PI: packets are bare IP, the version nibble tells the family. */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (flags & FLOE_TUN_F_OFFLOAD)
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (name)
		strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(self->fd, TUNSETIFF, &ifr) < 0) {
		e = -errno;
		goto err_close;
	}
	if (flags & FLOE_TUN_F_OFFLOAD) {
		/* Checksum and TCP segmentation offload: the kernel may hand
		 * us 64 KiB TCP frames and partial checksums (offload.h
		 * finishes both). No UDP GSO and no ECN-flagged TSO: the
		 * kernel segments those itself before we see them. */
		unsigned long off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

		if (ioctl(self->fd, TUNSETOFFLOAD, off) < 0) {
			e = -errno;
			goto err_close;
		}
		self->offload = true;
	}
	memcpy(self->name, ifr.ifr_name, IFNAMSIZ);
	self->name[IFNAMSIZ - 1] = '\0';
	self->ifindex = (int)if_nametoindex(self->name);
	if (self->ifindex == 0) {
		e = -errno;
		goto err_close;
	}
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

void floe_tun_destroy(floe_tun_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	close((*self_p)->fd);
	free(*self_p);
	*self_p = NULL;
}

int floe_tun_fd(const floe_tun_t *self)
{
	return self->fd;
}

const char *floe_tun_name(const floe_tun_t *self)
{
	return self->name;
}

int floe_tun_ifindex(const floe_tun_t *self)
{
	return self->ifindex;
}

int floe_tun_set_up(floe_tun_t *self, uint32_t mtu)
{
	return floe_netlink_link_set(self->ifindex, true, mtu);
}

int floe_tun_add_address(floe_tun_t *self, const floe_cidr_t *addr)
{
	return floe_netlink_addr_add(self->ifindex, addr);
}

int floe_tun_add_route(floe_tun_t *self, const floe_cidr_t *dst)
{
	return floe_netlink_route_add(self->ifindex, dst);
}

int floe_tun_set_host_route(floe_tun_t *self, const floe_cidr_t *dst, bool present)
{
	if (!self || !dst)
		return -EINVAL;
	return present ? floe_netlink_route_set(self->ifindex, dst) : floe_netlink_route_del(self->ifindex, dst);
}

int floe_tun_read_batch(floe_tun_t *self, floe_tun_pkt_t *pkts, size_t n)
{
	size_t i;

	if (!self || !pkts || n > FLOE_TUN_BATCH_MAX)
		return -EINVAL;
	for (i = 0; i < n;) {
		ssize_t r = read(self->fd, pkts[i].buf, pkts[i].cap);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* An error after some packets ends the batch; the
			 * next read reports it again. */
			if (errno == EAGAIN || errno == EWOULDBLOCK || i > 0)
				break;
			return -errno;
		}
		pkts[i++].len = (size_t)r;
	}
	return (int)i;
}

bool floe_tun_offload(const floe_tun_t *self)
{
	return self && self->offload;
}

int floe_tun_write(floe_tun_t *self, const uint8_t *pkt, size_t len)
{
	/* With offloads every write starts with a virtio-net header; an
	 * all-zero one says "one whole packet, checksums complete". */
	static const uint8_t no_offload[FLOE_TUN_VNET_HDR_BYTES];
	struct iovec iov[2] = {
		{ .iov_base = (void *)no_offload, .iov_len = sizeof(no_offload) },
		{ .iov_base = (void *)pkt, .iov_len = len },
	};
	size_t want = len;
	ssize_t w;

	if (self->offload) {
		w = writev(self->fd, iov, 2);
		want += sizeof(no_offload);
	} else {
		w = write(self->fd, pkt, len);
	}
	if (w < 0)
		return -errno;
	return (size_t)w == want ? 0 : -EIO;
}

int floe_tun_write_frame(floe_tun_t *self, const uint8_t *frame, size_t len)
{
	ssize_t w;

	if (!self || !self->offload || !frame || len <= FLOE_TUN_VNET_HDR_BYTES)
		return -EINVAL;
	w = write(self->fd, frame, len);
	if (w < 0)
		return -errno;
	return (size_t)w == len ? 0 : -EIO;
}
