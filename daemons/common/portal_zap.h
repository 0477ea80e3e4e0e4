/*
 * The portal's ZAP handler (RFC 27): a thread answering libzmq's
 * authentication requests on inproc://zeromq.zap.01 of one context. It
 * accepts a CURVE client only if its key is on the allow-list (the
 * configured gateways and clients) and sets the connection's User-Id to
 * that key in base64, so every frame the portal receives names its sender.
 *
 * It must exist before the CURVE server socket binds: with no handler
 * bound, libzmq lets every CURVE client in.
 */
#ifndef FLOE_DAEMONS_PORTAL_ZAP_H
#define FLOE_DAEMONS_PORTAL_ZAP_H

#include <stdint.h>

#include "daemons/common/portal_config.h"
#include "runtime/common.h"

enum floe_portal_zap_limits {
	FLOE_PORTAL_ZAP_MAX_FRAMES = 16, /* a ZAP request has 7 for CURVE; extra are dropped */
};

typedef struct floe_portal_zap floe_portal_zap_t;

/* Binds the handler in zmq_ctx and starts its thread, allowing cfg's keys.
 * NULL on failure (errno set). */
FLOE_EXPORT floe_portal_zap_t *floe_portal_zap_new(void *zmq_ctx, const floe_portal_config_t *cfg);
/* Call after zmq_ctx_shutdown() of its context: that is what wakes the
 * thread (ETERM); this joins it. */
FLOE_EXPORT void floe_portal_zap_destroy(floe_portal_zap_t **self_p);
/* Replaces the allow-list (reload); any thread. 0 or -ENOMEM. */
FLOE_EXPORT int floe_portal_zap_allow(floe_portal_zap_t *self, const floe_portal_config_t *cfg);
FLOE_EXPORT uint64_t floe_portal_zap_accepted(const floe_portal_zap_t *self);
FLOE_EXPORT uint64_t floe_portal_zap_refused(const floe_portal_zap_t *self);

#endif
