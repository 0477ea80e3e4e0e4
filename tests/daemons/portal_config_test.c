/* The portal's INI: a full file loads into the expected object; every kind
 * of mistake is reported as FILE:LINE naming the key. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemons/common/portal_config.h"

static char dir[64];
static char k_portal[45], k_gw[45], k_alice[45], k_bob[45];

static void b64_of_new_key(char out[45])
{
	uint8_t k[32];

	randombytes_buf(k, sizeof(k));
	sodium_bin2base64(out, 45, k, 32, sodium_base64_VARIANT_ORIGINAL);
}

static void setup(void)
{
	cr_assert_geq(sodium_init(), 0);
	snprintf(dir, sizeof(dir), "/tmp/sig-portalcfg-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	b64_of_new_key(k_portal);
	b64_of_new_key(k_gw);
	b64_of_new_key(k_alice);
	b64_of_new_key(k_bob);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

/* A valid file; %s are the keys. Line numbers matter to the cases below. */
static const char good_fmt[] =
	"# floe portal\n"                          /* 1 */
	"[Portal]\n"                               /* 2 */
	"ListenAddress = tcp://127.0.0.1:7878\n"   /* 3 */
	"PrivateKeyFile = portal.key\n"            /* 4 */
	"\n"                                       /* 5 */
	"[Relay turn1]\n"                          /* 6 */
	"Host = turn.example.net\n"                /* 7 */
	"Port = 3478\n"                            /* 8 */
	"Username = floe\n"                        /* 9 */
	"PasswordFile = turn.pass\n"               /* 10 */
	"\n"                                       /* 11 */
	"[Resource web]\n"                         /* 12 */
	"CIDR = 10.1.0.0/16\n"                     /* 13 */
	"Protocol = tcp\n"                         /* 14 */
	"Ports = 80,443,8000-8100\n"               /* 15 */
	"[Resource db]\n"                          /* 16 */
	"CIDR = fd10::/64\n"                       /* 17 */
	"\n"                                       /* 18 */
	"[Gateway gw1]\n"                          /* 19 */
	"PublicKey = %s\n"                         /* 20 */
	"Resources = web, db\n"                    /* 21 */
	"\n"                                       /* 22 */
	"[Client alice]\n"                         /* 23 */
	"PublicKey = %s\n"                         /* 24 */
	"TunnelIPv4 = 100.64.0.2\n"                /* 25 */
	"TunnelIPv6 = fd00::2\n"                   /* 26 */
	"[Client bob]\n"                           /* 27 */
	"PublicKey = %s\n"                         /* 28 */
	"TunnelIPv4 = 100.64.0.3\n"                /* 29 */
	"\n"                                       /* 30 */
	"[Grant alice-web]\n"                      /* 31 */
	"Client = alice\n"                         /* 32 */
	"Resource = web\n"                         /* 33 */
	"Expires = 2030-01-01T00:00:00Z\n"         /* 34 */
	"[Grant bob-db]\n"                         /* 35 */
	"Client = bob\n"                           /* 36 */
	"Resource = db\n";                         /* 37 */

static void write_secrets(void)
{
	char path[128], line[64];

	snprintf(line, sizeof(line), "%s\n", k_portal);
	write_file("portal.key", line, path, sizeof(path));
	write_file("turn.pass", "s3cret\n", path, sizeof(path));
}

TestSuite(portal_config, .init = setup, .fini = teardown);

Test(portal_config, full_file_loads)
{
	char text[4096], path[128], err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;
	uint8_t priv[32], pub[32];
	size_t len;

	write_secrets();
	snprintf(text, sizeof(text), good_fmt, k_gw, k_alice, k_bob);
	write_file("portal.conf", text, path, sizeof(path));
	cr_assert_eq(floe_portal_config_load(path, &cfg, err), 0, "%s", err);
	cr_assert_str_eq(cfg->listen, "tcp://127.0.0.1:7878");
	cr_assert_eq(sodium_base642bin(priv, 32, k_portal, 44, NULL, &len, NULL,
				       sodium_base64_VARIANT_ORIGINAL), 0);
	cr_assert_eq(memcmp(cfg->private_key, priv, 32), 0);
	crypto_scalarmult_base(pub, priv);
	cr_assert_eq(memcmp(cfg->public_key, pub, 32), 0);
	cr_assert_eq(cfg->n_relays, 1);
	cr_assert_str_eq(cfg->relays[0].host, "turn.example.net");
	cr_assert_eq(cfg->relays[0].port, 3478);
	cr_assert_str_eq(cfg->relays[0].password, "s3cret");
	cr_assert_eq(cfg->n_resources, 2);
	cr_assert_str_eq(cfg->resources[0].res.ports, "80,443,8000-8100");
	cr_assert_str_eq(cfg->resources[1].res.cidr, "fd10::/64");
	cr_assert_eq(cfg->n_gateways, 1);
	cr_assert_eq(cfg->gateways[0].n_resources, 2);
	cr_assert_eq(cfg->gateways[0].resources[1], 1);
	cr_assert_str_eq(cfg->gateways[0].public_key_b64, k_gw);
	cr_assert_eq(cfg->n_clients, 2);
	cr_assert_str_eq(cfg->clients[1].name, "bob");
	cr_assert_str_eq(cfg->clients[0].tunnel_ipv6, "fd00::2");
	cr_assert_eq(cfg->n_grants, 2);
	cr_assert(cfg->grants[0].has_expiry);
	cr_assert_eq(cfg->grants[0].expires_s, 1893456000);
	cr_assert_not(cfg->grants[1].has_expiry);
	cr_assert_eq(cfg->grants[1].client, 1);
	cr_assert_eq(cfg->grants[1].resource, 1);
	cr_assert_eq(floe_portal_config_find_client(cfg, k_bob), 1);
	cr_assert_eq(floe_portal_config_find_gateway(cfg, k_gw), 0);
	cr_assert_eq(floe_portal_config_find_client(cfg, k_gw), -1);
	floe_portal_config_destroy(&cfg);
	cr_assert_null(cfg);
	floe_portal_config_destroy(&cfg);
}

