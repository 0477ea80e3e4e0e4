/*
 * The sharded gateway's one view of its workers: see shard_show.h.
 */
#include "daemons/common/shard_show.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <floe/floe.h>

#include "runtime/log.h"
#include "transport/net/udp.h"

#define LOG_TARGET "floe::shard"

static const char *str_or_empty(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Copies a string field; false when it is there but too long. */
static bool copy_field(const json_t *o, const char *key, char *out, size_t cap)
{
	const char *s = str_or_empty(o, key);

	if (strlen(s) >= cap)
		return false;
	memcpy(out, s, strlen(s) + 1);
	return true;
}

static bool state_from_name(const char *name, floe_control_state_t *out)
{
	for (int s = FLOE_CONTROL_STATE_NEW; s <= FLOE_CONTROL_STATE_CLOSED; s++) {
		if (!strcmp(name, floe_control_state_name((floe_control_state_t)s))) {
			*out = (floe_control_state_t)s;
			return true;
		}
	}
	return false;
}

static floe_control_path_t path_from_name(const char *name)
{
	for (int p = FLOE_CONTROL_PATH_NONE; p <= FLOE_CONTROL_PATH_RELAY; p++) {
		if (!strcmp(name, floe_control_path_name((floe_control_path_t)p)))
			return (floe_control_path_t)p;
	}
	return FLOE_CONTROL_PATH_NONE;
}

/* {name: n}; names this build does not know are skipped (a newer worker). */
static int counters_from_json(const json_t *o, floe_counters_snapshot_t *out)
{
	const char *name;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o))
		return -EPROTO;
	json_object_foreach((json_t *)o, name, v) {
		int id = floe_counter_from_name(name);

		if (id < 0)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return -EPROTO;
		out->v[id] = (uint64_t)json_integer_value(v);
	}
	return 0;
}

static void addr_from_json(const json_t *o, const char *key, struct sockaddr_storage *out)
{
	const char *s = str_or_empty(o, key);
	socklen_t len;

	memset(out, 0, sizeof(*out));
	if (s[0] && floe_udp_endpoint_parse(s, out, &len) != 0)
		memset(out, 0, sizeof(*out));
}

static int conn_from_json(const json_t *o, floe_control_conn_t *c)
{
	const json_t *path = json_object_get(o, "path");
	const json_t *hs = json_object_get(o, "last_handshake_s_ago");
	const char *v;

	if (!json_is_object(o) || !json_is_string(json_object_get(o, "cid")) ||
	    !state_from_name(str_or_empty(o, "state"), &c->state) ||
	    !copy_field(o, "cid", c->cid, sizeof(c->cid)) ||
	    !copy_field(o, "client_id", c->client_id, sizeof(c->client_id)))
		return -EPROTO;
	v = str_or_empty(o, "peer");
	c->has_peer_key = v[0] && floe_key_from_base64(c->peer_public_key, v) == 0;
	v = str_or_empty(o, "tunnel_ipv4");
	c->has_tunnel_v4 = v[0] && inet_pton(AF_INET, v, c->tunnel_v4) == 1;
	v = str_or_empty(o, "tunnel_ipv6");
	c->has_tunnel_v6 = v[0] && inet_pton(AF_INET6, v, c->tunnel_v6) == 1;
	if (json_is_object(path)) {
		c->path = path_from_name(str_or_empty(path, "type"));
		c->remote_path = path_from_name(str_or_empty(path, "remote_type"));
		if (!copy_field(path, "relay_reason", c->relay_reason, sizeof(c->relay_reason)))
			return -EPROTO;
		addr_from_json(path, "local", &c->local);
		addr_from_json(path, "remote", &c->remote);
	}
	c->last_handshake_s_ago = json_is_integer(hs) ? (int64_t)json_integer_value(hs) : -1;
	return counters_from_json(json_object_get(o, "counters"), &c->counters);
}

int floe_shard_show_merge(floe_control_snapshot_t *snap, const char *json, size_t len, unsigned worker)
{
	floe_counters_snapshot_t totals, held = { 0 };
	json_t *root = json_loadb(json, len, 0, NULL);
	const json_t *conns;
	size_t i;
	int r = -EPROTO;

	if (!snap || !root)
		goto out;
	conns = json_object_get(root, "connections");
	if (!json_is_array(conns) || counters_from_json(json_object_get(root, "totals"), &totals) < 0)
		goto out;
	for (i = 0; i < json_array_size(conns); i++) {
		floe_control_conn_t *c = floe_control_snapshot_add(snap);

		if (!c) {
			r = -ENOMEM;
			goto out;
		}
		r = conn_from_json(json_array_get(conns, i), c);
		if (r < 0) {
			memset(c, 0, sizeof(*c));
			snap->n_conns--;
			goto out;
		}
		c->has_worker = true;
		c->worker = worker;
		floe_counters_sum(&held, &c->counters, 1);
	}
	/* The renderers add the connections again: keep only the rest. */
	for (size_t k = 0; k < FLOE_COUNTER_COUNT; k++)
		snap->node.v[k] += totals.v[k] >= held.v[k] ? totals.v[k] - held.v[k] : 0;
	r = 0;
out:
	json_decref(root);
	return r;
}

/* One worker's "show json" into a memfd, mapped, merged. */
static int query_one(floe_control_snapshot_t *snap, const char *path, unsigned worker, int wait_ms)
{
	char err[FLOE_CONTROL_ERR_MAX] = "";
	struct stat st;
	void *map = MAP_FAILED;
	int fd = memfd_create("floe-shard-show", MFD_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = floe_control_query_wait(path, true, fd, wait_ms, err, sizeof(err));
	if (r < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > FLOE_SHARD_SHOW_MAX_BYTES) {
		r = -EPROTO;
		goto out;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	r = floe_shard_show_merge(snap, map, (size_t)st.st_size, worker);
out:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	close(fd);
	return r;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int floe_shard_show(floe_control_snapshot_t *snap, const char *const *paths, unsigned n, unsigned *answered)
{
	uint64_t deadline = mono_ms() + FLOE_SHARD_SHOW_BUDGET_MS;
	unsigned ok = 0;

	if (!snap || (n && !paths))
		return -EINVAL;
	snap->workers = n;
	for (unsigned k = 0; k < n; k++) {
		uint64_t now = mono_ms();
		int r = now < deadline ? query_one(snap, paths[k], k, (int)(deadline - now)) : -ETIMEDOUT;

		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			floe_log_ratelimited(FLOE_LOG_WARNING, LOG_TARGET, "Worker did not answer show",
					     FLOE_F_U64("worker", k), FLOE_F_STR("error", strerror(-r)));
			continue;
		}
		ok++;
		if (k < FLOE_CONTROL_MAX_WORKERS)
			snap->workers_up |= 1ULL << k;
	}
	if (answered)
		*answered = ok;
	return 0;
}
