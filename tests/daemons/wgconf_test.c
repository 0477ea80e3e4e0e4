/*
 * floe-wg's config parser: a good file with several peers, and one case per
 * error asserting that the message names the file, the line and the key.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemons/common/wgconf.h"
#include "transport/net/udp.h"

/* Well-formed keys (any 32 bytes encode to 44 characters). */
#define PRIV "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
#define PUB1 "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define PUB2 "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
#define PUB3 "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA="
#define PSK  "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE="

static floe_wgconf_t *parse(const char *text, char *err)
{
	return floe_wgconf_parse(text, strlen(text), "test.conf", err, FLOE_WGCONF_ERR_MAX);
}

Test(wgconf, good_file_with_several_peers)
{
	static const char text[] =
		"# a comment\n"
		"[Interface]\n"
		"PrivateKey = " PRIV "\n"
		"ListenPort = 51820\n"
		"Address = 10.0.0.1/24, fd00::1/64\n"
		"Address = 10.9.0.1/32\n"
		"MTU = 1420\n"
		"\n"
		"[Peer]\n"
		"PublicKey = " PUB1 "\n"
		"PresharedKey = " PSK "\n"
		"Endpoint = 192.0.2.7:51821\n"
		"AllowedIPs = 10.0.0.2/32, 10.1.0.0/16\n"
		"PersistentKeepalive = 25\n"
		"[peer]\n"
		"publickey = " PUB2 "\n"
		"Endpoint = [2001:db8::2]:4500\n"
		"AllowedIPs = fd00::2/128\n"
		"PersistentKeepalive = off\n"
		"[Peer]\n"
		"PublicKey = " PUB3 "\n";
	char err[FLOE_WGCONF_ERR_MAX];
	char s[FLOE_UDP_ENDPOINT_STR_MAX];
	floe_wgconf_t *c = parse(text, err);

	cr_assert_not_null(c, "%s", err);
	cr_expect_eq(c->flags, FLOE_WGCONF_HAS_PRIVATE_KEY | FLOE_WGCONF_HAS_LISTEN_PORT |
				       FLOE_WGCONF_HAS_MTU);
	cr_expect_eq(c->private_key[0], 0xc8, "decoded, not copied as text");
	cr_expect_eq(c->listen_port, 51820);
	cr_expect_eq(c->mtu, 1420);
	cr_assert_eq(c->n_addresses, 3);
	cr_expect_eq(c->addresses[1].family, AF_INET6);
	cr_expect_eq(c->addresses[1].prefix, 64);
	cr_expect_eq(c->addresses[2].prefix, 32);
	cr_assert_eq(c->n_peers, 3);

	const floe_wgconf_peer_t *p = &c->peers[0];
	cr_expect_eq(p->line, 9);
	cr_expect_eq(p->flags, FLOE_WGCONF_HAS_PUBLIC_KEY | FLOE_WGCONF_HAS_PRESHARED_KEY |
				       FLOE_WGCONF_HAS_ENDPOINT | FLOE_WGCONF_HAS_KEEPALIVE);
	cr_expect_eq(p->public_key[0], 0xc5);
	cr_expect_eq(p->persistent_keepalive_s, 25);
	floe_udp_endpoint_format(&p->endpoint, s, sizeof(s));
	cr_expect_str_eq(s, "192.0.2.7:51821");
	cr_assert_eq(p->n_allowed_ips, 2);
	cr_expect_eq(p->allowed_ips[1].prefix, 16);

	p = &c->peers[1];
	cr_expect_eq(p->line, 15);
	cr_expect_eq(p->flags, FLOE_WGCONF_HAS_PUBLIC_KEY | FLOE_WGCONF_HAS_ENDPOINT);
	cr_expect_eq(p->persistent_keepalive_s, 0);
	floe_udp_endpoint_format(&p->endpoint, s, sizeof(s));
	cr_expect_str_eq(s, "[2001:db8::2]:4500");
	cr_expect_eq(p->n_allowed_ips, 1);

	p = &c->peers[2];
	cr_expect_eq(p->flags, FLOE_WGCONF_HAS_PUBLIC_KEY, "a peer may be just a key");
	cr_expect_eq(p->n_allowed_ips, 0);

	floe_wgconf_destroy(&c);
	cr_expect_null(c);
	floe_wgconf_destroy(&c);
	floe_wgconf_destroy(NULL);
}

