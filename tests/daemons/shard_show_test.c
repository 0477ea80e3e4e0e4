/* shard_show: a worker's "show json" folds back into one snapshot (every
 * field the renderer writes, the worker index, totals that add up), bad
 * bodies are refused, and floe_shard_show asks live control sockets and
 * skips one that does not answer. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemons/common/shard_show.h"
#include "transport/net/udp.h"

enum {
	SERVER_POLL_MS = 20,
};

/* "ip:port" / "[v6]:port" into ss, as the renderer writes them back. */
static void set_addr(struct sockaddr_storage *ss, const char *endpoint)
{
	socklen_t len;

	cr_assert_eq(floe_udp_endpoint_parse(endpoint, ss, &len), 0, "%s", endpoint);
}

/* A worker's state: two connections (one relayed over IPv6, one new) and
 * node counters that belong to no connection. seed varies the figures. */
static void fill(floe_control_snapshot_t *snap, uint64_t seed)
{
	floe_control_conn_t *c;

	memset(snap, 0, sizeof(*snap));
	snprintf(snap->role, sizeof(snap->role), "gateway");
	snap->node.v[FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION] = 7 + seed;
	snap->node.v[FLOE_COUNTER_RX_PACKETS] = 100 + seed; /* closed connections' */
	c = floe_control_snapshot_add(snap);
	cr_assert_not_null(c);
	snprintf(c->cid, sizeof(c->cid), "cid-a-%llu", (unsigned long long)seed);
	snprintf(c->client_id, sizeof(c->client_id), "alice");
	c->has_peer_key = true;
	memset(c->peer_public_key, 0x42, sizeof(c->peer_public_key));
	c->has_tunnel_v4 = true;
	memcpy(c->tunnel_v4, (uint8_t[]){ 100, 64, 0, 2 }, 4);
	c->has_tunnel_v6 = true;
	cr_assert_eq(inet_pton(AF_INET6, "fd00::2", c->tunnel_v6), 1);
	c->state = FLOE_CONTROL_STATE_CONNECTED;
	c->path = FLOE_CONTROL_PATH_RELAY;
	c->remote_path = FLOE_CONTROL_PATH_SRFLX;
	snprintf(c->relay_reason, sizeof(c->relay_reason), "symmetric_nat");
	set_addr(&c->local, "[2001:db8::1]:49152");
	set_addr(&c->remote, "203.0.113.7:51820");
	c->last_handshake_s_ago = 12;
	c->counters.v[FLOE_COUNTER_RX_PACKETS] = 1000 + seed;
	c->counters.v[FLOE_COUNTER_TX_BYTES] = 123456 + seed;
	c->counters.v[FLOE_COUNTER_ACL_DROPS] = 3;
	c = floe_control_snapshot_add(snap);
	cr_assert_not_null(c);
	snprintf(c->cid, sizeof(c->cid), "cid-b-%llu", (unsigned long long)seed);
	c->state = FLOE_CONTROL_STATE_CONNECTING;
	c->last_handshake_s_ago = -1;
	c->counters.v[FLOE_COUNTER_RX_PACKETS] = 5;
}

static char *render(uint64_t seed)
{
	floe_control_snapshot_t snap;
	char *json;

	fill(&snap, seed);
	json = floe_control_render_json(&snap);
	cr_assert_not_null(json);
	floe_control_snapshot_clear(&snap);
	return json;
}

