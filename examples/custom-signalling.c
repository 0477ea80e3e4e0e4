/*
 * custom-signalling: two floe nodes that find each other without a portal.
 * The application carries the signalling itself, here as lines of text
 * over a socketpair between two processes (a client and a gateway):
 *
 *   key <base64 public key>     first line from each side
 *   cred <ufrag> <pwd>          the LOCAL_CREDENTIALS event
 *   cand <SDP candidate line>   one LOCAL_CANDIDATE event
 *   done                        the GATHERING_DONE event
 *   bye                         client -> gateway: finished, exit
 *
 * Any channel that keeps the lines in order works: a pipe, a file, a chat
 * message, an HTTP API. It must be one you trust, since the ICE pwd
 * authenticates connectivity checks and the public key decides who may
 * talk to the node. Once ICE has nominated a path and the first WireGuard
 * handshake is done (ESTABLISHED), the client sends --count UDP datagrams
 * to the gateway's echo port (7) through the tunnel, one at a time; the
 * gateway process answers them from its userspace device. Exit 0 when
 * every echo came back; otherwise a message and exit 1.
 *
 * Build: cc custom-signalling.c $(pkg-config --cflags --libs floe) -o custom-signalling
 */
#define _DEFAULT_SOURCE 1 /* explicit_bzero */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <floe/floe.h>

#include "ippkt.h"

enum {
	DEFAULT_COUNT = 20,
	MAX_COUNT = 1000000,
	DEFAULT_TIMEOUT_S = 30,
	MAX_TIMEOUT_S = 600,     /* floe's ICE failure timeout tops out at 600 s */
	LINE_BYTES = 1024,       /* longer than any line of the protocol above */
	POLL_SLICE_MS = 100,
	CHILD_GRACE_MS = 5000,   /* the gateway's time to exit after the client */
	CLIENT_PORT = 40007,
	CL = 0,
	GW = 1,
};

static const uint8_t tunnel_ip[2][4] = { [CL] = { 10, 98, 0, 1 }, [GW] = { 10, 98, 0, 2 } };
static const char *const peer_allowed[2] = { [CL] = "10.98.0.2/32", [GW] = "10.98.0.1/32" };
static const char *const loopback[] = { "127.0.0.1" };
static const char *const side_name[2] = { [CL] = "client", [GW] = "gateway" };

/* One side: its node, its end of the channel, and how far it got. */
typedef struct {
	int side;                /* CL or GW */
	int fd;                  /* the signalling channel */
	floe_node_t *node;
	bool have_peer;          /* the peer's key line arrived: peer added */
	uint64_t id;             /* the connection to the peer */
	bool established;
	bool finished;           /* client: every echo back; gateway: bye */
	long count, sent, echoed;
	char in[LINE_BYTES];     /* received bytes not yet a whole line */
	size_t in_len;
} side_t;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: example_custom_signalling [--count N] [--timeout S] [--help]\n"
		     "  Two floe nodes (a client and a gateway process) exchange keys, ICE\n"
		     "  credentials and candidates as text lines over a socketpair, no portal,\n"
		     "  then N UDP echoes (default %d) cross the tunnel. Exit 0 when all came\n"
		     "  back. --timeout S bounds the run (default %d s).\n",
		DEFAULT_COUNT, DEFAULT_TIMEOUT_S);
}

static int fail(const side_t *s, const char *what, int err)
{
	if (err)
		fprintf(stderr, "custom-signalling: %s: %s: %s\n", side_name[s->side], what, strerror(-err));
	else
		fprintf(stderr, "custom-signalling: %s: %s\n", side_name[s->side], what);
	return -1;
}

