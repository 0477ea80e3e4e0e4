/*
 * ICE agent: two agents on loopback driven from one thread through the
 * poll API, trickling candidates to each other in memory; failures by
 * timeout; malformed remote input; destroy from inside callbacks; fds per
 * agent; a relayed pair through a real coturn on loopback.
 */
#include <criterion/criterion.h>
#include <dirent.h>
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

#include "transport/ice/agent.h"
#include "tests/udp_port.h"

enum {
	CONNECT_BOUND_MS = 3000,  /* loopback selects in ~50 ms; generous bound */
	FAIL_TIMEOUT_MS = 1500,
	MAX_RX = 64,
	MAX_PKT_BYTES = 1500,
	BATCH_N = 32,
};

typedef struct peer peer_t;
struct peer {
	floe_ice_agent_t *agent;
	peer_t *other;
	bool forward;            /* trickle local candidates to other */
	int n_local_cands;
	bool gathering_done;
	int n_selected;
	floe_ice_path_t path;
	int n_failed;
	char reason[64];
	int64_t failed_at_ms;
	bool destroy_on_candidate;
	bool destroy_on_selected;
	int callbacks_after_destroy;
	bool destroyed;
	int n_rx;
	size_t rx_len[MAX_RX];
	uint8_t rx[MAX_RX][MAX_PKT_BYTES];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note_callback(peer_t *p)
{
	if (p->destroyed)
		p->callbacks_after_destroy++;
}

static void on_cand(void *user, const char *line)
{
	peer_t *p = user;

	note_callback(p);
	p->n_local_cands++;
	cr_assert(strncmp(line, "a=candidate:", 12) == 0, "candidate line: %s", line);
	if (p->destroy_on_candidate) {
		floe_ice_agent_destroy(&p->agent);
		cr_assert_null(p->agent);
		p->destroyed = true;
		return;
	}
	if (p->forward && p->other && p->other->agent)
		cr_assert_eq(floe_ice_agent_add_remote_candidate(p->other->agent, line), 0);
}

static void on_done(void *user)
{
	peer_t *p = user;

	note_callback(p);
	p->gathering_done = true;
}

static void on_selected(void *user, const floe_ice_path_t *path)
{
	peer_t *p = user;

	note_callback(p);
	p->n_selected++;
	p->path = *path;
	if (p->destroy_on_selected) {
		floe_ice_agent_destroy(&p->agent);
		p->destroyed = true;
	}
}

static void on_failed(void *user, const char *reason)
{
	peer_t *p = user;

	note_callback(p);
	p->n_failed++;
	p->failed_at_ms = now_ms();
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
}

static void on_recv(void *user, const uint8_t *buf, size_t len)
{
	peer_t *p = user;

	note_callback(p);
	cr_assert_leq(len, (size_t)MAX_PKT_BYTES);
	if (p->n_rx < MAX_RX) {
		memcpy(p->rx[p->n_rx], buf, len);
		p->rx_len[p->n_rx] = len;
	}
	p->n_rx++;
}

static const floe_ice_callbacks_t callbacks = {
	.on_local_candidate = on_cand,
	.on_gathering_done = on_done,
	.on_selected = on_selected,
	.on_failed = on_failed,
	.on_recv = on_recv,
};

static const char *const loopback[] = { "127.0.0.1" };

static floe_ice_config_t base_config(floe_ice_role_t role)
{
	return (floe_ice_config_t){
		.role = role,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.failure_timeout_ms = FAIL_TIMEOUT_MS,
	};
}

static void new_peer(peer_t *p, const floe_ice_config_t *cfg)
{
	p->agent = floe_ice_agent_new(cfg, &callbacks, p);
	cr_assert_not_null(p->agent);
}

/*
 * Drives every live agent through one poll(2), the way a connection actor
 * would drive its own, until done(ctx) or max_ms.
 */
static bool pump(peer_t **peers, int n, int max_ms, bool (*done)(void *), void *ctx)
{
	int64_t end = now_ms() + max_ms;

	while (!done(ctx)) {
		struct pollfd fds[4][FLOE_ICE_POLL_MAX_FDS];
		int nfds[4] = { 0 };
		int64_t left = end - now_ms();
		int timeout, i;

		if (left <= 0)
			return false;
		timeout = (int)(left < 50 ? left : 50);
		for (i = 0; i < n; i++) {
			if (!peers[i]->agent)
				continue;
			nfds[i] = floe_ice_agent_poll_prepare(peers[i]->agent, fds[i],
							      FLOE_ICE_POLL_MAX_FDS, &timeout);
			cr_assert_geq(nfds[i], 0);
		}
		/* poll each agent's fds; a merged array would work equally. */
		{
			struct pollfd all[4 * FLOE_ICE_POLL_MAX_FDS];
			int k = 0, j;

			for (i = 0; i < n; i++)
				for (j = 0; j < nfds[i]; j++)
					all[k++] = fds[i][j];
			cr_assert_geq(poll(all, (nfds_t)k, timeout), 0);
			k = 0;
			for (i = 0; i < n; i++)
				for (j = 0; j < nfds[i]; j++)
					fds[i][j] = all[k++];
		}
		for (i = 0; i < n; i++)
			if (peers[i]->agent)
				floe_ice_agent_poll_dispatch(peers[i]->agent, fds[i], nfds[i]);
	}
	return true;
}

static bool both_selected(void *ctx)
{
	peer_t **pp = ctx;

	return pp[0]->n_selected > 0 && pp[1]->n_selected > 0;
}

static void exchange_credentials(peer_t *a, peer_t *b)
{
	char ufrag[FLOE_ICE_CRED_MAX_BYTES + 1], pwd[FLOE_ICE_CRED_MAX_BYTES + 1];

	cr_assert_eq(floe_ice_agent_local_credentials(a->agent, ufrag, pwd), 0);
	cr_assert_eq(floe_ice_agent_set_remote_credentials(b->agent, ufrag, pwd), 0);
	cr_assert_eq(floe_ice_agent_local_credentials(b->agent, ufrag, pwd), 0);
	cr_assert_eq(floe_ice_agent_set_remote_credentials(a->agent, ufrag, pwd), 0);
}

static peer_t A, B;

static void reset(void)
{
	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	A.other = &B;
	B.other = &A;
	A.forward = B.forward = true;
}

static void teardown(void)
{
	floe_ice_agent_destroy(&A.agent);
	floe_ice_agent_destroy(&B.agent);
}

TestSuite(ice_agent, .init = reset, .fini = teardown, .timeout = 20);

static void connect_pair_with(bool creds_first, floe_ice_keepalive_t keepalive)
{
	floe_ice_config_t ca = base_config(FLOE_ICE_CONTROLLING);
	floe_ice_config_t cb = base_config(FLOE_ICE_CONTROLLED);
	peer_t *pp[2] = { &A, &B };
	int64_t t0;

	ca.keepalive = cb.keepalive = keepalive;
	new_peer(&A, &ca);
	new_peer(&B, &cb);
	t0 = now_ms();
	if (creds_first)
		exchange_credentials(&A, &B);
	/* Host candidates are trickled from inside gather, to the other side,
	 * which holds them until it has credentials and has gathered. */
	cr_assert_eq(floe_ice_agent_gather(A.agent), 0);
	cr_assert_eq(floe_ice_agent_gather(B.agent), 0);
	cr_assert_eq(floe_ice_agent_gather(A.agent), -EALREADY);
	if (!creds_first)
		exchange_credentials(&A, &B);
	cr_assert(pump(pp, 2, CONNECT_BOUND_MS, both_selected, pp),
		  "no selected pair within %d ms", CONNECT_BOUND_MS);
	cr_log_info("selected after %lld ms", (long long)(now_ms() - t0));
	cr_assert_geq(A.n_local_cands, 1);
	cr_assert_geq(B.n_local_cands, 1);
}

static void connect_pair(bool creds_first)
{
	connect_pair_with(creds_first, FLOE_ICE_KEEPALIVE_CONSENT);
}

static void assert_host_path(const peer_t *self, const peer_t *peer)
{
	floe_ice_path_t got;

	cr_assert_eq(self->path.local_type, FLOE_ICE_CAND_HOST);
	cr_assert_eq(self->path.remote_type, FLOE_ICE_CAND_HOST);
	cr_assert_eq(self->path.relay_reason, FLOE_ICE_RELAY_REASON_NONE);
	cr_assert_not(self->path.local_symmetric_nat || self->path.remote_symmetric_nat);
	cr_assert(strncmp(self->path.local_addr, "127.0.0.1:", 10) == 0, "%s", self->path.local_addr);
	/* Each side's remote address is the other's local one. */
	cr_assert_str_eq(self->path.remote_addr, peer->path.local_addr);
	cr_assert_eq(floe_ice_agent_selected_path(self->agent, &got), 0);
	cr_assert_str_eq(got.local_addr, self->path.local_addr);
}

static bool got_rx(void *ctx)
{
	const int *want = ctx;

	return A.n_rx >= want[0] && B.n_rx >= want[1];
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7);
}

