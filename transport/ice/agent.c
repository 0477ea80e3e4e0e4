/*
 * ICE agent over libnice: one NiceAgent, one stream, one component, on a
 * private GMainContext that the calling thread acquires for the agent's
 * whole life. See agent.h for the threading rule and docs/ice.md for the
 * measured costs behind each choice.
 */
#include "transport/ice/agent.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib.h>
#include <nice/agent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"
#include "transport/ice/natdetect.h"

/*
 * GLib's GPollFD and struct pollfd share a layout on Linux, so the actor
 * can hand its own pollfd array to g_main_context_query/check unchanged.
 */
_Static_assert(sizeof(GPollFD) == sizeof(struct pollfd), "GPollFD layout");
_Static_assert(offsetof(GPollFD, fd) == offsetof(struct pollfd, fd), "GPollFD.fd");
_Static_assert(offsetof(GPollFD, events) == offsetof(struct pollfd, events), "GPollFD.events");
_Static_assert(offsetof(GPollFD, revents) == offsetof(struct pollfd, revents), "GPollFD.revents");
_Static_assert(G_IO_IN == POLLIN && G_IO_OUT == POLLOUT && G_IO_ERR == POLLERR &&
	       G_IO_HUP == POLLHUP, "GIOCondition bits");

#define TARGET "floe::ice"

enum {
	COMPONENT_ID = 1,         /* one component: no RTCP */
	/* Destroy releases TURN allocations (best effort) for at most this
	 * long, retransmitting the deallocation fast: a dead server must not
	 * stall the connection's thread. */
	CLOSE_TIMEOUT_MS = 500,
	CLOSE_STUN_RTO_MS = 50,
	CLOSE_STUN_RETRANSMISSIONS = 2,
	DEFAULT_STUN_PORT = 3478,
	MAX_DATAGRAM_BYTES = 65535,
};

typedef enum {
	STATE_NEW = 0,  /* created; nothing gathered yet */
	STATE_STARTED,  /* gathering and (once credentials are in) checking */
	STATE_SELECTED, /* a pair is selected: data flows */
	STATE_FAILED,   /* terminal; on_failed was called */
} state_t;

struct floe_ice_agent {
	GMainContext *ctx;
	NiceAgent *nice;
	guint stream_id;
	floe_ice_callbacks_t cb;
	void *user;
	state_t state;
	bool remote_creds_set;
	bool has_turn;
	/* Nesting depth of public calls and dispatches that can run callbacks;
	 * a destroy requested inside one is finished by the outermost. */
	int depth;
	bool destroy_pending;
	GSource *fail_timer;
	uint32_t failure_timeout_ms;
	gint poll_priority;
	/* Parsed remote candidates waiting for credentials and gathering. */
	NiceCandidate *pending[FLOE_ICE_MAX_PENDING_REMOTE];
	size_t n_pending;
	floe_ice_path_t path;
	bool relay_only;
	floe_ice_stats_t stats;
	/* Preallocated so that sending never allocates. */
	GOutputVector out_vec[FLOE_ICE_SEND_BATCH_MAX];
	NiceOutputMessage out_msg[FLOE_ICE_SEND_BATCH_MAX];
};

static void s_free(floe_ice_agent_t *self);

static void s_enter(floe_ice_agent_t *self)
{
	self->depth++;
}

/* Call last in any function that did s_enter: self may be gone after. */
static void s_leave(floe_ice_agent_t *self)
{
	if (--self->depth == 0 && self->destroy_pending)
		s_free(self);
}

/* Callbacks go out only while the owner still holds the agent. */
static bool s_live(const floe_ice_agent_t *self)
{
	return !self->destroy_pending;
}

const char *floe_ice_cand_type_name(floe_ice_cand_type_t type)
{
	switch (type) {
	case FLOE_ICE_CAND_HOST: return "host";
	case FLOE_ICE_CAND_SRFLX: return "srflx";
	case FLOE_ICE_CAND_PRFLX: return "prflx";
	case FLOE_ICE_CAND_RELAY: return "relay";
	}
	return "unknown";
}

