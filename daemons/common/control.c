/* The control socket and status snapshot behind `floectl show`: see control.h. */
#include "daemons/common/control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"

#define LOG_TARGET "floe::control"

enum {
	ADDR_STR_MAX = INET6_ADDRSTRLEN + 8, /* "[v6]:65535" */
	KEY_B64_MAX = 45,                    /* 44 characters and a NUL */
	/* floectl's wait: above a sharded gateway's fan-out budget
	 * (FLOE_SHARD_SHOW_BUDGET_MS, 20 s), whose parent answers only once
	 * its workers have. */
	QUERY_TIMEOUT_MS = 30000,
	REPLY_MAX_BYTES = 64 << 20,
	READ_CHUNK_BYTES = 4096,
	LISTEN_BACKLOG = 16,
};

_Static_assert(FLOE_CONTROL_PATH_MAX == sizeof(((struct sockaddr_un *)0)->sun_path),
	       "FLOE_CONTROL_PATH_MAX is sun_path");

struct floe_control {
	int fd;
	char path[FLOE_CONTROL_PATH_MAX];
	floe_control_snapshot_fn *fn;
	void *user;
	uint64_t errors;
};

/* Snapshot ----------------------------------------------------------------- */

floe_control_conn_t *floe_control_snapshot_add(floe_control_snapshot_t *snap)
{
	if (snap->n_conns == FLOE_CONTROL_MAX_CONNS)
		return NULL;
	if (snap->n_conns == snap->cap_conns) {
		size_t cap = snap->cap_conns ? snap->cap_conns * 2 : 16;
		floe_control_conn_t *p = realloc(snap->conns, cap * sizeof(*p));

		if (!p)
			return NULL;
		snap->conns = p;
		snap->cap_conns = cap;
	}
	memset(&snap->conns[snap->n_conns], 0, sizeof(snap->conns[0]));
	snap->conns[snap->n_conns].last_handshake_s_ago = -1;
	return &snap->conns[snap->n_conns++];
}

void floe_control_snapshot_clear(floe_control_snapshot_t *snap)
{
	free(snap->conns);
	memset(snap, 0, sizeof(*snap));
}

void floe_control_snapshot_totals(const floe_control_snapshot_t *snap, floe_counters_snapshot_t *out)
{
	size_t i;

	*out = snap->node;
	for (i = 0; i < snap->n_conns; i++)
		floe_counters_sum(out, &snap->conns[i].counters, 1);
}

const char *floe_control_state_name(floe_control_state_t s)
{
	static const char *const names[] = { "new", "connecting", "connected", "idle", "failed", "closed" };

	return (unsigned)s < FLOE_ARRAY_LEN(names) ? names[s] : "unknown";
}

const char *floe_control_path_name(floe_control_path_t p)
{
	static const char *const names[] = { "none", "host", "srflx", "prflx", "relay" };

	return (unsigned)p < FLOE_ARRAY_LEN(names) ? names[p] : "none";
}

/* Rendering ---------------------------------------------------------------- */

/* "1.2.3.4:5", "[::1]:5", or "" for no address. */
static void fmt_sockaddr(const struct sockaddr_storage *ss, char buf[ADDR_STR_MAX])
{
	char ip[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, ADDR_STR_MAX, "%s:%u", ip, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, ADDR_STR_MAX, "[%s]:%u", ip, ntohs(in6->sin6_port));
	}
}

static void fmt_key(const uint8_t key[FLOE_CONTROL_KEY_LEN], char buf[KEY_B64_MAX])
{
	sodium_bin2base64(buf, KEY_B64_MAX, key, FLOE_CONTROL_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

/* Tunnel addresses of a connection: "100.64.0.2", "fd00::2", both, or "". */
static void fmt_tunnel(const floe_control_conn_t *c, bool v6, char buf[INET6_ADDRSTRLEN])
{
	buf[0] = '\0';
	if (!v6 && c->has_tunnel_v4)
		inet_ntop(AF_INET, c->tunnel_v4, buf, INET6_ADDRSTRLEN);
	if (v6 && c->has_tunnel_v6)
		inet_ntop(AF_INET6, c->tunnel_v6, buf, INET6_ADDRSTRLEN);
}

/* 1536 -> "1.50 KiB", as wg show prints transfer. */
static void fmt_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, cap, "%llu B", (unsigned long long)n);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < FLOE_ARRAY_LEN(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, cap, "%.2f %s", v, units[u]);
}

