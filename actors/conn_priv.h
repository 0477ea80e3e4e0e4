/*
 * What the connection actor's thread (conn.c) and its owner's side
 * (conn_api.c) share. Private to actors/.
 */
#ifndef FLOE_ACTORS_CONN_PRIV_H
#define FLOE_ACTORS_CONN_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "actors/conn.h"
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
	/*
	 * floe_conn_post's queue: a ring of inbox_n messages from inbox_head.
	 * wake is the thread's agent while it runs (NULL before it exists
	 * and once the thread stops taking messages: inbox_closed); the
	 * lock keeps the agent alive for a poster's wake-up.
	 */
	pthread_mutex_t inbox_lock;
	floe_msg_t **inbox;
	size_t inbox_head, inbox_n;
	bool inbox_closed;
	floe_ice_agent_t *wake;
};

/* The thread's side of the inbox (conn_api.c). */
void floe_conn_inbox_open_(floe_conn_t *self, floe_ice_agent_t *wake);
void floe_conn_inbox_close_(floe_conn_t *self);
bool floe_conn_inbox_pending_(floe_conn_t *self);
int floe_conn_inbox_take_(floe_conn_t *self, floe_msg_t **out, int cap);

/* The actor function (conn.c). */
int floe_conn_run_(floe_actor_t *actor, floe_mailbox_t *mailbox, void *args);

#endif