const char *floe_ice_relay_reason_name(floe_ice_relay_reason_t reason)
{
	switch (reason) {
	case FLOE_ICE_RELAY_REASON_NONE: return "none";
	case FLOE_ICE_RELAY_REASON_NO_DIRECT_PAIR: return "no_direct_pair";
	case FLOE_ICE_RELAY_REASON_SYMMETRIC_NAT: return "symmetric_nat";
	case FLOE_ICE_RELAY_REASON_DIRECT_PATH_LOST: return "direct_path_lost";
	case FLOE_ICE_RELAY_REASON_RELAY_ONLY: return "relay_only";
	}
	return "unknown";
}

static floe_ice_cand_type_t s_cand_type(NiceCandidateType t)
{
	switch (t) {
	case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return FLOE_ICE_CAND_SRFLX;
	case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return FLOE_ICE_CAND_PRFLX;
	case NICE_CANDIDATE_TYPE_RELAYED: return FLOE_ICE_CAND_RELAY;
	case NICE_CANDIDATE_TYPE_HOST:
	default: return FLOE_ICE_CAND_HOST;
	}
}

static void s_addr_string(const NiceAddress *addr, char out[FLOE_ICE_ADDR_STR_BYTES])
{
	char ip[NICE_ADDRESS_STRING_LEN];

	nice_address_to_string(addr, ip);
	if (nice_address_ip_version(addr) == 6)
		snprintf(out, FLOE_ICE_ADDR_STR_BYTES, "[%s]:%u", ip, nice_address_get_port(addr));
	else
		snprintf(out, FLOE_ICE_ADDR_STR_BYTES, "%s:%u", ip, nice_address_get_port(addr));
}

static void s_cancel_fail_timer(floe_ice_agent_t *self)
{
	if (self->fail_timer) {
		g_source_destroy(self->fail_timer);
		g_source_unref(self->fail_timer);
		self->fail_timer = NULL;
	}
}

static void s_fail(floe_ice_agent_t *self, const char *reason)
{
	if (self->state == STATE_FAILED)
		return;
	s_cancel_fail_timer(self);
	floe_log(FLOE_LOG_INFO, TARGET, "ICE failed", FLOE_F_STR("reason", reason));
	self->state = STATE_FAILED;
	if (s_live(self) && self->cb.on_failed)
		self->cb.on_failed(self->user, reason);
}

/* ---- libnice signals (dispatched on the owning thread) ---------------- */

static void s_on_new_candidate(NiceAgent *nice, NiceCandidate *cand, gpointer data)
{
	floe_ice_agent_t *self = data;
	gchar *sdp;

	if (!s_live(self) || !self->cb.on_local_candidate)
		return;
	sdp = nice_agent_generate_local_candidate_sdp(nice, cand);
	if (!sdp)
		return;
	self->cb.on_local_candidate(self->user, sdp);
	g_free(sdp);
}

static void s_on_gathering_done(NiceAgent *nice, guint stream_id, gpointer data)
{
	floe_ice_agent_t *self = data;

	if (s_live(self) && self->cb.on_gathering_done)
		self->cb.on_gathering_done(self->user);
}

/* Every candidate libnice knows of one side into the detector. */
static void s_nat_feed(floe_ice_agent_t *self, floe_ice_nat_t *nat, floe_ice_nat_side_t side)
{
	GSList *list = side == FLOE_ICE_NAT_LOCAL
			       ? nice_agent_get_local_candidates(self->nice, self->stream_id, COMPONENT_ID)
			       : nice_agent_get_remote_candidates(self->nice, self->stream_id, COMPONENT_ID);

	for (GSList *i = list; i; i = i->next) {
		const NiceCandidate *c = i->data;
		/* A peer's prflx was learnt from a check's source address: its
		 * socket is unknown, whatever libnice put in base_addr. */
		bool no_base = side == FLOE_ICE_NAT_REMOTE && c->type == NICE_CANDIDATE_TYPE_PEER_REFLEXIVE;

		(void)floe_ice_nat_observe(nat, side, s_cand_type(c->type), &c->addr.s.addr,
					   no_base ? NULL : &c->base_addr.s.addr);
	}
	g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
}

