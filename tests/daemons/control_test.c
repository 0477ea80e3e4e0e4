/* The control socket: a server thread with a fixed two-connection snapshot,
 * queried in both formats, fed garbage and silence. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemons/common/control.h"

enum {
	SERVER_POLL_MS = 20,
	OUT_MAX_BYTES = 1 << 16,
};

static char sock_path[108];
static floe_control_t *ctl;
static pthread_t server;
static atomic_bool stop;
static atomic_int snapshot_rc;
static atomic_int snapshot_delay_ms; /* a node slow to build its snapshot */
static atomic_int snapshot_extra;    /* and large: more connections than a socket buffer holds */

static void set_addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	}
}

/* Two connections: one connected on a host path with both tunnel addresses,
 * one still connecting with nothing known yet. */
static int fill(void *user, floe_control_snapshot_t *snap)
{
	floe_control_conn_t *c;

	if (atomic_load(&snapshot_rc))
		return atomic_load(&snapshot_rc);
	if (atomic_load(&snapshot_delay_ms))
		usleep((useconds_t)atomic_load(&snapshot_delay_ms) * 1000);
	strcpy(snap->role, "gateway");
	snap->has_public_key = true;
	memset(snap->public_key, 0xab, sizeof(snap->public_key));
	set_addr(&snap->listen, "0.0.0.0", 51820);
	snap->node.v[FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION] = 7;

	c = floe_control_snapshot_add(snap);
	if (!c)
		return -ENOMEM;
	strcpy(c->cid, "cid-1");
	strcpy(c->client_id, "8b106344-ba59-4050-8f9a-e2f0bab6e9e5");
	c->has_peer_key = true;
	memset(c->peer_public_key, 0x01, sizeof(c->peer_public_key));
	c->has_tunnel_v4 = c->has_tunnel_v6 = true;
	inet_pton(AF_INET, "100.64.0.2", c->tunnel_v4);
	inet_pton(AF_INET6, "fd00::2", c->tunnel_v6);
	c->state = FLOE_CONTROL_STATE_CONNECTED;
	c->path = FLOE_CONTROL_PATH_HOST;
	set_addr(&c->local, "192.0.2.1", 40000);
	set_addr(&c->remote, "2001:db8::5", 50000);
	c->last_handshake_s_ago = 12;
	c->counters.v[FLOE_COUNTER_RX_BYTES] = 1536;
	c->counters.v[FLOE_COUNTER_TX_BYTES] = 100;
	c->counters.v[FLOE_COUNTER_RX_PACKETS] = 3;
	c->counters.v[FLOE_COUNTER_TX_PACKETS] = 2;
	c->counters.v[FLOE_COUNTER_ACL_DROPS] = 5;
	c->counters.v[FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION] = 1;

	c = floe_control_snapshot_add(snap);
	if (!c)
		return -ENOMEM;
	strcpy(c->cid, "cid-2");
	c->state = FLOE_CONTROL_STATE_CONNECTING;
	c->counters.v[FLOE_COUNTER_ACL_DROPS] = 1;
	for (int i = 0; i < atomic_load(&snapshot_extra); i++) {
		c = floe_control_snapshot_add(snap);
		if (!c)
			return -ENOMEM;
		snprintf(c->cid, sizeof(c->cid), "extra-%d", i);
	}
	return 0;
}

static void *serve(void *arg)
{
	while (!atomic_load(&stop)) {
		struct pollfd p = { .fd = floe_control_fd(ctl), .events = POLLIN };

		if (poll(&p, 1, SERVER_POLL_MS) > 0)
			floe_control_handle(ctl);
	}
	return NULL;
}

static void setup(void)
{
	int err = 0;

	snprintf(sock_path, sizeof(sock_path), "/tmp/gwp-control-%d.sock", (int)getpid());
	atomic_store(&stop, false);
	atomic_store(&snapshot_rc, 0);
	atomic_store(&snapshot_delay_ms, 0);
	atomic_store(&snapshot_extra, 0);
	ctl = floe_control_new(sock_path, NULL, fill, NULL, &err);
	cr_assert_not_null(ctl, "floe_control_new: %s", strerror(-err));
	cr_assert_eq(pthread_create(&server, NULL, serve, NULL), 0);
}

