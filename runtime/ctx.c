/* The shared ZeroMQ context: see ctx.h for why there is exactly one. */
#include "runtime/ctx.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

struct floe_ctx {
	void *zmq;
	/* Next endpoint number; any thread may name a new mailbox. */
	_Atomic uint64_t next_endpoint;
	_Atomic uint64_t next_id;
};

floe_ctx_t *floe_ctx_new(void)
{
	return floe_ctx_new_sized(FLOE_CTX_MAX_SOCKETS);
}

floe_ctx_t *floe_ctx_new_sized(int max_sockets)
{
	floe_ctx_t *self;
	int err;

	if (max_sockets < 1 || max_sockets > FLOE_CTX_MAX_SOCKETS) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->zmq = zmq_ctx_new();
	if (!self->zmq) {
		err = errno;
		goto err_free;
	}
	/* Both must be set before the first socket: libzmq sizes its slot table then. */
	if (zmq_ctx_set(self->zmq, ZMQ_MAX_SOCKETS, max_sockets) != 0 ||
	    zmq_ctx_set(self->zmq, ZMQ_IO_THREADS, FLOE_CTX_IO_THREADS) != 0) {
		err = errno;
		goto err_term;
	}
	atomic_init(&self->next_endpoint, 0);
	atomic_init(&self->next_id, 1);
	return self;

err_term:
	zmq_ctx_term(self->zmq);
err_free:
	free(self);
	errno = err;
	return NULL;
}

void floe_ctx_destroy(floe_ctx_t **self_p)
{
	floe_ctx_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	/* EINTR: a signal interrupted the wait for sockets; the term must still finish. */
	while (zmq_ctx_term(self->zmq) != 0 && errno == EINTR)
		;
	free(self);
	*self_p = NULL;
}

void *floe_ctx_zmq(floe_ctx_t *self)
{
	return self ? self->zmq : NULL;
}

uint64_t floe_ctx_next_id(floe_ctx_t *self)
{
	return atomic_fetch_add_explicit(&self->next_id, 1, memory_order_relaxed);
}

int floe_ctx_endpoint(floe_ctx_t *self, const char *prefix, char *buf, size_t size)
{
	uint64_t n;
	int len;

	if (!self || !prefix || !buf)
		return -EINVAL;
	n = atomic_fetch_add_explicit(&self->next_endpoint, 1, memory_order_relaxed);
	/* inproc names are per context, so a counter per context suffices. */
	len = snprintf(buf, size, "inproc://floe-%s-%llu", prefix, (unsigned long long)n);
	if (len < 0 || (size_t)len >= size)
		return -ENOSPC;
	return 0;
}
