/* Prometheus text metrics over HTTP with libmicrohttpd: see metrics.h. */
#include "daemons/common/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"

#define LOG_TARGET "floe::metrics"
#define METRICS_PATH "/metrics"

struct floe_metrics {
	struct MHD_Daemon *mhd;
	uint16_t port;
	floe_control_snapshot_fn *fn;
	void *user;
};

/* One line of help per counter of the design brief, in floe_counter_t order. */
static const char *const s_help[FLOE_COUNTER_COUNT] = {
	[FLOE_COUNTER_TUN_RX_PACKETS] = "Packets read from the packet device for this peer.",
	[FLOE_COUNTER_TUN_TX_PACKETS] = "Packets written to the packet device from this peer.",
	[FLOE_COUNTER_ICE_BUFFERED_PACKETS] = "Packets buffered while ICE had not nominated a path.",
	[FLOE_COUNTER_ICE_BUFFER_OVERFLOW_DROPS] = "Buffered packets dropped because the ring was full.",
	[FLOE_COUNTER_DROPPED_NOT_NOMINATED] = "Packets dropped because no path was nominated (gateway).",
	[FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION] = "Packets for a tunnel address with no connection.",
	[FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT] = "WireGuard handshake initiations sent.",
	[FLOE_COUNTER_HANDSHAKE_INITIATIONS_RECEIVED] = "WireGuard handshake initiations received.",
	[FLOE_COUNTER_HANDSHAKE_RESPONSES_SENT] = "WireGuard handshake responses sent.",
	[FLOE_COUNTER_HANDSHAKES_COMPLETED] = "WireGuard handshakes completed.",
	[FLOE_COUNTER_COOKIE_REPLIES_SENT] = "WireGuard cookie replies sent under load.",
	[FLOE_COUNTER_DECRYPT_ERRORS] = "Datagrams that failed authentication or decryption.",
	[FLOE_COUNTER_REPLAY_DROPS] = "Datagrams dropped by the replay window.",
	[FLOE_COUNTER_MAILBOX_DROPS] = "Messages dropped because an actor's mailbox was full.",
	[FLOE_COUNTER_ACL_DROPS] = "Packets dropped by the gateway's access policy.",
	[FLOE_COUNTER_TX_BYTES] = "Bytes sent through the tunnel.",
	[FLOE_COUNTER_RX_BYTES] = "Bytes received through the tunnel.",
	[FLOE_COUNTER_TX_PACKETS] = "Packets sent through the tunnel.",
	[FLOE_COUNTER_RX_PACKETS] = "Packets received through the tunnel.",
};

/* A label value as the exposition format wants it: \ " and newline escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/*
 * Which paths the connections use: floe_connections_path{path, relay_reason}
 * (a gauge per local candidate type and reason, every type listed so a
 * dashboard sees zeros), and per connection floe_connection_path_info
 * {cid, client_id, path, remote_path, relay_reason} 1 (docs/nat.md).
 */
static void put_paths(FILE *f, const floe_control_snapshot_t *snap)
{
	static const char *const reasons[] = { "", "no_direct_pair", "symmetric_nat",
					       "direct_path_lost", "relay_only" };
	size_t i, n, r;
	int p;

	fputs("# HELP floe_connections_path Connections by the local type of the selected path, "
	      "and why when relayed.\n# TYPE floe_connections_path gauge\n", f);
	for (p = FLOE_CONTROL_PATH_NONE; p <= FLOE_CONTROL_PATH_RELAY; p++) {
		for (r = 0; r < FLOE_ARRAY_LEN(reasons); r++) {
			if (r && p != FLOE_CONTROL_PATH_RELAY)
				continue;
			for (n = 0, i = 0; i < snap->n_conns; i++)
				n += snap->conns[i].path == (floe_control_path_t)p &&
				     (p != FLOE_CONTROL_PATH_RELAY ||
				      strcmp(snap->conns[i].relay_reason, reasons[r]) == 0);
			fprintf(f, "floe_connections_path{path=\"%s\",relay_reason=\"%s\"} %zu\n",
				floe_control_path_name((floe_control_path_t)p), reasons[r], n);
		}
	}
	fputs("# HELP floe_connection_path_info The selected path of each connection.\n"
	      "# TYPE floe_connection_path_info gauge\n", f);
	for (i = 0; i < snap->n_conns; i++) {
		const floe_control_conn_t *c = &snap->conns[i];

		fputs("floe_connection_path_info{cid=\"", f);
		put_label(f, c->cid);
		fputs("\",client_id=\"", f);
		put_label(f, c->client_id);
		fprintf(f, "\",path=\"%s\",remote_path=\"%s\",relay_reason=\"", floe_control_path_name(c->path),
			c->path == FLOE_CONTROL_PATH_NONE ? "none" : floe_control_path_name(c->remote_path));
		put_label(f, c->relay_reason);
		fputs("\"} 1\n", f);
	}
}

/* A sharded gateway: how many connections each worker holds, 0 included,
 * and whether it answered for this scrape. */
