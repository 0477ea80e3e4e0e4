/* Counter names and snapshots (see counters.h). */
#include "runtime/counters.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_names[FLOE_COUNTER_COUNT] = {
	[FLOE_COUNTER_TUN_RX_PACKETS] = "tun_rx_packets",
	[FLOE_COUNTER_TUN_TX_PACKETS] = "tun_tx_packets",
	[FLOE_COUNTER_ICE_BUFFERED_PACKETS] = "ice_buffered_packets",
	[FLOE_COUNTER_ICE_BUFFER_OVERFLOW_DROPS] = "ice_buffer_overflow_drops",
	[FLOE_COUNTER_DROPPED_NOT_NOMINATED] = "dropped_not_nominated",
	[FLOE_COUNTER_DROPPED_UNKNOWN_DESTINATION] = "dropped_unknown_destination",
	[FLOE_COUNTER_HANDSHAKE_INITIATIONS_SENT] = "handshake_initiations_sent",
	[FLOE_COUNTER_HANDSHAKE_INITIATIONS_RECEIVED] = "handshake_initiations_received",
	[FLOE_COUNTER_HANDSHAKE_RESPONSES_SENT] = "handshake_responses_sent",
	[FLOE_COUNTER_HANDSHAKES_COMPLETED] = "handshakes_completed",
	[FLOE_COUNTER_COOKIE_REPLIES_SENT] = "cookie_replies_sent",
	[FLOE_COUNTER_DECRYPT_ERRORS] = "decrypt_errors",
	[FLOE_COUNTER_REPLAY_DROPS] = "replay_drops",
	[FLOE_COUNTER_MAILBOX_DROPS] = "mailbox_drops",
	[FLOE_COUNTER_ACL_DROPS] = "acl_drops",
	[FLOE_COUNTER_TX_BYTES] = "tx_bytes",
	[FLOE_COUNTER_RX_BYTES] = "rx_bytes",
	[FLOE_COUNTER_TX_PACKETS] = "tx_packets",
	[FLOE_COUNTER_RX_PACKETS] = "rx_packets",
};

floe_counters_t *floe_counters_new(void)
{
	floe_counters_t *self = malloc(sizeof(*self));

	if (self)
		floe_counters_init(self);
	return self;
}

void floe_counters_destroy(floe_counters_t **self_p)
{
	if (!self_p || !*self_p)
		return;
	free(*self_p);
	*self_p = NULL;
}

void floe_counters_init(floe_counters_t *self)
{
	size_t i;

	for (i = 0; i < FLOE_COUNTER_COUNT; i++)
		atomic_init(&self->v[i], 0);
}

const char *floe_counter_name(floe_counter_t id)
{
	if ((unsigned)id >= FLOE_COUNTER_COUNT)
		return NULL;
	return s_names[id];
}

int floe_counter_from_name(const char *name)
{
	size_t i;

	if (!name)
		return -ENOENT;
	for (i = 0; i < FLOE_COUNTER_COUNT; i++)
		if (strcmp(s_names[i], name) == 0)
			return (int)i;
	return -ENOENT;
}

void floe_counters_snapshot(const floe_counters_t *self, floe_counters_snapshot_t *out)
{
	size_t i;

	for (i = 0; i < FLOE_COUNTER_COUNT; i++)
		out->v[i] = atomic_load_explicit(&self->v[i], memory_order_relaxed);
}

void floe_counters_sum(floe_counters_snapshot_t *total, const floe_counters_snapshot_t *each,
		       size_t n)
{
	size_t i, k;

	for (k = 0; k < n; k++)
		for (i = 0; i < FLOE_COUNTER_COUNT; i++)
			total->v[i] += each[k].v[i];
}