static void teardown(void)
{
	atomic_store(&stop, true);
	pthread_join(server, NULL);
	floe_control_destroy(&ctl);
	cr_assert_null(ctl);
	floe_control_destroy(&ctl);
	cr_expect_eq(access(sock_path, F_OK), -1, "socket unlinked");
}

TestSuite(control, .init = setup, .fini = teardown, .timeout = 30);

/* Runs a query into a pipe-backed temporary file and returns its text. */
static char *query(bool json, int *rc, char *err, size_t err_cap)
{
	FILE *f = tmpfile();
	char *out = calloc(1, OUT_MAX_BYTES);
	size_t n;

	cr_assert_not_null(f);
	cr_assert_not_null(out);
	*rc = floe_control_query(sock_path, json, fileno(f), err, err_cap);
	rewind(f);
	n = fread(out, 1, OUT_MAX_BYTES - 1, f);
	out[n] = '\0';
	fclose(f);
	return out;
}

Test(control, socket_is_private)
{
	struct stat st;

	cr_assert_eq(stat(sock_path, &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0600);
}

Test(control, show_text_reads_like_wg_show)
{
	int rc;
	char *out = query(false, &rc, NULL, 0);

	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	cr_expect(strstr(out, "node: gateway\n"), "%s", out);
	cr_expect(strstr(out, "  listening: 0.0.0.0:51820\n"));
	cr_expect(strstr(out, "  connections: 2\n"));
	cr_expect(strstr(out, "connection: cid-1\n  peer: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"), "%s", out);
	cr_expect(strstr(out, "  tunnel ip: 100.64.0.2, fd00::2\n"));
	cr_expect(strstr(out, "  state: connected\n"));
	cr_expect(strstr(out, "  path: host 192.0.2.1:40000 -> [2001:db8::5]:50000\n"));
	cr_expect(strstr(out, "  latest handshake: 12 seconds ago\n"));
	cr_expect(strstr(out, "  transfer: 1.50 KiB received, 100 B sent\n"), "%s", out);
	cr_expect(strstr(out, "  packets: 3 received, 2 sent\n"));
	cr_expect(strstr(out, "connection: cid-2\n  peer: (none)\n  client id: (none)\n  tunnel ip: (none)\n"
			      "  state: connecting\n  path: none\n  latest handshake: never\n"), "%s", out);
	/* Totals: node 7 + cid-1's 1 unknown destinations; 5 + 1 acl drops. */
	cr_expect(strstr(out, "totals:\n"));
	cr_expect(strstr(out, "    dropped_unknown_destination: 8\n"), "%s", out);
	cr_expect(strstr(out, "    acl_drops: 6\n"), "%s", out);
	free(out);
}

Test(control, show_json_round_trips)
{
	int rc;
	char *out = query(true, &rc, NULL, 0);
	json_error_t jerr;
	json_t *root = json_loads(out, 0, &jerr), *c0, *c1;

	cr_assert_eq(rc, 0);
	cr_assert_not_null(root, "%s: %s", jerr.text, out);
	cr_expect_str_eq(json_string_value(json_object_get(root, "role")), "gateway");
	cr_expect_str_eq(json_string_value(json_object_get(root, "listen")), "0.0.0.0:51820");
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(root, "totals"), "acl_drops")), 6);
	cr_assert_eq(json_array_size(json_object_get(root, "connections")), 2);
	c0 = json_array_get(json_object_get(root, "connections"), 0);
	c1 = json_array_get(json_object_get(root, "connections"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(c0, "cid")), "cid-1");
	cr_expect_str_eq(json_string_value(json_object_get(c0, "client_id")),
			 "8b106344-ba59-4050-8f9a-e2f0bab6e9e5");
	cr_expect_str_eq(json_string_value(json_object_get(c0, "peer")),
			 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
	cr_expect_str_eq(json_string_value(json_object_get(c0, "tunnel_ipv4")), "100.64.0.2");
	cr_expect_str_eq(json_string_value(json_object_get(c0, "tunnel_ipv6")), "fd00::2");
	cr_expect_str_eq(json_string_value(json_object_get(c0, "state")), "connected");
	json_t *path = json_object_get(c0, "path");
	cr_expect_str_eq(json_string_value(json_object_get(path, "type")), "host");
	cr_expect_str_eq(json_string_value(json_object_get(path, "local")), "192.0.2.1:40000");
	cr_expect_str_eq(json_string_value(json_object_get(path, "remote")), "[2001:db8::5]:50000");
	cr_expect_eq(json_integer_value(json_object_get(c0, "last_handshake_s_ago")), 12);
	cr_expect_eq(json_integer_value(json_object_get(c0, "rx_bytes")), 1536);
	cr_expect_eq(json_integer_value(json_object_get(c0, "tx_packets")), 2);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(c0, "counters"), "acl_drops")), 5);
	cr_expect_eq(json_object_size(json_object_get(c0, "counters")), FLOE_COUNTER_COUNT);

	cr_expect_str_eq(json_string_value(json_object_get(c1, "state")), "connecting");
	cr_expect(json_is_null(json_object_get(c1, "client_id")));
	cr_expect(json_is_null(json_object_get(c1, "peer")));
	cr_expect(json_is_null(json_object_get(c1, "tunnel_ipv4")));
	cr_expect(json_is_null(json_object_get(c1, "last_handshake_s_ago")));
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(c1, "path"), "type")), "none");
	json_decref(root);
	free(out);
}