static void put_workers(FILE *f, const floe_control_snapshot_t *snap)
{
	if (!snap->workers)
		return;
	fputs("# HELP floe_worker_connections Connections each worker process of the gateway holds.\n"
	      "# TYPE floe_worker_connections gauge\n", f);
	for (unsigned k = 0; k < snap->workers; k++)
		fprintf(f, "floe_worker_connections{worker=\"%u\"} %zu\n", k, floe_control_worker_conns(snap, k));
	fputs("# HELP floe_worker_up 1 when the worker process answered for this scrape.\n"
	      "# TYPE floe_worker_up gauge\n", f);
	for (unsigned k = 0; k < snap->workers; k++)
		fprintf(f, "floe_worker_up{worker=\"%u\"} %d\n", k, floe_control_worker_up(snap, k) ? 1 : 0);
}

char *floe_metrics_render(const floe_control_snapshot_t *snap)
{
	floe_counters_snapshot_t totals;
	char *buf = NULL;
	size_t len = 0, i;
	int id;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (id = 0; id < FLOE_COUNTER_COUNT; id++) {
		const char *name = floe_counter_name((floe_counter_t)id);

		fprintf(f, "# HELP floe_%s %s\n# TYPE floe_%s counter\n", name, s_help[id], name);
		for (i = 0; i < snap->n_conns; i++) {
			const floe_control_conn_t *c = &snap->conns[i];

			fprintf(f, "floe_%s{cid=\"", name);
			put_label(f, c->cid);
			fputs("\",client_id=\"", f);
			put_label(f, c->client_id);
			fprintf(f, "\",path=\"%s\"} %llu\n", floe_control_path_name(c->path),
				(unsigned long long)c->counters.v[id]);
		}
	}
	floe_control_snapshot_totals(snap, &totals);
	for (id = 0; id < FLOE_COUNTER_COUNT; id++) {
		const char *name = floe_counter_name((floe_counter_t)id);

		fprintf(f, "# HELP floe_node_%s %s (node total)\n# TYPE floe_node_%s counter\n"
			   "floe_node_%s %llu\n",
			name, s_help[id], name, name, (unsigned long long)totals.v[id]);
	}
	fprintf(f, "# HELP floe_connections Connections the node holds.\n"
		   "# TYPE floe_connections gauge\nfloe_connections %zu\n", snap->n_conns);
	put_paths(f, snap);
	put_workers(f, snap);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body,
			       size_t len, enum MHD_ResponseMemoryMode mode, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result static_reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return respond(conn, status, (char *)text, strlen(text), MHD_RESPMEM_PERSISTENT,
		       "text/plain; charset=utf-8");
}

/* Runs on libmicrohttpd's thread. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	floe_metrics_t *self = cls;
	floe_control_snapshot_t snap = { 0 };
	char *body;
	int rc;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return static_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, METRICS_PATH) != 0)
		return static_reply(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	rc = self->fn(self->user, &snap);
	body = rc < 0 ? NULL : floe_metrics_render(&snap);
	floe_control_snapshot_clear(&snap);
	if (!body) {
		floe_log_ratelimited(FLOE_LOG_WARNING, LOG_TARGET, "Metrics snapshot failed",
				     FLOE_F_STR("error", strerror(rc < 0 ? -rc : ENOMEM)));
		return static_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "snapshot failed\n");
	}
	return respond(conn, MHD_HTTP_OK, body, strlen(body), MHD_RESPMEM_MUST_FREE,
		       FLOE_METRICS_CONTENT_TYPE);
}

floe_metrics_t *floe_metrics_new(const char *address, uint16_t port, floe_control_snapshot_fn *fn,
				 void *user, int *err)
{
	floe_metrics_t *self = NULL;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	const struct sockaddr *sa;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	const union MHD_DaemonInfo *info;
	int rc = -EINVAL;

	if (!address)
		address = FLOE_METRICS_DEFAULT_ADDRESS;
	if (!fn)
		goto err;
	if (inet_pton(AF_INET, address, &in.sin_addr) == 1) {
		sa = (const struct sockaddr *)&in;
	} else if (inet_pton(AF_INET6, address, &in6.sin6_addr) == 1) {
		sa = (const struct sockaddr *)&in6;
		flags |= MHD_USE_IPv6;
	} else {
		goto err;
	}
	rc = -ENOMEM;
	self = calloc(1, sizeof(*self));
	if (!self)
		goto err;
	self->fn = fn;
	self->user = user;
	self->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, self,
				     MHD_OPTION_SOCK_ADDR, sa,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)FLOE_METRICS_MAX_CLIENTS,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)FLOE_METRICS_CONNECTION_TIMEOUT_S,
				     MHD_OPTION_END);
	if (!self->mhd) {
		rc = errno ? -errno : -EADDRINUSE;
		goto err_free;
	}
	info = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
	self->port = info ? info->port : port;
	floe_log(FLOE_LOG_INFO, LOG_TARGET, "Serving metrics", FLOE_F_STR("address", address),
		 FLOE_F_U64("port", self->port));
	return self;

err_free:
	free(self);
err:
	if (err)
		*err = rc;
	return NULL;
}

void floe_metrics_destroy(floe_metrics_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	MHD_stop_daemon((*self_p)->mhd);
	free(*self_p);
	*self_p = NULL;
}

uint16_t floe_metrics_port(const floe_metrics_t *self)
{
	return self ? self->port : 0;
}
