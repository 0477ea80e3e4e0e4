/*
 * The node's portal session. See portal_client.h for the state machine:
 * HELLO_SENT -> (welcome) CONNECTED -> (silence) BACKOFF -> (redial) HELLO_SENT.
 */
#include "transport/signal/portal_client.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct floe_portal_client {
	void *ctx;        /* borrowed */
	void *sock;       /* DEALER; NULL in BACKOFF */
	char *endpoint;
	uint8_t portal_public[FLOE_PORTAL_KEY_LEN];
	uint8_t node_public[FLOE_PORTAL_KEY_LEN];
	uint8_t node_secret[FLOE_PORTAL_KEY_LEN]; /* wiped on destroy */
	floe_signal_role_t role;
	int worker, workers;      /* said in every hello; workers 0: not sharded */
	char boot_id[FLOE_SIGNAL_BOOT_ID_CAP]; /* this client's lifetime, in every hello */
	floe_portal_link_state_t state;
	uint64_t last_rx_ms;      /* anything from the portal, or the dial time */
	uint64_t next_ping_ms;
	uint64_t redial_at_ms;
	uint64_t backoff_ms;      /* the next backoff to use */
	floe_portal_event_t events[FLOE_PORTAL_EVENT_QUEUE];
	size_t ev_head, ev_count;
	floe_portal_client_stats_t stats;
	/* Encode buffer, kept here so that no frame is built on a small stack. */
	char buf[FLOE_SIGNAL_MAX_FRAME_BYTES];
};

static void push_event(floe_portal_client_t *self, floe_portal_event_t ev)
{
	size_t tail;

	if (self->ev_count == FLOE_PORTAL_EVENT_QUEUE) {
		/* bounded: the oldest transition matters least */
		self->ev_head = (self->ev_head + 1) % FLOE_PORTAL_EVENT_QUEUE;
		self->ev_count--;
	}
	tail = (self->ev_head + self->ev_count) % FLOE_PORTAL_EVENT_QUEUE;
	self->events[tail] = ev;
	self->ev_count++;
}

static int set_int(void *sock, int opt, int v)
{
	return zmq_setsockopt(sock, opt, &v, sizeof(v)) == 0 ? 0 : -errno;
}

static void close_socket(floe_portal_client_t *self)
{
	if (self->sock) {
		zmq_close(self->sock);
		self->sock = NULL;
	}
}

static int send_raw(floe_portal_client_t *self, const floe_signal_msg_t *msg)
{
	size_t len = 0;
	int r;

	if (!self->sock) {
		self->stats.send_drops++;
		return -ENOTCONN;
	}
	r = floe_signal_encode(msg, self->buf, sizeof(self->buf), &len);
	if (r < 0)
		return r;
	r = zmq_send(self->sock, self->buf, len, ZMQ_DONTWAIT) < 0 ? -errno : 0;
	/* the frame may carry ICE passwords: do not leave it in the buffer */
	sodium_memzero(self->buf, len);
	if (r < 0) {
		self->stats.send_drops++;
		return r;
	}
	self->stats.tx_msgs++;
	return 0;
}

/* Creates the socket, dials and queues hello; commits HELLO_SENT last. */
static int dial(floe_portal_client_t *self, uint64_t now_ms)
{
	floe_signal_msg_t hello = { .type = FLOE_SIGNAL_HELLO };
	void *sock;
	int r;

	sock = zmq_socket(self->ctx, ZMQ_DEALER);
	if (!sock)
		return -errno;
	if ((r = set_int(sock, ZMQ_LINGER, 0)) < 0 ||
	    (r = set_int(sock, ZMQ_SNDHWM, FLOE_PORTAL_SNDHWM_MSGS)) < 0 ||
	    (r = set_int(sock, ZMQ_RCVHWM, FLOE_PORTAL_RCVHWM_MSGS)) < 0)
		goto err;
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, self->portal_public, FLOE_PORTAL_KEY_LEN) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, self->node_public, FLOE_PORTAL_KEY_LEN) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, self->node_secret, FLOE_PORTAL_KEY_LEN) ||
	    zmq_connect(sock, self->endpoint)) {
		r = -errno;
		goto err;
	}
	self->sock = sock;
	hello.u.hello.role = self->role;
	hello.u.hello.version = FLOE_SIGNAL_VERSION;
	memcpy(hello.u.hello.boot_id, self->boot_id, sizeof(self->boot_id));
	hello.u.hello.has_worker = self->workers > 0;
	hello.u.hello.worker = self->worker;
	hello.u.hello.workers = self->workers;
	r = send_raw(self, &hello);
	if (r < 0) {
		self->sock = NULL;
		goto err;
	}
	self->last_rx_ms = now_ms;
	self->state = FLOE_PORTAL_LINK_HELLO_SENT;
	return 0;
