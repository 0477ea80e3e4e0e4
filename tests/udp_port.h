/*
 * Test helper: a UDP port on loopback the kernel just handed out (bound,
 * then closed): free for a server the test starts next, unless something
 * races it for the port; or a port nothing listens on. Static inline, for
 * any test (tests/daemons/turn_*_test.c, tests/ice/agent_test.c).
 */
#ifndef FLOE_TESTS_UDP_PORT_H
#define FLOE_TESTS_UDP_PORT_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

static inline uint16_t floe_test_udp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

#endif