Test(ice_agent, host_pair_and_datagrams)
{
	static const size_t sizes[] = { 1, 64, 1200, 1420, 1500 };
	peer_t *pp[2] = { &A, &B };
	uint8_t buf[MAX_PKT_BYTES];
	floe_ice_stats_t st;
	size_t i;

	connect_pair(true);
	assert_host_path(&A, &B);
	assert_host_path(&B, &A);

	for (i = 0; i < FLOE_ARRAY_LEN(sizes); i++) {
		int want[2] = { (int)i + 1, (int)i + 1 };

		fill(buf, sizes[i], (unsigned)i);
		cr_assert_eq(floe_ice_agent_send(A.agent, buf, sizes[i]), 0);
		fill(buf, sizes[i], (unsigned)i + 100);
		cr_assert_eq(floe_ice_agent_send(B.agent, buf, sizes[i]), 0);
		cr_assert(pump(pp, 2, 1000, got_rx, want), "datagram %zu lost", sizes[i]);
		fill(buf, sizes[i], (unsigned)i);
		cr_assert_eq(B.rx_len[i], sizes[i]);
		cr_assert_arr_eq(B.rx[i], buf, sizes[i]);
		fill(buf, sizes[i], (unsigned)i + 100);
		cr_assert_eq(A.rx_len[i], sizes[i]);
		cr_assert_arr_eq(A.rx[i], buf, sizes[i]);
	}
	floe_ice_agent_stats(A.agent, &st);
	cr_assert_eq(st.tx_packets, FLOE_ARRAY_LEN(sizes));
	cr_assert_eq(st.rx_packets, FLOE_ARRAY_LEN(sizes));
	cr_assert_eq(st.tx_errors, 0);
}