err:
	zmq_close(sock);
	return r;
}

/* Closes the link and schedules a redial after the current backoff. */
static void lose_link(floe_portal_client_t *self, uint64_t now_ms)
{
	bool was_connected = self->state == FLOE_PORTAL_LINK_CONNECTED;

	close_socket(self);
	self->redial_at_ms = now_ms + self->backoff_ms;
	self->backoff_ms *= 2;
	if (self->backoff_ms > FLOE_PORTAL_BACKOFF_MAX_MS)
		self->backoff_ms = FLOE_PORTAL_BACKOFF_MAX_MS;
	self->state = FLOE_PORTAL_LINK_BACKOFF;
	if (was_connected)
		push_event(self, FLOE_PORTAL_EVENT_DISCONNECTED);
}

floe_portal_client_t *floe_portal_client_new(void *zmq_ctx, const char *endpoint,
					     const uint8_t portal_public_key[FLOE_PORTAL_KEY_LEN],
					     const uint8_t node_private_key[FLOE_PORTAL_KEY_LEN],
					     floe_signal_role_t role, uint64_t now_ms)
{
	return floe_portal_client_new_worker(zmq_ctx, endpoint, portal_public_key, node_private_key, role, 0, 0,
					     now_ms);
}

floe_portal_client_t *floe_portal_client_new_worker(void *zmq_ctx, const char *endpoint,
						    const uint8_t portal_public_key[FLOE_PORTAL_KEY_LEN],
						    const uint8_t node_private_key[FLOE_PORTAL_KEY_LEN],
						    floe_signal_role_t role, int worker, int workers, uint64_t now_ms)
{
	floe_portal_client_t *self;
	int r;

	if (!zmq_ctx || !endpoint || !portal_public_key || !node_private_key ||
	    (role != FLOE_SIGNAL_ROLE_CLIENT && role != FLOE_SIGNAL_ROLE_GATEWAY) || workers < 0 ||
	    worker < 0 || (workers == 0 && worker != 0) || (workers > 0 && worker >= workers)) {
		errno = EINVAL;
		return NULL;
	}
	if (sodium_init() < 0) {
		errno = EIO;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->endpoint = strdup(endpoint);
	if (!self->endpoint) {
		r = -ENOMEM;
		goto err;
	}
	self->ctx = zmq_ctx;
	self->role = role;
	self->worker = worker;
	self->workers = workers;
	memcpy(self->portal_public, portal_public_key, FLOE_PORTAL_KEY_LEN);
	memcpy(self->node_secret, node_private_key, FLOE_PORTAL_KEY_LEN);
	/* A WireGuard key pair is an X25519 pair, which is what CURVE uses. */
	{
		uint8_t boot[(FLOE_SIGNAL_BOOT_ID_CAP - 1) / 2];

		randombytes_buf(boot, sizeof(boot));
		sodium_bin2hex(self->boot_id, sizeof(self->boot_id), boot, sizeof(boot));
	}
	if (crypto_scalarmult_base(self->node_public, self->node_secret) != 0) {
		r = -EINVAL;
		goto err;
	}
	self->backoff_ms = FLOE_PORTAL_BACKOFF_MIN_MS;
	r = dial(self, now_ms);
	if (r < 0)
		goto err;
	return self;
err:
	floe_portal_client_destroy(&self);
	errno = -r;
	return NULL;
}

void floe_portal_client_destroy(floe_portal_client_t **self_p)
{
	floe_portal_client_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	close_socket(self);
	free(self->endpoint);
	sodium_memzero(self->node_secret, sizeof(self->node_secret));
	sodium_memzero(self->buf, sizeof(self->buf));
	free(self);
	*self_p = NULL;
}

int floe_portal_client_pollitem(floe_portal_client_t *self, zmq_pollitem_t *item)
{
	if (!self || !item)
		return -EINVAL;
	if (!self->sock)
		return -ENOTCONN;
	item->socket = self->sock;
	item->fd = 0;
	item->events = ZMQ_POLLIN;
	item->revents = 0;
	return 0;
}

int floe_portal_client_handle(floe_portal_client_t *self, uint64_t now_ms, floe_signal_msg_t *out)
{
	if (!self || !out)
		return -EINVAL;
	/* Bounded: pongs are consumed here, so a flood of them cannot pin us. */
	for (int i = 0; i < FLOE_PORTAL_HANDLE_BATCH; i++) {
		zmq_msg_t frame;
		int n, r;

		if (!self->sock)
			return -ENOTCONN;
		zmq_msg_init(&frame);
		n = zmq_msg_recv(&frame, self->sock, ZMQ_DONTWAIT);
		if (n < 0) {
			r = -errno;
			zmq_msg_close(&frame);
			return r;
		}
		r = floe_signal_decode(zmq_msg_data(&frame), zmq_msg_size(&frame), out);
		zmq_msg_close(&frame);
		self->stats.rx_msgs++;
		/* Only CURVE-authenticated bytes reach us: even a bad frame means
		 * the portal is alive. */
		self->last_rx_ms = now_ms;
		if (r < 0) {
			self->stats.decode_errors++;
			return r;
		}
		switch (out->type) {
		case FLOE_SIGNAL_PONG:
			continue;
		case FLOE_SIGNAL_WELCOME:
			if (self->state != FLOE_PORTAL_LINK_CONNECTED) {
				self->backoff_ms = FLOE_PORTAL_BACKOFF_MIN_MS;
				self->next_ping_ms = now_ms + FLOE_PORTAL_PING_INTERVAL_MS;
				self->state = FLOE_PORTAL_LINK_CONNECTED;
				push_event(self, FLOE_PORTAL_EVENT_CONNECTED);
			}
			return 0;
		default:
			return 0;
		}
	}
	return -EAGAIN;
}

int floe_portal_client_send(floe_portal_client_t *self, const floe_signal_msg_t *msg)
{
	if (!self || !msg)
		return -EINVAL;
	return send_raw(self, msg);
}

int floe_portal_client_tick(floe_portal_client_t *self, uint64_t now_ms)
{
	static const floe_signal_msg_t ping = { .type = FLOE_SIGNAL_PING };
	int r;

	if (!self)
		return -EINVAL;
	switch (self->state) {
	case FLOE_PORTAL_LINK_BACKOFF:
		if (now_ms < self->redial_at_ms)
			return 0;
		self->stats.reconnects++;
		r = dial(self, now_ms);
		if (r < 0) {
			lose_link(self, now_ms);
			return r;
		}
		return 0;
	case FLOE_PORTAL_LINK_HELLO_SENT:
	case FLOE_PORTAL_LINK_CONNECTED:
		if (now_ms - self->last_rx_ms >= FLOE_PORTAL_DEAD_AFTER_MS) {
			lose_link(self, now_ms);
			return 0;
		}
		if (self->state == FLOE_PORTAL_LINK_CONNECTED && now_ms >= self->next_ping_ms) {
			/* a full queue is fine: silence will tell us the link is gone */
			(void)send_raw(self, &ping);
			self->next_ping_ms = now_ms + FLOE_PORTAL_PING_INTERVAL_MS;
		}
		return 0;
	}
	return 0;
}

int floe_portal_client_redial(floe_portal_client_t *self, uint64_t now_ms)
{
	if (!self)
		return -EINVAL;
	if (self->state == FLOE_PORTAL_LINK_CONNECTED)
		push_event(self, FLOE_PORTAL_EVENT_DISCONNECTED);
	close_socket(self);
	/* The backoff is for a portal that does not answer; this link was
	 * given up on by us, so the next tick dials. */
	self->state = FLOE_PORTAL_LINK_BACKOFF;
	self->redial_at_ms = now_ms;
	return 0;
}

uint64_t floe_portal_client_next_deadline_ms(const floe_portal_client_t *self)
{
	uint64_t dead;

	if (!self)
		return UINT64_MAX;
	if (self->state == FLOE_PORTAL_LINK_BACKOFF)
		return self->redial_at_ms;
	dead = self->last_rx_ms + FLOE_PORTAL_DEAD_AFTER_MS;
	if (self->state == FLOE_PORTAL_LINK_CONNECTED && self->next_ping_ms < dead)
		return self->next_ping_ms;
	return dead;
}

bool floe_portal_client_connected(const floe_portal_client_t *self)
{
	return self && self->state == FLOE_PORTAL_LINK_CONNECTED;
}

floe_portal_link_state_t floe_portal_client_state(const floe_portal_client_t *self)
{
	return self ? self->state : FLOE_PORTAL_LINK_BACKOFF;
}

floe_portal_event_t floe_portal_client_next_event(floe_portal_client_t *self)
{
	floe_portal_event_t ev;

	if (!self || self->ev_count == 0)
		return FLOE_PORTAL_EVENT_NONE;
	ev = self->events[self->ev_head];
	self->ev_head = (self->ev_head + 1) % FLOE_PORTAL_EVENT_QUEUE;
	self->ev_count--;
	return ev;
}

floe_portal_client_stats_t floe_portal_client_stats(const floe_portal_client_t *self)
{
	floe_portal_client_stats_t zero = { 0 };

	return self ? self->stats : zero;
}
