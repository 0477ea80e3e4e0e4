/*
 * coturn's shared-secret credentials (daemons/common/turn_rest.h): known
 * answers computed with `printf '%s' USER | openssl dgst -sha1 -hmac SECRET
 * -binary | base64`, bad input, and a real coturn started with
 * use-auth-secret + static-auth-secret that accepts a minted credential
 * and refuses an expired or forged one (an ICE agent's TURN allocation).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemons/common/turn_rest.h"
#include "tests/udp_port.h"
#include "transport/ice/agent.h"

#define SECRET "north"

Test(turn_rest, known_answers)
{
	char user[64], pass[FLOE_TURN_REST_PASSWORD_BYTES];
	uint8_t long_secret[100];

	cr_assert_eq(floe_turn_rest_mint((const uint8_t *)SECRET, strlen(SECRET), 1700000000, "alice", user,
					 sizeof(user), pass, sizeof(pass)), 0);
	cr_expect_str_eq(user, "1700000000:alice");
	cr_expect_str_eq(pass, "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
	/* A 100-byte secret (longer than SHA-1's block: hashed first) and an
	 * expiry past 2^32. */
	memset(long_secret, 'k', sizeof(long_secret));
	cr_assert_eq(floe_turn_rest_mint(long_secret, sizeof(long_secret), 4294967296ull, "node-7f", user,
					 sizeof(user), pass, sizeof(pass)), 0);
	cr_expect_str_eq(user, "4294967296:node-7f");
	cr_expect_str_eq(pass, "HWD1mFdnpcME9euqo0Bt+vRx4II=");
}

Test(turn_rest, bad_input)
{
	char user[64] = "x", pass[FLOE_TURN_REST_PASSWORD_BYTES] = "y";
	const uint8_t *s = (const uint8_t *)SECRET;
	uint8_t huge[FLOE_TURN_REST_SECRET_MAX_BYTES + 1] = { 0 };

	cr_expect_eq(floe_turn_rest_mint(NULL, 5, 1, "a", user, sizeof(user), pass, sizeof(pass)), -EINVAL);
	cr_expect_eq(floe_turn_rest_mint(s, 0, 1, "a", user, sizeof(user), pass, sizeof(pass)), -EINVAL);
	cr_expect_eq(floe_turn_rest_mint(huge, sizeof(huge), 1, "a", user, sizeof(user), pass, sizeof(pass)), -EINVAL);
	cr_expect_eq(floe_turn_rest_mint(s, 5, 1, NULL, user, sizeof(user), pass, sizeof(pass)), -EINVAL);
	cr_expect_eq(floe_turn_rest_mint(s, 5, 1, "", user, sizeof(user), pass, sizeof(pass)), -EINVAL);
	cr_expect_eq(floe_turn_rest_mint(s, 5, 1, "a:b", user, sizeof(user), pass, sizeof(pass)), -EINVAL,
		     "a ':' in the id would move coturn's expiry field");
	cr_expect_eq(floe_turn_rest_mint(s, 5, 1, "a", NULL, 8, pass, sizeof(pass)), -EINVAL);
	cr_expect_eq(floe_turn_rest_mint(s, 5, 1700000000, "alice", user, 16, pass, sizeof(pass)), -ENOSPC,
		     "\"1700000000:alice\" needs 17 bytes");
	cr_expect_str_eq(user, "");
	cr_expect_str_eq(pass, "");
	cr_expect_eq(floe_turn_rest_mint(s, 5, 1, "a", user, sizeof(user), pass, FLOE_TURN_REST_PASSWORD_BYTES - 1),
		     -ENOSPC);
}

/* ---- a real coturn -------------------------------------------------------- */

static pid_t turn_pid;
static char turn_log[96];

static bool log_has(const char *needle)
{
	char text[65536];
	size_t n = 0;
	FILE *f = fopen(turn_log, "r");

	if (!f)
		return false;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return strstr(text, needle) != NULL;
}