Test(control, snapshot_failure_is_reported)
{
	int rc;
	char err[FLOE_CONTROL_ERR_MAX];
	char *out;

	atomic_store(&snapshot_rc, -EBUSY);
	out = query(false, &rc, err, sizeof(err));
	cr_expect_eq(rc, -EPROTO);
	cr_expect(strstr(err, "snapshot failed"), "%s", err);
	cr_expect_str_eq(out, "", "nothing written on error");
	free(out);
}

/* A raw client: sends what it is given, returns what it read until EOF. */
static char *raw(const char *send_buf, size_t send_len, bool shut)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	char *out = calloc(1, OUT_MAX_BYTES);
	size_t len = 0;
	ssize_t n;

	cr_assert_not_null(out);
	strcpy(sa.sun_path, sock_path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (send_len)
		cr_assert_eq(send(fd, send_buf, send_len, MSG_NOSIGNAL), (ssize_t)send_len);
	if (shut)
		shutdown(fd, SHUT_WR);
	while ((n = read(fd, out + len, OUT_MAX_BYTES - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return out;
}

Test(control, malformed_requests_get_an_error_and_are_counted)
{
	static const struct {
		const char *req;
		const char *want;
	} cases[] = {
		{ "status\n", "error unknown request" },
		{ "show yaml\n", "error unknown request" },
		{ "\n", "error unknown request" },
		{ "show\0json\n", "error malformed request" },
		{ "show json please and more bytes than any request may have, really!!\n", "error request too long" },
	};
	char big[FLOE_CONTROL_REQUEST_MAX_BYTES * 4];

	for (size_t i = 0; i < FLOE_ARRAY_LEN(cases); i++) {
		char *out = raw(cases[i].req, strlen(cases[i].req) + (i == 3 ? 6 : 0), false);

		cr_expect(strncmp(out, cases[i].want, strlen(cases[i].want)) == 0, "case %zu: %s", i, out);
		free(out);
	}
	memset(big, 'x', sizeof(big));
	char *out = raw(big, sizeof(big), false);
	cr_expect(strncmp(out, "error request too long", 22) == 0, "%s", out);
	free(out);
	/* Hanging up before the newline: nothing to answer. */
	out = raw("sho", 3, true);
	cr_expect_str_eq(out, "");
	free(out);
	/* A good request still works after all that. */
	out = raw("show\r\n", 6, false);
	cr_expect(strncmp(out, "ok\nnode: gateway\n", 17) == 0, "%s", out);
	free(out);
	atomic_store(&stop, true);
	pthread_join(server, NULL);
	cr_expect_eq(floe_control_errors(ctl), FLOE_ARRAY_LEN(cases) + 2);
	atomic_store(&stop, false);
	cr_assert_eq(pthread_create(&server, NULL, serve, NULL), 0);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(control, a_silent_client_delays_the_server_by_the_timeout_at_most)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int silent = socket(AF_UNIX, SOCK_STREAM, 0), rc;
	int64_t t0, took;
	char *out;

	strcpy(sa.sun_path, sock_path);
	cr_assert_eq(connect(silent, (struct sockaddr *)&sa, sizeof(sa)), 0);
	usleep(50 * 1000); /* the server is now waiting on the silent client */
	t0 = mono_ms();
	out = query(false, &rc, NULL, 0);
	took = mono_ms() - t0;
	cr_expect_eq(rc, 0, "%s", strerror(-rc));
	cr_expect(strstr(out, "node: gateway"));
	cr_expect_lt(took, FLOE_CONTROL_IO_TIMEOUT_MS + 500, "query waited %lld ms", (long long)took);
	free(out);
	/* The silent one was dropped without a reply. */
	char c;
	cr_expect_eq(read(silent, &c, 1), 0);
	close(silent);
}

Test(control, stale_socket_is_replaced_live_one_is_not)
{
	int err = 0;
	floe_control_t *other;
	char stale[sizeof(sock_path) + 8];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	/* A live server at the path: refused. */
	other = floe_control_new(sock_path, NULL, fill, NULL, &err);
	cr_expect_null(other);
	cr_expect_eq(err, -EADDRINUSE);

	/* A socket file left by a dead process: replaced. */
	snprintf(stale, sizeof(stale), "%s.old", sock_path);
	strcpy(sa.sun_path, stale);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	other = floe_control_new(stale, NULL, fill, NULL, &err);
	cr_expect_not_null(other, "%s", strerror(-err));
	floe_control_destroy(&other);

	/* A regular file: left alone. */
	FILE *f = fopen(stale, "w");
	cr_assert_not_null(f);
	fclose(f);
	other = floe_control_new(stale, NULL, fill, NULL, &err);
	cr_expect_null(other);
	cr_expect_eq(err, -EEXIST);
	unlink(stale);

	cr_expect_null(floe_control_new(NULL, "../evil", fill, NULL, &err));
	cr_expect_eq(err, -EINVAL);
	cr_expect_eq(floe_control_query("/tmp/gwp-nobody-here.sock", false, 1, NULL, 0), -ENOENT);
}

Test(control, find_socket_prefers_the_gateway_and_skips_non_sockets)
{
	char dir[] = "/tmp/gwp-ctl-XXXXXX", path[256], found[256];
	int err = 0;
	floe_control_t *client, *wg;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	cr_expect_eq(floe_control_find_socket(dir, found, sizeof(found)), -ENOENT);
	/* A regular file named like the gateway's socket is not a daemon. */
	snprintf(path, sizeof(path), "%s/floe-gateway.sock", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/floe-wg.sock", dir);
	wg = floe_control_new(path, NULL, fill, NULL, &err);
	cr_assert_not_null(wg);
	cr_expect_eq(floe_control_find_socket(dir, found, sizeof(found)), 0);
	cr_expect_str_eq(found, path);
	snprintf(path, sizeof(path), "%s/floe-client.sock", dir);
	client = floe_control_new(path, NULL, fill, NULL, &err);
	cr_assert_not_null(client);
	cr_expect_eq(floe_control_find_socket(dir, found, sizeof(found)), 0);
	cr_expect_str_eq(found, path, "client before wg");
	cr_expect_eq(floe_control_find_socket(dir, found, 8), -ENAMETOOLONG);
	floe_control_destroy(&client);
	floe_control_destroy(&wg);
	snprintf(path, sizeof(path), "%s/floe-gateway.sock", dir);
	unlink(path);
	cr_expect_eq(rmdir(dir), 0, "everything cleaned up");
}

/* Issue #6: both ends' candidate types and why a path is relayed, in the
 * field names the NAT system tests read (path.type, path.remote_type,
 * path.relay_reason). */
Test(control, relayed_path_says_why)
{
	floe_control_snapshot_t snap = { 0 };
	floe_control_conn_t *c;
	char *text, *js;
	json_t *root, *path, *p1;

	strcpy(snap.role, "client");
	c = floe_control_snapshot_add(&snap);
	cr_assert_not_null(c);
	strcpy(c->cid, "relayed");
	c->path = FLOE_CONTROL_PATH_RELAY;
	c->remote_path = FLOE_CONTROL_PATH_SRFLX;
	strcpy(c->relay_reason, "symmetric_nat");
	set_addr(&c->local, "203.0.113.1", 50000);
	set_addr(&c->remote, "198.51.100.2", 40000);
	c->last_handshake_s_ago = -1;
	c = floe_control_snapshot_add(&snap);
	cr_assert_not_null(c);
	strcpy(c->cid, "direct");
	c->path = FLOE_CONTROL_PATH_PRFLX;
	c->remote_path = FLOE_CONTROL_PATH_HOST;
	c->last_handshake_s_ago = -1;

	text = floe_control_render_text(&snap);
	cr_assert_not_null(text);
	cr_expect(strstr(text, "  path: relay 203.0.113.1:50000 -> 198.51.100.2:40000\n"
			       "  remote candidate: srflx\n  relayed because: symmetric_nat\n"), "%s", text);
	cr_expect(strstr(text, "  remote candidate: host\n  latest handshake"), "%s", text);
	cr_expect_null(strstr(strstr(text, "relayed because") + 1, "relayed because"),
		       "a direct path has no reason: %s", text);

	js = floe_control_render_json(&snap);
	cr_assert_not_null(js);
	root = json_loads(js, 0, NULL);
	cr_assert_not_null(root, "%s", js);
	path = json_object_get(json_array_get(json_object_get(root, "connections"), 0), "path");
	cr_expect_str_eq(json_string_value(json_object_get(path, "type")), "relay");
	cr_expect_str_eq(json_string_value(json_object_get(path, "remote_type")), "srflx");
	cr_expect_str_eq(json_string_value(json_object_get(path, "relay_reason")), "symmetric_nat");
	p1 = json_object_get(json_array_get(json_object_get(root, "connections"), 1), "path");
	cr_expect_str_eq(json_string_value(json_object_get(p1, "type")), "prflx");
	cr_expect_str_eq(json_string_value(json_object_get(p1, "remote_type")), "host");
	cr_expect(json_is_null(json_object_get(p1, "relay_reason")), "direct: relay_reason null");
	json_decref(root);
	free(js);
	free(text);
	floe_control_snapshot_clear(&snap);
}

/* A snapshot slower to build than the I/O bound (a large or sharded node)
 * is still answered: the bound covers the client's reading, not our work.
 * A query that cannot wait that long gives up with -ETIMEDOUT. */
Test(control, a_slow_snapshot_is_still_answered)
{
	FILE *f = tmpfile();
	json_t *root;
	int rc;

	cr_assert_not_null(f);
	atomic_store(&snapshot_delay_ms, FLOE_CONTROL_IO_TIMEOUT_MS + 500);
	atomic_store(&snapshot_extra, 2000); /* ~1 MB of JSON: more than one send */
	rc = floe_control_query(sock_path, true, fileno(f), NULL, 0);
	cr_assert_eq(rc, 0, "%s", strerror(-rc));
	rewind(f);
	root = json_loadf(f, 0, NULL);
	cr_assert_not_null(root, "the reply was cut short");
	cr_assert_eq(json_array_size(json_object_get(root, "connections")), 2002);
	json_decref(root);
	fclose(f);
	{
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		cr_assert_geq(fd, 0);
		cr_assert_eq(floe_control_query_wait(sock_path, true, fd, 200, NULL, 0), -ETIMEDOUT);
		close(fd);
	}
}