/*
 * Why the pair is relayed, judged once libnice selected it: by then the
 * checks have taught it the peer-reflexive mappings the detector needs.
 */
static void s_path_reason(floe_ice_agent_t *self, floe_ice_path_t *path)
{
	floe_ice_nat_t nat;

	floe_ice_nat_reset(&nat);
	s_nat_feed(self, &nat, FLOE_ICE_NAT_LOCAL);
	s_nat_feed(self, &nat, FLOE_ICE_NAT_REMOTE);
	path->local_symmetric_nat = floe_ice_nat_symmetric(&nat, FLOE_ICE_NAT_LOCAL);
	path->remote_symmetric_nat = floe_ice_nat_symmetric(&nat, FLOE_ICE_NAT_REMOTE);
	if (path->local_type != FLOE_ICE_CAND_RELAY && path->remote_type != FLOE_ICE_CAND_RELAY)
		path->relay_reason = FLOE_ICE_RELAY_REASON_NONE;
	else if (self->relay_only)
		path->relay_reason = FLOE_ICE_RELAY_REASON_RELAY_ONLY;
	else if (path->local_symmetric_nat || path->remote_symmetric_nat)
		path->relay_reason = FLOE_ICE_RELAY_REASON_SYMMETRIC_NAT;
	else
		path->relay_reason = FLOE_ICE_RELAY_REASON_NO_DIRECT_PAIR;
}

static void s_on_selected_pair(NiceAgent *nice, guint stream_id, guint component_id,
			       NiceCandidate *lcand, NiceCandidate *rcand, gpointer data)
{
	floe_ice_agent_t *self = data;
	floe_ice_path_t path = { 0 };

	if (self->state != STATE_STARTED && self->state != STATE_SELECTED)
		return;
	path.local_type = s_cand_type(lcand->type);
	path.remote_type = s_cand_type(rcand->type);
	s_addr_string(&lcand->addr, path.local_addr);
	s_addr_string(&rcand->addr, path.remote_addr);
	s_path_reason(self, &path);
	/* libnice may re-announce the same pair (aggressive nomination). */
	if (self->state == STATE_SELECTED && memcmp(&path, &self->path, sizeof(path)) == 0)
		return;
	s_cancel_fail_timer(self);
	self->path = path;
	self->state = STATE_SELECTED;
	floe_log(FLOE_LOG_INFO, TARGET, "Selected ICE pair",
		 FLOE_F_STR("local_type", floe_ice_cand_type_name(path.local_type)),
		 FLOE_F_STR("local", path.local_addr),
		 FLOE_F_STR("remote_type", floe_ice_cand_type_name(path.remote_type)),
		 FLOE_F_STR("remote", path.remote_addr),
		 FLOE_F_STR("relay_reason", floe_ice_relay_reason_name(path.relay_reason)));
	if (s_live(self) && self->cb.on_selected)
		self->cb.on_selected(self->user, &self->path);
}

static void s_on_component_state(NiceAgent *nice, guint stream_id, guint component_id,
				 guint state, gpointer data)
{
	floe_ice_agent_t *self = data;

	if (state != NICE_COMPONENT_STATE_FAILED)
		return;
	/* After selection, FAILED means consent/keepalive was lost. */
	s_fail(self, self->state == STATE_SELECTED ? "consent lost" : "ice failed");
}

static gboolean s_on_fail_timer(gpointer data)
{
	floe_ice_agent_t *self = data;

	/* The source is finished once we return FALSE; drop our reference. */
	g_source_unref(self->fail_timer);
	self->fail_timer = NULL;
	s_fail(self, "timeout: no selected pair");
	return G_SOURCE_REMOVE;
}

/*
 * libnice calls this straight from its receive buffer because this thread
 * owns the context (its fast path in agent/component.c): no copy and no
 * allocation per datagram here either.
 */
static void s_on_recv(NiceAgent *nice, guint stream_id, guint component_id, guint len,
		      gchar *buf, gpointer data)
{
	floe_ice_agent_t *self = data;

	self->stats.rx_packets++;
	self->stats.rx_bytes += len;
	if (FLOE_LIKELY(s_live(self) && self->cb.on_recv))
		self->cb.on_recv(self->user, (const uint8_t *)buf, len);
}

