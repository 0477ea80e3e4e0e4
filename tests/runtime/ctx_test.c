/*
 * runtime/ctx: the shared ZeroMQ context, and its sized variant for nodes
 * with few actors (floe_ctx_new_sized): the bound is enforced by libzmq
 * (EMFILE past it), out-of-range sizes are refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <unistd.h>
#include <zmq.h>

#include "runtime/ctx.h"

enum {
	SMALL = 8,
	REAP_TRIES = 200,
	REAP_WAIT_US = 10000, /* 2 s in all */
};

Test(ctx, sized_context_holds_exactly_its_sockets)
{
	floe_ctx_t *ctx = floe_ctx_new_sized(SMALL);
	void *s[SMALL + 1];

	cr_assert_not_null(ctx);
	for (int i = 0; i < SMALL; i++) {
		s[i] = zmq_socket(floe_ctx_zmq(ctx), ZMQ_PAIR);
		cr_assert_not_null(s[i], "socket %d of %d: %s", i, SMALL, zmq_strerror(zmq_errno()));
	}
	s[SMALL] = zmq_socket(floe_ctx_zmq(ctx), ZMQ_PAIR);
	cr_assert_null(s[SMALL], "a socket beyond max_sockets was created");
	cr_assert_eq(zmq_errno(), EMFILE);
	/* A closed socket's slot is free again once libzmq's reaper has
	 * taken the socket (asynchronous: bounded retry). */
	cr_assert_eq(zmq_close(s[0]), 0);
	s[0] = NULL;
	for (int tries = 0; !s[0] && tries < REAP_TRIES; tries++) {
		s[0] = zmq_socket(floe_ctx_zmq(ctx), ZMQ_PAIR);
		if (!s[0])
			usleep(REAP_WAIT_US);
	}
	cr_assert_not_null(s[0], "the closed socket's slot never came back");
	for (int i = 0; i < SMALL; i++)
		zmq_close(s[i]);
	floe_ctx_destroy(&ctx);
	cr_assert_null(ctx);
}

Test(ctx, default_context_is_not_capped_at_libzmq_default)
{
	floe_ctx_t *ctx = floe_ctx_new();

	cr_assert_not_null(ctx);
	cr_assert_eq(zmq_ctx_get(floe_ctx_zmq(ctx), ZMQ_MAX_SOCKETS), FLOE_CTX_MAX_SOCKETS);
	floe_ctx_destroy(&ctx);
}

Test(ctx, sized_context_refuses_out_of_range)
{
	const int bad[] = { 0, -1, FLOE_CTX_MAX_SOCKETS + 1 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_null(floe_ctx_new_sized(bad[i]), "size %d accepted", bad[i]);
		cr_assert_eq(errno, EINVAL);
	}
	floe_ctx_destroy(NULL);
}
