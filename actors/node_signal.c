/*
 * Application-driven signalling (a node without a portal). Being written:
 * every call answers -ENOSYS until it lands, later in this session.
 */
#include <errno.h>

#include "actors/node_priv.h"

int floe_node_peer_add(floe_node_t *self, const floe_peer_config_t *peer, uint64_t *id)
{
	(void)self, (void)peer, (void)id;
	return -ENOSYS;
}

int floe_node_peer_remote_credentials(floe_node_t *self, uint64_t id, const char *ufrag, const char *pwd)
{
	(void)self, (void)id, (void)ufrag, (void)pwd;
	return -ENOSYS;
}

int floe_node_peer_remote_candidate(floe_node_t *self, uint64_t id, const char *sdp_line)
{
	(void)self, (void)id, (void)sdp_line;
	return -ENOSYS;
}

int floe_node_peer_remote_gathering_done(floe_node_t *self, uint64_t id)
{
	(void)self, (void)id;
	return -ENOSYS;
}

int floe_node_peer_remove(floe_node_t *self, uint64_t id)
{
	(void)self, (void)id;
	return -ENOSYS;
}

int floe_node_event_fd(floe_node_t *self)
{
	(void)self;
	return -ENOSYS;
}

int floe_node_event_next(floe_node_t *self, floe_event_t *out)
{
	(void)self, (void)out;
	return -ENOSYS;
}

uint64_t floe_node_event_drops(floe_node_t *self)
{
	(void)self;
	return 0;
}

int floe_node_device_fd(floe_node_t *self)
{
	(void)self;
	return -ENOSYS;
}

int floe_node_tun_name(floe_node_t *self, char *buf, size_t cap)
{
	(void)self, (void)buf, (void)cap;
	return -ENOSYS;
}