/* ---- construction ----------------------------------------------------- */

static int s_configure(floe_ice_agent_t *self, const floe_ice_config_t *cfg)
{
	NiceAgent *nice = self->nice;
	size_t i;

	/* Debian's libnice starts UPnP discovery per agent (16 fds, SSDP
	 * multicast); we never want it, nor ICE-TCP. */
	g_object_set(nice, "upnp", FALSE, "ice-tcp", FALSE,
		     "controlling-mode", cfg->role == FLOE_ICE_CONTROLLING,
		     "keepalive-conncheck", cfg->keepalive == FLOE_ICE_KEEPALIVE_CONSENT,
		     "force-relay", cfg->relay_only, NULL);
	if (cfg->stun_max_retransmissions)
		g_object_set(nice, "stun-max-retransmissions", cfg->stun_max_retransmissions, NULL);
	if (cfg->stun_initial_timeout_ms)
		g_object_set(nice, "stun-initial-timeout", cfg->stun_initial_timeout_ms, NULL);
	if (cfg->stun_host && cfg->n_turn == 0)
		g_object_set(nice, "stun-server", cfg->stun_host, "stun-server-port",
			     (guint)(cfg->stun_port ? cfg->stun_port : DEFAULT_STUN_PORT), NULL);

	for (i = 0; i < cfg->n_local_addrs; i++) {
		NiceAddress addr;

		nice_address_init(&addr);
		if (!cfg->local_addrs[i] || !nice_address_set_from_string(&addr, cfg->local_addrs[i]))
			return -EINVAL;
		if (!nice_agent_add_local_address(nice, &addr))
			return -EINVAL;
	}

	self->stream_id = nice_agent_add_stream(nice, 1);
	if (self->stream_id == 0)
		return -ENOMEM;

	for (i = 0; i < cfg->n_turn; i++) {
		const floe_ice_turn_server_t *t = &cfg->turn[i];

		if (!t->host || !t->port || !t->username || !t->password)
			return -EINVAL;
		if (!nice_agent_set_relay_info(nice, self->stream_id, COMPONENT_ID, t->host,
					       t->port, t->username, t->password,
					       NICE_RELAY_TYPE_TURN_UDP))
			return -EINVAL;
	}

	g_signal_connect(nice, "new-candidate-full", G_CALLBACK(s_on_new_candidate), self);
	g_signal_connect(nice, "candidate-gathering-done", G_CALLBACK(s_on_gathering_done), self);
	g_signal_connect(nice, "new-selected-pair-full", G_CALLBACK(s_on_selected_pair), self);
	g_signal_connect(nice, "component-state-changed", G_CALLBACK(s_on_component_state), self);
	if (!nice_agent_attach_recv(nice, self->stream_id, COMPONENT_ID, self->ctx, s_on_recv, self))
		return -EIO;
	return 0;
}

static bool s_config_valid(const floe_ice_config_t *cfg)
{
	if (cfg->role != FLOE_ICE_CONTROLLING && cfg->role != FLOE_ICE_CONTROLLED)
		return false;
	if (cfg->keepalive != FLOE_ICE_KEEPALIVE_CONSENT &&
	    cfg->keepalive != FLOE_ICE_KEEPALIVE_RELAXED)
		return false;
	if (cfg->n_local_addrs > FLOE_ICE_MAX_LOCAL_ADDRS || cfg->n_turn > FLOE_ICE_MAX_TURN_SERVERS)
		return false;
	if ((cfg->n_local_addrs && !cfg->local_addrs) || (cfg->n_turn && !cfg->turn))
		return false;
	if (cfg->relay_only && cfg->n_turn == 0)
		return false;
	if (cfg->failure_timeout_ms &&
	    (cfg->failure_timeout_ms < FLOE_ICE_FAILURE_TIMEOUT_MIN_MS ||
	     cfg->failure_timeout_ms > FLOE_ICE_FAILURE_TIMEOUT_MAX_MS))
		return false;
	return true;
}

