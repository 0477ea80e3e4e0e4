/* The owner's side of the connection actor: start, stop, read its state. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/conn_priv.h"

floe_conn_t *floe_conn_new(floe_ctx_t *ctx, const floe_conn_config_t *cfg)
{
	floe_conn_t *self;
	floe_actor_opts_t opts = {
		.name = "floe-conn",
		.stack_bytes = FLOE_ACTOR_STACK_CONN_BYTES,
		.parent_endpoint = cfg ? cfg->parent_endpoint : NULL,
	};
	int saved;

	if (!ctx || !cfg || !cfg->wg_device || !cfg->parent_endpoint || !cfg->pool) {
		errno = EINVAL;
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	self->cfg = *cfg;
	snprintf(self->cid, sizeof(self->cid), "%s", cfg->cid ? cfg->cid : "");
	snprintf(self->client_id, sizeof(self->client_id), "%s", cfg->client_id ? cfg->client_id : "");
	self->cfg.cid = self->cid;
	self->cfg.client_id = cfg->client_id ? self->client_id : NULL;
	if (!self->cfg.clock) {
		self->own_clock = floe_clock_new_monotonic();
		self->cfg.clock = self->own_clock;
	}
	atomic_init(&self->state, FLOE_CONN_NEW);
	atomic_init(&self->last_handshake_ns, 0);
	self->inbox = floe_inbox_new(FLOE_CONN_INBOX_MSGS, FLOE_CONN_INBOX_RESERVE_MSGS, false);
	if (!self->cfg.clock || !self->inbox)
		goto err;
	self->actor = floe_actor_new(ctx, floe_conn_run_, self, &opts);
	if (!self->actor)
		goto err;
	return self;
err:
	saved = errno ? errno : ENOMEM;
	floe_inbox_destroy(&self->inbox);
	sodium_memzero(&self->cfg, sizeof(self->cfg));
	floe_clock_destroy(&self->own_clock);
	free(self);
	errno = saved;
	return NULL;
}

void floe_conn_destroy(floe_conn_t **self_p)
{
	floe_conn_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	floe_actor_destroy(&self->actor);
	/* The thread is gone: what it never took is freed here. */
	floe_inbox_destroy(&self->inbox);
	sodium_memzero(&self->cfg, sizeof(self->cfg));
	floe_clock_destroy(&self->own_clock);
	free(self);
	*self_p = NULL;
}

int floe_conn_post(floe_conn_t *self, floe_msg_t **msg_p)
{
	/* Signalling must not be lost to a flood of packets: it may use
	 * the reserve. */
	bool urgent = msg_p && *msg_p && floe_msg_type(*msg_p) != FLOE_MSG_TUN_PACKET;

	if (!self) {
		floe_msg_destroy(msg_p);
		return -EINVAL;
	}
	return floe_inbox_post(self->inbox, msg_p, urgent);
}

const char *floe_conn_endpoint(const floe_conn_t *self)
{
	return floe_actor_endpoint(self->actor);
}

uint64_t floe_conn_actor_id(const floe_conn_t *self)
{
	return floe_actor_id(self->actor);
}

const char *floe_conn_local_ufrag(const floe_conn_t *self)
{
	return self->ufrag;
}

const char *floe_conn_local_pwd(const floe_conn_t *self)
{
	return self->pwd;
}

floe_conn_state_t floe_conn_state(const floe_conn_t *self)
{
	return (floe_conn_state_t)atomic_load_explicit(&self->state, memory_order_acquire);
}

const char *floe_conn_state_name(floe_conn_state_t state)
{
	static const char *const names[] = {
		[FLOE_CONN_NEW] = "new",
		[FLOE_CONN_CONNECTING] = "connecting",
		[FLOE_CONN_CONNECTED] = "connected",
		[FLOE_CONN_IDLE] = "idle",
		[FLOE_CONN_FAILED] = "failed",
		[FLOE_CONN_CLOSED] = "closed",
	};

	if ((unsigned)state >= FLOE_ARRAY_LEN(names))
		return "unknown";
	return names[state];
}

void floe_conn_counters(const floe_conn_t *self, floe_counters_snapshot_t *out)
{
	floe_counters_snapshot(floe_actor_counters(self->actor), out);
}

uint64_t floe_conn_last_handshake_ns(const floe_conn_t *self)
{
	return atomic_load_explicit(&self->last_handshake_ns, memory_order_relaxed);
}

floe_msg_t *floe_conn_msg_credentials(const char *ufrag, const char *pwd)
{
	size_t ul, pl;
	floe_msg_t *m;

	if (!ufrag || !pwd)
		return NULL;
	ul = strlen(ufrag);
	pl = strlen(pwd);
	m = floe_msg_new_heap(FLOE_CONN_REMOTE_CREDENTIALS, ul + pl + 2);
	if (!m)
		return NULL;
	memcpy(floe_msg_data(m), ufrag, ul + 1);
	memcpy(floe_msg_data(m) + ul + 1, pwd, pl + 1);
	(void)floe_msg_set_len(m, ul + pl + 2);
	return m;
}

floe_msg_t *floe_conn_msg_set_peer(const floe_conn_peer_t *peer)
{
	floe_msg_t *m;

	if (!peer)
		return NULL;
	m = floe_msg_new_heap(FLOE_CONN_SET_PEER, sizeof(*peer));
	if (!m)
		return NULL;
	memcpy(floe_msg_data(m), peer, sizeof(*peer));
	(void)floe_msg_set_len(m, sizeof(*peer));
	return m;
}

floe_msg_t *floe_conn_msg_candidate(const char *sdp_line)
{
	size_t len;
	floe_msg_t *m;

	if (!sdp_line)
		return NULL;
	len = strlen(sdp_line) + 1;
	m = floe_msg_new_heap(FLOE_CONN_REMOTE_CANDIDATE, len);
	if (!m)
		return NULL;
	memcpy(floe_msg_data(m), sdp_line, len);
	(void)floe_msg_set_len(m, len);
	return m;
}

const char *floe_conn_msg_text(floe_msg_t *msg)
{
	const char *s = (const char *)floe_msg_data(msg);
	size_t len = floe_msg_len(msg);

	/* Must be NUL-terminated inside the payload. */
	if (len == 0 || strnlen(s, len) != len - 1)
		return NULL;
	return s;
}