/* Writes one line to the channel; short writes are retried. */
static int send_line(side_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int send_line(side_t *s, const char *fmt, ...)
{
	char line[LINE_BYTES];
	va_list ap;
	size_t off = 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		return fail(s, "a signalling line is too long", 0);
	line[n++] = '\n';
	while (off < (size_t)n) {
		/* send, not write: a peer that went away is an error, not SIGPIPE. */
		ssize_t w = send(s->fd, line + off, (size_t)n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			explicit_bzero(line, sizeof(line));
			return fail(s, "writing to the channel", -errno);
		}
		off += (size_t)w;
	}
	explicit_bzero(line, sizeof(line)); /* it may have carried the pwd */
	return 0;
}

/* The node's events: signalling goes out as lines; the rest is state. */
static int handle_events(side_t *s)
{
	floe_event_t ev;
	int rc = 0;

	while (rc == 0 && floe_node_event_next(s->node, &ev) == 0) {
		switch (ev.type) {
		case FLOE_EVENT_LOCAL_CREDENTIALS:
			rc = send_line(s, "cred %s %s", ev.ufrag, ev.pwd);
			break;
		case FLOE_EVENT_LOCAL_CANDIDATE:
			rc = send_line(s, "cand %s", ev.text);
			break;
		case FLOE_EVENT_GATHERING_DONE:
			rc = send_line(s, "done");
			break;
		case FLOE_EVENT_ESTABLISHED:
			s->established = true;
			break;
		case FLOE_EVENT_FAILED:
			rc = fail(s, "the connection failed", 0);
			fprintf(stderr, "custom-signalling: %s: reason: %s\n", side_name[s->side], ev.text);
			break;
		case FLOE_EVENT_CLOSED:
			rc = fail(s, "the connection closed", 0);
			break;
		default:
			break;
		}
	}
	explicit_bzero(&ev, sizeof(ev));
	return rc;
}

/* The peer's public key: now the node can have its peer (and only then:
 * floe_node_peer_add needs the key), which starts ICE gathering. */
static int peer_from_key(side_t *s, const char *b64)
{
	floe_peer_config_t peer = { .allowed_ips = &peer_allowed[s->side], .n_allowed_ips = 1 };
	int rc;

	if (s->have_peer)
		return fail(s, "a second key line", 0);
	if (floe_key_from_base64(peer.public_key, b64) != 0)
		return fail(s, "the peer's key line is not a key", 0);
	rc = floe_node_peer_add(s->node, &peer, &s->id);
	if (rc < 0)
		return fail(s, "floe_node_peer_add", rc);
	s->have_peer = true;
	return 0;
}

/* One line from the peer, without its newline. */
static int handle_line(side_t *s, char *line)
{
	char *arg = strchr(line, ' ');
	int rc;

	if (arg)
		*arg++ = 0;
	if (!strcmp(line, "key") && arg)
		return peer_from_key(s, arg);
	if (!strcmp(line, "bye") && s->side == GW) {
		s->finished = true;
		return 0;
	}
	if (!s->have_peer)
		return fail(s, "signalling before the peer's key", 0);
	if (!strcmp(line, "cred") && arg) {
		char *pwd = strchr(arg, ' ');

		if (!pwd)
			return fail(s, "a cred line without a pwd", 0);
		*pwd++ = 0;
		rc = floe_node_peer_remote_credentials(s->node, s->id, arg, pwd);
	} else if (!strcmp(line, "cand") && arg) {
		rc = floe_node_peer_remote_candidate(s->node, s->id, arg);
	} else if (!strcmp(line, "done") && !arg) {
		rc = floe_node_peer_remote_gathering_done(s->node, s->id);
	} else {
		return fail(s, "an unknown signalling line", 0);
	}
	return rc < 0 ? fail(s, "handing a remote line to the node", rc) : 0;
}

/* Reads what the channel has and handles each whole line. */
static int handle_channel(side_t *s)
{
	ssize_t r = read(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len);
	char *nl;

	if (r < 0)
		return errno == EINTR ? 0 : fail(s, "reading the channel", -errno);
	if (r == 0)
		return s->finished ? 0 : fail(s, "the peer hung up", 0);
	s->in_len += (size_t)r;
	while ((nl = memchr(s->in, '\n', s->in_len))) {
		size_t used = (size_t)(nl - s->in) + 1;

		*nl = 0;
		if (handle_line(s, s->in) < 0)
			return -1;
		memmove(s->in, s->in + used, s->in_len - used);
		s->in_len -= used;
	}
	if (s->in_len == sizeof(s->in))
		return fail(s, "a signalling line longer than the protocol allows", 0);
	return 0;
}

/* Client: the next echo request, "echo <n>", to the gateway's port 7. */
static int send_echo(side_t *s)
{
	uint8_t pkt[IPPKT_MAX_BYTES];
	char text[32];
	int n = snprintf(text, sizeof(text), "echo %ld", s->sent);
	int rc;

	n = ippkt_udp(pkt, sizeof(pkt), tunnel_ip[CL], tunnel_ip[GW], CLIENT_PORT, IPPKT_UDP_ECHO_PORT,
		      (const uint8_t *)text, (size_t)n);
	rc = n < 0 ? n : floe_node_device_write(s->node, pkt, (size_t)n);
	if (rc < 0)
		return fail(s, "floe_node_device_write", rc);
	s->sent++;
	return 0;
}

/*
 * The device: the gateway answers echoes; the client checks that the
 * answer is the echo of its last request and sends the next one.
 */
static int handle_device(side_t *s)
{
	uint8_t buf[IPPKT_MAX_BYTES], out[IPPKT_MAX_BYTES];
	ssize_t len;

	while ((len = floe_node_device_read(s->node, buf, sizeof(buf), 0)) > 0) {
		ippkt_v4_t p;
		char want[32];
		int n;

		if (ippkt_parse_v4(buf, (size_t)len, &p) != 0)
			continue; /* malformed: dropped */
		if (s->side == GW) {
			n = ippkt_echo_answer(&p, tunnel_ip[GW], out, sizeof(out));
			if (n > 0) /* a full queue drops the answer and counts it (mailbox_drops) */
				(void)floe_node_device_write(s->node, out, (size_t)n);
			continue;
		}
		n = snprintf(want, sizeof(want), "echo %ld", s->sent - 1);
		if (p.proto != IPPKT_PROTO_UDP || ippkt_get16(p.l4) != IPPKT_UDP_ECHO_PORT ||
		    ippkt_get16(p.l4 + 2) != CLIENT_PORT || p.l4_len != IPPKT_UDP_HDR_BYTES + (size_t)n ||
		    memcmp(p.l4 + IPPKT_UDP_HDR_BYTES, want, (size_t)n) != 0)
			continue; /* not the echo we wait for */
		s->echoed++;
		if (s->echoed == s->count) {
			s->finished = true;
			return send_line(s, "bye");
		}
		if (send_echo(s) < 0)
			return -1;
	}
	return 0;
}

/* One process's whole life: node, signalling, traffic, until done or deadline. */
static int run_side(int side, int fd, long count, uint64_t deadline, uint32_t fail_ms)
{
	side_t *s = calloc(1, sizeof(*s));
	floe_node_config_t cfg = {
		.role = side == CL ? FLOE_ROLE_CLIENT : FLOE_ROLE_GATEWAY,
		.local_addrs = loopback,
		.n_local_addrs = 1,
		.ice_failure_timeout_ms = fail_ms,
		.device = FLOE_NODE_DEVICE_USERSPACE,
	};
	uint8_t pub[FLOE_KEY_LEN];
	char b64[FLOE_KEY_B64_LEN + 1], err[FLOE_NODE_ERR_BYTES];
	int rc = -1;

	if (!s)
		return -1;
	*s = (side_t){ .side = side, .fd = fd, .count = count };
	floe_key_generate(cfg.private_key);
	if (floe_key_public(pub, cfg.private_key) != 0)
		goto out;
	s->node = floe_node_new(&cfg, err, sizeof(err));
	if (!s->node) {
		fail(s, err, 0);
		goto out;
	}
	floe_key_to_base64(b64, pub);
	if (send_line(s, "key %s", b64) < 0)
		goto out;
	while (!s->finished) {
		struct pollfd pfd[3] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = floe_node_event_fd(s->node), .events = POLLIN },
			{ .fd = floe_node_device_fd(s->node), .events = POLLIN },
		};
		bool was_established = s->established;

		if (now_ms() >= deadline) {
			fail(s, !s->have_peer ? "timed out waiting for the peer's key"
			     : !s->established ? "timed out before the connection was established"
			     : side == CL ? "timed out waiting for echoes" : "timed out waiting for bye", 0);
			goto out;
		}
		if (poll(pfd, 3, POLL_SLICE_MS) < 0 && errno != EINTR)
			goto out;
		if ((pfd[0].revents && handle_channel(s) < 0) || handle_events(s) < 0 || handle_device(s) < 0)
			goto out;
		/* The client starts sending once the tunnel is up. */
		if (side == CL && s->established && !was_established && send_echo(s) < 0)
			goto out;
	}
	if (side == CL)
		printf("custom-signalling: %ld/%ld UDP echoes came back through the tunnel\n", s->echoed, count);
	rc = 0;
