/*
 * nodeconf: good client and gateway files map onto floe_node_config_t; each
 * kind of bad file is one "FILE:LINE: message" naming the key.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemons/common/nodeconf.h"

#define KEY_A "YEocP0e2o1WT5GlvBvQzVF7EeR6z9aCk7ANT2rGEpzI="
#define KEY_B "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

static char err[FLOE_NODECONF_ERR_MAX];

static floe_nodeconf_t *parse(const char *text, floe_role_t role)
{
	return floe_nodeconf_parse(text, strlen(text), "t.conf", role, err, sizeof(err));
}

static void expect_error(const char *text, floe_role_t role, const char *want)
{
	floe_nodeconf_t *c = parse(text, role);

	cr_assert_null(c, "accepted: %s", text);
	cr_assert(strstr(err, want), "error '%s' lacks '%s'", err, want);
	cr_assert(!strchr(err, '\n'), "error spans lines: %s", err);
}

#define BASE "[Interface]\nPrivateKey = " KEY_A "\n[Portal]\nEndpoint = tcp://203.0.113.1:7400\nPublicKey = " KEY_B "\n"

Test(nodeconf, client_minimal_defaults)
{
	floe_nodeconf_t *c = parse(BASE, FLOE_ROLE_CLIENT);

	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->node.role, FLOE_ROLE_CLIENT);
	cr_assert_eq(c->node.device, FLOE_NODE_DEVICE_TUN);
	cr_assert_str_eq(c->node.tun_name, FLOE_NODECONF_CLIENT_IFNAME);
	cr_assert_str_eq(c->node.portal_endpoint, "tcp://203.0.113.1:7400");
	cr_assert_eq(c->node.private_key[0], 0x60); /* base64 'YEoc' */
	cr_assert_eq(c->node.n_turn, 0);
	cr_assert_null(c->node.stun_host);
	cr_assert_eq(c->control_socket[0], '\0');
	cr_assert(!c->has_metrics);
	floe_nodeconf_destroy(&c);
	cr_assert_null(c);
	floe_nodeconf_destroy(&c);
	floe_nodeconf_destroy(NULL);
}

Test(nodeconf, gateway_full)
{
	char dir[] = "/tmp/dmn-nodeconf-XXXXXX", kpath[64], ppath[64];
	char text[2048];
	FILE *f;
	floe_nodeconf_t *c;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(kpath, sizeof(kpath), "%s/key", dir);
	snprintf(ppath, sizeof(ppath), "%s/pass", dir);
	f = fopen(kpath, "w");
	fprintf(f, "%s\n", KEY_B);
	fclose(f);
	f = fopen(ppath, "w");
	fprintf(f, "s3cret\n");
	fclose(f);
	snprintf(text, sizeof(text),
		 "; a gateway\n[interface]\nprivatekeyfile = %s\nName = gw7\nMTU = 1380\n"
		 "Address = 100.64.255.1/32\nRoute = 100.64.0.0/10\nRoute = fd00::/64\n"
		 "[Portal]\nEndpoint = tcp://[2001:db8::1]:7400\nPublicKey = " KEY_A "\n"
		 "[ICE]\nSTUN = 203.0.113.1:3478\nTURN = 203.0.113.1:3479\nTURNUser = u\n"
		 "TURNPasswordFile = %s\nLocalAddress = 127.0.0.1\nFailureTimeout = 4000\n"
		 "[Control]\nSocket = /tmp/x.sock\n[Metrics]\nListen = 127.0.0.1:9100\n",
		 kpath, ppath);
	c = parse(text, FLOE_ROLE_GATEWAY);
	unlink(kpath);
	unlink(ppath);
	rmdir(dir);
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->node.private_key[0], 0x1c); /* base64 'HIgo' */
	cr_assert_str_eq(c->node.tun_name, "gw7");
	cr_assert_eq(c->node.mtu, 1380);
	cr_assert_eq(c->node.n_tun_addresses, 1);
	cr_assert_str_eq(c->node.tun_addresses[0], "100.64.255.1/32");
	cr_assert_eq(c->node.n_tun_routes, 2);
	cr_assert_str_eq(c->node.tun_routes[1], "fd00::/64");
	cr_assert_str_eq(c->node.stun_host, "203.0.113.1");
	cr_assert_eq(c->node.stun_port, 3478);
	cr_assert_eq(c->node.n_turn, 1);
	cr_assert_str_eq(c->node.turn[0].host, "203.0.113.1");
	cr_assert_eq(c->node.turn[0].port, 3479);
	cr_assert_str_eq(c->node.turn[0].username, "u");
	cr_assert_str_eq(c->node.turn[0].password, "s3cret");
	cr_assert_eq(c->node.n_local_addrs, 1);
	cr_assert_str_eq(c->node.local_addrs[0], "127.0.0.1");
	cr_assert_eq(c->node.ice_failure_timeout_ms, 4000);
	cr_assert_str_eq(c->control_socket, "/tmp/x.sock");
	cr_assert(c->has_metrics);
	cr_assert_str_eq(c->metrics_host, "127.0.0.1");
	cr_assert_eq(c->metrics_port, 9100);
	floe_nodeconf_destroy(&c);
}