struct err_case {
	const char *text;
	const char *want; /* expected message, after "test.conf:" */
};

#define IFACE "[Interface]\nPrivateKey = " PRIV "\n"

Test(wgconf, every_error_names_file_line_and_key)
{
	static const struct err_case cases[] = {
		{ "[Interface]\nPrivateKey = " PRIV "\n[Foo]\nBar = 1\n",
		  "3: unknown section [Foo]" },
		{ IFACE "DNS = 1.1.1.1\n", "3: unknown key 'DNS' in [Interface]" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\nColour = blue\n", "5: unknown key 'Colour' in [Peer]" },
		{ "[Interface]\nListenPort = 1\n", "1: [Interface] has no PrivateKey" },
		{ "# nothing\n", "1: no [Interface] section" },
		{ "[Interface]\nPrivateKey = abc\n", "2: PrivateKey: not a valid key" },
		{ "[Interface]\nPrivateKey = " PRIV "x\n", "2: PrivateKey: not a valid key" },
		{ "[Interface]\nPrivateKey = " "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBm!=" "\n",
		  "2: PrivateKey: not a valid key" },
		{ IFACE "ListenPort = 65536\n", "3: ListenPort: invalid port '65536'" },
		{ IFACE "ListenPort = -1\n", "3: ListenPort: invalid port '-1'" },
		{ IFACE "ListenPort = 80x\n", "3: ListenPort: invalid port '80x'" },
		{ IFACE "MTU = 100\n", "3: MTU: invalid value '100'" },
		{ IFACE "MTU = 70000\n", "3: MTU: invalid value '70000'" },
		{ IFACE "Address = 10.0.0.1/33\n", "3: Address: malformed CIDR '10.0.0.1/33'" },
		{ IFACE "Address = 10.0.0.1/24,,10.0.0.2\n", "3: Address: malformed CIDR ''" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\nAllowedIPs = 10.0.0.0/8, fd00::/200\n",
		  "5: AllowedIPs: malformed CIDR 'fd00::/200'" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 192.0.2.1\n",
		  "5: Endpoint: invalid '192.0.2.1'" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\nEndpoint = 2001:db8::1:51820\n",
		  "5: Endpoint: invalid '2001:db8::1:51820'" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\nEndpoint = [2001:db8::1]:0\n",
		  "5: Endpoint: invalid '[2001:db8::1]:0'" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\n[Peer]\nPublicKey = " PUB1 "\n",
		  "6: PublicKey: duplicate peer (same key as the [Peer] at line 3)" },
		{ IFACE "[Peer]\nAllowedIPs = 10.0.0.0/8\n", "3: [Peer] has no PublicKey" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\nPresharedKey = short\n",
		  "5: PresharedKey: not a valid key" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\nPersistentKeepalive = soon\n",
		  "5: PersistentKeepalive: invalid value 'soon'" },
		{ IFACE "PrivateKey = " PRIV "\n", "3: PrivateKey given twice" },
		{ IFACE "[Interface]\n", "3: [Interface] given twice (first at line 1)" },
		{ "ListenPort = 1\n" IFACE, "1: key 'ListenPort' outside of [Interface] or [Peer]" },
		{ IFACE "this line has no equals sign\n", "3: syntax error" },
		{ IFACE "[Peer]\nPublicKey = " PUB1 "\nPresharedKeyFile = /nonexistent/fwg-psk\n",
		  "5: PresharedKeyFile: cannot read '/nonexistent/fwg-psk'" },
		{ IFACE "Address = 10.0.0.1/24, 10.0.0.2/24, 10.0.0.3/24, 10.0.0.4/24, 10.0.0.5/24, "
			"10.0.0.6/24, 10.0.0.7/24, 10.0.0.8/24, 10.0.0.9/24, 10.0.0.10/24, 10.0.0.11/24, "
			"10.0.0.12/24, 10.0.0.13/24, 10.0.0.14/24, 10.0.0.15/24, 10.0.0.16/24\n",
		  "3: line longer than" },
	};
	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++) {
		char err[FLOE_WGCONF_ERR_MAX], want[FLOE_WGCONF_ERR_MAX];
		floe_wgconf_t *c = parse(cases[i].text, err);

		cr_expect_null(c, "case %zu accepted", i);
		floe_wgconf_destroy(&c);
		snprintf(want, sizeof(want), "test.conf:%s", cases[i].want);
		cr_expect_eq(strncmp(err, want, strlen(want)), 0, "case %zu:\n got: %s\nwant: %s...",
			     i, err, want);
		cr_expect_null(strchr(err, '\n'), "case %zu: one line", i);
	}
}