struct bad_case {
	int line;           /* of the good file */
	const char *with;   /* replaces that line ("" deletes its content) */
	int want_line;
	const char *want;   /* substring of the message */
};

static const struct bad_case bad_cases[] = {
	{ 3, "ListenAddress = udp://x", 3, "[Portal] ListenAddress" },
	{ 4, "PrivateKeyFile = missing.key", 4, "[Portal] PrivateKeyFile: cannot read" },
	{ 4, "PrivateKey = nope", 4, "[Portal] PrivateKey: not a base64" },
	{ 4, "", 37, "missing PrivateKey" },
	{ 8, "Port = 70000", 8, "[Relay turn1] Port" },
	{ 8, "Port = 3478x", 8, "[Relay turn1] Port" },
	{ 7, "", 6, "[Relay turn1]: needs Host and Port" },
	{ 10, "PasswordFile = none", 10, "[Relay turn1] PasswordFile" },
	{ 10, "Secret = north", 6, "Secret mints Username and Password" },
	{ 9, "TTL = 600", 6, "[Relay turn1]: TTL needs Secret" },
	{ 9, "TTL = 5", 9, "[Relay turn1] TTL: expected 10.." },
	{ 10, "SecretFile = none", 10, "[Relay turn1] SecretFile: cannot read" },
	{ 13, "CIDR = 10.1.2.0/16", 13, "[Resource web] CIDR" },
	{ 13, "", 12, "[Resource web]: missing CIDR" },
	{ 14, "Protocol = sctp", 14, "[Resource web] Protocol" },
	{ 14, "", 12, "Ports needs Protocol" },
	{ 15, "Ports = 80,,443", 15, "[Resource web] Ports" },
	{ 15, "Ports = 0-10", 15, "[Resource web] Ports" },
	{ 16, "[Resource web]", 16, "duplicate section" },
	{ 16, "[Resourc db]", 16, "unknown section kind" },
	{ 16, "[Resource d b]", 16, "name must be" },
	{ 16, "[Resource]", 16, "unknown section" },
	{ 17, "CIDR = fd10::/64\nCIDR = fd11::/64", 18, "[Resource db] CIDR: duplicate key" },
	{ 20, "PublicKey = abc", 20, "[Gateway gw1] PublicKey: not a base64" },
	{ 20, "", 19, "[Gateway gw1]: missing PublicKey" },
	{ 21, "Resources = web, nope", 21, "unknown resource 'nope'" },
	{ 21, "Colour = blue", 21, "[Gateway gw1] Colour: unknown key" },
	{ 25, "TunnelIPv4 = 100.64.0.300", 25, "[Client alice] TunnelIPv4" },
	{ 26, "TunnelIPv6 = 100.64.0.2", 26, "[Client alice] TunnelIPv6" },
	{ 29, "TunnelIPv4 = 100.64.0.2", 29, "is also alice's" },
	{ 29, "", 27, "[Client bob]: missing TunnelIPv4" },
	{ 32, "Client = carol", 32, "[Grant alice-web] Client: unknown client 'carol'" },
	{ 33, "Resource = ftp", 33, "unknown resource 'ftp'" },
	{ 34, "Expires = next year", 34, "[Grant alice-web] Expires" },
	{ 36, "", 35, "[Grant bob-db]: needs Client and Resource" },
	{ 30, "this is not ini", 30, "syntax error" },
	{ 1, "Stray = 1", 1, "outside any section" },
};