Test(nodeconf, missing_file)
{
	floe_nodeconf_t *c = floe_nodeconf_load("/nonexistent/dmn.conf", FLOE_ROLE_CLIENT, err, sizeof(err));

	cr_assert_null(c);
	cr_assert(strstr(err, "/nonexistent/dmn.conf:0: cannot open: No such file"), "%s", err);
}

Test(nodeconf, unknown_section_and_key)
{
	expect_error(BASE "[Peer]\n", FLOE_ROLE_CLIENT, "t.conf:6: unknown section [Peer]");
	expect_error(BASE "ListenPort = 1\n", FLOE_ROLE_CLIENT, "t.conf:6: unknown key 'ListenPort' in [Portal]");
	expect_error("Name = x\n", FLOE_ROLE_CLIENT, "t.conf:1: key 'Name' outside a section");
}

Test(nodeconf, bad_key)
{
	expect_error("[Interface]\nPrivateKey = YEocP0e2o1WT5GlvBvQzVF7EeR6z9aCk7ANT2rGE\n", FLOE_ROLE_CLIENT,
		     "t.conf:2: PrivateKey: not a valid key (expected 44 characters of base64, got 40)");
	expect_error("[Portal]\nPublicKey = !!!!P0e2o1WT5GlvBvQzVF7EeR6z9aCk7ANT2rGEpzI=\n", FLOE_ROLE_CLIENT,
		     "t.conf:2: PublicKey: not a valid key");
	expect_error("[Interface]\nPrivateKeyFile = /nonexistent/k\n", FLOE_ROLE_CLIENT,
		     "t.conf:2: PrivateKeyFile: cannot read '/nonexistent/k'");
}

Test(nodeconf, malformed_cidr)
{
	expect_error(BASE "[Interface]\n", FLOE_ROLE_GATEWAY, "[Interface] given twice (first at line 1)");
	expect_error("[Interface]\nRoute = 100.64.0.0/33\n", FLOE_ROLE_GATEWAY,
		     "t.conf:2: Route: malformed CIDR '100.64.0.0/33'");
	expect_error("[Interface]\nAddress = 100.64.0.1/abc\n", FLOE_ROLE_GATEWAY,
		     "t.conf:2: Address: malformed CIDR '100.64.0.1/abc'");
}

