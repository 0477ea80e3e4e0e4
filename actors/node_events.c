/*
 * The node's event queue: what the node thread tells the application
 * (local credentials and candidates, paths, established, failed, closed),
 * held in a bounded ring until floe_node_event_next() takes it.
 *
 * Why a ring under a mutex and not a ZeroMQ pipe: the application may read
 * events from any thread, and a ZeroMQ socket belongs to one. The eventfd
 * is level-triggered by hand: it holds a non-zero count exactly while the
 * ring is non-empty (written on the push that fills an empty ring, drained
 * by the pop that empties it, both under the lock).
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "actors/node_priv.h"
#include "runtime/log.h"

_Static_assert((int)FLOE_ICE_CANDIDATE_MAX_BYTES < (int)FLOE_EVENT_TEXT_BYTES, "a candidate line fits an event");
_Static_assert((int)FLOE_ICE_CRED_MAX_BYTES < (int)FLOE_EVENT_CRED_BYTES, "ICE credentials fit an event");

int node_events_init(node_events_t *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->fd = -1;
	ev->ring = calloc(FLOE_NODE_EVENT_QUEUE_MAX, sizeof(*ev->ring));
	if (!ev->ring)
		return -ENOMEM;
	ev->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ev->fd < 0) {
		int rc = -errno;

		free(ev->ring);
		ev->ring = NULL;
		return rc;
	}
	pthread_mutex_init(&ev->lock, NULL);
	ev->ready = true;
	return 0;
}

void node_events_fini(node_events_t *ev)
{
	if (!ev->ready)
		return;
	/* Events still queued may hold ICE passwords: wipe them. Taken ones
	 * had theirs wiped by floe_node_event_next, and wiping the whole ring
	 * would fault in pages that were never used. */
	for (size_t i = 0; i < ev->n; i++)
		sodium_memzero(&ev->ring[(ev->head + i) % FLOE_NODE_EVENT_QUEUE_MAX], sizeof(*ev->ring));
	free(ev->ring);
	close(ev->fd);
	pthread_mutex_destroy(&ev->lock);
	memset(ev, 0, sizeof(*ev));
	ev->fd = -1;
}

static void fd_signal(int fd)
{
	uint64_t one = 1;

	/* Cannot fail short of a counter overflow, which one write per
	 * empty->non-empty transition never reaches. */
	(void)!write(fd, &one, sizeof(one));
}

static void fd_drain(int fd)
{
	uint64_t v;

	(void)!read(fd, &v, sizeof(v));
}

/* Node thread. Copies *e into the ring or counts it as dropped. */
static void push(floe_node_t *self, const floe_event_t *e)
{
	node_events_t *ev = &self->events;
	bool dropped = false;

	pthread_mutex_lock(&ev->lock);
	if (ev->n == FLOE_NODE_EVENT_QUEUE_MAX) {
		ev->drops++;
		dropped = true;
	} else {
		ev->ring[(ev->head + ev->n) % FLOE_NODE_EVENT_QUEUE_MAX] = *e;
		if (ev->n++ == 0)
			fd_signal(ev->fd);
	}
	pthread_mutex_unlock(&ev->lock);
	if (dropped)
		floe_log_ratelimited(FLOE_LOG_DEBUG, NODE_LOG, "Event queue full: event dropped",
				     FLOE_F_U64("conn_id", e->conn_id));
}

static void start(floe_event_t *e, floe_event_type_t type, const node_conn_t *c)
{
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->conn_id = c->tag;
	snprintf(e->cid, sizeof(e->cid), "%s", c->cid);
}

void node_event_emit(floe_node_t *self, floe_event_type_t type, const node_conn_t *c, const char *text)
{
	floe_event_t *e = &self->ev_scratch;

	start(e, type, c);
	if (text)
		snprintf(e->text, sizeof(e->text), "%s", text);
	push(self, e);
}

void node_event_path(floe_node_t *self, const node_conn_t *c)
{
	floe_event_t *e = &self->ev_scratch;

	start(e, FLOE_EVENT_PATH, c);
	node_path_public(&c->path, &e->path);
	push(self, e);
}

void node_event_credentials(floe_node_t *self, const node_conn_t *c)
{
	floe_event_t *e = &self->ev_scratch;

	start(e, FLOE_EVENT_LOCAL_CREDENTIALS, c);
	snprintf(e->ufrag, sizeof(e->ufrag), "%s", floe_conn_local_ufrag(c->conn));
	snprintf(e->pwd, sizeof(e->pwd), "%s", floe_conn_local_pwd(c->conn));
	push(self, e);
	sodium_memzero(e->pwd, sizeof(e->pwd));
}

int floe_node_event_fd(floe_node_t *self)
{
	if (!self)
		return -EINVAL;
	return self->events.fd;
}

int floe_node_event_next(floe_node_t *self, floe_event_t *out)
{
	node_events_t *ev;
	int rc = 0;

	if (!self || !out)
		return -EINVAL;
	ev = &self->events;
	pthread_mutex_lock(&ev->lock);
	if (!ev->n) {
		rc = -EAGAIN;
	} else {
		floe_event_t *slot = &ev->ring[ev->head];

		*out = *slot;
		sodium_memzero(slot->pwd, sizeof(slot->pwd));
		ev->head = (ev->head + 1) % FLOE_NODE_EVENT_QUEUE_MAX;
		if (--ev->n == 0)
			fd_drain(ev->fd);
	}
	pthread_mutex_unlock(&ev->lock);
	return rc;
}

uint64_t floe_node_event_drops(floe_node_t *self)
{
	uint64_t n;

	if (!self)
		return 0;
	pthread_mutex_lock(&self->events.lock);
	n = self->events.drops;
	pthread_mutex_unlock(&self->events.lock);
	return n;
}