Test(shard_show, merge_keeps_every_field_and_the_worker)
{
	floe_control_snapshot_t want, got = { 0 };
	char *json = render(1);

	fill(&want, 1);
	cr_assert_eq(floe_shard_show_merge(&got, json, strlen(json), 2), 0);
	cr_assert_eq(got.n_conns, 2);
	for (size_t i = 0; i < 2; i++) {
		const floe_control_conn_t *a = &want.conns[i], *b = &got.conns[i];

		cr_assert_str_eq(b->cid, a->cid);
		cr_assert_str_eq(b->client_id, a->client_id);
		cr_assert_eq(b->has_peer_key, a->has_peer_key);
		cr_assert_eq(memcmp(b->peer_public_key, a->peer_public_key, sizeof(a->peer_public_key)), 0);
		cr_assert_eq(b->has_tunnel_v4, a->has_tunnel_v4);
		cr_assert_eq(memcmp(b->tunnel_v4, a->tunnel_v4, 4), 0);
		cr_assert_eq(b->has_tunnel_v6, a->has_tunnel_v6);
		cr_assert_eq(memcmp(b->tunnel_v6, a->tunnel_v6, 16), 0);
		cr_assert_eq(b->state, a->state);
		cr_assert_eq(b->path, a->path);
		cr_assert_eq(b->remote_path, a->remote_path);
		cr_assert_str_eq(b->relay_reason, a->relay_reason);
		cr_assert_eq(memcmp(&b->local, &a->local, sizeof(a->local)), 0, "conn %zu local", i);
		cr_assert_eq(memcmp(&b->remote, &a->remote, sizeof(a->remote)), 0, "conn %zu remote", i);
		cr_assert_eq(b->last_handshake_s_ago, a->last_handshake_s_ago);
		cr_assert_eq(memcmp(&b->counters, &a->counters, sizeof(a->counters)), 0, "conn %zu counters", i);
		cr_assert(b->has_worker);
		cr_assert_eq(b->worker, 2);
	}
	/* the part of the totals no connection holds */
	cr_assert_eq(memcmp(&got.node, &want.node, sizeof(want.node)), 0);
	floe_control_snapshot_clear(&want);
	floe_control_snapshot_clear(&got);
	free(json);
}

Test(shard_show, totals_are_the_sum_of_the_workers)
{
	floe_control_snapshot_t one, got = { 0 };
	floe_counters_snapshot_t t1, t2, sum;
	char *j1 = render(1), *j2 = render(2), *out;

	fill(&one, 1);
	floe_control_snapshot_totals(&one, &t1);
	floe_control_snapshot_clear(&one);
	fill(&one, 2);
	floe_control_snapshot_totals(&one, &t2);
	floe_control_snapshot_clear(&one);
	cr_assert_eq(floe_shard_show_merge(&got, j1, strlen(j1), 0), 0);
	cr_assert_eq(floe_shard_show_merge(&got, j2, strlen(j2), 1), 0);
	cr_assert_eq(got.n_conns, 4);
	cr_assert_eq(got.conns[0].worker, 0);
	cr_assert_eq(got.conns[3].worker, 1);
	floe_control_snapshot_totals(&got, &sum);
	for (int k = 0; k < FLOE_COUNTER_COUNT; k++)
		cr_assert_eq(sum.v[k], t1.v[k] + t2.v[k], "%s", floe_counter_name((floe_counter_t)k));
	/* and the one gateway renders with a worker per connection */
	out = floe_control_render_json(&got);
	cr_assert_not_null(out);
	cr_assert(strstr(out, "\"worker\": 1"), "%s", out);
	free(out);
	out = floe_control_render_text(&got);
	cr_assert(strstr(out, "  worker: 0\n"), "%s", out);
	free(out);
	floe_control_snapshot_clear(&got);
	free(j1);
	free(j2);
}