Test(ice_agent, batch_of_32_in_order)
{
	static uint8_t pkts[BATCH_N][1000];
	struct iovec iov[BATCH_N];
	peer_t *pp[2] = { &A, &B };
	int want[2] = { 0, BATCH_N };
	int i;

	connect_pair(true);
	for (i = 0; i < BATCH_N; i++) {
		size_t len = 100 + (size_t)i * 25;

		fill(pkts[i], len, (unsigned)i);
		pkts[i][0] = (uint8_t)i;
		iov[i] = (struct iovec){ .iov_base = pkts[i], .iov_len = len };
	}
	cr_assert_eq(floe_ice_agent_send_batch(A.agent, iov, BATCH_N), BATCH_N);
	cr_assert(pump(pp, 2, 1000, got_rx, want), "batch: %d of %d arrived", B.n_rx, BATCH_N);
	cr_assert_eq(B.n_rx, BATCH_N);
	for (i = 0; i < BATCH_N; i++) {
		cr_assert_eq(B.rx_len[i], iov[i].iov_len, "packet %d", i);
		cr_assert_arr_eq(B.rx[i], pkts[i], iov[i].iov_len, "packet %d out of order", i);
	}
}

Test(ice_agent, relaxed_keepalive_connects)
{
	peer_t *pp[2] = { &A, &B };
	int want[2] = { 1, 0 };
	uint8_t byte = 42;

	connect_pair_with(true, FLOE_ICE_KEEPALIVE_RELAXED);
	assert_host_path(&A, &B);
	cr_assert_eq(floe_ice_agent_send(B.agent, &byte, 1), 0);
	cr_assert(pump(pp, 2, 1000, got_rx, want));
	cr_assert_eq(A.rx[0][0], 42);
}

Test(ice_agent, send_before_selection_is_enotconn)
{
	floe_ice_config_t c = base_config(FLOE_ICE_CONTROLLING);
	floe_ice_path_t path;
	uint8_t byte = 1;

	new_peer(&A, &c);
	cr_assert_eq(floe_ice_agent_send(A.agent, &byte, 1), -ENOTCONN);
	cr_assert_eq(floe_ice_agent_send_batch(A.agent, &(struct iovec){ &byte, 1 }, 1), -ENOTCONN);
	cr_assert_eq(floe_ice_agent_selected_path(A.agent, &path), -ENOTCONN);
	cr_assert_eq(floe_ice_agent_gather(A.agent), 0);
	cr_assert_eq(floe_ice_agent_send(A.agent, &byte, 1), -ENOTCONN);
}