floe_ice_agent_t *floe_ice_agent_new(const floe_ice_config_t *cfg,
				     const floe_ice_callbacks_t *cb, void *user)
{
	floe_ice_agent_t *self;
	NiceAgentOption opts = NICE_AGENT_OPTION_ICE_TRICKLE;
	int rc;

	if (!cfg || !s_config_valid(cfg)) {
		floe_log(FLOE_LOG_ERROR, TARGET, "Invalid ICE agent configuration");
		return NULL;
	}
	self = calloc(1, sizeof(*self));
	if (!self)
		return NULL;
	if (cb)
		self->cb = *cb;
	self->user = user;
	self->has_turn = cfg->n_turn > 0;
	self->relay_only = cfg->relay_only;
	self->failure_timeout_ms = cfg->failure_timeout_ms ? cfg->failure_timeout_ms
							  : FLOE_ICE_FAILURE_TIMEOUT_DEFAULT_MS;

	self->ctx = g_main_context_new();
	/* The creating thread owns the context until destroy: libnice then
	 * delivers datagrams without copying them. */
	if (!g_main_context_acquire(self->ctx))
		goto err_ctx;
	if (cfg->keepalive == FLOE_ICE_KEEPALIVE_CONSENT)
		opts |= NICE_AGENT_OPTION_CONSENT_FRESHNESS;
	self->nice = nice_agent_new_full(self->ctx, NICE_COMPATIBILITY_RFC5245, opts);
	if (!self->nice)
		goto err_acquired;
	rc = s_configure(self, cfg);
	if (rc < 0) {
		floe_log(FLOE_LOG_ERROR, TARGET, "ICE agent setup failed", FLOE_F_I64("err", rc));
		goto err_agent;
	}
	if (cfg->stun_host && cfg->n_turn)
		floe_log(FLOE_LOG_INFO, TARGET, "STUN server ignored: TURN yields srflx");
	return self;

err_agent:
	g_signal_handlers_disconnect_by_data(self->nice, self);
	g_object_unref(self->nice);
err_acquired:
	g_main_context_release(self->ctx);
err_ctx:
	g_main_context_unref(self->ctx);
	free(self);
	return NULL;
}

static void s_on_closed(GObject *src, GAsyncResult *res, gpointer data)
{
	*(bool *)data = true;
}

/*
 * Deallocates TURN allocations so that the server frees the relay port now
 * rather than when the allocation's lifetime (10 min) runs out. libnice
 * completes its GTask on the thread-default context, hence the push.
 */
static void s_close_turn(floe_ice_agent_t *self)
{
	bool closed = false;
	gint64 end = g_get_monotonic_time() + (gint64)CLOSE_TIMEOUT_MS * 1000;

	g_object_set(self->nice, "stun-initial-timeout", (guint)CLOSE_STUN_RTO_MS,
		     "stun-max-retransmissions", (guint)CLOSE_STUN_RETRANSMISSIONS, NULL);
	g_main_context_push_thread_default(self->ctx);
	nice_agent_close_async(self->nice, s_on_closed, &closed);
	while (!closed && g_get_monotonic_time() < end) {
		struct pollfd fds[FLOE_ICE_POLL_MAX_FDS];
		int timeout = (int)((end - g_get_monotonic_time()) / 1000) + 1;
		int n = floe_ice_agent_poll_prepare(self, fds, FLOE_ICE_POLL_MAX_FDS, &timeout);

		if (n < 0)
			break;
		if (poll(fds, (nfds_t)n, timeout) < 0)
			n = 0;
		if (g_main_context_check(self->ctx, self->poll_priority, (GPollFD *)fds, n))
			g_main_context_dispatch(self->ctx);
	}
	g_main_context_pop_thread_default(self->ctx);
	if (!closed)
		floe_log(FLOE_LOG_WARNING, TARGET, "TURN deallocation did not complete",
			 FLOE_F_U64("timeout_ms", CLOSE_TIMEOUT_MS));
}

