/*
 * Re-issuing minted TURN credentials (daemons/common/turn_refresh.h): the
 * schedule, table-driven; and what a real coturn (use-auth-secret) does
 * with an allocation whose credential expires under it: libnice refreshes
 * it with the credential it was made with (it cannot change them), and
 * coturn accepts, because it checks the expiry when it authenticates the
 * allocation, not on its Refresh. This is why a long-lived relayed
 * connection needs no replacement before its credential expires
 * (docs/nat.md); the test fails if a coturn version starts refusing.
 * (The portal's re-issue itself: tests/daemons/portal_test.c.)
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemons/common/turn_refresh.h"
#include "daemons/common/turn_rest.h"
#include "runtime/log.h"
#include "transport/ice/agent.h"
#include "tests/udp_port.h"

extern char **environ;

#define SECRET "h24-refresh-secret"

/* ---- the schedule ---------------------------------------------------------- */

Test(turn_refresh, delay_is_half_the_ttl_less_a_tenth_of_jitter)
{
	static const struct {
		uint32_t ttl_s, rnd;
		uint64_t want_ms;
	} cases[] = {
		{ 0, 0, 0 },                /* no minted relay: never */
		{ 0, 12345, 0 },
		{ 20, 0, 10000 },           /* TTL/2 */
		{ 20, 2000, 8000 },         /* up to TTL/10 earlier */
		{ 20, 2001, 10000 },        /* rnd mod (TTL/10 + 1 ms) */
		{ 86400, 0, 43200000 },
		{ 86400, 8640000, 34560000 },
		{ FLOE_TURN_REST_TTL_MAX_S, UINT32_MAX, 0 }, /* computed below */
	};

	for (size_t i = 0; i + 1 < FLOE_ARRAY_LEN(cases); i++)
		cr_expect_eq(floe_turn_refresh_delay_ms(cases[i].ttl_s, cases[i].rnd), cases[i].want_ms,
			     "case %zu", i);
	/* Any draw lands in [TTL/2 - TTL/10, TTL/2] and never at or past the expiry. */
	for (uint32_t ttl = FLOE_TURN_REST_TTL_MIN_S; ttl <= FLOE_TURN_REST_TTL_MAX_S; ttl = ttl * 3 + 1) {
		for (int k = 0; k < 64; k++) {
			uint32_t rnd = (uint32_t)rand() * 2654435761u;
			uint64_t d = floe_turn_refresh_delay_ms(ttl, rnd);

			cr_assert_geq(d, (uint64_t)ttl * 1000 / 2 - (uint64_t)ttl * 1000 / 10, "ttl %u rnd %u", ttl, rnd);
			cr_assert_leq(d, (uint64_t)ttl * 1000 / 2, "ttl %u rnd %u", ttl, rnd);
		}
	}
}

Test(turn_refresh, ttl_is_the_shortest_of_the_minted_relays)
{
	floe_portal_config_t cfg;
	floe_signal_relay_t relays[3];

	memset(&cfg, 0, sizeof(cfg));
	memset(relays, 0, sizeof(relays));
	cfg.relays = relays;
	cr_expect_eq(floe_turn_refresh_ttl_s(&cfg), 0, "no relay");
	cfg.n_relays = 3;
	cr_expect_eq(floe_turn_refresh_ttl_s(&cfg), 0, "static users only");
	cfg.relay_secrets[1] = (floe_portal_relay_secret_t){ .enabled = true, .ttl_s = 600 };
	cr_expect_eq(floe_turn_refresh_ttl_s(&cfg), 600);
	cfg.relay_secrets[2] = (floe_portal_relay_secret_t){ .enabled = true, .ttl_s = 60 };
	cr_expect_eq(floe_turn_refresh_ttl_s(&cfg), 60);
	cfg.relay_secrets[0] = (floe_portal_relay_secret_t){ .enabled = false, .ttl_s = 10 };
	cr_expect_eq(floe_turn_refresh_ttl_s(&cfg), 60, "a disabled secret does not count");
}

/* ---- a real coturn ----------------------------------------------------------- */

enum {
	/* coturn's allocation lifetime here; libnice refreshes at half of it. */
	ALLOC_LIFETIME_S = 20,
	CRED_TTL_S = 4,           /* expires long before the first refresh */
	RUN_S = ALLOC_LIFETIME_S / 2 + 5,
};

static pid_t turn_pid;
static uint16_t turn_port;
static char turn_log[64], turn_pidfile[64], turn_db[64];

static size_t log_count(const char *needle)
{
	static char text[1 << 18];
	size_t n, count = 0;
	FILE *f = fopen(turn_log, "r");

	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		count++;
	return count;
}

static void turn_stop(void)
{
	if (turn_pid > 0) {
		kill(turn_pid, SIGTERM);
		waitpid(turn_pid, NULL, 0);
		turn_pid = 0;
	}
	unlink(turn_log);
	unlink(turn_pidfile);
	unlink(turn_db);
}

