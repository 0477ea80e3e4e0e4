/*
 * Application-driven signalling: a node without a portal, whose peers the
 * application adds (floe_node_peer_add) and whose ICE credentials and
 * candidates it carries itself (events out, floe_node_peer_remote_* in).
 *
 * The connection table belongs to the node thread, so each call is a
 * command: the caller checks its arguments, queues the command under
 * cmd_lock, wakes the node thread through cmd_fd (an eventfd in its poll)
 * and waits on cmd_cond until the node thread has run it. Any number of
 * application threads may call at once; each waits only for its own
 * command. Calls are rare (a peer, a few candidates), so a round trip
 * through the node thread costs nothing that matters, and it gives the
 * caller a real answer (-ENOENT for a closed id, -EEXIST for a key).
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "actors/node_priv.h"
#include "runtime/log.h"
#include "transport/net/addr.h"

int node_signal_init(floe_node_t *self)
{
	self->cmd_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (self->cmd_fd < 0)
		return -errno;
	pthread_mutex_init(&self->cmd_lock, NULL);
	pthread_cond_init(&self->cmd_cond, NULL);
	return 0;
}

void node_signal_fini(floe_node_t *self)
{
	if (self->cmd_fd < 0)
		return;
	close(self->cmd_fd);
	self->cmd_fd = -1;
	pthread_cond_destroy(&self->cmd_cond);
	pthread_mutex_destroy(&self->cmd_lock);
}

/* Caller's thread: 0 or the command's result. */
static int call(floe_node_t *self, node_cmd_t *cmd)
{
	uint64_t one = 1;
	int rc;

	if (!self->app_signal)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&self->cmd_lock);
	if (self->cmd_closed) {
		pthread_mutex_unlock(&self->cmd_lock);
		return -ESHUTDOWN;
	}
	cmd->next = NULL;
	if (self->cmd_tail)
		self->cmd_tail->next = cmd;
	else
		self->cmd_head = cmd;
	self->cmd_tail = cmd;
	/* An eventfd write fails only on counter overflow, which a wake-up
	 * per call cannot reach before the node thread drains it. */
	(void)!write(self->cmd_fd, &one, sizeof(one));
	while (!cmd->done)
		pthread_cond_wait(&self->cmd_cond, &self->cmd_lock);
	rc = cmd->result;
	pthread_mutex_unlock(&self->cmd_lock);
	return rc;
}

static int parse_allowed(const floe_peer_config_t *peer, node_cmd_t *cmd)
{
	if (peer->n_allowed_ips > FLOE_PEER_MAX_ALLOWED_IPS || (peer->n_allowed_ips && !peer->allowed_ips))
		return -EINVAL;
	for (size_t i = 0; i < peer->n_allowed_ips; i++) {
		floe_cidr_t *c = &cmd->allowed[i];

		if (!peer->allowed_ips[i] || floe_cidr_parse(peer->allowed_ips[i], c) < 0)
			return -EINVAL;
		/* "10.0.0.7/24" means 10.0.0.0/24, as wg(8) reads it. */
		floe_cidr_mask(c);
	}
	cmd->n_allowed = peer->n_allowed_ips;
	return 0;
}

int floe_node_peer_add(floe_node_t *self, const floe_peer_config_t *peer, uint64_t *id)
{
	node_cmd_t cmd = { .type = NODE_CMD_PEER_ADD, .peer = peer };
	int rc;

	if (!self || !peer || !id)
		return -EINVAL;
	if (!self->app_signal)
		return -EOPNOTSUPP;
	if (sodium_is_zero(peer->public_key, FLOE_KEY_LEN))
		return -EINVAL;
	rc = parse_allowed(peer, &cmd);
	if (rc < 0)
		return rc;
	rc = call(self, &cmd);
	if (rc == 0)
		*id = cmd.id;
	return rc;
}

static bool text_ok(const char *s, size_t max)
{
	return s && s[0] && strnlen(s, max + 1) <= max;
}

int floe_node_peer_remote_credentials(floe_node_t *self, uint64_t id, const char *ufrag, const char *pwd)
{
	node_cmd_t cmd = { .type = NODE_CMD_REMOTE_CREDENTIALS, .id = id, .a = ufrag, .b = pwd };

	if (!self || !text_ok(ufrag, FLOE_ICE_CRED_MAX_BYTES) || !text_ok(pwd, FLOE_ICE_CRED_MAX_BYTES))
		return -EINVAL;
	return call(self, &cmd);
}

int floe_node_peer_remote_candidate(floe_node_t *self, uint64_t id, const char *sdp_line)
{
	node_cmd_t cmd = { .type = NODE_CMD_REMOTE_CANDIDATE, .id = id, .a = sdp_line };

	if (!self || !text_ok(sdp_line, FLOE_ICE_CANDIDATE_MAX_BYTES))
		return -EINVAL;
	return call(self, &cmd);
}