Test(ice_agent, candidates_before_credentials_and_after_selection)
{
	char ufrag[FLOE_ICE_CRED_MAX_BYTES + 1], pwd[FLOE_ICE_CRED_MAX_BYTES + 1];
	peer_t *pp[2] = { &A, &B };
	floe_ice_stats_t st;
	uint8_t byte = 7;
	int want[2] = { 0, 1 };

	/* Both sides gather and trickle before either has credentials. */
	connect_pair(false);
	assert_host_path(&A, &B);

	/* A late candidate for an address nothing uses: ignored, counted, and
	 * the selected pair keeps working. */
	cr_assert_eq(floe_ice_agent_add_remote_candidate(A.agent,
		"a=candidate:9 1 UDP 2013266431 127.0.0.1 9 typ host"), 0);
	cr_assert_eq(floe_ice_agent_add_remote_candidate(A.agent,
		"candidate:10 1 UDP 2013266431 127.0.0.1 10 typ host"), 0);
	floe_ice_agent_stats(A.agent, &st);
	cr_assert_eq(st.ignored_candidates, 2);
	cr_assert_eq(st.bad_candidates, 0);
	cr_assert_eq(floe_ice_agent_send(A.agent, &byte, 1), 0);
	cr_assert(pump(pp, 2, 1000, got_rx, want));
	cr_assert_eq(A.n_selected, 1);
	cr_assert_eq(A.n_failed + B.n_failed, 0);
	/* Credentials are set once. */
	cr_assert_eq(floe_ice_agent_local_credentials(B.agent, ufrag, pwd), 0);
	cr_assert_eq(floe_ice_agent_set_remote_credentials(A.agent, ufrag, pwd), -EALREADY);
}

static bool never(void *ctx)
{
	return false;
}

static bool a_failed(void *ctx)
{
	return A.n_failed > 0;
}

static void assert_failed_by_timeout(int64_t t0)
{
	int64_t took = A.failed_at_ms - t0;

	cr_assert_eq(A.n_failed, 1);
	cr_assert_eq(A.n_selected, 0);
	cr_assert_str_eq(A.reason, "timeout: no selected pair");
	/* Not before the checks had their time, not much after the timeout. */
	cr_assert_geq(took, FAIL_TIMEOUT_MS - 20, "failed after %lld ms", (long long)took);
	cr_assert_leq(took, FAIL_TIMEOUT_MS + 500, "failed after %lld ms", (long long)took);
}

Test(ice_agent, wrong_remote_credentials_fail_by_timeout)
{
	floe_ice_config_t ca = base_config(FLOE_ICE_CONTROLLING);
	floe_ice_config_t cb = base_config(FLOE_ICE_CONTROLLED);
	char ufrag[FLOE_ICE_CRED_MAX_BYTES + 1], pwd[FLOE_ICE_CRED_MAX_BYTES + 1];
	peer_t *pp[2] = { &A, &B };
	uint8_t byte = 0;
	int64_t t0;

	new_peer(&A, &ca);
	new_peer(&B, &cb);
	cr_assert_eq(floe_ice_agent_local_credentials(A.agent, ufrag, pwd), 0);
	cr_assert_eq(floe_ice_agent_set_remote_credentials(B.agent, ufrag, pwd), 0);
	/* Well-formed, but not B's. */
	cr_assert_eq(floe_ice_agent_set_remote_credentials(A.agent, "wxyz",
							   "0123456789abcdefghijklmn"), 0);
	t0 = now_ms();
	cr_assert_eq(floe_ice_agent_gather(A.agent), 0);
	cr_assert_eq(floe_ice_agent_gather(B.agent), 0);
	cr_assert(pump(pp, 2, FAIL_TIMEOUT_MS + 1500, a_failed, NULL));
	assert_failed_by_timeout(t0);
	/* Checks really ran in between: candidates were exchanged. */
	cr_assert_geq(A.n_local_cands, 1);
	cr_assert_geq(B.n_local_cands, 1);
	cr_assert_eq(floe_ice_agent_send(A.agent, &byte, 1), -ENOTCONN);
	/* Terminal: no second report. */
	pump(pp, 2, 300, never, NULL);
	cr_assert_eq(A.n_failed, 1);
	/* B's own checks succeed (A verifies them with its own credentials),
	 * but only A may nominate, and A's checks never pass: B fails too. */
	cr_assert_eq(B.n_selected, 0);
	cr_assert_eq(B.n_failed, 1);
}