/* Counters shown in their own lines (transfer, packets), not in the list. */
static bool is_transfer_counter(int id)
{
	return id == FLOE_COUNTER_RX_BYTES || id == FLOE_COUNTER_TX_BYTES ||
	       id == FLOE_COUNTER_RX_PACKETS || id == FLOE_COUNTER_TX_PACKETS;
}

static void text_counters(FILE *f, const floe_counters_snapshot_t *c, bool with_transfer)
{
	int id;

	for (id = 0; id < FLOE_COUNTER_COUNT; id++)
		if (with_transfer || !is_transfer_counter(id))
			fprintf(f, "    %s: %llu\n", floe_counter_name((floe_counter_t)id),
				(unsigned long long)c->v[id]);
}

static void text_conn(FILE *f, const floe_control_conn_t *c)
{
	char a[ADDR_STR_MAX], b[ADDR_STR_MAX], v4[INET6_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
	char key[KEY_B64_MAX] = "(none)", rx[32], tx[32];

	if (c->has_peer_key)
		fmt_key(c->peer_public_key, key);
	fmt_tunnel(c, false, v4);
	fmt_tunnel(c, true, v6);
	fprintf(f, "\nconnection: %s\n", c->cid);
	fprintf(f, "  peer: %s\n", key);
	fprintf(f, "  client id: %s\n", c->client_id[0] ? c->client_id : "(none)");
	fprintf(f, "  tunnel ip: %s%s%s\n", v4, v4[0] && v6[0] ? ", " : "",
		v4[0] || v6[0] ? v6 : "(none)");
	fprintf(f, "  state: %s\n", floe_control_state_name(c->state));
	if (c->has_worker)
		fprintf(f, "  worker: %u\n", c->worker);
	fmt_sockaddr(&c->local, a);
	fmt_sockaddr(&c->remote, b);
	if (c->path == FLOE_CONTROL_PATH_NONE)
		fprintf(f, "  path: none\n");
	else {
		fprintf(f, "  path: %s %s -> %s\n", floe_control_path_name(c->path), a, b);
		fprintf(f, "  remote candidate: %s\n", floe_control_path_name(c->remote_path));
	}
	if (c->relay_reason[0])
		fprintf(f, "  relayed because: %s\n", c->relay_reason);
	if (c->last_handshake_s_ago < 0)
		fprintf(f, "  latest handshake: never\n");
	else
		fprintf(f, "  latest handshake: %lld seconds ago\n", (long long)c->last_handshake_s_ago);
	fmt_bytes(c->counters.v[FLOE_COUNTER_RX_BYTES], rx, sizeof(rx));
	fmt_bytes(c->counters.v[FLOE_COUNTER_TX_BYTES], tx, sizeof(tx));
	fprintf(f, "  transfer: %s received, %s sent\n", rx, tx);
	fprintf(f, "  packets: %llu received, %llu sent\n",
		(unsigned long long)c->counters.v[FLOE_COUNTER_RX_PACKETS],
		(unsigned long long)c->counters.v[FLOE_COUNTER_TX_PACKETS]);
	fprintf(f, "  counters:\n");
	text_counters(f, &c->counters, false);
}

char *floe_control_render_text(const floe_control_snapshot_t *snap)
{
	char *buf = NULL, key[KEY_B64_MAX] = "(none)", listen[ADDR_STR_MAX];
	size_t len = 0, i;
	floe_counters_snapshot_t totals;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (snap->has_public_key)
		fmt_key(snap->public_key, key);
	fmt_sockaddr(&snap->listen, listen);
	fprintf(f, "node: %s\n", snap->role[0] ? snap->role : "(unknown)");
	fprintf(f, "  public key: %s\n", key);
	fprintf(f, "  listening: %s\n", listen[0] ? listen : "(none)");
	fprintf(f, "  connections: %zu\n", snap->n_conns);
	if (snap->workers) {
		fprintf(f, "  workers: %u, answering:", snap->workers);
		for (unsigned k = 0; k < snap->workers; k++)
			if (floe_control_worker_up(snap, k))
				fprintf(f, " %u", k);
		fprintf(f, "%s\n", snap->workers_up ? "" : " none");
	}
	for (i = 0; i < snap->n_conns; i++)
		text_conn(f, &snap->conns[i]);
	floe_control_snapshot_totals(snap, &totals);
	fprintf(f, "\ntotals:\n");
	text_counters(f, &totals, true);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

bool floe_control_worker_up(const floe_control_snapshot_t *snap, unsigned k)
{
	return k < snap->workers && k < FLOE_CONTROL_MAX_WORKERS && (snap->workers_up >> k & 1);
}

size_t floe_control_worker_conns(const floe_control_snapshot_t *snap, unsigned k)
{
	size_t n = 0;

	for (size_t i = 0; i < snap->n_conns; i++)
		n += snap->conns[i].has_worker && snap->conns[i].worker == k;
	return n;
}

/* [{"worker", "up", "connections"}] of a sharded gateway, null for one process. */
static json_t *json_workers(const floe_control_snapshot_t *snap)
{
	json_t *a;

	if (!snap->workers)
		return json_null();
	a = json_array();
	for (unsigned k = 0; a && k < snap->workers; k++) {
		if (json_array_append_new(a, json_pack("{s:I, s:b, s:I}", "worker", (json_int_t)k, "up",
							 floe_control_worker_up(snap, k), "connections",
							 (json_int_t)floe_control_worker_conns(snap, k))) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* json_string, or null for an empty string; NULL only on ENOMEM. */
static json_t *json_str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *json_counters(const floe_counters_snapshot_t *c)
{
	json_t *o = json_object();
	int id;

	for (id = 0; o && id < FLOE_COUNTER_COUNT; id++)
		if (json_object_set_new(o, floe_counter_name((floe_counter_t)id),
					json_integer((json_int_t)c->v[id])) < 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

static json_t *json_conn(const floe_control_conn_t *c)
{
	char a[ADDR_STR_MAX], b[ADDR_STR_MAX], v4[INET6_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
	char key[KEY_B64_MAX] = "";

	if (c->has_peer_key)
		fmt_key(c->peer_public_key, key);
	fmt_tunnel(c, false, v4);
	fmt_tunnel(c, true, v6);
	fmt_sockaddr(&c->local, a);
	fmt_sockaddr(&c->remote, b);
	/* json_pack's "o" steals each value and fails as a whole if one is NULL. */
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:{s:s, s:o, s:o, s:o, s:o}, s:o, s:o, s:I, s:I, s:I, s:I, s:o}",
			 "cid", c->cid,
			 "client_id", json_str_or_null(c->client_id),
			 "peer", json_str_or_null(key),
			 "tunnel_ipv4", json_str_or_null(v4),
			 "tunnel_ipv6", json_str_or_null(v6),
			 "state", floe_control_state_name(c->state),
			 "path", "type", floe_control_path_name(c->path),
			 "remote_type", c->path == FLOE_CONTROL_PATH_NONE
						? json_null() : json_string(floe_control_path_name(c->remote_path)),
			 "local", json_str_or_null(a), "remote", json_str_or_null(b),
			 "relay_reason", json_str_or_null(c->relay_reason),
			 "last_handshake_s_ago",
			 c->last_handshake_s_ago < 0 ? json_null() : json_integer(c->last_handshake_s_ago),
			 "worker", c->has_worker ? json_integer(c->worker) : json_null(),
			 "rx_bytes", (json_int_t)c->counters.v[FLOE_COUNTER_RX_BYTES],
			 "tx_bytes", (json_int_t)c->counters.v[FLOE_COUNTER_TX_BYTES],
			 "rx_packets", (json_int_t)c->counters.v[FLOE_COUNTER_RX_PACKETS],
			 "tx_packets", (json_int_t)c->counters.v[FLOE_COUNTER_TX_PACKETS],
			 "counters", json_counters(&c->counters));
}

char *floe_control_render_json(const floe_control_snapshot_t *snap)
{
	char key[KEY_B64_MAX] = "", listen[ADDR_STR_MAX];
	floe_counters_snapshot_t totals;
	json_t *root, *conns;
	char *out = NULL;
	size_t i;

	if (snap->has_public_key)
		fmt_key(snap->public_key, key);
	fmt_sockaddr(&snap->listen, listen);
	floe_control_snapshot_totals(snap, &totals);
	conns = json_array();
	root = json_pack("{s:o, s:o, s:o, s:o, s:o, s:O}", "role", json_str_or_null(snap->role),
			 "public_key", json_str_or_null(key), "listen", json_str_or_null(listen),
			 "totals", json_counters(&totals), "workers", json_workers(snap), "connections", conns);
	if (!root)
		goto out;
	for (i = 0; i < snap->n_conns; i++)
		if (json_array_append_new(conns, json_conn(&snap->conns[i])) < 0)
			goto out;
	out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	json_decref(conns);
	json_decref(root);
	return out;
}

/* Socket helpers ----------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline_ms - now_ms();
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline_ms)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		rc = wait_fd(fd, POLLOUT, deadline_ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int fill_sockaddr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!path || !path[0] || strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Server ------------------------------------------------------------------- */

/* A socket file nobody answers on is stale; anything else stays. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, rc = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		rc = -EADDRINUSE;
	else if (errno == ECONNREFUSED)
		rc = unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	else
		rc = -errno;
	close(fd);
	return rc;
}

floe_control_t *floe_control_new(const char *path, const char *daemon, floe_control_snapshot_fn *fn,
				 void *user, int *err)
{
	floe_control_t *self = NULL;
	struct sockaddr_un sa;
	char def[sizeof(sa.sun_path)];
	int rc = -EINVAL;

	if (!fn || (!path && (!daemon || !daemon[0] || strchr(daemon, '/'))))
		goto err;
	if (!path) {
		/* Only our own default directory is created, and only for us. */
		if (mkdir(FLOE_CONTROL_DEFAULT_DIR, 0700) < 0 && errno != EEXIST) {
			rc = -errno;
			goto err;
		}
		snprintf(def, sizeof(def), "%s/%s.sock", FLOE_CONTROL_DEFAULT_DIR, daemon);
		path = def;
	}
	rc = fill_sockaddr(&sa, path);
	if (rc < 0)
		goto err;
	rc = -ENOMEM;
	self = calloc(1, sizeof(*self));
	if (!self)
		goto err;
	strcpy(self->path, path);
	self->fn = fn;
	self->user = user;
	rc = clear_stale(path, &sa);
	if (rc < 0)
		goto err_free;
	self->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (self->fd < 0) {
		rc = -errno;
		goto err_free;
	}
	if (bind(self->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto err_close;
	}
	/* Nobody can connect before listen(), so there is no window in which
	 * the umask's mode lets another user in. */
	if (chmod(path, 0600) < 0 || listen(self->fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		goto err_unlink;
	}
	return self;

err_unlink:
	unlink(path);
err_close:
	close(self->fd);
err_free:
	free(self);
err:
	if (err)
		*err = rc;
	return NULL;
}

void floe_control_destroy(floe_control_t **self_p)
{
	floe_control_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	close(self->fd);
	unlink(self->path);
	free(self);
	*self_p = NULL;
}

int floe_control_fd(const floe_control_t *self)
{
	return self ? self->fd : -1;
}

const char *floe_control_path(const floe_control_t *self)
{
	return self ? self->path : NULL;
}

uint64_t floe_control_errors(const floe_control_t *self)
{
	return self ? self->errors : 0;
}

/* Reads one request line into buf (NUL-terminated, newline stripped). */
static int read_request(int fd, char buf[FLOE_CONTROL_REQUEST_MAX_BYTES], int64_t deadline_ms)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + len, FLOE_CONTROL_REQUEST_MAX_BYTES - 1 - len, MSG_DONTWAIT);
		char *nl;
		int rc;

		if (n == 0)
			return -ECONNRESET;
		if (n > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			nl = memchr(buf, '\n', len);
			if (nl) {
				/* An embedded NUL would let "show\0junk" pass as "show". */
				if (memchr(buf, '\0', (size_t)(nl - buf)))
					return -EBADMSG;
				*nl = '\0';
				if (nl > buf && nl[-1] == '\r')
					nl[-1] = '\0';
				return 0;
			}
			if (len == FLOE_CONTROL_REQUEST_MAX_BYTES - 1)
				return -EMSGSIZE;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		rc = wait_fd(fd, POLLIN, deadline_ms);
		if (rc < 0)
			return rc;
	}
}

/* "ok\n" + body, or "error <why>\n"; malloc'd. */
static char *build_reply(floe_control_t *self, const char *req)
{
	floe_control_snapshot_t snap = { 0 };
	char *body = NULL, *reply = NULL;
	bool json;
	int rc;

	if (strcmp(req, "show") == 0)
		json = false;
	else if (strcmp(req, "show json") == 0)
		json = true;
	else
		return strdup("error unknown request (expected \"show\" or \"show json\")\n");
	rc = self->fn(self->user, &snap);
	if (rc < 0) {
		if (asprintf(&reply, "error snapshot failed: %s\n", strerror(-rc)) < 0)
			reply = NULL;
		goto out;
	}
	body = json ? floe_control_render_json(&snap) : floe_control_render_text(&snap);
	if (body && asprintf(&reply, "ok\n%s%s", body, json ? "\n" : "") < 0)
		reply = NULL;
out:
	free(body);
	floe_control_snapshot_clear(&snap);
	return reply;
}

static int serve_client(floe_control_t *self, int fd)
{
	int64_t deadline = now_ms() + FLOE_CONTROL_IO_TIMEOUT_MS;
	char req[FLOE_CONTROL_REQUEST_MAX_BYTES];
	char *reply = NULL;
	int rc;

	rc = read_request(fd, req, deadline);
	if (rc == -EMSGSIZE)
		reply = strdup("error request too long\n");
	else if (rc == -EBADMSG)
		reply = strdup("error malformed request\n");
	else if (rc < 0)
		return rc;
	else
		reply = build_reply(self, req);
	if (!reply)
		return -ENOMEM;
	/* The bound is for the client's I/O, not for our snapshot: a large
	 * node (thousands of connections, a sharded gateway asking its
	 * workers) may take longer than that to build its reply, which the
	 * client is waiting for. */
	deadline = now_ms() + FLOE_CONTROL_IO_TIMEOUT_MS;
	rc = send_all(fd, reply, strlen(reply), deadline);
	if (rc == 0 && strncmp(reply, "error", 5) == 0)
		rc = -EPROTO; /* answered, but the client asked for nonsense: counted */
	free(reply);
	return rc;
}

int floe_control_handle(floe_control_t *self)
{
	int served = 0;

	if (!self)
		return -EINVAL;
	while (served < FLOE_CONTROL_ACCEPT_BATCH) {
		int fd = accept4(self->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int rc;

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return served ? served : -errno;
		}
		rc = serve_client(self, fd);
		close(fd);
		served++;
		if (rc < 0) {
			self->errors++;
			floe_log_ratelimited(FLOE_LOG_DEBUG, LOG_TARGET, "Control request failed",
					     FLOE_F_STR("error", strerror(-rc)));
		}
	}
	return served;
}

/* Client ------------------------------------------------------------------- */

int floe_control_query(const char *path, bool json, int out_fd, char *err, size_t err_cap)
{
	return floe_control_query_wait(path, json, out_fd, QUERY_TIMEOUT_MS, err, err_cap);
}

int floe_control_query_wait(const char *path, bool json, int out_fd, int timeout_ms, char *err, size_t err_cap)
{
	const char *req = json ? "show json\n" : "show\n";
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct sockaddr_un sa;
	char *buf = NULL, *nl;
	size_t len = 0, cap = 0;
	int fd = -1, rc;

	if (err && err_cap)
		err[0] = '\0';
	rc = fill_sockaddr(&sa, path);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	rc = send_all(fd, req, strlen(req), deadline);
	if (rc < 0)
		goto out;
	for (;;) {
		ssize_t n;

		if (cap - len < READ_CHUNK_BYTES) {
			char *p;

			rc = -EMSGSIZE;
			if (cap >= REPLY_MAX_BYTES)
				goto out;
			cap = cap ? cap * 2 : 2 * READ_CHUNK_BYTES;
			p = realloc(buf, cap + 1);
			rc = -ENOMEM;
			if (!p)
				goto out;
			buf = p;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			rc = -errno;
			goto out;
		}
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			goto out;
	}
	buf[len] = '\0';
	nl = memchr(buf, '\n', len);
	rc = -EPROTO;
	if (!nl)
		goto out;
	*nl = '\0';
	if (strcmp(buf, "ok") != 0) {
		if (err && err_cap)
			snprintf(err, err_cap, "%s", strncmp(buf, "error ", 6) == 0 ? buf + 6 : buf);
		goto out;
	}
	{
		const char *p = nl + 1;
		size_t left = len - (size_t)(p - buf);

		rc = 0;
		while (left) {
			ssize_t n = write(out_fd, p, left);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = n < 0 ? -errno : -EIO;
				break;
			}
			p += n;
			left -= (size_t)n;
		}
	}
out:
	free(buf);
	close(fd);
	return rc;
}

int floe_control_find_socket(const char *dir, char *buf, size_t cap)
{
	static const char *const daemons[] = { "floe-gateway", "floe-client", "floe-portal", "floe-wg" };
	struct stat st;
	size_t i;

	if (!dir)
		dir = FLOE_CONTROL_DEFAULT_DIR;
	for (i = 0; i < FLOE_ARRAY_LEN(daemons); i++) {
		int n = snprintf(buf, cap, "%s/%s.sock", dir, daemons[i]);

		if (n < 0 || (size_t)n >= cap)
			return -ENAMETOOLONG;
		if (stat(buf, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
	}
	return -ENOENT;
}
