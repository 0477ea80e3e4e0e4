/*
 * The portal's ZAP thread. See portal_zap.h.
 */
#include "daemons/common/portal_zap.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"

/* Shared between the ZAP thread and the portal's thread: the lock protects
 * keys and n_keys; the counters are atomics; sock belongs to the thread. */
struct floe_portal_zap {
	void *sock;
	pthread_t thread;
	pthread_mutex_t lock;
	char (*keys)[FLOE_SIGNAL_KEY_CAP];
	size_t n_keys;
	_Atomic uint64_t accepted, refused;
};

static bool allowed(floe_portal_zap_t *self, const char *b64)
{
	bool ok = false;

	pthread_mutex_lock(&self->lock);
	for (size_t i = 0; i < self->n_keys && !ok; i++)
		ok = strcmp(self->keys[i], b64) == 0;
	pthread_mutex_unlock(&self->lock);
	return ok;
}

int floe_portal_zap_allow(floe_portal_zap_t *self, const floe_portal_config_t *cfg)
{
	size_t n = cfg->n_gateways + cfg->n_clients, k = 0;
	char (*keys)[FLOE_SIGNAL_KEY_CAP] = calloc(n ? n : 1, sizeof(*keys));
	char (*old)[FLOE_SIGNAL_KEY_CAP];

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_gateways; i++)
		memcpy(keys[k++], cfg->gateways[i].public_key_b64, FLOE_SIGNAL_KEY_CAP);
	for (size_t i = 0; i < cfg->n_clients; i++)
		memcpy(keys[k++], cfg->clients[i].public_key_b64, FLOE_SIGNAL_KEY_CAP);
	pthread_mutex_lock(&self->lock);
	old = self->keys;
	self->keys = keys;
	self->n_keys = n;
	pthread_mutex_unlock(&self->lock);
	free(old);
	return 0;
}

/* Reply: version, request id, status code, status text, user id, metadata. */
static void reply(void *sock, zmq_msg_t *request_id, bool ok, const char *user_id)
{
	const char *text = ok ? "OK" : "unknown key";
	zmq_msg_t rid;

	zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
	zmq_msg_init(&rid);
	zmq_msg_copy(&rid, request_id);
	if (zmq_msg_send(&rid, sock, ZMQ_SNDMORE) < 0)
		zmq_msg_close(&rid);
	zmq_send(sock, ok ? "200" : "400", 3, ZMQ_SNDMORE);
	zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
	zmq_send(sock, user_id, strlen(user_id), ZMQ_SNDMORE);
	zmq_send(sock, "", 0, 0);
}

/* Receives one multipart request, keeping at most FLOE_PORTAL_ZAP_MAX_FRAMES.
 * Returns the number kept, or -errno. */
static int recv_request(void *sock, zmq_msg_t *frames)
{
	size_t n = 0;
	int more = 1;

	while (more) {
		size_t more_len = sizeof(more);
		zmq_msg_t tmp;
		zmq_msg_t *m = n < FLOE_PORTAL_ZAP_MAX_FRAMES ? &frames[n] : &tmp;
		int err;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, 0) < 0) {
			err = errno;
			zmq_msg_close(m);
			for (size_t i = 0; i < n; i++)
				zmq_msg_close(&frames[i]);
			return -err;
		}
		zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len);
		if (m == &tmp)
			zmq_msg_close(m);
		else
			n++;
	}
	return (int)n;
}

/*
 * Request frames: version, request id, domain, address, identity,
 * mechanism, credentials. For CURVE the one credential is the client's
 * 32-byte public key.
 */
static void *zap_main(void *arg)
{
	floe_portal_zap_t *self = arg;

	for (;;) {
		zmq_msg_t frames[FLOE_PORTAL_ZAP_MAX_FRAMES];
		char b64[FLOE_SIGNAL_KEY_CAP + 8] = "";
		bool ok = false;
		int n = recv_request(self->sock, frames);

		if (n == -ETERM)
			break;
		if (n < 0)
			continue;
		if (n >= 7 && zmq_msg_size(&frames[5]) == 5 &&
		    memcmp(zmq_msg_data(&frames[5]), "CURVE", 5) == 0 &&
		    zmq_msg_size(&frames[6]) == FLOE_PORTAL_CONFIG_KEY_LEN) {
			sodium_bin2base64(b64, sizeof(b64), zmq_msg_data(&frames[6]),
					  FLOE_PORTAL_CONFIG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
			ok = allowed(self, b64);
		}
		if (n >= 2) {
			reply(self->sock, &frames[1], ok, ok ? b64 : "");
			atomic_fetch_add(ok ? &self->accepted : &self->refused, 1);
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&frames[i]);
	}
	zmq_close(self->sock);
	self->sock = NULL;
	return NULL;
}

floe_portal_zap_t *floe_portal_zap_new(void *zmq_ctx, const floe_portal_config_t *cfg)
{
	floe_portal_zap_t *self = calloc(1, sizeof(*self));
	int linger = 0, r;

	if (!self)
		return NULL;
	pthread_mutex_init(&self->lock, NULL);
	r = floe_portal_zap_allow(self, cfg);
	if (r < 0)
		goto err;
	self->sock = zmq_socket(zmq_ctx, ZMQ_REP);
	if (!self->sock || zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_bind(self->sock, ZAP_ENDPOINT) < 0) {
		r = -errno;
		goto err;
	}
	/* the socket moves to the thread here; pthread_create is the barrier */
	r = -pthread_create(&self->thread, NULL, zap_main, self);
	if (r < 0)
		goto err;
	return self;
err:
	if (self->sock)
		zmq_close(self->sock);
	pthread_mutex_destroy(&self->lock);
	free(self->keys);
	free(self);
	errno = -r;
	return NULL;
}

void floe_portal_zap_destroy(floe_portal_zap_t **self_p)
{
	floe_portal_zap_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	pthread_join(self->thread, NULL);
	pthread_mutex_destroy(&self->lock);
	free(self->keys);
	free(self);
	*self_p = NULL;
}

uint64_t floe_portal_zap_accepted(const floe_portal_zap_t *self)
{
	return self ? atomic_load(&((floe_portal_zap_t *)self)->accepted) : 0;
}

uint64_t floe_portal_zap_refused(const floe_portal_zap_t *self)
{
	return self ? atomic_load(&((floe_portal_zap_t *)self)->refused) : 0;
}