Test(nodeconf, bad_endpoint_and_port)
{
	expect_error("[Portal]\nEndpoint = 203.0.113.1:7400\n", FLOE_ROLE_CLIENT,
		     "t.conf:2: Endpoint: bad endpoint '203.0.113.1:7400' (expected tcp://HOST:PORT)");
	expect_error("[Portal]\nEndpoint = tcp://203.0.113.1\n", FLOE_ROLE_CLIENT, "Endpoint: bad endpoint");
	expect_error("[ICE]\nSTUN = stun.example.net:3478\n", FLOE_ROLE_CLIENT, "is not an IP address");
	expect_error("[ICE]\nTURN = 203.0.113.1:70000\n", FLOE_ROLE_CLIENT, "t.conf:2: TURN: bad port '70000'");
	expect_error("[Portal]\nEndpoint = tcp://h:0\n", FLOE_ROLE_CLIENT, "Endpoint: bad port '0'");
}

Test(nodeconf, bad_values)
{
	expect_error("[Interface]\nMTU = 100\n", FLOE_ROLE_CLIENT, "t.conf:2: MTU: '100' is not a number in 576-65535");
	expect_error("[Interface]\nName = much-too-long-name0\n", FLOE_ROLE_CLIENT, "Name: 'much-too-long-name0'");
	expect_error("[Interface]\nMTU = 1400\nMTU = 1400\n", FLOE_ROLE_CLIENT, "t.conf:3: MTU given twice");
	expect_error("[Interface]\nPrivateKey\n", FLOE_ROLE_CLIENT, "t.conf:2: syntax error");
}

Test(nodeconf, metrics_on_client)
{
	expect_error(BASE "[Metrics]\nListen = 127.0.0.1:9100\n", FLOE_ROLE_CLIENT,
		     "t.conf:6: [Metrics] is for floe-gateway only");
}

Test(nodeconf, required_keys)
{
	expect_error("[Portal]\nEndpoint = tcp://h:1\nPublicKey = " KEY_B "\n", FLOE_ROLE_CLIENT,
		     "PrivateKey or PrivateKeyFile is required");
	expect_error("[Interface]\nPrivateKey = " KEY_A "\n", FLOE_ROLE_CLIENT, "[Portal] Endpoint is required");
	expect_error(BASE "[ICE]\nTURNUser = u\n", FLOE_ROLE_CLIENT, "TURN, TURNUser and TURNPassword go together");
}

/* [Gateway] Workers: default 1 (one process, as before), 1-64, gateway only. */
Test(nodeconf, gateway_workers)
{
	floe_nodeconf_t *c = parse(BASE, FLOE_ROLE_GATEWAY);

	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->workers, 1);
	floe_nodeconf_destroy(&c);
	c = parse(BASE "[Gateway]\nWorkers = 3\n", FLOE_ROLE_GATEWAY);
	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->workers, 3);
	floe_nodeconf_destroy(&c);
	expect_error(BASE "[Gateway]\nWorkers = 0\n", FLOE_ROLE_GATEWAY, "t.conf:7: Workers: '0' is not a number in 1-64");
	expect_error(BASE "[Gateway]\nWorkers = -2\n", FLOE_ROLE_GATEWAY, "t.conf:7: Workers: '-2' is not a number");
	expect_error(BASE "[Gateway]\nWorkers = 65\n", FLOE_ROLE_GATEWAY, "t.conf:7: Workers: '65'");
	expect_error(BASE "[Gateway]\nWorkers = 99999999999\n", FLOE_ROLE_GATEWAY, "t.conf:7: Workers:");
	expect_error(BASE "[Gateway]\nWorkers = three\n", FLOE_ROLE_GATEWAY, "t.conf:7: Workers: 'three'");
	expect_error(BASE "[Gateway]\nWorkers = 2\nWorkers = 2\n", FLOE_ROLE_GATEWAY, "t.conf:8: Workers given twice");
	expect_error(BASE "[Gateway]\nThreads = 2\n", FLOE_ROLE_GATEWAY, "t.conf:7: unknown key 'Threads' in [Gateway]");
	expect_error(BASE "[Gateway]\nWorkers = 2\n", FLOE_ROLE_CLIENT, "t.conf:6: [Gateway] is for floe-gateway only");
}