static void s_free(floe_ice_agent_t *self)
{
	size_t i;

	s_cancel_fail_timer(self);
	g_signal_handlers_disconnect_by_data(self->nice, self);
	nice_agent_attach_recv(self->nice, self->stream_id, COMPONENT_ID, self->ctx, NULL, NULL);
	if (self->has_turn)
		s_close_turn(self);
	nice_agent_remove_stream(self->nice, self->stream_id);
	g_object_unref(self->nice);
	for (i = 0; i < self->n_pending; i++)
		nice_candidate_free(self->pending[i]);
	g_main_context_release(self->ctx);
	/* The last reference: GLib destroys whatever sources remain on it. */
	g_main_context_unref(self->ctx);
	free(self);
}

void floe_ice_agent_destroy(floe_ice_agent_t **self_p)
{
	floe_ice_agent_t *self;

	if (!self_p || !*self_p)
		return;
	self = *self_p;
	*self_p = NULL;
	self->destroy_pending = true;
	if (self->depth == 0)
		s_free(self);
}

/* ---- candidates and credentials ---------------------------------------- */

/* Hands held candidates to libnice once it can check them. */
static void s_flush_pending(floe_ice_agent_t *self)
{
	GSList *list = NULL;
	size_t i;

	if (self->state != STATE_STARTED || !self->remote_creds_set || self->n_pending == 0)
		return;
	for (i = self->n_pending; i > 0; i--)
		list = g_slist_prepend(list, self->pending[i - 1]);
	if (nice_agent_set_remote_candidates(self->nice, self->stream_id, COMPONENT_ID, list) < 0)
		self->stats.ignored_candidates += self->n_pending;
	g_slist_free(list);
	for (i = 0; i < self->n_pending; i++)
		nice_candidate_free(self->pending[i]);
	self->n_pending = 0;
}

int floe_ice_agent_gather(floe_ice_agent_t *self)
{
	int rc = 0;

	if (!self)
		return -EINVAL;
	if (self->state != STATE_NEW)
		return -EALREADY;
	s_enter(self);
	self->state = STATE_STARTED;
	self->fail_timer = g_timeout_source_new(self->failure_timeout_ms);
	g_source_set_callback(self->fail_timer, s_on_fail_timer, self, NULL);
	g_source_attach(self->fail_timer, self->ctx);
	/* Host candidates are announced from inside this call. */
	if (!nice_agent_gather_candidates(self->nice, self->stream_id))
		rc = -EIO;
	else
		s_flush_pending(self);
	s_leave(self);
	return rc;
}

int floe_ice_agent_local_credentials(floe_ice_agent_t *self, char *ufrag_out, char *pwd_out)
{
	gchar *ufrag = NULL, *pwd = NULL;

	if (!self || !ufrag_out || !pwd_out)
		return -EINVAL;
	if (!nice_agent_get_local_credentials(self->nice, self->stream_id, &ufrag, &pwd))
		return -EIO;
	g_strlcpy(ufrag_out, ufrag, FLOE_ICE_CRED_MAX_BYTES + 1);
	g_strlcpy(pwd_out, pwd, FLOE_ICE_CRED_MAX_BYTES + 1);
	g_free(ufrag);
	g_free(pwd);
	return 0;
}

/* RFC 8445 ice-char = ALPHA / DIGIT / "+" / "/". */
static bool s_ice_chars_ok(const char *s, size_t min_len)
{
	size_t n;

	if (!s)
		return false;
	for (n = 0; s[n]; n++) {
		char c = s[n];

		if (n >= FLOE_ICE_CRED_MAX_BYTES)
			return false;
		if (!g_ascii_isalnum(c) && c != '+' && c != '/')
			return false;
	}
	return n >= min_len;
}

int floe_ice_agent_set_remote_credentials(floe_ice_agent_t *self, const char *ufrag,
					  const char *pwd)
{
	int rc = 0;

	if (!self)
		return -EINVAL;
	if (!s_ice_chars_ok(ufrag, FLOE_ICE_UFRAG_MIN_BYTES) ||
	    !s_ice_chars_ok(pwd, FLOE_ICE_PWD_MIN_BYTES)) {
		self->stats.bad_credentials++;
		floe_log_ratelimited(FLOE_LOG_DEBUG, TARGET, "Malformed remote ICE credentials");
		return -EINVAL;
	}
	if (self->remote_creds_set)
		return -EALREADY;
	s_enter(self);
	if (!nice_agent_set_remote_credentials(self->nice, self->stream_id, ufrag, pwd)) {
		rc = -EIO;
	} else {
		self->remote_creds_set = true;
		s_flush_pending(self);
	}
	s_leave(self);
	return rc;
}

