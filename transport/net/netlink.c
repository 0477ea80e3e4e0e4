/* rtnetlink requests through libmnl: see netlink.h. */
#include "transport/net/netlink.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/*
 * Sends the request in buf and waits for its ACK. The kernel reports
 * failures as NLMSG_ERROR, which mnl_cb_run turns into -1 with errno set.
 */
static int transact(struct nlmsghdr *nlh)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	unsigned portid, seq = (unsigned)time(NULL);
	ssize_t n;
	int ret;

	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	ret = 0;
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			ret = -errno;
			break;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		if (ret < 0) {
			ret = errno ? -errno : -EPROTO;
			break;
		}
		if (ret == MNL_CB_STOP) {
			ret = 0;
			break;
		}
	}
out:
	mnl_socket_close(nl);
	return ret;
}

/* Address length of a usable (ifindex, prefix) pair, or 0. */
static size_t checked_len(int ifindex, const floe_cidr_t *c)
{
	size_t len = c ? floe_addr_len(c->family) : 0;

	return (ifindex > 0 && len && c->prefix <= len * 8) ? len : 0;
}

/* A request header; transact() adds REQUEST | ACK and the sequence. */
static struct nlmsghdr *put_request(uint8_t *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

int floe_netlink_link_set(int ifindex, bool up, uint32_t mtu)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;

	if (ifindex <= 0 || (mtu && (mtu < FLOE_NETLINK_MTU_MIN || mtu > FLOE_NETLINK_MTU_MAX)))
		return -EINVAL;
	nlh = put_request(buf, RTM_NEWLINK, 0);
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	ifm->ifi_change = IFF_UP;
	ifm->ifi_flags = up ? IFF_UP : 0;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return transact(nlh);
}

int floe_netlink_addr_add(int ifindex, const floe_cidr_t *addr)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	size_t len;

	if (!(len = checked_len(ifindex, addr)))
		return -EINVAL;
	nlh = put_request(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)addr->family;
	ifa->ifa_prefixlen = addr->prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	if (addr->family == AF_INET6)
		ifa->ifa_flags = IFA_F_NODAD;
	/* IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer
	 * side on point-to-point links and must equal it for a plain prefix. */
	mnl_attr_put(nlh, IFA_LOCAL, len, addr->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, addr->addr);
	return transact(nlh);
}

/* One RTM_NEWROUTE / RTM_DELROUTE for a link-scope route via ifindex. */
static int route_request(int type, uint16_t flags, int ifindex, const floe_cidr_t *dst)
{
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	floe_cidr_t net;
	size_t len;

	if (!(len = checked_len(ifindex, dst)))
		return -EINVAL;
	net = *dst;
	floe_cidr_mask(&net);
	nlh = put_request(buf, type, flags);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)net.family;
	rtm->rtm_dst_len = net.prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, len, net.addr);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return transact(nlh);
}

int floe_netlink_route_add(int ifindex, const floe_cidr_t *dst)
{
	return route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, dst);
}

int floe_netlink_route_set(int ifindex, const floe_cidr_t *dst)
{
	return route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, ifindex, dst);
}

int floe_netlink_route_del(int ifindex, const floe_cidr_t *dst)
{
	return route_request(RTM_DELROUTE, 0, ifindex, dst);
}