Test(ice_agent, unreachable_candidate_fails_by_timeout)
{
	floe_ice_config_t c = base_config(FLOE_ICE_CONTROLLING);
	peer_t *pp[1] = { &A };
	char line[128];
	int64_t t0;

	new_peer(&A, &c);
	snprintf(line, sizeof(line), "a=candidate:1 1 UDP 2013266431 127.0.0.1 %u typ host",
		 floe_test_udp_port());
	cr_assert_eq(floe_ice_agent_set_remote_credentials(A.agent, "abcd",
							   "0123456789abcdefghijklmn"), 0);
	cr_assert_eq(floe_ice_agent_add_remote_candidate(A.agent, line), 0);
	t0 = now_ms();
	cr_assert_eq(floe_ice_agent_gather(A.agent), 0);
	cr_assert(pump(pp, 1, FAIL_TIMEOUT_MS + 1500, a_failed, NULL));
	assert_failed_by_timeout(t0);
}

Test(ice_agent, malformed_remote_input_is_rejected_and_counted)
{
	static const char *const bad_lines[] = {
		NULL,
		"",
		"a=candidate:",
		"garbage",
		"a=candidate:1 1 UDP 2013266431 127.0.0.1",
		"a=candidate:1 2 UDP 2013266431 127.0.0.1 5000 typ host",   /* component 2 */
		"a=candidate:1 1 UDP 2013266431 not-an-ip 5000 typ host",
		"a=candidate:1 1 UDP 2013266431 127.0.0.1 0 typ host",      /* port 0 */
		"a=candidate:1 1 UDP 2013266431 127.0.0.1 5000 typ bogus",
		"a=candidate:1 1 SCTP 2013266431 127.0.0.1 5000 typ host",
		"a=candidate:1 1 UDP 2013266431 127.0.0.1 5000 typ\x01host",
		"a=candidate:\xff\xfe 1 UDP 1 127.0.0.1 5000",
	};
	static const struct { const char *ufrag, *pwd; } bad_creds[] = {
		{ NULL, "0123456789abcdefghijklmn" },
		{ "abcd", NULL },
		{ "abc", "0123456789abcdefghijklmn" },       /* ufrag < 4 */
		{ "abcd", "0123456789" },                    /* pwd < 22 */
		{ "ab:d", "0123456789abcdefghijklmn" },      /* not an ice-char */
		{ "abcd", "0123456789abcdefghijklm\n" },
		{ "abcd", "0123456789abcdefghijklm\xc3\xa9" },
	};
	floe_ice_config_t c = base_config(FLOE_ICE_CONTROLLED);
	char long_line[FLOE_ICE_CANDIDATE_MAX_BYTES + 64];
	char long_cred[FLOE_ICE_CRED_MAX_BYTES + 2];
	floe_ice_stats_t st;
	size_t i;

	new_peer(&A, &c);
	for (i = 0; i < FLOE_ARRAY_LEN(bad_lines); i++)
		cr_assert_eq(floe_ice_agent_add_remote_candidate(A.agent, bad_lines[i]), -EINVAL,
			     "line %zu accepted", i);
	memset(long_line, 'x', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	memcpy(long_line, "a=candidate:", 12);
	cr_assert_eq(floe_ice_agent_add_remote_candidate(A.agent, long_line), -EINVAL);
	cr_assert_eq(floe_ice_agent_add_remote_candidate(A.agent,
		"a=candidate:1 1 TCP 1 127.0.0.1 5000 typ host tcptype active"), -EPROTONOSUPPORT);

	for (i = 0; i < FLOE_ARRAY_LEN(bad_creds); i++)
		cr_assert_eq(floe_ice_agent_set_remote_credentials(A.agent, bad_creds[i].ufrag,
								   bad_creds[i].pwd), -EINVAL,
			     "credentials %zu accepted", i);
	memset(long_cred, 'a', sizeof(long_cred) - 1);
	long_cred[sizeof(long_cred) - 1] = '\0';
	cr_assert_eq(floe_ice_agent_set_remote_credentials(A.agent, long_cred,
							   "0123456789abcdefghijklmn"), -EINVAL);

	floe_ice_agent_stats(A.agent, &st);
	cr_assert_eq(st.bad_candidates, FLOE_ARRAY_LEN(bad_lines) + 1);
	cr_assert_eq(st.ignored_candidates, 1);
	cr_assert_eq(st.bad_credentials, FLOE_ARRAY_LEN(bad_creds) + 1);
	/* Still usable: good input goes through after all that. */
	cr_assert_eq(floe_ice_agent_set_remote_credentials(A.agent, "abcd",
							   "0123456789abcdefghijklmn"), 0);
	cr_assert_eq(floe_ice_agent_add_remote_candidate(A.agent,
		"a=candidate:1 1 UDP 2013266431 127.0.0.1 5000 typ host"), 0);
	cr_assert_eq(floe_ice_agent_add_remote_candidate(NULL, "x"), -EINVAL);
}

Test(ice_agent, bad_configuration_gives_null)
{
	static const char *const not_an_ip[] = { "localhost" };
	static const floe_ice_turn_server_t no_creds = { "127.0.0.1", 3478, NULL, NULL };
	floe_ice_config_t c;

	c = base_config(FLOE_ICE_CONTROLLING);
	c.local_addrs = not_an_ip;
	cr_assert_null(floe_ice_agent_new(&c, &callbacks, NULL));
	c = base_config(FLOE_ICE_CONTROLLING);
	c.relay_only = true; /* relay-only needs a TURN server */
	cr_assert_null(floe_ice_agent_new(&c, &callbacks, NULL));
	c = base_config(FLOE_ICE_CONTROLLING);
	c.turn = &no_creds;
	c.n_turn = 1;
	cr_assert_null(floe_ice_agent_new(&c, &callbacks, NULL));
	c = base_config(FLOE_ICE_CONTROLLING);
	c.failure_timeout_ms = 1;
	cr_assert_null(floe_ice_agent_new(&c, &callbacks, NULL));
	c = base_config((floe_ice_role_t)7);
	cr_assert_null(floe_ice_agent_new(&c, &callbacks, NULL));
	cr_assert_null(floe_ice_agent_new(NULL, &callbacks, NULL));
	/* Destroy is idempotent and accepts NULL. */
	floe_ice_agent_destroy(NULL);
	A.agent = NULL;
	floe_ice_agent_destroy(&A.agent);
}

Test(ice_agent, destroy_inside_gather_callback)
{
	static const char *const two[] = { "127.0.0.1", "127.0.0.2" };
	floe_ice_config_t c = base_config(FLOE_ICE_CONTROLLING);

	floe_ice_agent_t *agent;

	c.local_addrs = two;
	c.n_local_addrs = 2;
	new_peer(&A, &c);
	A.destroy_on_candidate = true;
	/* The first host candidate is announced from inside gather; the
	 * owner destroys the agent there: gather finishes the destruction on
	 * its way out and the second candidate is never reported. */
	agent = A.agent;
	cr_assert_eq(floe_ice_agent_gather(agent), 0);
	cr_assert_null(A.agent);
	cr_assert_eq(A.n_local_cands, 1);
	cr_assert_eq(A.callbacks_after_destroy, 0);
}

Test(ice_agent, destroy_inside_selected_and_with_timers_pending)
{
	peer_t *pp[2] = { &A, &B };

	B.destroy_on_selected = true;
	connect_pair(true);
	cr_assert_null(B.agent);
	/* A keeps running (its peer is gone) past the failure timeout: no
	 * callback reaches B, and A reports nothing further either way. */
	pump(pp, 2, 300, never, NULL);
	cr_assert_eq(B.callbacks_after_destroy, 0);
	cr_assert_eq(B.n_selected, 1);
	/* A's consent timers are pending now: destroy must cancel them. */
	floe_ice_agent_destroy(&A.agent);
	cr_assert_null(A.agent);
	floe_ice_agent_destroy(&A.agent);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

Test(ice_agent, file_descriptors_per_agent)
{
	floe_ice_config_t c = base_config(FLOE_ICE_CONTROLLING);
	int before, created, gathered, second;

	before = count_fds();
	new_peer(&A, &c);
	created = count_fds();
	cr_assert_eq(floe_ice_agent_gather(A.agent), 0);
	gathered = count_fds();
	new_peer(&B, &c);
	cr_assert_eq(floe_ice_agent_gather(B.agent), 0);
	second = count_fds();
	cr_log_info("fds: %d after new, %d after gather, %d for a second agent",
		    created - before, gathered - before, second - gathered);
	/* Two eventfds (our context's wakeup, and the one libnice's component
	 * creates for its own blocking-recv context), then one UDP socket per
	 * local address. The same for every further agent. */
	cr_assert_eq(created - before, 2);
	cr_assert_eq(gathered - before, 3);
	cr_assert_eq(second - gathered, 3);
	floe_ice_agent_destroy(&A.agent);
	floe_ice_agent_destroy(&B.agent);
	cr_assert_eq(count_fds(), before);
}

Test(ice_agent, poll_prepare_reports_small_arrays)
{
	floe_ice_config_t c = base_config(FLOE_ICE_CONTROLLING);
	struct pollfd fds[FLOE_ICE_POLL_MAX_FDS];
	int timeout = 100000, n;

	new_peer(&A, &c);
	cr_assert_eq(floe_ice_agent_gather(A.agent), 0);
	cr_assert_eq(floe_ice_agent_poll_prepare(A.agent, fds, 0, &timeout), -ENOBUFS);
	n = floe_ice_agent_poll_prepare(A.agent, fds, FLOE_ICE_POLL_MAX_FDS, &timeout);
	cr_assert_eq(n, 2);
	/* The failure timer (and libnice's pacing) bound the wait. */
	cr_assert_leq(timeout, FAIL_TIMEOUT_MS);
	floe_ice_agent_poll_dispatch(A.agent, fds, n);
	cr_assert_eq(floe_ice_agent_iterate(A.agent, 0), 0);
}

/* ---- TURN through a real coturn on loopback ----------------------------- */

static pid_t turn_pid;
static char turn_pidfile[64], turn_db[64], turn_log[64];

static void turn_stop(void)
{
	int i, status;

	if (turn_pid > 0) {
		kill(turn_pid, SIGTERM);
		for (i = 0; i < 100 && waitpid(turn_pid, &status, WNOHANG) == 0; i++)
			usleep(10000);
		if (i == 100) {
			kill(turn_pid, SIGKILL);
			waitpid(turn_pid, &status, 0);
		}
		turn_pid = 0;
	}
	unlink(turn_pidfile);
	unlink(turn_db);
	unlink(turn_log);
}

static void turn_teardown(void)
{
	teardown();
	turn_stop();
}

/* true once something has bound UDP 127.0.0.1:port (coturn is listening). */
static bool udp_port_bound(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool bound;

	cr_assert_geq(fd, 0);
	bound = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE;
	close(fd);
	return bound;
}

static bool log_contains(const char *path, const char *needle, int max_ms)
{
	static char text[1 << 16];
	int64_t end = now_ms() + max_ms;

	do {
		FILE *f = fopen(path, "r");
		size_t n = 0;

		if (f) {
			n = fread(text, 1, sizeof(text) - 1, f);
			fclose(f);
		}
		text[n] = '\0';
		if (strstr(text, needle))
			return true;
		usleep(20000);
	} while (now_ms() < end);
	return false;
}

static uint16_t turn_start(void)
{
	char port_arg[48], pid_arg[96], db_arg[96];
	uint16_t port = floe_test_udp_port();
	int64_t end;

	snprintf(turn_pidfile, sizeof(turn_pidfile), "/tmp/ice-turn-%d.pid", (int)getpid());
	snprintf(turn_db, sizeof(turn_db), "/tmp/ice-turndb-%d", (int)getpid());
	snprintf(turn_log, sizeof(turn_log), "/tmp/ice-turn-%d.log", (int)getpid());
	snprintf(port_arg, sizeof(port_arg), "--listening-port=%u", port);
	snprintf(pid_arg, sizeof(pid_arg), "--pidfile=%s", turn_pidfile);
	snprintf(db_arg, sizeof(db_arg), "--userdb=%s", turn_db);
	turn_pid = fork();
	cr_assert_geq(turn_pid, 0);
	if (turn_pid == 0) {
		int fd = open(turn_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* Never outlive the test process, even if it crashes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execlp("turnserver", "turnserver", "-n", "--listening-ip=127.0.0.1", port_arg,
		       "--relay-ip=127.0.0.1", "--min-port=49152", "--max-port=65535",
		       "--user=u:p", "--realm=floe", "--lt-cred-mech", "--no-tls", "--no-dtls",
		       "--no-cli", "--allow-loopback-peers", "--log-file=stdout", "--simple-log", "-v",
		       pid_arg, db_arg, (char *)NULL);
		_exit(127);
	}
	end = now_ms() + 3000;
	while (!udp_port_bound(port)) {
		int status;

		if (waitpid(turn_pid, &status, WNOHANG) == turn_pid) {
			turn_pid = 0;
			cr_skip_test("turnserver exited at start (see its log in %s)", turn_log);
		}
		cr_assert_lt(now_ms(), end, "turnserver did not listen within 3 s");
		usleep(20000);
	}
	return port;
}

TestSuite(ice_turn, .init = reset, .fini = turn_teardown, .timeout = 20);

Test(ice_turn, relay_only_side_selects_a_relayed_pair)
{
	floe_ice_turn_server_t turn = { .host = "127.0.0.1", .username = "u", .password = "p" };
	floe_ice_config_t ca = base_config(FLOE_ICE_CONTROLLING);
	floe_ice_config_t cb = base_config(FLOE_ICE_CONTROLLED);
	peer_t *pp[2] = { &A, &B };
	int want[2] = { 1, 1 };
	uint8_t msg[1200];
	int64_t t0;
	int fds_before;

	turn.port = turn_start();
	fds_before = count_fds();
	/* A hides its host address: its only candidate is the relayed one. */
	ca.turn = &turn;
	ca.n_turn = 1;
	ca.relay_only = true;
	new_peer(&A, &ca);
	new_peer(&B, &cb);
	exchange_credentials(&A, &B);
	t0 = now_ms();
	cr_assert_eq(floe_ice_agent_gather(A.agent), 0);
	cr_assert_eq(floe_ice_agent_gather(B.agent), 0);
	cr_assert(pump(pp, 2, CONNECT_BOUND_MS, both_selected, pp),
		  "no relayed pair within %d ms (A failed: %d %s)", CONNECT_BOUND_MS,
		  A.n_failed, A.reason);
	cr_log_info("relayed pair after %lld ms: %s -> %s", (long long)(now_ms() - t0),
		    A.path.local_addr, A.path.remote_addr);
	/* 3 fds each: TURN runs over the host socket, no extra fd. */
	cr_assert_eq(count_fds() - fds_before, 6);
	cr_assert_eq(A.path.local_type, FLOE_ICE_CAND_RELAY);
	cr_assert_eq(A.path.remote_type, FLOE_ICE_CAND_HOST);
	cr_assert_eq(B.path.local_type, FLOE_ICE_CAND_HOST);
	cr_assert_eq(B.path.remote_type, FLOE_ICE_CAND_RELAY);
	/* A's relayed address is coturn's, and that is what B talks to. */
	cr_assert_str_eq(B.path.remote_addr, A.path.local_addr);
	cr_assert_str_eq(A.path.remote_addr, B.path.local_addr);
	/* Why: A was told to relay; B relays because A offered nothing else. */
	cr_assert_eq(A.path.relay_reason, FLOE_ICE_RELAY_REASON_RELAY_ONLY);
	cr_assert_eq(B.path.relay_reason, FLOE_ICE_RELAY_REASON_NO_DIRECT_PAIR);
	cr_assert_str_eq(floe_ice_relay_reason_name(B.path.relay_reason), "no_direct_pair");
	cr_assert_str_eq(floe_ice_relay_reason_name((floe_ice_relay_reason_t)99), "unknown");

	fill(msg, sizeof(msg), 1);
	cr_assert_eq(floe_ice_agent_send(A.agent, msg, sizeof(msg)), 0);
	cr_assert_eq(floe_ice_agent_send(B.agent, msg, sizeof(msg)), 0);
	cr_assert(pump(pp, 2, 1000, got_rx, want), "relayed datagrams lost");
	cr_assert_eq(A.rx_len[0], sizeof(msg));
	cr_assert_arr_eq(A.rx[0], msg, sizeof(msg));
	cr_assert_eq(B.rx_len[0], sizeof(msg));
	cr_assert_arr_eq(B.rx[0], msg, sizeof(msg));

	/* Destroy deallocates (a Refresh with lifetime 0) instead of leaving
	 * the relay port held for the allocation's 10 minutes. */
	floe_ice_agent_destroy(&A.agent);
	cr_assert(log_contains(turn_log, "lifetime=0", 1000),
		  "coturn saw no deallocation (log %s)", turn_log);
}
