/* Prometheus metrics over HTTP: a raw HTTP/1.0 client against a loopback server. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "daemons/common/metrics.h"

enum {
	REPLY_MAX_BYTES = 1 << 17,
	CLIENT_TIMEOUT_S = 5,
};

static floe_metrics_t *metrics;
static atomic_int calls;

/* A client id with every character the exposition format escapes. */
#define NASTY_ID "a\"b\\c\nd"

static int fill(void *user, floe_control_snapshot_t *snap)
{
	floe_control_conn_t *c;

	atomic_fetch_add(&calls, 1);
	snap->node.v[FLOE_COUNTER_MAILBOX_DROPS] = 4;
	c = floe_control_snapshot_add(snap);
	if (!c)
		return -ENOMEM;
	strcpy(c->cid, "c1");
	strcpy(c->client_id, "8b106344-ba59-4050-8f9a-e2f0bab6e9e5");
	c->path = FLOE_CONTROL_PATH_RELAY;
	c->remote_path = FLOE_CONTROL_PATH_HOST;
	strcpy(c->relay_reason, "no_direct_pair");
	c->counters.v[FLOE_COUNTER_ACL_DROPS] = 5;
	c->counters.v[FLOE_COUNTER_RX_BYTES] = 1234;
	c->counters.v[FLOE_COUNTER_MAILBOX_DROPS] = 1;
	c = floe_control_snapshot_add(snap);
	if (!c)
		return -ENOMEM;
	strcpy(c->cid, "c2");
	strcpy(c->client_id, NASTY_ID);
	c->counters.v[FLOE_COUNTER_ACL_DROPS] = 1;
	return 0;
}

static void setup(void)
{
	int err = 0;

	atomic_store(&calls, 0);
	metrics = floe_metrics_new("127.0.0.1", 0, fill, NULL, &err);
	cr_assert_not_null(metrics, "floe_metrics_new: %s", strerror(-err));
	cr_assert_neq(floe_metrics_port(metrics), 0);
}

static void teardown(void)
{
	floe_metrics_destroy(&metrics);
	cr_assert_null(metrics);
	floe_metrics_destroy(&metrics);
}

TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 30);