static uint16_t coturn_start(void)
{
	char port_arg[48], pid_arg[96], db_arg[96], secret_arg[64];
	uint16_t port = floe_test_udp_port();

	snprintf(turn_log, sizeof(turn_log), "/tmp/h16-turnrest-%d.log", (int)getpid());
	snprintf(pid_arg, sizeof(pid_arg), "--pidfile=/tmp/h16-turnrest-%d.pid", (int)getpid());
	snprintf(db_arg, sizeof(db_arg), "--userdb=/tmp/h16-turnrest-%d.db", (int)getpid());
	snprintf(port_arg, sizeof(port_arg), "--listening-port=%u", port);
	snprintf(secret_arg, sizeof(secret_arg), "--static-auth-secret=%s", SECRET);
	turn_pid = fork();
	cr_assert_geq(turn_pid, 0);
	if (turn_pid == 0) {
		int fd = open(turn_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execlp("turnserver", "turnserver", "-n", "--listening-ip=127.0.0.1", port_arg,
		       "--relay-ip=127.0.0.1", "--min-port=49152", "--max-port=65535", "--use-auth-secret",
		       secret_arg, "--realm=floe", "--no-tls", "--no-dtls", "--no-cli",
		       "--allow-loopback-peers", "--log-file=stdout", "--simple-log", "-v", pid_arg, db_arg,
		       (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 150 && !log_has("Total auth threads"); i++) {
		int status;

		if (waitpid(turn_pid, &status, WNOHANG) == turn_pid) {
			turn_pid = 0;
			cr_skip_test("turnserver exited at start (log %s)", turn_log);
		}
		usleep(20000);
	}
	usleep(200000);
	return port;
}

static void coturn_stop(void)
{
	if (turn_pid > 0) {
		kill(turn_pid, SIGTERM);
		waitpid(turn_pid, NULL, 0);
		turn_pid = 0;
	}
	if (turn_log[0])
		unlink(turn_log);
}

typedef struct {
	bool got_relay;
} gather_t;

static void on_candidate(void *user, const char *sdp)
{
	if (strstr(sdp, "typ relay"))
		((gather_t *)user)->got_relay = true;
}

/* Does coturn grant an allocation to this username/password? */
static bool allocates(uint16_t port, const char *user, const char *pass)
{
	floe_ice_turn_server_t turn = { .host = "127.0.0.1", .port = port, .username = user, .password = pass };
	static const char *const lo[] = { "127.0.0.1" };
	floe_ice_config_t cfg = { .role = FLOE_ICE_CONTROLLING, .turn = &turn, .n_turn = 1,
				  .local_addrs = lo, .n_local_addrs = 1 };
	floe_ice_callbacks_t cb = { .on_local_candidate = on_candidate };
	gather_t g = { 0 };
	floe_ice_agent_t *a = floe_ice_agent_new(&cfg, &cb, &g);

	cr_assert_not_null(a);
	cr_assert_eq(floe_ice_agent_gather(a), 0);
	for (int i = 0; i < 150 && !g.got_relay; i++)
		(void)floe_ice_agent_iterate(a, 20);
	floe_ice_agent_destroy(&a);
	return g.got_relay;
}

Test(turn_rest, coturn_accepts_minted_and_refuses_expired_or_forged, .fini = coturn_stop, .timeout = 30)
{
	char user[64], pass[FLOE_TURN_REST_PASSWORD_BYTES];
	uint16_t port = coturn_start();
	uint64_t now = (uint64_t)time(NULL);

	cr_assert_eq(floe_turn_rest_mint((const uint8_t *)SECRET, strlen(SECRET), now + 600, "node-1", user,
					 sizeof(user), pass, sizeof(pass)), 0);
	cr_expect(allocates(port, user, pass), "minted credential refused (log %s)", turn_log);
	cr_assert_eq(floe_turn_rest_mint((const uint8_t *)SECRET, strlen(SECRET), now - 10, "node-1", user,
					 sizeof(user), pass, sizeof(pass)), 0);
	cr_expect_not(allocates(port, user, pass), "an expired credential was accepted");
	cr_assert_eq(floe_turn_rest_mint((const uint8_t *)"south", 5, now + 600, "node-1", user,
					 sizeof(user), pass, sizeof(pass)), 0);
	cr_expect_not(allocates(port, user, pass), "a credential of another secret was accepted");
}