Test(shard_show, bad_bodies_are_refused)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{\"totals\": {}}",
		"{\"totals\": {}, \"connections\": {}}",
		"{\"connections\": []}",
		"{\"totals\": {\"rx_packets\": -1}, \"connections\": []}",
		"{\"totals\": {}, \"connections\": [{\"cid\": \"x\", \"state\": \"sleeping\"}]}",
		"{\"totals\": {}, \"connections\": [{\"state\": \"connected\"}]}",
		"{\"totals\": {}, \"connections\": [7]}",
		"{\"totals\": {}, \"connections\": [{\"cid\": \"x\", \"state\": \"connected\", \"counters\": {\"rx_packets\": \"many\"}}]}",
	};
	floe_control_snapshot_t got = { 0 };

	for (size_t i = 0; i < FLOE_ARRAY_LEN(bad); i++) {
		cr_assert_eq(floe_shard_show_merge(&got, bad[i], strlen(bad[i]), 0), -EPROTO, "accepted: %s", bad[i]);
		cr_assert_eq(got.n_conns, 0, "%s left a connection", bad[i]);
	}
	cr_assert_eq(floe_shard_show_merge(NULL, "{}", 2, 0), -EPROTO);
	/* a counter this build does not know (a newer worker) is skipped */
	cr_assert_eq(floe_shard_show_merge(&got, "{\"totals\": {\"from_the_future\": 1, \"rx_packets\": 4}, \"connections\": []}",
					   strlen("{\"totals\": {\"from_the_future\": 1, \"rx_packets\": 4}, \"connections\": []}"), 0),
		     0);
	cr_assert_eq(got.node.v[FLOE_COUNTER_RX_PACKETS], 4);
	floe_control_snapshot_clear(&got);
}

/* ---- live sockets: worker 0 answers, worker 1's path has no server ---- */

static atomic_bool stop;

static int worker_snapshot(void *user, floe_control_snapshot_t *snap)
{
	(void)user;
	fill(snap, 5);
	return 0;
}

static void *serve(void *arg)
{
	floe_control_t *ctl = arg;

	while (!atomic_load(&stop)) {
		struct pollfd p = { .fd = floe_control_fd(ctl), .events = POLLIN };

		if (poll(&p, 1, SERVER_POLL_MS) > 0)
			floe_control_handle(ctl);
	}
	return NULL;
}

Test(shard_show, asks_each_worker_and_skips_a_silent_one)
{
	char dir[] = "/tmp/h21-shard-show-XXXXXX", p0[108], p1[108];
	const char *paths[2] = { p0, p1 };
	floe_control_snapshot_t got = { 0 };
	floe_control_t *ctl;
	pthread_t th;
	unsigned answered = 99;
	int err = 0;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p0, sizeof(p0), "%s/gw.sock.w0", dir);
	snprintf(p1, sizeof(p1), "%s/gw.sock.w1", dir);
	ctl = floe_control_new(p0, "floe-gateway", worker_snapshot, NULL, &err);
	cr_assert_not_null(ctl, "control: %d", err);
	atomic_store(&stop, false);
	cr_assert_eq(pthread_create(&th, NULL, serve, ctl), 0);
	cr_assert_eq(floe_shard_show(&got, paths, 2, &answered), 0);
	cr_assert_eq(answered, 1);
	cr_assert_eq(got.workers, 2);
	cr_assert_eq(got.workers_up, 1, "worker 0 answered, worker 1 did not");
	cr_assert_eq(got.n_conns, 2);
	{
		char *text = floe_control_render_text(&got), *json = floe_control_render_json(&got);

		cr_assert(strstr(text, "  workers: 2, answering: 0\n"), "%s", text);
		cr_assert(strstr(json, "\"worker\": 1,\n      \"up\": false,\n      \"connections\": 0"), "%s", json);
		cr_assert(strstr(json, "\"worker\": 0,\n      \"up\": true,\n      \"connections\": 2"), "%s", json);
		free(text);
		free(json);
	}
	cr_assert_str_eq(got.conns[0].cid, "cid-a-5");
	cr_assert_eq(got.conns[0].worker, 0);
	cr_assert_eq(got.node.v[FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION], 12);
	atomic_store(&stop, true);
	pthread_join(th, NULL);
	floe_control_destroy(&ctl);
	floe_control_snapshot_clear(&got);
	cr_assert_eq(floe_shard_show(NULL, paths, 2, NULL), -EINVAL);
	cr_assert_eq(rmdir(dir), 0);
}