/* Sends one raw request, returns the whole reply (headers and body). */
static char *http(const char *request)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(floe_metrics_port(metrics)) };
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *out = calloc(1, REPLY_MAX_BYTES);
	size_t len = 0;
	ssize_t n;

	cr_assert(fd >= 0);
	cr_assert_not_null(out);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	cr_assert_eq(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
	while (len < REPLY_MAX_BYTES - 1 && (n = read(fd, out + len, REPLY_MAX_BYTES - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return out;
}

static bool header_has(const char *reply, const char *line)
{
	const char *end = strstr(reply, "\r\n\r\n");
	const char *hit = strcasestr(reply, line);

	return end && hit && hit < end;
}

Test(metrics, get_metrics_is_prometheus_text)
{
	char *r = http("GET /metrics HTTP/1.0\r\n\r\n");
	const char *body = strstr(r, "\r\n\r\n");

	cr_assert(strncmp(r, "HTTP/1.0 200", 12) == 0 || strncmp(r, "HTTP/1.1 200", 12) == 0, "%.80s", r);
	cr_expect(header_has(r, "Content-Type: text/plain; version=0.0.4"), "%s", r);
	cr_assert_not_null(body);
	cr_expect(strstr(body, "\n# HELP floe_acl_drops Packets dropped by the gateway's access policy.\n"
			       "# TYPE floe_acl_drops counter\n"), "%s", body);
	cr_expect(strstr(body, "\nfloe_acl_drops{cid=\"c1\",client_id=\"8b106344-ba59-4050-8f9a-e2f0bab6e9e5\","
			       "path=\"relay\"} 5\n"), "%s", body);
	cr_expect(strstr(body, "\nfloe_rx_bytes{cid=\"c1\",client_id=\"8b106344-ba59-4050-8f9a-e2f0bab6e9e5\","
			       "path=\"relay\"} 1234\n"));
	/* " \ and newline escaped, so the line stays one line. */
	cr_expect(strstr(body, "\nfloe_acl_drops{cid=\"c2\",client_id=\"a\\\"b\\\\c\\nd\",path=\"none\"} 1\n"),
		  "%s", body);
	/* Node totals: connections summed with the node's own counters. */
	cr_expect(strstr(body, "\n# TYPE floe_node_acl_drops counter\nfloe_node_acl_drops 6\n"));
	cr_expect(strstr(body, "\nfloe_node_mailbox_drops 5\n"));
	cr_expect(strstr(body, "\nfloe_connections 2\n"));
	/* Issue #6: connections by path and reason, and each one's path. */
	cr_expect(strstr(body, "\nfloe_connections_path{path=\"relay\",relay_reason=\"no_direct_pair\"} 1\n"), "%s", body);
	cr_expect(strstr(body, "\nfloe_connections_path{path=\"relay\",relay_reason=\"symmetric_nat\"} 0\n"));
	cr_expect(strstr(body, "\nfloe_connections_path{path=\"none\",relay_reason=\"\"} 1\n"));
	cr_expect(strstr(body, "\nfloe_connections_path{path=\"host\",relay_reason=\"\"} 0\n"));
	cr_expect(strstr(body, "\nfloe_connection_path_info{cid=\"c1\",client_id=\"8b106344-ba59-4050-8f9a-e2f0bab6e9e5\","
			       "path=\"relay\",remote_path=\"host\",relay_reason=\"no_direct_pair\"} 1\n"), "%s", body);
	cr_expect(strstr(body, ",path=\"none\",remote_path=\"none\",relay_reason=\"\"} 1\n"));
	/* Every counter of the design brief has its HELP and TYPE. */
	for (int id = 0; id < FLOE_COUNTER_COUNT; id++) {
		char want[128];

		snprintf(want, sizeof(want), "# TYPE floe_%s counter\n", floe_counter_name((floe_counter_t)id));
		cr_expect(strstr(body, want), "missing %s", want);
	}
	cr_expect_eq(atomic_load(&calls), 1);
	free(r);
}

Test(metrics, other_paths_are_404_and_other_methods_405)
{
	char *r = http("GET / HTTP/1.0\r\n\r\n");

	cr_expect(strstr(r, " 404 ") != NULL && strstr(r, " 404 ") < strstr(r, "\r\n"), "%.80s", r);
	free(r);
	r = http("GET /metrics/extra HTTP/1.0\r\n\r\n");
	cr_expect(strstr(r, " 404 ") != NULL, "%.80s", r);
	free(r);
	r = http("POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	cr_expect(strstr(r, " 405 ") != NULL, "%.80s", r);
	free(r);
	r = http("garbage\r\n\r\n");
	/* libmicrohttpd answers 400 or just hangs up: either way no metrics. */
	cr_expect_null(strstr(r, " 200 "), "%.80s", r);
	free(r);
	cr_expect_eq(atomic_load(&calls), 0, "no snapshot for requests that are not GET /metrics");
}

Test(metrics, bad_address_and_taken_port_fail_cleanly)
{
	int err = 0;
	floe_metrics_t *m = floe_metrics_new("not-an-ip", 0, fill, NULL, &err);

	cr_expect_null(m);
	cr_expect_eq(err, -EINVAL);
	m = floe_metrics_new("127.0.0.1", floe_metrics_port(metrics), fill, NULL, &err);
	cr_expect_null(m);
	cr_expect_lt(err, 0);
	m = floe_metrics_new("::1", 0, fill, NULL, &err);
	if (m) /* ::1 may be missing in a container: then only the failure is checked above */
		cr_expect_neq(floe_metrics_port(m), 0);
	floe_metrics_destroy(&m);
}

Test(metrics, render_escapes_and_orders)
{
	floe_control_snapshot_t snap = { 0 };
	char *text;

	cr_assert_eq(fill(NULL, &snap), 0);
	text = floe_metrics_render(&snap);
	cr_assert_not_null(text);
	/* HELP and TYPE come before their samples. */
	cr_expect_lt(strstr(text, "# TYPE floe_tun_rx_packets counter"), strstr(text, "floe_tun_rx_packets{"));
	cr_expect_null(strstr(text, "\nd\""), "a raw newline inside a label");
	free(text);
	floe_control_snapshot_clear(&snap);
}

/* A sharded gateway: one gauge per worker, 0 for a worker without connections. */
Test(metrics, worker_connections_per_worker)
{
	floe_control_snapshot_t snap = { 0 };
	char *text;

	cr_assert_eq(fill(NULL, &snap), 0);
	text = floe_metrics_render(&snap);
	cr_assert_null(strstr(text, "floe_worker_connections"), "one process: no worker gauge");
	free(text);
	cr_assert_geq(snap.n_conns, 2);
	snap.workers = 3;
	snap.workers_up = 1u << 0 | 1u << 2;
	for (size_t i = 0; i < snap.n_conns; i++) {
		snap.conns[i].has_worker = true;
		snap.conns[i].worker = i == 0 ? 2 : 0;
	}
	text = floe_metrics_render(&snap);
	cr_assert_not_null(text);
	cr_assert(strstr(text, "# TYPE floe_worker_connections gauge\n"), "%s", text);
	cr_assert(strstr(text, "\nfloe_worker_connections{worker=\"1\"} 0\n"), "%s", text);
	cr_assert(strstr(text, "\nfloe_worker_connections{worker=\"2\"} 1\n"), "%s", text);
	cr_assert(strstr(text, "\nfloe_worker_up{worker=\"0\"} 1\nfloe_worker_up{worker=\"1\"} 0\n"
			       "floe_worker_up{worker=\"2\"} 1\n"), "%s", text);
	{
		char want[64];

		snprintf(want, sizeof(want), "\nfloe_worker_connections{worker=\"0\"} %zu\n", snap.n_conns - 1);
		cr_assert(strstr(text, want), "%s", text);
	}
	free(text);
	floe_control_snapshot_clear(&snap);
}
