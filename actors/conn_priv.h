/*
 * What the connection actor's thread (conn.c) and its owner's side
 * (conn_api.c) share. Private to actors/.
 */
#ifndef FLOE_ACTORS_CONN_PRIV_H
#define FLOE_ACTORS_CONN_PRIV_H

#include <stdatomic.h>

#include "actors/conn.h"
#include "actors/inbox.h"
#include "runtime/actor.h"

enum {
	FLOE_CONN_CRED_BYTES = FLOE_ICE_CRED_MAX_BYTES + 1,
};

/* Written by the owner before the thread starts and by the thread before
 * floe_actor_ready(); after that only state and last_handshake_ns change,
 * atomically. */
struct floe_conn {
	floe_actor_t *actor;
	floe_conn_config_t cfg;       /* copy; its strings point into the arrays below */
	char cid[FLOE_CONN_ID_MAX_BYTES];
	char client_id[FLOE_CONN_ID_MAX_BYTES];
	char ufrag[FLOE_CONN_CRED_BYTES];       /* written before ready, read-only after */
	char pwd[FLOE_CONN_CRED_BYTES];
	floe_clock_t *own_clock;
	_Atomic int state;
	_Atomic uint64_t last_handshake_ns;
	/* floe_conn_post's queue; the thread wakes through its agent's
	 * context while it runs and closes it before the agent goes. */
	floe_inbox_t *inbox;
};

/* The actor function (conn.c). */
int floe_conn_run_(floe_actor_t *actor, floe_mailbox_t *mailbox, void *args);

#endif