int floe_ice_agent_add_remote_candidate(floe_ice_agent_t *self, const char *sdp_line)
{
	char line[sizeof("a=") + FLOE_ICE_CANDIDATE_MAX_BYTES];
	NiceCandidate *cand;
	GSList one = { 0 };
	size_t len;
	int rc = 0;

	if (!self)
		return -EINVAL;
	len = sdp_line ? strnlen(sdp_line, FLOE_ICE_CANDIDATE_MAX_BYTES + 1) : 0;
	if (len == 0 || len > FLOE_ICE_CANDIDATE_MAX_BYTES)
		goto bad;
	/* Signalling may carry the attribute with or without "a=". */
	snprintf(line, sizeof(line), "%s%s", strncmp(sdp_line, "a=", 2) ? "a=" : "", sdp_line);
	cand = nice_agent_parse_remote_candidate_sdp(self->nice, self->stream_id, line);
	if (!cand)
		goto bad;
	if (cand->component_id != COMPONENT_ID || nice_address_get_port(&cand->addr) == 0) {
		nice_candidate_free(cand);
		goto bad;
	}
	if (cand->transport != NICE_CANDIDATE_TRANSPORT_UDP) {
		nice_candidate_free(cand);
		self->stats.ignored_candidates++;
		return -EPROTONOSUPPORT;
	}
	/* DESIGN: a remote candidate after nomination is ignored. */
	if (self->state == STATE_SELECTED || self->state == STATE_FAILED) {
		nice_candidate_free(cand);
		self->stats.ignored_candidates++;
		floe_log(FLOE_LOG_DEBUG, TARGET, "Ignoring remote candidate after nomination");
		return 0;
	}
	if (self->state == STATE_NEW || !self->remote_creds_set) {
		if (self->n_pending == FLOE_ICE_MAX_PENDING_REMOTE) {
			nice_candidate_free(cand);
			self->stats.ignored_candidates++;
			return -ENOBUFS;
		}
		self->pending[self->n_pending++] = cand;
		return 0;
	}
	s_enter(self);
	one.data = cand;
	if (nice_agent_set_remote_candidates(self->nice, self->stream_id, COMPONENT_ID, &one) < 0)
		rc = -EIO;
	nice_candidate_free(cand);
	s_leave(self);
	return rc;

bad:
	self->stats.bad_candidates++;
	floe_log_ratelimited(FLOE_LOG_DEBUG, TARGET, "Malformed remote ICE candidate");
	return -EINVAL;
}

int floe_ice_agent_remote_gathering_done(floe_ice_agent_t *self)
{
	int rc = 0;

	if (!self)
		return -EINVAL;
	s_enter(self);
	if (!nice_agent_peer_candidate_gathering_done(self->nice, self->stream_id))
		rc = -EIO;
	s_leave(self);
	return rc;
}

/* ---- data path --------------------------------------------------------- */

/* Sends out_msg[0..n): count sent, or -errno when none was. */
static int s_send_prepared(floe_ice_agent_t *self, int n)
{
	GError *err = NULL;
	gint sent;
	int i;

	sent = nice_agent_send_messages_nonblocking(self->nice, self->stream_id, COMPONENT_ID,
						    self->out_msg, (guint)n, NULL, &err);
	if (sent < 0) {
		int rc = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) ? -EAGAIN : -EIO;

		if (rc == -EIO)
			self->stats.tx_errors += (uint64_t)n;
		g_clear_error(&err);
		return rc;
	}
	for (i = 0; i < sent; i++) {
		self->stats.tx_bytes += self->out_vec[i].size;
	}
	self->stats.tx_packets += (uint64_t)sent;
	return sent;
}

