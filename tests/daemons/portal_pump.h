/*
 * One turn of the thread that drives an in-process portal in a test
 * (daemons/common/portal.h: poll its socket, handle what came, run its
 * timers when due). tests/daemons/reconnect_mem_test.c uses it;
 * node_test.c still carries its own copy of the loop.
 */
#ifndef FLOE_TESTS_PORTAL_PUMP_H
#define FLOE_TESTS_PORTAL_PUMP_H

#include <stdint.h>
#include <time.h>
#include <zmq.h>

#include "daemons/common/portal.h"

/* The portal's clock: CLOCK_MONOTONIC in ms. */
static inline uint64_t portal_pump_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void portal_pump(floe_portal_t *portal, int timeout_ms)
{
	zmq_pollitem_t item;
	uint64_t now_ms;

	floe_portal_pollitem(portal, &item);
	zmq_poll(&item, 1, timeout_ms);
	now_ms = portal_pump_now_ms();
	floe_portal_handle(portal, now_ms);
	if (now_ms >= floe_portal_next_deadline_ms(portal))
		floe_portal_tick(portal, now_ms);
}

#endif