Test(wgconf, key_files_and_load)
{
	char dir[] = "/tmp/fwg-wgconf-XXXXXX";
	char keyf[64], conf[64], text[512], err[FLOE_WGCONF_ERR_MAX];
	FILE *f;
	floe_wgconf_t *c;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(keyf, sizeof(keyf), "%s/priv", dir);
	snprintf(conf, sizeof(conf), "%s/fwg0.conf", dir);
	f = fopen(keyf, "w");
	fputs(PRIV "\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "[Interface]\nPrivateKeyFile = %s\n[Peer]\nPublicKey = " PUB1
		 "\nPresharedKeyFile = %s\n", keyf, keyf);
	f = fopen(conf, "w");
	fputs(text, f);
	fclose(f);

	c = floe_wgconf_load(conf, err, sizeof(err));
	cr_assert_not_null(c, "%s", err);
	cr_expect_eq(c->private_key[0], 0xc8);
	cr_expect(c->peers[0].flags & FLOE_WGCONF_HAS_PRESHARED_KEY);
	cr_expect_eq(c->peers[0].preshared_key[0], 0xc8);
	floe_wgconf_destroy(&c);

	/* A key file with junk: named with its path. */
	f = fopen(keyf, "w");
	fputs("not a key\n", f);
	fclose(f);
	c = floe_wgconf_load(conf, err, sizeof(err));
	cr_expect_null(c);
	cr_expect_not_null(strstr(err, "fwg0.conf:2: PrivateKeyFile:"), "%s", err);
	cr_expect_not_null(strstr(err, keyf), "%s", err);

	cr_expect_null(floe_wgconf_load("/nonexistent/fwg.conf", err, sizeof(err)));
	cr_expect_not_null(strstr(err, "/nonexistent/fwg.conf: cannot open"), "%s", err);
	unlink(keyf);
	unlink(conf);
	rmdir(dir);
}

Test(wgconf, interface_name_from_path)
{
	char name[32];

	cr_expect_eq(floe_wgconf_ifname_from_path("/etc/wireguard/wg0.conf", name, sizeof(name)), 0);
	cr_expect_str_eq(name, "wg0");
	cr_expect_eq(floe_wgconf_ifname_from_path("fwg-a", name, sizeof(name)), 0);
	cr_expect_str_eq(name, "fwg-a");
	cr_expect_eq(floe_wgconf_ifname_from_path("/x/name-longer-than-15.conf", name, sizeof(name)),
		     -EINVAL);
	cr_expect_eq(floe_wgconf_ifname_from_path("/x/.conf", name, sizeof(name)), -EINVAL);
	cr_expect_eq(floe_wgconf_ifname_from_path("/x/a b.conf", name, sizeof(name)), -EINVAL);
}

Test(wgconf, binary_and_empty_input_is_an_error_not_a_crash)
{
	char err[FLOE_WGCONF_ERR_MAX];
	static const char nul[] = "[Interface]\nPrivate\0Key = x\n";

	cr_expect_null(floe_wgconf_parse(nul, sizeof(nul) - 1, "bin.conf", err, sizeof(err)));
	cr_expect_not_null(strstr(err, "bin.conf:2: NUL byte"), "%s", err);
	cr_expect_null(floe_wgconf_parse(NULL, 0, "empty.conf", err, sizeof(err)));
	cr_expect_not_null(strstr(err, "empty.conf:1: no [Interface]"), "%s", err);
}
