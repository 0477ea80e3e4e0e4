/*
 * Watches the host's addresses and links (rtnetlink multicast groups
 * through libmnl) so that a client can replace its connections as soon as
 * its local addresses change (roaming, docs/nat.md) instead of waiting for
 * liveness to notice a dead path.
 *
 * Non-blocking: poll floe_addrwatch_fd() for POLLIN, then call
 * floe_addrwatch_read(), which drains every queued notification and says
 * whether any of them changed an address or took a link down. Events on
 * the interface given to floe_addrwatch_ignore() (the node's own TUN) do
 * not count.
 */
#ifndef FLOE_TRANSPORT_NET_ADDRWATCH_H
#define FLOE_TRANSPORT_NET_ADDRWATCH_H

#include <stdbool.h>

#include "runtime/common.h"

typedef struct floe_addrwatch floe_addrwatch_t;

/* NULL with *err = -errno (err may be NULL). */
floe_addrwatch_t *floe_addrwatch_new(int *err);
void floe_addrwatch_destroy(floe_addrwatch_t **self_p);
int floe_addrwatch_fd(const floe_addrwatch_t *self);
/* Changes on this interface index are not reported (0: none ignored). */
void floe_addrwatch_ignore(floe_addrwatch_t *self, int ifindex);
/*
 * Drains the socket: 1 if an address was added or removed or a link went
 * down (on an interface not ignored), 0 if nothing relevant, -errno on a
 * socket error. -ENOBUFS (the kernel dropped notifications) is reported
 * as 1: something changed and we do not know what.
 */
FLOE_MUST_CHECK int floe_addrwatch_read(floe_addrwatch_t *self);

#endif