/* Rebuilds the good file with one line replaced. */
static void build_variant(const struct bad_case *c, char *out, size_t cap)
{
	char good[4096];
	char *save = NULL, *line;
	size_t n = 0;
	int no = 0;

	snprintf(good, sizeof(good), good_fmt, k_gw, k_alice, k_bob);
	out[0] = '\0';
	/* strtok would merge empty lines; walk them by hand */
	line = good;
	while (line && *line) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		no++;
		n += (size_t)snprintf(out + n, cap - n, "%s\n", no == c->line ? c->with : line);
		line = nl ? nl + 1 : NULL;
	}
	(void)save;
}

Test(portal_config, every_error_names_file_line_and_key)
{
	char text[4096], path[128], err[FLOE_PORTAL_CONFIG_ERR_BYTES], prefix[160];

	write_secrets();
	for (size_t i = 0; i < FLOE_ARRAY_LEN(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		floe_portal_config_t *cfg = (floe_portal_config_t *)&cfg;

		build_variant(c, text, sizeof(text));
		write_file("bad.conf", text, path, sizeof(path));
		cr_assert_lt(floe_portal_config_load(path, &cfg, err), 0, "case %zu loaded", i);
		cr_assert_null(cfg);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, c->want_line);
		cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "case %zu: want %s..., got %s", i,
			     prefix, err);
		cr_assert_not_null(strstr(err, c->want), "case %zu: want '%s' in %s", i, c->want, err);
	}
}

Test(portal_config, missing_file_and_duplicate_keys_across_nodes)
{
	char text[4096], path[128], err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;

	cr_assert_eq(floe_portal_config_load("/nonexistent/sig.conf", &cfg, err), -ENOENT);
	cr_assert_eq(strncmp(err, "/nonexistent/sig.conf:0: ", 25), 0, "%s", err);
	write_secrets();
	/* bob reuses the gateway's key: one key must name one node */
	snprintf(text, sizeof(text), good_fmt, k_gw, k_alice, k_gw);
	write_file("dup.conf", text, path, sizeof(path));
	cr_assert_lt(floe_portal_config_load(path, &cfg, err), 0);
	cr_assert_not_null(strstr(err, ":28: [Client bob] PublicKey: also gateway gw1's"), "%s", err);
}

/* Issue #6: a relay with coturn's shared secret (inline or from a file)
 * and a TTL; the portal mints credentials from it (turn_rest.h). */
Test(portal_config, relay_secret_and_ttl)
{
	char text[8192], good[4096], path[128], err[FLOE_PORTAL_CONFIG_ERR_BYTES];
	floe_portal_config_t *cfg = NULL;

	write_secrets();
	write_file("turn.secret", "south-secret\n", path, sizeof(path));
	snprintf(good, sizeof(good), good_fmt, k_gw, k_alice, k_bob);
	snprintf(text, sizeof(text), "%s[Relay turn2]\nHost = 192.0.2.7\nPort = 3478\nTTL = 600\n"
		 "Secret = north\n[Relay turn3]\nHost = 192.0.2.8\nPort = 3479\nSecretFile = turn.secret\n",
		 good);
	write_file("secret.conf", text, path, sizeof(path));
	cr_assert_eq(floe_portal_config_load(path, &cfg, err), 0, "%s", err);
	cr_assert_eq(cfg->n_relays, 3);
	cr_expect_not(cfg->relay_secrets[0].enabled, "turn1 keeps its static user");
	cr_expect_str_eq(cfg->relays[0].username, "floe");
	cr_assert(cfg->relay_secrets[1].enabled);
	cr_expect_eq(cfg->relay_secrets[1].secret_len, 5);
	cr_expect_arr_eq(cfg->relay_secrets[1].secret, "north", 5);
	cr_expect_eq(cfg->relay_secrets[1].ttl_s, 600, "TTL before Secret is kept");
	cr_assert(cfg->relay_secrets[2].enabled);
	cr_expect_eq(cfg->relay_secrets[2].secret_len, strlen("south-secret"));
	cr_expect_arr_eq(cfg->relay_secrets[2].secret, "south-secret", strlen("south-secret"));
	cr_expect_eq(cfg->relay_secrets[2].ttl_s, FLOE_TURN_REST_TTL_DEFAULT_S);
	floe_portal_config_destroy(&cfg);
	cr_expect_null(cfg);

	/* Both forms at once are refused. */
	snprintf(text, sizeof(text), "%s[Relay turn2]\nHost = 192.0.2.7\nPort = 3478\nSecret = a\n"
		 "SecretFile = turn.secret\n", good);
	write_file("secret2.conf", text, path, sizeof(path));
	cr_expect_lt(floe_portal_config_load(path, &cfg, err), 0);
	cr_expect(strstr(err, "Secret and SecretFile are exclusive"), "%s", err);
}