out:
	explicit_bzero(cfg.private_key, sizeof(cfg.private_key));
	floe_node_destroy(&s->node);
	explicit_bzero(s, sizeof(*s)); /* the input buffer held the peer's pwd */
	free(s);
	return rc;
}

/* Waits for the gateway process until deadline_ms; kills it after that. */
static int reap(pid_t pid, uint64_t deadline_ms)
{
	int status;

	while (now_ms() < deadline_ms) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
		if (r < 0)
			return -1;
		usleep(10000);
	}
	fprintf(stderr, "custom-signalling: the gateway process did not exit; killed\n");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long count = DEFAULT_COUNT, timeout_s = DEFAULT_TIMEOUT_S;
	uint64_t deadline;
	int sv[2], opt, rc_cl, rc_gw;
	pid_t pid;

	while ((opt = getopt_long(argc, argv, "c:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			count = strtol(optarg, NULL, 10);
			break;
		case 't':
			timeout_s = strtol(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || count < 1 || count > MAX_COUNT || timeout_s < 1 || timeout_s > MAX_TIMEOUT_S) {
		usage(stderr);
		return 2;
	}
	if (!getenv("FLOE_LOG"))
		floe_log_set_level(FLOE_LOG_WARNING);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("custom-signalling: socketpair");
		return 1;
	}
	deadline = now_ms() + (uint64_t)timeout_s * 1000u;
	/* Fork before any node exists: a node's threads do not survive fork(). */
	pid = fork();
	if (pid < 0) {
		perror("custom-signalling: fork");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		rc_gw = run_side(GW, sv[1], count, deadline, (uint32_t)timeout_s * 1000u);
		close(sv[1]);
		_exit(rc_gw == 0 ? 0 : 1);
	}
	close(sv[1]);
	rc_cl = run_side(CL, sv[0], count, deadline, (uint32_t)timeout_s * 1000u);
	/* Closing our end tells a gateway still waiting that we are gone. */
	close(sv[0]);
	rc_gw = reap(pid, deadline + CHILD_GRACE_MS);
	if (rc_cl == 0 && rc_gw != 0)
		fprintf(stderr, "custom-signalling: the gateway process failed\n");
	return rc_cl == 0 && rc_gw == 0 ? 0 : 1;
}