int floe_node_peer_remote_gathering_done(floe_node_t *self, uint64_t id)
{
	node_cmd_t cmd = { .type = NODE_CMD_REMOTE_GATHERING_DONE, .id = id };

	if (!self)
		return -EINVAL;
	return call(self, &cmd);
}

int floe_node_peer_remove(floe_node_t *self, uint64_t id)
{
	node_cmd_t cmd = { .type = NODE_CMD_PEER_REMOVE, .id = id };

	if (!self)
		return -EINVAL;
	return call(self, &cmd);
}

/* ---- the node thread's side ---- */

static int peer_add(floe_node_t *self, node_cmd_t *cmd)
{
	const floe_peer_config_t *peer = cmd->peer;
	floe_ice_turn_server_t turn[FLOE_NODE_MAX_TURN];
	floe_conn_config_t base = {
		.role = self->cfg.role,
		.persistent_keepalive_s = peer->persistent_keepalive_s,
	};
	node_conn_t ident;
	node_conn_t *c = NULL;
	int rc = 0;

	memset(&ident, 0, sizeof(ident));
	if (node_conn_by_peer(self, peer->public_key)) {
		rc = -EEXIST;
		goto out;
	}
	memcpy(base.peer_public_key, peer->public_key, FLOE_KEY_LEN);
	if (peer->has_preshared_key)
		memcpy(base.preshared_key, peer->preshared_key, FLOE_KEY_LEN);
	/* node_conn_start gives the connection the next tag: name it after it. */
	snprintf(ident.label, sizeof(ident.label), "peer-%llu", (unsigned long long)(self->next_tag + 1));
	memcpy(ident.peer_key, peer->public_key, FLOE_KEY_LEN);
	ident.has_peer = true;
	node_fill_ice(self, &base.ice, turn);
	c = node_conn_start(self, &base, &ident);
	if (!c) {
		rc = errno ? -errno : -EIO;
		goto out;
	}
	for (size_t i = 0; i < cmd->n_allowed; i++) {
		rc = floe_allowedips_insert(self->routes, &cmd->allowed[i], c);
		if (rc < 0) {
			node_conn_reap(self, c, "cannot route its allowed IPs");
			goto out;
		}
	}
	cmd->id = c->tag;
	floe_log(FLOE_LOG_INFO, NODE_LOG, "Peer added", FLOE_F_STR("cid", c->label),
		 FLOE_F_U64("allowed_ips", cmd->n_allowed));
	node_event_credentials(self, c);
out:
	sodium_memzero(&base, sizeof(base));
	return rc;
}

static int run(floe_node_t *self, node_cmd_t *cmd)
{
	node_conn_t *c;
	floe_msg_t *m = NULL;

	if (cmd->type == NODE_CMD_PEER_ADD)
		return peer_add(self, cmd);
	c = node_conn_by_tag(self, cmd->id);
	if (!c)
		return -ENOENT;
	switch (cmd->type) {
	case NODE_CMD_REMOTE_CREDENTIALS:
		m = floe_conn_msg_credentials(cmd->a, cmd->b);
		break;
	case NODE_CMD_REMOTE_CANDIDATE:
		m = floe_conn_msg_candidate(cmd->a);
		break;
	case NODE_CMD_REMOTE_GATHERING_DONE:
		m = floe_msg_new_heap(FLOE_CONN_REMOTE_GATHERING_DONE, 0);
		break;
	case NODE_CMD_PEER_REMOVE:
		node_conn_reap(self, c, "removed by the application");
		return 0;
	default:
		return -EINVAL;
	}
	if (!m)
		return -ENOMEM;
	node_conn_send(self, c, m);
	return 0;
}

void node_signal_handle(floe_node_t *self)
{
	uint64_t v;

	(void)!read(self->cmd_fd, &v, sizeof(v));
	for (;;) {
		node_cmd_t *cmd;
		int rc;

		pthread_mutex_lock(&self->cmd_lock);
		cmd = self->cmd_head;
		if (cmd) {
			self->cmd_head = cmd->next;
			if (!self->cmd_head)
				self->cmd_tail = NULL;
		}
		pthread_mutex_unlock(&self->cmd_lock);
		if (!cmd)
			return;
		/* Run without the lock: it starts threads and takes table_lock. */
		rc = run(self, cmd);
		pthread_mutex_lock(&self->cmd_lock);
		cmd->result = rc;
		cmd->done = true;
		pthread_cond_broadcast(&self->cmd_cond);
		pthread_mutex_unlock(&self->cmd_lock);
	}
}

void node_signal_close(floe_node_t *self)
{
	if (self->cmd_fd < 0)
		return;
	pthread_mutex_lock(&self->cmd_lock);
	self->cmd_closed = true;
	for (node_cmd_t *cmd = self->cmd_head; cmd; cmd = cmd->next) {
		cmd->result = -ESHUTDOWN;
		cmd->done = true;
	}
	self->cmd_head = self->cmd_tail = NULL;
	pthread_cond_broadcast(&self->cmd_cond);
	pthread_mutex_unlock(&self->cmd_lock);
}