int floe_ice_agent_send_batch(floe_ice_agent_t *self, const struct iovec *pkts, int n)
{
	int done = 0;

	if (!self || n < 0 || (n > 0 && !pkts))
		return -EINVAL;
	if (self->state != STATE_SELECTED)
		return -ENOTCONN;
	while (done < n) {
		int chunk = n - done < FLOE_ICE_SEND_BATCH_MAX ? n - done : FLOE_ICE_SEND_BATCH_MAX;
		int i, sent;

		for (i = 0; i < chunk; i++) {
			const struct iovec *p = &pkts[done + i];

			if (p->iov_len == 0 || p->iov_len > MAX_DATAGRAM_BYTES || !p->iov_base) {
				chunk = i;
				break;
			}
			self->out_vec[i].buffer = p->iov_base;
			self->out_vec[i].size = p->iov_len;
			self->out_msg[i].buffers = &self->out_vec[i];
			self->out_msg[i].n_buffers = 1;
		}
		if (chunk == 0)
			return done ? done : -EMSGSIZE;
		sent = s_send_prepared(self, chunk);
		if (sent < 0)
			return done ? done : sent;
		done += sent;
		if (sent < chunk)
			break;
	}
	return done;
}

int floe_ice_agent_send(floe_ice_agent_t *self, const uint8_t *buf, size_t len)
{
	struct iovec one = { .iov_base = (void *)buf, .iov_len = len };
	int rc = floe_ice_agent_send_batch(self, &one, 1);

	if (rc == 0)
		return -EAGAIN;
	return rc < 0 ? rc : 0;
}

int floe_ice_agent_selected_path(floe_ice_agent_t *self, floe_ice_path_t *out)
{
	if (!self || !out)
		return -EINVAL;
	if (self->state != STATE_SELECTED)
		return -ENOTCONN;
	*out = self->path;
	return 0;
}

void floe_ice_agent_stats(const floe_ice_agent_t *self, floe_ice_stats_t *out)
{
	if (!out)
		return;
	if (!self) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = self->stats;
}

/* ---- poll integration -------------------------------------------------- */

int floe_ice_agent_poll_prepare(floe_ice_agent_t *self, struct pollfd *fds, int cap,
				int *timeout_ms)
{
	gint glib_timeout = -1;
	int n;

	if (!self || !timeout_ms || cap < 0 || (cap > 0 && !fds))
		return -EINVAL;
	if (!g_main_context_is_owner(self->ctx))
		return -EPERM;
	g_main_context_prepare(self->ctx, &self->poll_priority);
	n = g_main_context_query(self->ctx, self->poll_priority, &glib_timeout,
				 (GPollFD *)fds, cap);
	if (n > cap) {
		/* Close this cycle without dispatching; the caller retries with
		 * a larger array. */
		g_main_context_check(self->ctx, self->poll_priority, NULL, 0);
		return -ENOBUFS;
	}
	if (glib_timeout >= 0 && (*timeout_ms < 0 || glib_timeout < *timeout_ms))
		*timeout_ms = glib_timeout;
	return n;
}

void floe_ice_agent_poll_dispatch(floe_ice_agent_t *self, struct pollfd *fds, int nfds)
{
	if (!self || nfds < 0 || (nfds > 0 && !fds))
		return;
	s_enter(self);
	if (g_main_context_check(self->ctx, self->poll_priority, (GPollFD *)fds, nfds))
		g_main_context_dispatch(self->ctx);
	s_leave(self);
}

void floe_ice_agent_wakeup(floe_ice_agent_t *self)
{
	if (self)
		g_main_context_wakeup(self->ctx);
}

int floe_ice_agent_iterate(floe_ice_agent_t *self, int timeout_ms)
{
	struct pollfd fds[FLOE_ICE_POLL_MAX_FDS];
	int n, rc;

	n = floe_ice_agent_poll_prepare(self, fds, FLOE_ICE_POLL_MAX_FDS, &timeout_ms);
	if (n < 0)
		return n;
	rc = poll(fds, (nfds_t)n, timeout_ms);
	if (rc < 0) {
		rc = -errno;
		/* Still close GLib's prepare/check cycle. */
		floe_ice_agent_poll_dispatch(self, fds, 0);
		return rc == -EINTR ? 0 : rc;
	}
	floe_ice_agent_poll_dispatch(self, fds, n);
	return 0;
}