static void turn_start(void)
{
	char port[32], pidfile[96], db[96], life[64], log_redirect[96];
	posix_spawn_file_actions_t fa;
	char *argv[] = { "turnserver", "-n", "--listening-ip=127.0.0.1", port, "--relay-ip=127.0.0.1",
			 "--min-port=49152", "--max-port=65535", "--use-auth-secret",
			 "--static-auth-secret=" SECRET, "--realm=floe", "--no-tls", "--no-dtls", "--no-cli",
			 life, "--log-file=stdout", "--simple-log", "-v", pidfile, db, NULL };

	snprintf(turn_log, sizeof(turn_log), "/tmp/h24-turnrefresh-%d.log", (int)getpid());
	snprintf(turn_pidfile, sizeof(turn_pidfile), "/tmp/h24-turnrefresh-%d.pid", (int)getpid());
	snprintf(turn_db, sizeof(turn_db), "/tmp/h24-turnrefresh-%d.db", (int)getpid());
	turn_port = floe_test_udp_port();
	snprintf(port, sizeof(port), "--listening-port=%u", turn_port);
	snprintf(pidfile, sizeof(pidfile), "--pidfile=%s", turn_pidfile);
	snprintf(db, sizeof(db), "--userdb=%s", turn_db);
	snprintf(life, sizeof(life), "--max-allocate-lifetime=%d", ALLOC_LIFETIME_S);
	snprintf(log_redirect, sizeof(log_redirect), "%s", turn_log);
	cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
	cr_assert_eq(posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_redirect, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
	cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO), 0);
	if (posix_spawnp(&turn_pid, "turnserver", &fa, NULL, argv, environ) != 0) {
		turn_pid = 0;
		posix_spawn_file_actions_destroy(&fa);
		cr_skip_test("turnserver not installed (scripts/deps)");
	}
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 250 && !log_count("UDP listener opened"); i++) {
		if (waitpid(turn_pid, NULL, WNOHANG) == turn_pid) {
			turn_pid = 0;
			cr_skip_test("turnserver exited at start (log %s)", turn_log);
		}
		usleep(20000);
	}
	usleep(200000);
}

static void on_candidate(void *user, const char *sdp)
{
	if (strstr(sdp, "typ relay"))
		*(bool *)user = true;
}

Test(turn_refresh, coturn_refreshes_an_allocation_whose_credential_expired, .fini = turn_stop, .timeout = 60)
{
	char user[64], pass[FLOE_TURN_REST_PASSWORD_BYTES];
	uint64_t expiry;
	floe_ice_turn_server_t turn = { .host = "127.0.0.1", .username = user, .password = pass };
	static const char *const lo[] = { "127.0.0.1" };
	floe_ice_config_t cfg = { .role = FLOE_ICE_CONTROLLING, .turn = &turn, .n_turn = 1,
				  .local_addrs = lo, .n_local_addrs = 1,
				  .failure_timeout_ms = FLOE_ICE_FAILURE_TIMEOUT_MAX_MS };
	bool relay = false;
	floe_ice_callbacks_t cb = { .on_local_candidate = on_candidate };
	floe_ice_agent_t *a;
	time_t end;

	floe_log_init();
	turn_start();
	turn.port = turn_port;
	expiry = (uint64_t)time(NULL) + CRED_TTL_S;
	cr_assert_eq(floe_turn_rest_mint((const uint8_t *)SECRET, strlen(SECRET), expiry, "node-1", user,
					 sizeof(user), pass, sizeof(pass)), 0);
	a = floe_ice_agent_new(&cfg, &cb, &relay);
	cr_assert_not_null(a);
	cr_assert_eq(floe_ice_agent_gather(a), 0);
	end = time(NULL) + RUN_S;
	while (time(NULL) < end)
		(void)floe_ice_agent_iterate(a, 100);
	cr_expect(relay, "no allocation for a fresh credential (log %s)", turn_log);
	cr_expect_gt((uint64_t)time(NULL), expiry + ALLOC_LIFETIME_S / 2 - CRED_TTL_S,
		     "the refresh window did not pass the expiry");
	/* Allocated before the expiry, refreshed after it (libnice: at half
	 * the lifetime), and nothing refused. */
	cr_expect_eq(log_count("incoming packet ALLOCATE processed, success"), 1, "log %s", turn_log);
	cr_expect_geq(log_count("incoming packet REFRESH processed, success"), 1,
		      "coturn refused a Refresh after the credential expired (log %s)", turn_log);
	cr_expect_eq(log_count("REFRESH processed, error"), 0, "log %s", turn_log);
	floe_ice_agent_destroy(&a);
	sodium_memzero(pass, sizeof(pass));
}
