/*
 * Watches the host's addresses and links (rtnetlink multicast groups
 * through libmnl) so that a client can replace its connections as soon as
 * its local addresses change (roaming, docs/nat.md) instead of waiting for
 * liveness to notice a dead path.
 *
 * Non-blocking: poll floe_addrwatch_fd() for POLLIN, then call
 * floe_addrwatch_read(), which drains every queued notification and says
 * whether any of them changed an address that can carry our paths.
 *
 * What counts: an address added or removed with global scope (link-local
 * and host-scope addresses appear whenever any interface comes up, e.g. a
 * veth or another program's TUN, and carry no path of ours), except on the
 * interface given to floe_addrwatch_ignore() (the node's own TUN). When the
 * node uses only pinned addresses (floe_addrwatch_only()), only changes of
 * those addresses count. Link state is not watched: a link that goes down
 * keeps its addresses, other programs' links come and go all the time,
 * and a path that dies with its link is caught by liveness (docs/nat.md).
 */
#ifndef FLOE_TRANSPORT_NET_ADDRWATCH_H
#define FLOE_TRANSPORT_NET_ADDRWATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/common.h"

typedef struct floe_addrwatch floe_addrwatch_t;

/* NULL with *err = -errno (err may be NULL). */
floe_addrwatch_t *floe_addrwatch_new(int *err);
void floe_addrwatch_destroy(floe_addrwatch_t **self_p);
int floe_addrwatch_fd(const floe_addrwatch_t *self);
/* Changes on this interface index are not reported (0: none ignored). */
void floe_addrwatch_ignore(floe_addrwatch_t *self, int ifindex);
/*
 * Only changes of these numeric addresses count (at most
 * FLOE_ADDRWATCH_MAX_ONLY; n = 0 clears the filter). 0, or -EINVAL for a
 * malformed address or too many (the filter is then unchanged).
 */
enum { FLOE_ADDRWATCH_MAX_ONLY = 16 };
FLOE_MUST_CHECK int floe_addrwatch_only(floe_addrwatch_t *self, const char *const *addrs, size_t n);
/*
 * Drains the socket: 1 if a relevant address was added or removed (see
 * above), 0 if nothing relevant, -errno on a
 * socket error. -ENOBUFS (the kernel dropped notifications) is reported
 * as 1: something changed and we do not know what.
 */
FLOE_MUST_CHECK int floe_addrwatch_read(floe_addrwatch_t *self);

#endif
